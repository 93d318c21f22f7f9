"""LevinProtocol refusals: settings that cannot work are refused, bad bytes drop the peer."""

from twisted.internet import task
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    BadSignatureError,
    Command,
    Header,
    LevinFactory,
    LevinProtocol,
    PayloadTooBigError,
    Uint8,
    ValueOutOfRangeError,
    encode_header,
)
from lethean.levin._header import MAX_PAYLOAD_SIZE
from tests._levin_protocol import PEER, connect, ping, request, response, written


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
