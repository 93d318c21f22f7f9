"""UEPSProtocol and UEPSFactory: in memory, over TCP and over WebSocket."""

import random

import attrs
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.mesh import stacked_client_factory, stacked_server_factory
from lethean.mesh._stacking import WebSocketTransport
from lethean.ueps import (
    Header,
    Packet,
    UEPSDecoder,
    UEPSFactory,
    UEPSProtocol,
    encode,
)
from tests._streams import close_on_cleanup
from tests.test_ueps_codec import tlv

SECRET = bytes(range(32))
PACKETS = [
    Packet(Header(1), b"hello"),
    Packet(Header(0x20, threat_score=100), b'{"job":"hash","nonce":42}'),
    Packet(Header(0xFF), b""),
    Packet(Header(0x30), bytes(range(256)) * 40),
]
STREAM = b"".join(encode(p, SECRET) for p in PACKETS)
#: A well-formed frame signed with another secret.
FORGED = encode(Packet(Header(1), b"forged"), b"not the secret")
PEER = IPv4Address("TCP", "192.0.2.7", 4321)


class Recorder(UEPSProtocol):
    """Keeps every packet and the reason the connection ended."""

    def __init__(self):
        self.packets = []
        self.reason = None
        self._waits = []

    def packetReceived(self, packet):
        self.packets.append(packet)
        self._wake()

    def connectionMade(self):
        built = getattr(self.factory, "built", None)
        if built is not None:
            built.append(self)
            if len(built) == 1:
                self.factory.first.callback(self)

    def connectionLost(self, reason):
        self.reason = reason
        self._wake()

    def arrived(self, count):
        """A Deferred that fires once ``count`` packets have arrived."""
        return self._when(lambda: len(self.packets) >= count)

    def closed(self):
        """A Deferred that fires once the connection is lost."""
        return self._when(lambda: self.reason is not None)

    def _when(self, ready):
        d = defer.Deferred()
        self._waits.append((ready, d))
        self._wake()
        return d

    def _wake(self):
        for entry in list(self._waits):
            if entry[0]():
                self._waits.remove(entry)
                entry[1].callback(self)


def reply_to(packet):
    """What Echo answers: the next intent, the payload reversed."""
    header = attrs.evolve(packet.header, intent_id=(packet.header.intent_id + 1) % 256)
    return Packet(header, packet.payload[::-1])


class Echo(Recorder):
    """Answers every packet with :func:`reply_to`."""

    def packetReceived(self, packet):
        super().packetReceived(packet)
        self.sendPacket(reply_to(packet))


def factory_for(protocol_class, **limits):
    """
    A UEPSFactory for ``protocol_class`` that records the connections it
    builds in ``built``; ``first`` fires with the first one.
    """
    factory = UEPSFactory.forProtocol(protocol_class, SECRET, **limits)
    factory.built = []
    factory.first = defer.Deferred()
    return factory


def connect(protocol_class=Recorder, **limits):
    """A protocol from a UEPSFactory, connected to a StringTransport."""
    proto = factory_for(protocol_class, **limits).buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    proto.makeConnection(transport)
    return proto, transport


