"""Room for new peers: per-address limits checked as a connection is accepted."""

from twisted.internet import task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import MeshTransport, TransportConfig
from lethean.mesh._admission import Admission, own_address
from tests._mesh import make_identity, make_registry, upgrade_request

STRANGER = "203.0.113.7"


def address(host=STRANGER, port=40000):
    if ":" in host:
        return IPv6Address("TCP", host, port)
    return IPv4Address("TCP", host, port)


class _Connection:
    """What the admission needs of a connection."""

    def __init__(self, host, since):
        self.host = host
        self.since = since
        self.evicted = False
        self.admission = None

    def evict(self):
        self.evicted = True
        self.admission.left_pool(self)


class AdmissionTests(SynchronousTestCase):
    """The bookkeeping: per-address rate and caps, and the pending pool."""

    def admission(self, **config):
        self.clock = task.Clock()
        return Admission(self.clock, TransportConfig(listen=None, **config))

    def open(self, admission, host=STRANGER):
        connection = _Connection(host, self.clock.seconds())
        connection.admission = admission
        admission.opened(connection)
        return connection

    def test_connection_rate_per_address(self):
        """Past the burst, new connections from one address are refused until tokens refill."""
        admission = self.admission(connect_burst=3, connect_per_s=1.0)
        self.assertEqual([admission.refusal(STRANGER) for _ in range(3)], [None] * 3)
        self.assertEqual(admission.refusal(STRANGER)[0], "refused_connect_rate")
        self.assertIsNone(admission.refusal("198.51.100.1"))
        self.clock.advance(1)
        self.assertIsNone(admission.refusal(STRANGER))
        self.assertEqual(admission.refusal(STRANGER)[0], "refused_connect_rate")

    def test_pending_connections_per_address(self):
        """An address holding max_pending_per_address unauthenticated connections gets no more."""
        admission = self.admission(max_pending_per_address=2)
        first = self.open(admission)
        self.open(admission)
        self.assertEqual(admission.refusal(STRANGER)[0], "refused_address_pending")
        self.assertIsNone(admission.refusal("198.51.100.1"))
        admission.left_pool(first)
        self.assertIsNone(admission.refusal(STRANGER))
        self.assertEqual(admission.held(STRANGER), (2, 1))

    def test_open_connections_per_address(self):
        """An address holding max_connections_per_address connections, proven or not, gets no more."""
        admission = self.admission(max_connections_per_address=3)
        connections = [self.open(admission) for _ in range(3)]
        for connection in connections:
            admission.left_pool(connection)
        self.assertEqual(admission.refusal(STRANGER)[0], "refused_address_connections")
        admission.closed(connections[0])
        self.assertIsNone(admission.refusal(STRANGER))
        for connection in connections[1:]:
            admission.closed(connection)
        self.assertEqual(admission.held(STRANGER), (0, 0))

    def test_own_addresses_are_never_limited(self):
        """127.0.0.1 and ::1, this machine's own tools, are never refused by address."""
        admission = self.admission(connect_burst=1, max_pending_per_address=1,
                                   max_connections_per_address=1)
        for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            for _ in range(3):
                self.assertIsNone(admission.refusal(host))
                self.open(admission, host)
        self.assertFalse(own_address("127.0.0.2"))
        self.assertFalse(own_address(None))
        self.assertIsNone(admission.refusal("127.0.0.2"))
        self.assertEqual(admission.refusal("127.0.0.2")[0], "refused_connect_rate")

    def test_connections_without_an_address_are_not_limited_by_address(self):
        """On a unix socket (behind a proxy) there is no address to tell peers apart by."""
        admission = self.admission(connect_burst=1, max_pending_per_address=1)
        for _ in range(3):
            self.assertIsNone(admission.refusal(None))
            self.open(admission, None)

    def test_full_pool_evicts_the_oldest_of_the_busiest_address(self):
        """A full pool makes room by evicting the oldest connection of the address holding most."""
        admission = self.admission(max_pending=4)
        honest = self.open(admission, "198.51.100.1")
        self.clock.advance(1)
        crowd = []
        for _ in range(3):
            crowd.append(self.open(admission))
            self.clock.advance(1)
        newcomer = self.open(admission, "198.51.100.2")
        self.assertEqual([c.evicted for c in crowd], [True, False, False])
        self.assertFalse(honest.evicted or newcomer.evicted)
        self.assertEqual(admission.pending, 4)

    def test_full_pool_spares_a_connection_that_took_a_step(self):
        """Of the busiest address, the connection stalled longest goes, not the first accepted."""
        admission = self.admission(max_pending=3)
        crowd = []
        for _ in range(3):
            crowd.append(self.open(admission))
            self.clock.advance(1)
        crowd[0].since = self.clock.seconds()
        admission.progressed(crowd[0])
        self.clock.advance(1)
        self.open(admission)
        self.assertEqual([c.evicted for c in crowd], [False, True, False])
        admission.left_pool(crowd[2])
        admission.progressed(crowd[2])
        self.assertEqual(admission.pending, 2)

    def test_rate_buckets_are_bounded(self):
        """Past max_idle addresses the least recent bucket is forgotten (refilled)."""
        admission = self.admission(connect_burst=1, connect_per_s=0.001)
        admission.max_idle = 10
        admission.refusal(STRANGER)
        self.assertIsNotNone(admission.refusal(STRANGER))
        for n in range(9):
            admission.refusal("198.51.100.{}".format(n))
        self.assertIsNotNone(admission.refusal(STRANGER))
        for n in range(10):
            admission.refusal("198.51.100.{}".format(n))
        self.assertIsNone(admission.refusal(STRANGER))


