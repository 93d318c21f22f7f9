"""LevinProtocol and LevinFactory: in memory, over TCP and over WebSocket."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.mesh import stacked_client_factory, stacked_server_factory
from lethean.mesh._stacking import WebSocketTransport
from lethean.levin import (
    Array,
    BadSignatureError,
    Command,
    ConnectionLostError,
    Header,
    InvokeTimeoutError,
    LevinDecoder,
    LevinFactory,
    LevinProtocol,
    LevinTruncatedError,
    PayloadTooBigError,
    ReturnCodeError,
    Section,
    String,
    Uint8,
    Uint32,
    Uint64,
    ValueOutOfRangeError,
    encode_header,
    encode_storage,
)
from lethean.levin._header import (
    MAX_PAYLOAD_SIZE,
    RETURN_ERROR_CONNECTION,
    RETURN_ERROR_HANDLER_NOT_DEFINED,
)
from lethean.levin._protocol import INVOKE_TIMEOUT_S, RETURN_SUCCESS
from tests._streams import close_on_cleanup

PEER = IPv4Address("TCP", "192.0.2.7", 18080)
PING_REPLY = Section({"status": String("OK"), "peer_id": Uint64(42)})
SYNC = Section({"payload_data": {"current_height": Uint64(1)}})


def packet(header, payload=b""):
    """The bytes of one packet; ``header.payload_size`` is set from ``payload``."""
    fields = dict(payload_size=len(payload), expect_response=header.expect_response,
                  command=header.command, return_code=header.return_code,
                  flags=header.flags)
    return encode_header(Header(**fields)) + payload


def response(command, section=None, return_code=RETURN_SUCCESS):
    """A response packet as a daemon writes it."""
    body = b"" if section is None else encode_storage(section)
    return packet(Header.response(command, 0, return_code), body)


def request(command, section):
    """An invoke packet as a daemon writes it."""
    return packet(Header.request(command, 0), encode_storage(section))


def notification(command, section):
    """A notification packet."""
    return packet(Header.notification(command, 0), encode_storage(section))


class Recorder(LevinProtocol):
    """Remembers notifications and how the connection ended."""

    def __init__(self):
        super().__init__()
        self.notifications = []
        self.reason = None
        self._closed = []

    def connectionMade(self):
        super().connectionMade()
        if not self.factory.first.called:
            self.factory.first.callback(self)

    def notificationReceived(self, header, section):
        self.notifications.append((header.command, section))
        return super().notificationReceived(header, section)

    def connectionLost(self, reason=None):
        self.reason = reason
        super().connectionLost(reason)
        waiting, self._closed = self._closed, None
        for d in waiting:
            d.callback(None)

    def closed(self):
        """A Deferred firing once the connection is closed."""
        if self._closed is None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._closed.append(d)
        return d


def ping(protocol, header, section):
    """A ping handler as in monerod."""
    return PING_REPLY


class BuiltRecorder(LevinFactory):
    """A factory whose protocols are Recorders, remembered in ``built``."""

    protocol = Recorder

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.built = []
        self.first = defer.Deferred()

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        self.built.append(protocol)
        return protocol


def connect(**config):
    """A client protocol on a StringTransport, its transport and clock."""
    clock = config.pop("clock", None) or task.Clock()
    factory = BuiltRecorder(clock, **config)
    protocol = factory.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return protocol, transport, clock


def written(transport):
    """The packets written to ``transport`` so far (and clears it)."""
    packets = LevinDecoder().feed(transport.value())
    transport.clear()
    return packets


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


class AnswerTests(SynchronousTestCase):
    """The peer's requests are answered by handlers, in order."""

    def test_handler_answer(self):
        """A handler's section is the response, with the success code."""
        protocol, transport, _ = connect(handlers={Command.PING: ping})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, payload)] = written(transport)
        self.assertEqual(header, Header.response(Command.PING, len(payload), RETURN_SUCCESS))
        self.assertEqual(payload, encode_storage(PING_REPLY))

    def test_success_code_configurable(self):
        """The factory sets the return code of successful answers."""
        protocol, transport, _ = connect(handlers={Command.PING: ping}, success_return_code=0)
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, 0)

    def test_none_is_an_empty_answer(self):
        """A handler returning None answers with an empty section."""
        protocol, transport, _ = connect(handlers={Command.PING: lambda p, h, s: None})
        protocol.dataReceived(request(Command.PING, {}))
        [(_, payload)] = written(transport)
        self.assertEqual(payload, encode_storage(Section()))

    def test_no_handler(self):
        """A request without a handler is answered -6 (handler not defined)."""
        protocol, transport, _ = connect()
        protocol.dataReceived(request(Command.PING, {}))
        [(header, payload)] = written(transport)
        self.assertEqual((header.return_code, payload), (RETURN_ERROR_HANDLER_NOT_DEFINED, b""))

    def test_return_code_error(self):
        """A handler raising ReturnCodeError answers with that code."""
        def refuse(protocol, header, section):
            raise ReturnCodeError(-5, header.command)
        protocol, transport, _ = connect(handlers={Command.PING: refuse})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, -5)

    def test_handler_bug(self):
        """A handler that crashes is logged and answered -1; the connection stays."""
        def broken(protocol, header, section):
            return 1 / 0
        protocol, transport, _ = connect(handlers={Command.PING: broken})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, RETURN_ERROR_CONNECTION)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertFalse(transport.disconnecting)

    def test_unencodable_answer(self):
        """A handler answer that cannot be encoded is logged and answered -1."""
        protocol, transport, _ = connect(handlers={
            Command.PING: lambda p, h, s: {"a": Array(Uint8, [1])}})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, RETURN_ERROR_CONNECTION)
        self.assertEqual(len(self.flushLoggedErrors()), 1)

    def test_answer_of_the_wrong_kind(self):
        """A handler answering a non-section is logged as a bug and answered -1; later answers flow."""
        answers = iter([5, PING_REPLY])
        protocol, transport, _ = connect(handlers={Command.PING: lambda p, h, s: next(answers)})
        protocol.dataReceived(request(Command.PING, {}) + request(Command.PING, {}))
        [(first, _), (second, payload)] = written(transport)
        self.assertEqual(first.return_code, RETURN_ERROR_CONNECTION)
        self.assertEqual((second.return_code, payload), (RETURN_SUCCESS, encode_storage(PING_REPLY)))
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_unreadable_request(self):
        """A request whose body is not storage is answered -1, as monerod does."""
        protocol, transport, _ = connect(handlers={Command.PING: ping})
        protocol.dataReceived(packet(Header.request(Command.PING, 0), b"junk"))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, RETURN_ERROR_CONNECTION)
        self.assertFalse(transport.disconnecting)

    def test_answers_keep_request_order(self):
        """Answers to one command leave in request order, even if handlers finish reversed."""
        pending = []

        def slow(protocol, header, section):
            pending.append((defer.Deferred(), section))
            return pending[-1][0]

        protocol, transport, _ = connect(handlers={Command.TIMED_SYNC: slow, Command.PING: ping})
        protocol.dataReceived(request(Command.TIMED_SYNC, {"n": Uint8(1)})
                              + request(Command.TIMED_SYNC, {"n": Uint8(2)}))
        pending[1][0].callback(pending[1][1])
        self.assertEqual(transport.value(), b"")
        pending[0][0].callback(pending[0][1])
        answers = written(transport)
        self.assertEqual([p for _, p in answers],
                         [encode_storage({"n": Uint8(1)}), encode_storage({"n": Uint8(2)})])

    def test_notifications(self):
        """Notifications go to their handler; without one they are ignored."""
        seen = []
        protocol, transport, _ = connect(handlers={
            Command.NOTIFY_NEW_TRANSACTIONS: lambda p, h, s: seen.append(s)})
        txs = {"txs": Array(String, [b"tx"])}
        protocol.dataReceived(notification(Command.NOTIFY_NEW_TRANSACTIONS, txs)
                              + notification(2010, {}))
        self.assertEqual(seen, [Section(txs)])
        self.assertEqual(transport.value(), b"")

    def test_notify(self):
        """notify writes a notification packet."""
        protocol, transport, _ = connect()
        protocol.notify(Command.NOTIFY_NEW_TRANSACTIONS, {"txs": Array(String, [b"tx"])})
        [(header, payload)] = written(transport)
        self.assertEqual(header, Header.notification(Command.NOTIFY_NEW_TRANSACTIONS,
                                                     len(payload)))

    def test_subclass_hook(self):
        """A subclass may answer requests by overriding requestReceived."""
        class Answering(LevinProtocol):
            def requestReceived(self, header, section):
                return {"echo": Uint32(header.command)}

        factory = LevinFactory(task.Clock())
        factory.protocol = Answering
        protocol = factory.buildProtocol(PEER)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(request(77, {}))
        [(_, payload)] = written(transport)
        self.assertEqual(payload, encode_storage({"echo": Uint32(77)}))