class ReceiveTests(SynchronousTestCase):
    """Packets reach packetReceived however the bytes are split."""

    def test_whole(self):
        """A stream delivered at once gives every packet, in order."""
        proto, _ = connect()
        proto.dataReceived(STREAM)
        self.assertEqual(proto.packets, PACKETS)

    def test_byte_by_byte(self):
        """A stream delivered a byte at a time gives the same packets."""
        proto, transport = connect()
        for i in range(len(STREAM)):
            proto.dataReceived(STREAM[i:i + 1])
        self.assertEqual(proto.packets, PACKETS)
        self.assertFalse(transport.disconnecting)

    def test_random_splits(self):
        """A stream split at random points gives the same packets."""
        rng = random.Random(7)
        for _ in range(30):
            cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 30)))
            proto, _ = connect()
            for start, end in zip([0] + cuts, cuts + [len(STREAM)]):
                proto.dataReceived(STREAM[start:end])
            self.assertEqual(proto.packets, PACKETS)

    def test_send_packet(self):
        """sendPacket writes the frame signed with the factory's secret."""
        proto, transport = connect()
        proto.sendPacket(PACKETS[1])
        self.assertEqual(transport.value(), encode(PACKETS[1], SECRET))

    def test_default_hook_ignores_packets(self):
        """The base protocol accepts packets and does nothing with them."""
        proto = UEPSFactory(SECRET).buildProtocol(PEER)
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(STREAM)
        self.assertFalse(transport.disconnecting)

    def test_factory_refuses_bad_configuration(self):
        """A text secret or a zero limit is refused when the factory is made."""
        self.assertRaises(TypeError, UEPSFactory, "secret")
        self.assertRaises(ValueError, UEPSFactory, SECRET, max_frame_bytes=0)

    def test_factory_limits_reach_the_decoder(self):
        """The factory's limits configure each connection's decoder."""
        factory = UEPSFactory(SECRET, max_frame_bytes=1000, max_elements=9)
        self.assertEqual(
            factory.decoder(),
            UEPSDecoder(SECRET, max_frame_bytes=1000, max_elements=9))