class _Recorder(Factory):
    """A wrapped factory that records what it was asked to build."""

    def __init__(self):
        self.built = []

    def buildProtocol(self, addr):
        self.built.append(addr)
        return Protocol()


class AddressFilterTests(SynchronousTestCase):
    """The outermost factory refuses before anything is built, read or written."""

    def setUp(self):
        self.clock = task.Clock()
        self.node = MeshTransport(self.clock, make_identity(), make_registry(self),
                                  TransportConfig(listen=None, connect_burst=2, connect_per_s=1.0))
        self.inner = _Recorder()
        self.filter = self.node.server_factory().address_filter(self.inner)

    def test_refused_connection_builds_nothing(self):
        """Over its rate, a connection gets no protocol (Twisted closes the socket), one count each."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        built = [self.filter.buildProtocol(address(port=port)) for port in range(100)]
        self.assertEqual(sum(p is not None for p in built), 2)
        self.assertEqual(len(self.inner.built), 2)
        self.assertEqual(self.node.counters["refused_connect_rate"], 98)
        lines = [e for e in events if e.get("reason") == "refused_connect_rate"]
        self.assertEqual(len(lines), 5)

    def test_logs_as_the_factory_it_wraps(self):
        """Twisted's 'starting on PORT' line names the listener, not the filter."""
        listener = self.node.server_factory()
        self.assertEqual(listener.address_filter(listener).logPrefix(), "MeshListener")

    def test_loopback_always_passes(self):
        """The operator's own address is handed on however fast it connects."""
        for port in range(50):
            self.assertIsNotNone(self.filter.buildProtocol(address("127.0.0.1", port)))
        self.assertEqual(self.node.counters["refused_connect_rate"], 0)


class ListenerAdmissionTests(SynchronousTestCase):
    """The listener's gates report to the admission: pending, proven and closed."""

    def setUp(self):
        self.clock = task.Clock()
        self.node = MeshTransport(self.clock, make_identity(), make_registry(self),
                                  TransportConfig(listen=None, max_pending_per_address=2,
                                                  max_connections_per_address=3))
        self.listener = self.node.server_factory()
        self.filter = self.listener.address_filter(self.listener)

    def connect(self, host=STRANGER, port=40000):
        gate = self.filter.buildProtocol(address(host, port))
        if gate is None:
            return None, None
        transport = StringTransport(peerAddress=address(host, port))
        gate.makeConnection(transport)
        return gate, transport

    def test_silent_connections_hold_only_their_address_s_places(self):
        """Silent sockets from one address fill its own places, not the pool."""
        gates = [self.connect(port=port) for port in range(5)]
        self.assertEqual(sum(gate is not None for gate, _ in gates), 2)
        self.assertEqual(self.node.counters["refused_address_pending"], 3)
        self.assertEqual(self.node.pending, 2)
        newcomer, _ = self.connect("198.51.100.1")
        self.assertIsNotNone(newcomer)

    def test_places_come_back_when_connections_end(self):
        """A connection that ends, or leaves the pool, frees its address's place."""
        first, first_transport = self.connect(port=1)
        second, _ = self.connect(port=2)
        self.assertEqual(self.connect(port=3), (None, None))
        first.dataReceived(upgrade_request("/nope"))
        self.assertTrue(first_transport.disconnecting)
        first.connectionLost(Failure(ConnectionDone()))
        third, _ = self.connect(port=4)
        self.assertIsNotNone(third)
        self.assertEqual(self.listener.admission.held(STRANGER), (2, 2))

    def test_deadline_frees_the_place(self):
        """A silent connection dropped at the handshake deadline gives its place back."""
        gate, transport = self.connect()
        self.clock.advance(self.node.config.handshake_timeout_s)
        self.assertTrue(transport.disconnected)
        gate.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.listener.admission.held(STRANGER), (0, 0))
        self.assertEqual(self.node.pending, 0)


