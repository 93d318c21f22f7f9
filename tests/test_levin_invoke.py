"""LevinProtocol invokes: requests out, replies matched, timeouts and disconnects."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Array,
    Command,
    ConnectionLostError,
    Header,
    InvokeTimeoutError,
    LevinTruncatedError,
    ReturnCodeError,
    Section,
    String,
    Uint8,
    Uint32,
    ValueOutOfRangeError,
    encode_storage,
)
from lethean.levin._protocol import INVOKE_TIMEOUT_S, RETURN_SUCCESS
from tests._levin_protocol import (
    PING_REPLY,
    SYNC,
    connect,
    notification,
    packet,
    request,
    response,
    written,
)


class InvokeTests(SynchronousTestCase):
    """Invokes go out as requests and fire with the matching response."""

    def test_request_on_the_wire(self):
        """An invoke writes one request packet with the encoded section."""
        protocol, transport, _ = connect()
        protocol.invoke(Command.PING, Section())
        [(header, payload)] = written(transport)
        self.assertEqual(header, Header.request(Command.PING, len(payload)))
        self.assertEqual(payload, encode_storage(Section()))

    def test_reply_whole_byte_by_byte_and_split(self):
        """The reply fires the invoke however its bytes arrive."""
        reply = response(Command.PING, PING_REPLY)
        rng = random.Random(3)
        splits = [[len(reply)], list(range(1, len(reply) + 1)),
                  sorted(rng.sample(range(1, len(reply)), 5)) + [len(reply)]]
        for cuts in splits:
            protocol, transport, _ = connect()
            d = protocol.invoke(Command.PING, {})
            start = 0
            for end in cuts:
                self.assertNoResult(d)
                protocol.dataReceived(reply[start:end])
                start = end
            self.assertEqual(self.successResultOf(d), PING_REPLY)

    @settings(max_examples=100)
    @given(st.lists(st.integers(min_value=0), max_size=8))
    def test_daemon_stream_split_anywhere(self, cuts):
        """A daemon's mixed traffic gives the same results however it is split."""
        stream = (notification(2010, {"n": Uint8(1)})
                  + request(Command.REQUEST_SUPPORT_FLAGS, {})
                  + response(Command.TIMED_SYNC, SYNC)
                  + response(Command.PING, PING_REPLY))

        def run(cut_points):
            protocol, transport, _ = connect(handlers={
                Command.REQUEST_SUPPORT_FLAGS: lambda p, h, s: {"support_flags": Uint32(1)}})
            sync = protocol.invoke(Command.TIMED_SYNC, SYNC)
            pong = protocol.invoke(Command.PING, {})
            transport.clear()
            start = 0
            for end in sorted(c % (len(stream) + 1) for c in cut_points) + [len(stream)]:
                protocol.dataReceived(stream[start:end])
                start = end
            return (self.successResultOf(sync), self.successResultOf(pong),
                    transport.value(), protocol.notifications)

        self.assertEqual(run(cuts), run([]))

    def test_fifo_per_command(self):
        """Responses match invokes by command, oldest first."""
        protocol, _, _ = connect()
        first = protocol.invoke(Command.TIMED_SYNC, SYNC)
        other = protocol.invoke(Command.PING, {})
        second = protocol.invoke(Command.TIMED_SYNC, SYNC)
        protocol.dataReceived(response(Command.PING, PING_REPLY)
                              + response(Command.TIMED_SYNC, {"n": Uint8(1)})
                              + response(Command.TIMED_SYNC, {"n": Uint8(2)}))
        self.assertEqual(self.successResultOf(other), PING_REPLY)
        self.assertEqual(self.successResultOf(first), {"n": Uint8(1)})
        self.assertEqual(self.successResultOf(second), {"n": Uint8(2)})

    def test_daemon_traffic_before_the_reply(self):
        """The peer's own requests and notifications are not taken for our reply."""
        protocol, transport, _ = connect(handlers={
            Command.TIMED_SYNC: lambda p, h, s: SYNC,
            Command.REQUEST_SUPPORT_FLAGS: lambda p, h, s: {"support_flags": Uint32(1)},
        })
        d = protocol.invoke(Command.TIMED_SYNC, SYNC)
        transport.clear()
        protocol.dataReceived(
            notification(2010, {"txs": Array(String, [b"t"])})
            + request(Command.REQUEST_SUPPORT_FLAGS, {})
            + request(Command.TIMED_SYNC, SYNC))
        self.assertNoResult(d)
        answers = written(transport)
        self.assertEqual([(h.command, h.return_code, h.is_response) for h, _ in answers],
                         [(Command.REQUEST_SUPPORT_FLAGS, RETURN_SUCCESS, True),
                          (Command.TIMED_SYNC, RETURN_SUCCESS, True)])
        self.assertEqual(protocol.notifications, [(2010, {"txs": Array(String, [b"t"])})])
        protocol.dataReceived(response(Command.TIMED_SYNC, {"n": Uint8(9)}))
        self.assertEqual(self.successResultOf(d), {"n": Uint8(9)})

    def test_error_return_code(self):
        """A negative return code fails the invoke; zero and positive ones succeed."""
        protocol, _, _ = connect()
        failed = protocol.invoke(Command.HANDSHAKE, {})
        ok_go = protocol.invoke(Command.PING, {})
        ok_epee = protocol.invoke(Command.PING, {})
        protocol.dataReceived(response(Command.HANDSHAKE, None, -7)
                              + response(Command.PING, PING_REPLY, 0)
                              + response(Command.PING, PING_REPLY, 1))
        error = self.failureResultOf(failed, ReturnCodeError).value
        self.assertEqual((error.return_code, error.command), (-7, Command.HANDSHAKE))
        self.assertEqual(error.kind, "return_code")
        self.assertEqual(self.successResultOf(ok_go), PING_REPLY)
        self.assertEqual(self.successResultOf(ok_epee), PING_REPLY)

    def test_empty_reply_is_an_empty_section(self):
        """A response with no body fires with an empty section."""
        protocol, _, _ = connect()
        d = protocol.invoke(Command.PING, {})
        protocol.dataReceived(response(Command.PING))
        self.assertEqual(self.successResultOf(d), Section())

    def test_unreadable_reply(self):
        """A response body that is not storage fails that invoke only."""
        protocol, transport, _ = connect()
        d = protocol.invoke(Command.PING, {})
        protocol.dataReceived(packet(Header.response(Command.PING, 0, 1), b"\x01\x11"))
        self.failureResultOf(d, LevinTruncatedError)
        self.assertFalse(transport.disconnecting)

    def test_invoke_packet_gives_the_raw_reply(self):
        """invoke_packet fires with the header and bytes, whatever the code."""
        protocol, _, _ = connect()
        d = protocol.invoke_packet(Command.PING, b"raw")
        protocol.dataReceived(packet(Header.response(Command.PING, 0, -1), b"xyz"))
        header, payload = self.successResultOf(d)
        self.assertEqual((header.return_code, payload), (-1, b"xyz"))

    def test_unencodable_section(self):
        """A section that cannot be encoded fails the invoke and sends nothing."""
        protocol, transport, _ = connect()
        d = protocol.invoke(Command.PING, Section({"a": Array(Uint8, [1])}))
        self.failureResultOf(d)
        self.assertEqual(transport.value(), b"")
        self.failureResultOf(protocol.invoke(Command.PING, {"a": 1}), ValueOutOfRangeError)

    def test_bad_command_or_timeout(self):
        """A command id or timeout that cannot work fails the invoke; nothing is sent."""
        protocol, transport, clock = connect()
        self.failureResultOf(protocol.invoke(-1, {}), ValueOutOfRangeError)
        self.failureResultOf(protocol.invoke(Command.PING, {}, timeout=0), ValueOutOfRangeError)
        self.assertEqual((transport.value(), clock.getDelayedCalls()), (b"", []))
        self.assertEqual(protocol._pending, {})

    def test_unsolicited_response_ignored(self):
        """A response nobody waits for is logged and dropped."""
        protocol, transport, _ = connect()
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        protocol.dataReceived(response(Command.PING, PING_REPLY))
        self.assertFalse(transport.disconnecting)
        self.assertEqual([e["command"] for e in events if "command" in e], [Command.PING])