class ConfigurationTests(SynchronousTestCase):
    """The factory refuses settings that cannot work."""

    def test_bad_settings(self):
        """Negative or oversized limits, zero timeouts and odd codes are refused."""
        clock = task.Clock()
        for bad in (dict(max_payload_size=-1), dict(max_payload_size=MAX_PAYLOAD_SIZE + 1),
                    dict(max_payload_size=1.5), dict(invoke_timeout=0),
                    dict(invoke_timeout="soon"), dict(success_return_code=2**31),
                    dict(max_depth=0), dict(max_items=-1)):
            self.assertRaises(ValueOutOfRangeError, LevinFactory, clock, **bad)

    def test_protocol_limit_checked(self):
        """A connection's payload limit is checked like the factory's."""
        protocol, _, _ = connect()
        with self.assertRaises(ValueOutOfRangeError):
            protocol.max_payload_size = -5


class BadInputTests(SynchronousTestCase):
    """Bad bytes are logged once and the connection is dropped."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def warnings(self):
        return [e for e in self.events if e["log_level"] == LogLevel.warn]

    def test_bad_signature_aborts(self):
        """A non-Levin stream aborts the connection with one log event."""
        protocol, transport, _ = connect()
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        protocol.dataReceived(b"Host: x\r\n")
        self.assertTrue(transport.disconnected)
        [event] = self.warnings()
        self.assertEqual((event["peer"], event["reason"]), ("192.0.2.7:18080", "bad_signature"))

    def test_payload_over_limit(self):
        """A declared payload over the connection's limit drops it before buffering."""
        protocol, transport, _ = connect(max_payload_size=1000, handlers={Command.PING: ping})
        protocol.dataReceived(encode_header(Header.request(Command.PING, 1001)) + b"x" * 500)
        self.assertTrue(transport.disconnected)
        self.assertEqual(protocol._decoder.buffered, 0)
        [event] = self.warnings()
        self.assertEqual(event["reason"], "payload_too_big")
        self.assertEqual(transport.value(), b"")

    def test_pending_invokes_fail_with_the_drop_reason(self):
        """Invokes waiting when bad bytes drop the connection fail with that error."""
        protocol, transport, _ = connect()
        d = protocol.invoke(Command.PING, {})
        protocol.dataReceived(b"SSH-2.0-OpenSSH_9.6\r\n")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.failureResultOf(d, BadSignatureError).value.kind, "bad_signature")

    def test_pending_invokes_fail_with_the_limit_error(self):
        """A payload over the limit fails the waiting invokes with payload_too_big."""
        protocol, transport, _ = connect(max_payload_size=1000)
        first = protocol.invoke(Command.PING, {})
        second = protocol.invoke(Command.HANDSHAKE, {})
        protocol.dataReceived(encode_header(Header.response(Command.PING, 1001, 1)))
        protocol.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(first, PayloadTooBigError)
        self.failureResultOf(second, PayloadTooBigError)

    def test_limit_adjustable_per_connection(self):
        """max_payload_size on the protocol changes its limit."""
        protocol, transport, _ = connect(max_payload_size=10, handlers={Command.PING: ping})
        self.assertEqual(protocol.max_payload_size, 10)
        protocol.max_payload_size = 100
        protocol.dataReceived(request(Command.PING, {"a": Uint8(1)}))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(written(transport)), 1)

    def test_packets_before_bad_bytes_are_handled(self):
        """Whole packets that came before the bad bytes are still handled."""
        protocol, transport, _ = connect(handlers={Command.PING: ping})
        d = protocol.invoke(Command.HANDSHAKE, {})
        transport.clear()
        protocol.dataReceived(request(Command.PING, {})
                              + response(Command.HANDSHAKE, {"ok": Uint8(1)}) + b"\x00junk")
        self.assertEqual(self.successResultOf(d), {"ok": Uint8(1)})
        self.assertEqual(len(written(transport)), 1)
        self.assertTrue(transport.disconnected)
        self.assertEqual(len(self.warnings()), 1)

    def test_nothing_raises_out_of_data_received(self):
        """A bug in a packetReceived override is logged, not raised."""
        class Broken(LevinProtocol):
            def packetReceived(self, header, payload):
                raise RuntimeError("bug")

        factory = LevinFactory(task.Clock())
        factory.protocol = Broken
        protocol = factory.buildProtocol(PEER)
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(request(Command.PING, {}))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