class PoolProgressTests(SynchronousTestCase):
    """A full pool evicts the connection that stalled longest, so a peer that keeps moving gets through."""

    def test_upgraded_connection_outlives_a_silent_one(self):
        """A connection that sent its upgrade request is evicted after an older silent one."""
        clock = task.Clock()
        node = MeshTransport(clock, make_identity(), make_registry(self),
                             TransportConfig(listen=None, max_pending=2))
        listener = node.server_factory()

        def connect(port):
            gate = listener.buildProtocol(address("127.0.0.1", port))
            transport = StringTransport(peerAddress=address("127.0.0.1", port))
            gate.makeConnection(transport)
            clock.advance(1)
            return gate, transport

        moving, moving_transport = connect(1)
        silent, silent_transport = connect(2)
        moving.dataReceived(upgrade_request())
        clock.advance(1)
        newcomer, newcomer_transport = connect(3)
        self.assertTrue(silent_transport.disconnecting or silent_transport.disconnected)
        self.assertFalse(moving_transport.disconnecting or moving_transport.disconnected)
        self.assertIsNotNone(moving.wrappedProtocol)
        self.assertEqual(node.counters["refused_evicted"], 1)
        self.assertEqual(set(listener.admission.pending_connections()), {moving, newcomer})


class AcceptCostTests(SynchronousTestCase):
    """Accepting a WebSocket does not pretty-print Autobahn's options."""

    def test_options_copied_without_formatting(self):
        """Each connection carries its factory's options; Autobahn formats none of them."""
        import autobahn.websocket.protocol

        formatted = []
        self.patch(autobahn.websocket.protocol, "pformat", lambda value: formatted.extend(value))

        clock = task.Clock()
        node = MeshTransport(clock, make_identity(), make_registry(self),
                             TransportConfig(listen=None, max_message_bytes=4096))
        gate = node.server_factory().buildProtocol(address("127.0.0.1"))
        gate.makeConnection(StringTransport(peerAddress=address("127.0.0.1")))
        gate.dataReceived(upgrade_request())
        websocket = gate.wrappedProtocol
        self.assertEqual(formatted, [])
        self.assertEqual(websocket.maxMessagePayloadSize, 4096)
        self.assertEqual(websocket.maxFramePayloadSize, 4096)
        self.assertEqual(websocket.openHandshakeTimeout,
                         node.config.handshake_timeout_s + 1)

    def test_wire_looks_like_its_transport_but_tls(self):
        """A Wire provides what its transport provides, TLS left out, for each instance."""
        from twisted.internet.interfaces import ISSLTransport, ITCPTransport
        from zope.interface import Interface, alsoProvides, implementer

        from lethean.mesh._wire import Wire

        class IExtra(Interface):
            """Declared by one transport instance only."""

        @implementer(ITCPTransport, ISSLTransport)
        class Transport(StringTransport):
            pass

        plain, extra = Transport(), Transport()
        alsoProvides(extra, IExtra)
        for transport, has_extra in ((plain, False), (extra, True), (Transport(), False)):
            wire = Wire(Factory(), None, None)
            wire.makeConnection(transport)
            self.assertTrue(ITCPTransport.providedBy(wire))
            self.assertFalse(ISSLTransport.providedBy(wire))
            self.assertEqual(IExtra.providedBy(wire), has_extra)