class TimeoutTests(SynchronousTestCase):
    """Invokes time out on the factory's clock."""

    def test_default_timeout(self):
        """After the factory's timeout the invoke fails and the connection closes."""
        protocol, transport, clock = connect()
        d = protocol.invoke(Command.PING, {})
        clock.advance(60)
        other = protocol.invoke(Command.HANDSHAKE, {})
        clock.advance(INVOKE_TIMEOUT_S - 61)
        self.assertNoResult(d)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        clock.advance(1)
        self.failureResultOf(d, InvokeTimeoutError)
        self.assertTrue(transport.disconnecting)
        [event] = [e for e in events if e.get("reason") == "timeout"]
        self.assertEqual((event["command"], event["peer"]), (Command.PING, "192.0.2.7:18080"))
        self.failureResultOf(protocol.invoke(Command.PING, {}), ConnectionLostError)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(other, ConnectionLostError)

    def test_simultaneous_timeouts(self):
        """Invokes timing out together all fail, with one log event and one close."""
        protocol, transport, clock = connect()
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        waiting = [protocol.invoke(Command.PING, {}), protocol.invoke(Command.HANDSHAKE, {})]
        clock.advance(INVOKE_TIMEOUT_S)
        for d in waiting:
            self.failureResultOf(d, InvokeTimeoutError)
        self.assertEqual(len([e for e in events if e.get("reason") == "timeout"]), 1)

    def test_per_call_timeout(self):
        """``timeout=`` overrides the factory's."""
        protocol, _, clock = connect(invoke_timeout=60)
        d = protocol.invoke(Command.PING, {}, timeout=2)
        clock.advance(2)
        self.failureResultOf(d, InvokeTimeoutError)

    def test_reply_stops_the_timer(self):
        """A timely reply leaves no timer behind."""
        protocol, _, clock = connect()
        d = protocol.invoke(Command.PING, {})
        protocol.dataReceived(response(Command.PING, PING_REPLY))
        self.successResultOf(d)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_no_timeout(self):
        """A factory timeout of None waits forever."""
        protocol, _, clock = connect(invoke_timeout=None)
        d = protocol.invoke(Command.PING, {})
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertNoResult(d)

    def test_cancel_keeps_the_slot(self):
        """A cancelled invoke's late reply is discarded, not given to the next invoke."""
        protocol, transport, clock = connect()
        first = protocol.invoke(Command.PING, {})
        first.cancel()
        self.failureResultOf(first, CancelledError)
        self.assertEqual(clock.getDelayedCalls(), [])
        second = protocol.invoke(Command.PING, {})
        protocol.dataReceived(response(Command.PING, {"n": Uint8(1)}))
        self.assertNoResult(second)
        protocol.dataReceived(response(Command.PING, {"n": Uint8(2)}))
        self.assertEqual(self.successResultOf(second), {"n": Uint8(2)})
        self.assertFalse(transport.disconnecting)