def memory_pair(server_handlers=None, client_handlers=None):
    """A client and server joined by iosim; returns (client, server, pump)."""
    clock = task.Clock()
    server_factory = LevinFactory(clock, handlers=server_handlers)
    client_factory = LevinFactory(clock, handlers=client_handlers)
    client, server, pump = connectedServerAndClient(
        lambda: server_factory.buildProtocol(PEER),
        lambda: client_factory.buildProtocol(PEER),
        clock=clock,
    )
    return client, server, pump


class MemoryConnectionTests(SynchronousTestCase):
    """Two LevinProtocols talk through iosim."""

    def test_invoke_and_reply(self):
        """A client invoke reaches the server's handler and the answer comes back."""
        client, _, pump = memory_pair(server_handlers={Command.PING: ping})
        d = client.invoke(Command.PING, {})
        pump.flush()
        self.assertEqual(self.successResultOf(d), PING_REPLY)

    def test_both_sides_invoke_the_same_command(self):
        """Crossing invokes of one command are each answered, never confused."""
        def sync(name):
            return lambda p, h, s: {"from": String(name)}
        client, server, pump = memory_pair(server_handlers={Command.TIMED_SYNC: sync("server")},
                                           client_handlers={Command.TIMED_SYNC: sync("client")})
        from_client = client.invoke(Command.TIMED_SYNC, {})
        from_server = server.invoke(Command.TIMED_SYNC, {})
        pump.flush()
        self.assertEqual(self.successResultOf(from_client), {"from": String("server")})
        self.assertEqual(self.successResultOf(from_server), {"from": String("client")})

    def test_notify(self):
        """A notification reaches the other side's handler."""
        seen = []
        client, _, pump = memory_pair(server_handlers={
            Command.NOTIFY_NEW_TRANSACTIONS: lambda p, h, s: seen.append(s)})
        client.notify(Command.NOTIFY_NEW_TRANSACTIONS, {"n": Uint8(3)})
        pump.flush()
        self.assertEqual(seen, [{"n": Uint8(3)}])

    def test_error_code_travels(self):
        """A server handler's error code fails the client's invoke."""
        client, _, pump = memory_pair()
        d = client.invoke(Command.PING, {})
        pump.flush()
        error = self.failureResultOf(d, ReturnCodeError).value
        self.assertEqual(error.return_code, RETURN_ERROR_HANDLER_NOT_DEFINED)

    def test_server_close_fails_client_invokes(self):
        """When the server hangs up, the client's pending invoke fails."""
        client, server, pump = memory_pair(server_handlers={
            Command.PING: lambda p, h, s: defer.Deferred()})
        d = client.invoke(Command.PING, {})
        pump.flush()
        server.transport.loseConnection()
        pump.flush()
        self.failureResultOf(d, ConnectionLostError)