class BadInputTests(SynchronousTestCase):
    """Bad bytes: one warning, the connection dropped, nothing raised."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def warnings(self):
        return [e for e in self.events if e["log_level"] == LogLevel.warn]

    def test_forged_frame_aborts(self):
        """A frame with a wrong HMAC is logged once and the connection aborted."""
        proto, transport = connect()
        proto.dataReceived(FORGED)
        self.assertTrue(transport.disconnected, "not aborted")
        [event] = self.warnings()
        self.assertEqual(event["reason"], "hmac_mismatch")
        self.assertEqual(event["peer"], str(PEER))
        self.assertIn("HMAC does not match", event["error"])
        self.assertEqual(proto.packets, [])

    def test_malformed_frame_closes_gracefully(self):
        """A malformed frame gets loseConnection, not an abort."""
        proto, transport = connect()
        proto.dataReceived(tlv(1, b"") + FORGED)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.assertEqual([e["reason"] for e in self.warnings()], ["malformed"])

    def test_oversized_frame_aborts_before_buffering(self):
        """A declared length over the factory's limit aborts from the element's head."""
        proto, transport = connect(max_frame_bytes=100)
        proto.dataReceived(b"\x07\x10\x00")
        self.assertTrue(transport.disconnected)
        self.assertEqual([e["reason"] for e in self.warnings()], ["frame_too_large"])

    def test_packets_before_bad_bytes_are_delivered(self):
        """Packets verified before the bad bytes, even in the same chunk, still arrive."""
        proto, transport = connect()
        proto.dataReceived(STREAM[:100])
        proto.dataReceived(STREAM[100:] + FORGED + STREAM)
        self.assertEqual(proto.packets, PACKETS)
        self.assertTrue(transport.disconnected)

    def test_later_bytes_ignored(self):
        """After the drop, more bytes deliver nothing and log nothing more."""
        proto, _ = connect()
        proto.dataReceived(FORGED)
        proto.dataReceived(STREAM)
        proto.dataReceived(FORGED)
        self.assertEqual(proto.packets, [])
        self.assertEqual(len(self.warnings()), 1)

    def test_secret_never_logged(self):
        """No log event carries the secret."""
        proto, _ = connect()
        proto.dataReceived(FORGED)
        self.assertTrue(self.events)
        for event in self.events:
            self.assertNotIn(repr(SECRET), repr(event))
            self.assertNotIn(SECRET.hex(), repr(event))

    def test_hook_failure_closes(self):
        """An exception in packetReceived is logged and closes the connection."""

        class Broken(Recorder):
            def packetReceived(self, packet):
                super().packetReceived(packet)
                raise RuntimeError("application bug")

        proto, transport = connect(Broken)
        proto.dataReceived(STREAM)
        self.assertEqual(proto.packets, PACKETS[:1])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        proto.dataReceived(STREAM)
        self.assertEqual(proto.packets, PACKETS[:1])


class MemoryConnectionTests(SynchronousTestCase):
    """Two UEPS peers connected in memory with iosim."""

    def pair(self):
        server_factory = factory_for(Echo)
        client_factory = factory_for(Recorder)
        client, server, pump = connectedServerAndClient(
            lambda: server_factory.buildProtocol(PEER),
            lambda: client_factory.buildProtocol(PEER),
        )
        return client, server, pump

    def test_request_and_reply(self):
        """Packets sent both ways arrive verified and in order."""
        client, server, pump = self.pair()
        for packet in PACKETS:
            client.sendPacket(packet)
        pump.flush()
        self.assertEqual(server.packets, PACKETS)
        self.assertEqual(client.packets, [reply_to(p) for p in PACKETS])

    def test_forgery_disconnects_both_ends(self):
        """A forged frame makes the receiver drop the connection."""
        client, server, pump = self.pair()
        client.sendPacket(PACKETS[0])
        client.transport.write(FORGED)
        pump.flush()
        self.assertEqual(server.packets, PACKETS[:1])
        self.assertIsNotNone(server.reason)
        self.assertIsNotNone(client.reason)


class LoopbackMixin:
    """Shared by the real-socket tests: start a UEPS server, dial it."""

    async def round_trip(self, client):
        for packet in PACKETS:
            client.sendPacket(packet)
        await client.arrived(len(PACKETS))
        self.assertEqual(client.packets, [reply_to(p) for p in PACKETS])

    async def forgery_closes(self, client, server_factory):
        client.sendPacket(PACKETS[0])
        client.transport.write(FORGED)
        await client.closed()
        [server] = server_factory.built
        await server.closed()
        self.assertEqual(server.packets, PACKETS[:1])


class TCPTests(LoopbackMixin, TestCase):
    """UEPS over a real loopback TCP connection."""

    async def dial(self):
        server_factory = factory_for(Echo)
        port = await serverFromString(
            reactor, "tcp:0:interface=127.0.0.1").listen(server_factory)
        self.addCleanup(port.stopListening)
        endpoint = clientFromString(reactor, "tcp:127.0.0.1:{}".format(port.getHost().port))
        client = await endpoint.connect(factory_for(Recorder))
        close_on_cleanup(self, client, server_factory)
        return client, server_factory

    async def test_round_trip(self):
        """Packets travel to a TCP server and its replies come back."""
        client, _ = await self.dial()
        await self.round_trip(client)

    async def test_forgery_closes(self):
        """A forged frame over TCP closes the connection; earlier packets got through."""
        client, server_factory = await self.dial()
        await self.forgery_closes(client, server_factory)


class WebSocketTests(LoopbackMixin, TestCase):
    """UEPS stacked inside a real loopback WebSocket connection."""

    async def dial(self):
        server_factory = factory_for(Echo)
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            stacked_server_factory(server_factory, reactor=reactor))
        self.addCleanup(port.stopListening)
        port_number = port.getHost().port
        client_factory = factory_for(Recorder)
        await clientFromString(reactor, "tcp:127.0.0.1:{}".format(port_number)).connect(
            stacked_client_factory(
                client_factory, "ws://127.0.0.1:{}/ueps".format(port_number), reactor=reactor))
        # The UEPS client exists once the WebSocket opening handshake is over.
        client = await client_factory.first
        self.assertIsInstance(client.transport, WebSocketTransport)
        close_on_cleanup(self, client, server_factory)
        return client, server_factory

    async def test_round_trip(self):
        """Packets travel to a WebSocket server and its replies come back."""
        client, _ = await self.dial()
        await self.round_trip(client)

    async def test_forgery_closes(self):
        """A forged frame over WebSocket closes the connection; earlier packets got through."""
        client, server_factory = await self.dial()
        await self.forgery_closes(client, server_factory)