class DisconnectTests(SynchronousTestCase):
    """A closed connection fails what waits on it."""

    def test_pending_invokes_fail(self):
        """connectionLost fails every pending invoke and stops the timers."""
        protocol, _, clock = connect()
        waiting = [protocol.invoke(Command.PING, {}), protocol.invoke(Command.HANDSHAKE, {})]
        protocol.connectionLost(Failure(ConnectionDone()))
        for d in waiting:
            self.assertIn("Connection was closed cleanly",
                          str(self.failureResultOf(d, ConnectionLostError).value))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_after_close(self):
        """Invoking or notifying on a closed connection fails at once."""
        protocol, transport, _ = connect()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(protocol.invoke(Command.PING, {}), ConnectionLostError)
        self.assertRaises(ConnectionLostError, protocol.notify, Command.PING, {})
        self.assertEqual(transport.value(), b"")

    def test_handler_answer_after_close_is_dropped(self):
        """A handler that answers after the connection closed writes nothing."""
        later = defer.Deferred()
        protocol, transport, _ = connect(handlers={Command.PING: lambda p, h, s: later})
        protocol.dataReceived(request(Command.PING, {}))
        protocol.connectionLost(Failure(ConnectionDone()))
        later.callback(PING_REPLY)
        self.assertEqual(transport.value(), b"")
