"""Bounds before work: every limit a stranger or a peer meets, on a task.Clock."""

from twisted.internet import defer, task
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from lethean.identity import generate_challenge
from lethean.interfaces import IMessageConsumer
from lethean.mesh import MeshTransport, TransportConfig, new_message
from lethean.mesh._handshake import handshake_message
from lethean.mesh._limits import Offenders
from tests._mesh import (
    ADDRESS,
    clock_pair,
    make_identity,
    make_registry,
    upgrade_request,
    V1_FEATURES,
)


def gate_node(testcase, **config):
    clock = task.Clock()
    node = MeshTransport(clock, make_identity(), make_registry(testcase),
                         TransportConfig(listen=None, **config))
    return clock, node


def connect(node, address=ADDRESS):
    """A gate on a StringTransport, as the listener builds it."""
    gate = node.server_factory().buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    gate.makeConnection(transport)
    return gate, transport


class UpgradeRequestTests(SynchronousTestCase):
    """The upgrade request is read under a byte budget, then routed."""

    def test_endless_headers_refused_at_the_budget(self):
        """Headers that never end are refused with 431 once past max_request_bytes."""
        clock, node = gate_node(self, max_request_bytes=1024)
        gate, transport = connect(node)
        gate.dataReceived(b"GET /ws HTTP/1.1\r\n")
        for _ in range(100):
            if transport.disconnecting:
                break
            gate.dataReceived(b"X-Filler: " + b"a" * 20 + b"\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 431 "))
        self.assertEqual(node.counters["refused_request_too_large"], 1)
        self.assertEqual(node.pending, 0)

    def test_wrong_path_404_byte_by_byte(self):
        """A request for another path, fed byte by byte, is answered 404 by the gate."""
        clock, node = gate_node(self)
        gate, transport = connect(node)
        for byte in upgrade_request("/nope"):
            gate.dataReceived(bytes([byte]))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 404 Not Found\r\n"))
        self.assertTrue(transport.value().endswith(b"404 page not found\n"))
        self.assertEqual(node.counters["refused_path"], 1)

    def test_foreign_origin_refused_before_websocket(self):
        """A foreign browser Origin is answered 403 by the gate: no WebSocket protocol is built."""
        clock, node = gate_node(self)
        gate, transport = connect(node)
        gate.dataReceived(upgrade_request(origin="http://attacker.example"))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 403 Forbidden\r\n"))
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(gate.wrappedProtocol)
        self.assertEqual(node.counters["refused_origin"], 1)
        self.assertEqual(node.pending, 0)

    def test_origin_header_name_any_case(self):
        """The Origin header is found whatever its case; loopback origins pass."""
        clock, node = gate_node(self)
        for origin, refused in ((b"oRiGiN: http://evil.example", True),
                                (b"Origin: http://localhost:8080", False),
                                (b"Origin:", False)):
            gate, transport = connect(node)
            request = upgrade_request().replace(b"\r\n\r\n", b"\r\n" + origin + b"\r\n\r\n")
            gate.dataReceived(request)
            self.assertEqual(transport.value().startswith(b"HTTP/1.1 403 "), refused, origin)

    def test_garbage_is_a_bad_request(self):
        """Bytes that are not an HTTP GET are answered 400."""
        clock, node = gate_node(self)
        gate, transport = connect(node)
        gate.dataReceived(b"\x16\x03\x01garbage\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertEqual(node.counters["refused_bad_request"], 1)

    def test_upgrade_without_handshake_times_out(self):
        """An upgrade that is answered but never followed by a handshake is dropped at 10 s."""
        clock, node = gate_node(self)
        gate, transport = connect(node)
        gate.dataReceived(upgrade_request())
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "))
        clock.advance(10)
        self.assertTrue(transport.disconnected)
        gate.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(node.counters["refused_timeout"], 1)
        self.assertEqual(node.pending, 0)
        self.assertEqual(clock.getDelayedCalls(), [])


class HandshakeSizeTests(SynchronousTestCase):
    """A stranger's handshake is read only up to a small bound."""

    def test_oversize_handshake_refused_as_it_arrives(self):
        """A 200 KiB first message is refused once past 64 KiB, before it is parsed."""
        clock, node = gate_node(self)
        gate, transport = connect(node)
        gate.dataReceived(upgrade_request())
        import struct

        header = b"\x81\xff" + struct.pack("!Q", 200 * 1024) + b"\x00\x00\x00\x00"
        gate.dataReceived(header + b" " * (70 * 1024))
        self.assertTrue(transport.disconnected)
        self.assertEqual(node.counters["refused_bad_handshake"], 1)


class PendingPoolTests(SynchronousTestCase):
    """Unauthenticated connections have their own cap; a full pool evicts, it does not refuse."""

    def test_full_pool_evicts_the_oldest_of_the_busiest_address(self):
        """A new connection evicts the oldest connection of the address holding most places."""
        clock, node = gate_node(self, max_pending=3)
        other = IPv4Address("TCP", "10.0.0.9", 5555)
        _, honest = connect(node, other)
        clock.advance(1)
        _, first = connect(node)
        clock.advance(1)
        _, second = connect(node)
        clock.advance(1)
        _, newest = connect(node)
        self.assertTrue(first.disconnected)
        self.assertFalse(honest.disconnected or second.disconnected or newest.disconnected)
        self.assertEqual(node.counters["refused_evicted"], 1)
        self.assertEqual(node.pending, 3)

    def test_replayed_handshakes_do_not_lock_out_newcomers(self):
        """Connections accepted but never proving go before a newcomer still upgrading."""
        clock, server, client, _, _, pump = clock_pair(self, max_pending=3)
        replay = handshake_message(client.identity, server.identity.id, generate_challenge(),
                                   clock=clock)
        replayed = []
        for _ in range(3):
            gate, transport = connect(server)
            gate.dataReceived(upgrade_request())
            gate.dataReceived(_masked_text(replay.to_bytes()))
            replayed.append(transport)
            clock.advance(1)
        gate, newcomer = connect(server)
        gate.dataReceived(upgrade_request())
        clock.advance(1)
        connect(server)
        self.assertEqual([t.disconnected for t in replayed], [True, True, False])
        self.assertFalse(newcomer.disconnected)


@implementer(IMessageConsumer)
class Stalled:
    """A consumer whose work never finishes."""

    def __init__(self):
        self.pending = []

    def messageReceived(self, connection, message):
        d = defer.Deferred()
        self.pending.append(d)
        return d

    def connectionLost(self, connection):
        pass


class LinkBoundsTests(SynchronousTestCase):
    """Fragments, control frames, bytes, bad frames, slow readers and in-flight work."""

    def pair(self, **config):
        (self.clock, self.server, self.client, self.server_protocol,
         self.client_protocol, self.pump) = clock_pair(self, **config)
        self.inbound = self.server.connection(self.client.identity.id)
        self.link = self.client.connection(self.server.identity.id)
        # The gate's transport: record when the server stops reading.
        self.reading = []
        raw = self.server_protocol.transport.transport
        raw.pauseProducing = lambda: self.reading.append("paused")
        raw.resumeProducing = lambda: self.reading.append("resumed")

    def message(self, **payload):
        return new_message("x", self.client.identity.id, self.server.identity.id, payload,
                           clock=self.clock)

    def test_tiny_fragments_drop_the_peer(self):
        """A message sent as hundreds of one-byte fragments drops the peer early."""
        self.pair()
        self.client_protocol.beginMessage(isBinary=True)
        for _ in range(300):
            self.client_protocol.sendMessageFrame(b"x")
        self.pump.flush()
        self.assertEqual(self.server.counters["dropped_fragments"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))

    def test_go_sized_fragments_pass(self):
        """A message in 1 KiB fragments, as a Go server writes, is delivered."""
        self.pair()
        got = []
        self.server.add_consumer(_Collect(got))
        frame = self.link.seal(self.message(data="z" * 20000))
        self.client_protocol.beginMessage(isBinary=True)
        for offset in range(0, len(frame), 1024):
            self.client_protocol.sendMessageFrame(frame[offset:offset + 1024])
        self.client_protocol.endMessage()
        self.pump.flush()
        self.assertEqual(len(got), 1)
        self.assertEqual(self.server.counters["dropped_fragments"], 0)

    def test_ping_flood_drops_the_peer(self):
        """Past the control-frame burst, a peer sending WebSocket pings is dropped."""
        self.pair()
        for _ in range(20):
            self.client_protocol.sendPing(b"p")
        self.pump.flush()
        self.assertEqual(self.server.counters["dropped_control_frames"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))

    def test_pongs_count_against_the_send_budget(self):
        """Autobahn's own pongs to a peer that does not read count, and drop it."""
        self.pair(max_send_buffer_bytes=400)
        self.server_protocol.transport.write_paused(True)
        for _ in range(5):
            self.client_protocol.sendPing(b"p" * 120)
        self.pump.flush()
        self.assertEqual(self.server.counters["dropped_slow_reader"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))

    def test_bytes_over_the_rate_pause_reading(self):
        """Bytes past the burst pause reading until the budget refills on the clock."""
        self.pair(rate_bytes_burst=64 * 1024, rate_bytes_per_s=32 * 1024)
        for _ in range(3):
            self.link.send(self.message(data="y" * 30000))
        self.pump.flush()
        self.assertEqual(self.reading, ["paused"])
        self.clock.advance(5)
        self.assertEqual(self.reading, ["paused", "resumed"])

    def test_undecryptable_frames_drop_the_peer(self):
        """On a v1 link, past max_bad_frames frames that do not decrypt, the peer is dropped."""
        self.pair(max_bad_frames=3, features=V1_FEATURES)
        for _ in range(4):
            self.client_protocol.sendMessage(b"\x00" * 80, isBinary=True)
        self.pump.flush()
        self.assertEqual(self.server.counters["decrypt_failed"], 4)
        self.assertEqual(self.server.counters["dropped_bad_frames"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))

    def test_in_flight_work_pauses_reading(self):
        """Above max_in_flight unfinished messages reading pauses; it resumes as they finish."""
        self.pair(max_in_flight=4)
        stalled = Stalled()
        self.server.add_consumer(stalled)
        for n in range(6):
            self.link.send(self.message(n=n))
        self.pump.flush()
        self.assertEqual(self.reading, ["paused"])
        for d in stalled.pending:
            d.callback(None)
        self.assertEqual(self.reading, ["paused", "resumed"])


class _Collect:
    def __init__(self, into):
        self.into = into

    def messageReceived(self, connection, message):
        self.into.append(message)


class ProvingTests(SynchronousTestCase):
    """An unproven initiator never holds or displaces a proven peer's id."""

    def test_replayed_handshake_does_not_displace(self):
        """A replayed handshake is accepted but stays unproven, and is dropped at its deadline."""
        clock, server, client, server_protocol, _, pump = clock_pair(self)
        proven = server.connection(client.identity.id)
        replay = handshake_message(client.identity, server.identity.id, generate_challenge(),
                                   clock=clock)
        gate, transport = connect(server, IPv4Address("TCP", "10.1.1.1", 4444))
        gate.dataReceived(upgrade_request())
        gate.dataReceived(_masked_text(replay.to_bytes()))
        self.assertEqual(server.counters["handshake_accepted"], 2)
        self.assertIs(server.connection(client.identity.id), proven)
        self.assertEqual(server.pending, 1)
        for _ in range(2):
            clock.advance(20)
            pump.flush()
        self.assertTrue(transport.disconnected)
        gate.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(server.counters["dropped_prove_timeout"], 1)
        self.assertIs(server.connection(client.identity.id), proven)
        self.assertFalse(proven.closed)
        # The replayed key is the real peer's: it gets no strike, its address does.
        self.assertIsNone(server.refusal("10.1.1.1", client.identity.identity))
        self.assertEqual(len(server.offenders), 1)


class UnprovenNotPersistedTests(SynchronousTestCase):
    """A peer that never proved its key is never registered."""

    def test_stranger_never_proving(self):
        """An accepted handshake from a new key that sends no sealed frame leaves no record."""
        clock, server, client, _, _, pump = clock_pair(self)
        stranger = make_identity("stranger")
        hello = handshake_message(stranger, server.identity.id, generate_challenge(), clock=clock)
        gate, transport = connect(server)
        gate.dataReceived(upgrade_request())
        gate.dataReceived(_masked_text(hello.to_bytes()))
        self.assertEqual(server.counters["handshake_accepted"], 2)
        self.assertIsNone(server.connection(stranger.id))
        clock.advance(40)
        gate.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(server.registry.get_peer(stranger.id))
        self.assertEqual(server.counters["dropped_prove_timeout"], 1)


def _masked_text(payload):
    """One masked client text frame (RFC 6455) carrying ``payload``."""
    import struct

    mask = b"\x01\x02\x03\x04"
    header = b"\x81"
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


class OffenderTests(SynchronousTestCase):
    """Repeat offenders are refused for a backoff period."""

    def test_strikes_then_backoff(self):
        """The third strike refuses for the backoff, doubling with each further one."""
        clock = task.Clock()
        offenders = Offenders(clock, strikes=3, backoff_s=60)
        self.assertFalse(offenders.strike("a"))
        self.assertFalse(offenders.strike("a"))
        self.assertTrue(offenders.strike("a"))
        self.assertTrue(offenders.refused("a"))
        clock.advance(59)
        self.assertTrue(offenders.refused("a"))
        self.assertTrue(offenders.strike("a"))
        clock.advance(119)
        self.assertTrue(offenders.refused("a"))
        clock.advance(2)
        self.assertFalse(offenders.refused("a"))
        self.assertFalse(offenders.refused("b"))

    def test_backoff_stops_doubling_at_its_ceiling(self):
        """Thousands of strikes (a flood of refused connections) stay at max_backoff_s."""
        clock = task.Clock()
        offenders = Offenders(clock, strikes=3, backoff_s=60.0, max_backoff_s=3600.0)
        for _ in range(5000):
            offenders.strike("a")
        clock.advance(3599)
        self.assertTrue(offenders.refused("a"))
        clock.advance(2)
        self.assertFalse(offenders.refused("a"))

    def test_bounded(self):
        """Past max_entries the least recent offender is forgotten."""
        offenders = Offenders(task.Clock(), max_entries=10)
        for n in range(50):
            offenders.strike(n)
        self.assertEqual(len(offenders), 10)

    def test_refused_key_and_address(self):
        """A refused key is refused; from a refused address only registered peers get in."""
        clock, node = gate_node(self)
        stranger = make_identity("stranger")
        known = make_identity("known")
        from lethean.peers import Peer

        node.registry.add_peer(Peer(id=known.id, name="known",
                                    public_key=known.identity.public_key))
        for _ in range(3):
            node.offence("10.0.0.1", None)
        self.assertIsNotNone(node.refusal("10.0.0.1", stranger.identity))
        self.assertIsNone(node.refusal("10.0.0.1", known.identity))
        self.assertIsNone(node.refusal("10.0.0.2", stranger.identity))
        for _ in range(3):
            node.offence("127.0.0.1", None)
            node.offence("127.0.0.2", None)
        self.assertIsNone(node.refusal("127.0.0.1", stranger.identity))
        self.assertIsNotNone(node.refusal("127.0.0.2", stranger.identity))
        for _ in range(3):
            node.offence(None, known.identity.public_key)
        self.assertIsNotNone(node.refusal("10.0.0.2", known.identity))

    def test_flooding_peer_refused_on_return(self):
        """A peer dropped three times for flooding is refused at its next handshake."""
        clock, server, client, _, _, pump = clock_pair(self, rate_burst=1, rate_excess_drop=0)
        for _ in range(3):
            server.offence(None, client.identity.identity.public_key)
        replay = handshake_message(client.identity, server.identity.id, generate_challenge(),
                                   clock=clock)
        gate, transport = connect(server)
        gate.dataReceived(upgrade_request())
        gate.dataReceived(_masked_text(replay.to_bytes()))
        self.assertTrue(transport.disconnected)
        self.assertEqual(server.counters["refused_offender"], 1)