class LoopbackMixin:
    """Shared by the real-socket tests: a ping server and a dialled client."""

    def server_factory(self):
        return BuiltRecorder(reactor, handlers={Command.PING: ping})

    async def round_trip(self, client, server_factory):
        self.assertEqual(await client.invoke(Command.PING, {}), PING_REPLY)
        big = {"blob": String(bytes(range(256)) * 1024)}
        [server] = server_factory.built
        server.factory.handlers[Command.HANDSHAKE] = lambda p, h, s: s
        self.assertEqual(await client.invoke(Command.HANDSHAKE, big), big)


class TCPTests(LoopbackMixin, TestCase):
    """Levin over a real loopback TCP connection."""

    async def test_round_trip(self):
        """An invoke crosses TCP and its answer comes back, large ones too."""
        server_factory = self.server_factory()
        port = await serverFromString(
            reactor, "tcp:0:interface=127.0.0.1").listen(server_factory)
        self.addCleanup(port.stopListening)
        endpoint = clientFromString(reactor, "tcp:127.0.0.1:{}".format(port.getHost().port))
        client = await endpoint.connect(BuiltRecorder(reactor))
        close_on_cleanup(self, client, server_factory)
        await self.round_trip(client, server_factory)


class WebSocketTests(LoopbackMixin, TestCase):
    """Levin stacked inside a real loopback WebSocket connection."""

    async def test_round_trip(self):
        """An invoke crosses WebSocket and its answer comes back, large ones too."""
        server_factory = self.server_factory()
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            stacked_server_factory(server_factory, reactor=reactor))
        self.addCleanup(port.stopListening)
        port_number = port.getHost().port
        client_factory = BuiltRecorder(reactor)
        await clientFromString(reactor, "tcp:127.0.0.1:{}".format(port_number)).connect(
            stacked_client_factory(
                client_factory, "ws://127.0.0.1:{}/levin".format(port_number),
                reactor=reactor))
        # The Levin client exists once the WebSocket opening handshake is over.
        client = await client_factory.first
        self.assertIsInstance(client.transport, WebSocketTransport)
        close_on_cleanup(self, client, server_factory)
        await self.round_trip(client, server_factory)
