"""Helpers for the mesh transport tests: identities, registries, nodes, consumers."""

from twisted.internet import defer, task
from twisted.internet.address import IPv4Address
from zope.interface import implementer

from lethean.identity import LocalIdentity, PrivateKey
from lethean.interfaces import IMessageConsumer, IPacketConsumer
from lethean.mesh import FEATURES, SESSION_V2, MeshTransport, TransportConfig
from lethean.peers import PeerRegistry
from lethean.smsg import Timestamp

CREATED = Timestamp.parse("2026-01-02T03:04:05.12Z")
LOOPBACK = "tcp:0:interface=127.0.0.1"
#: A lethean node's features without v2 sessions: its links to lethean
#: peers stay v1 (the reference's static pair key), as tests of v1 need.
V1_FEATURES = FEATURES - {SESSION_V2}


def make_identity(name="node", role="dual"):
    """A fresh LocalIdentity."""
    return LocalIdentity.create(PrivateKey.generate(), name, role, CREATED)


def make_registry(testcase):
    """A registry whose save timer runs on a Clock nobody advances (no disk writes)."""
    return PeerRegistry(task.Clock(), testcase.mktemp(), writer=lambda path, content: None)


def make_node(testcase, reactor, name="node", *, listen=LOOPBACK, start=True, **config):
    """A MeshTransport listening on loopback, stopped at the end of the test."""
    node = MeshTransport(reactor, make_identity(name), make_registry(testcase),
                         TransportConfig(listen=listen, **config))
    if start:
        node.startService()
        testcase.addCleanup(node.stopService)
    return node


def address_of(node):
    """``127.0.0.1:port`` of a listening node."""
    return "127.0.0.1:{}".format(node.port.getHost().port)


@implementer(IMessageConsumer)
class Inbox:
    """Records messages and lets a test wait for the next ones."""

    def __init__(self):
        self.messages = []
        self._waiting = []

    def messageReceived(self, connection, message):
        self.messages.append((connection, message))
        waiting, self._waiting = self._waiting, []
        for count, d in waiting:
            if len(self.messages) >= count:
                d.callback(self.messages[count - 1])
            else:
                self._waiting.append((count, d))

    def wait(self, count=None):
        """A Deferred firing with the ``count``-th ``(connection, message)`` (next one by default)."""
        count = len(self.messages) + 1 if count is None else count
        if len(self.messages) >= count:
            return defer.succeed(self.messages[count - 1])
        d = defer.Deferred()
        self._waiting.append((count, d))
        return d


@implementer(IPacketConsumer)
class PacketInbox:
    """Records UEPS packets."""

    def __init__(self):
        self.packets = []
        self.next = defer.Deferred()

    def packetReceived(self, connection, packet):
        self.packets.append((connection, packet))
        d, self.next = self.next, defer.Deferred()
        d.callback((connection, packet))


def clock_pair(testcase, **config):
    """
    Two MeshTransports on one ``task.Clock`` joined by ``iosim``: returns
    ``(clock, server, client, server_protocol, client_protocol, pump)``.
    The client's handshake is already done and flushed.
    """
    from twisted.test.iosim import connectedServerAndClient

    clock = task.Clock()
    clock.advance(1_700_000_000)
    nodes = [MeshTransport(clock, make_identity(name), make_registry(testcase),
                           TransportConfig(listen=None, **config))
             for name in ("bravo", "alpha")]
    server, client = nodes
    client_factory = client_factory_for(client)
    wire, gate, pump = connectedServerAndClient(
        lambda: server.server_factory().buildProtocol(ADDRESS),
        lambda: client_factory.buildProtocol(ADDRESS), clock=clock)
    pump.flush()
    # The link is open once the handshake and the capability exchange are done.
    clock.advance(0)
    pump.flush()
    return clock, server, client, gate.wrappedProtocol, wire.wrappedProtocol, pump


#: The address iosim connections claim to come from.
ADDRESS = IPv4Address("TCP", "127.0.0.1", 40000)


def client_factory_for(client, address="127.0.0.1:9091"):
    """The wire factory one dial of ``client`` uses (as ``connect`` builds it)."""
    from lethean.mesh._protocol import MeshClientFactory
    from lethean.mesh._wire import WireFactory

    factory = MeshClientFactory(client, "ws://{}/ws".format(address), address=address)
    wire = WireFactory(factory, client)
    wire.result = factory.result
    return wire


class RawClient:
    """
    A bare TCP client for HTTP-level checks: send ``request``, collect the
    answer until the server closes or ``until`` bytes appear.
    """

    def __init__(self, request=b"", until=None):
        from twisted.internet.protocol import Protocol

        outer = self
        self.received = b""
        self.done = defer.Deferred()
        self._until = until

        class _Protocol(Protocol):
            def connectionMade(self):
                outer.transport = self.transport
                if request:
                    self.transport.write(request)

            def dataReceived(self, data):
                outer.received += data
                if outer._until is not None and outer._until in outer.received:
                    self.transport.loseConnection()

            def connectionLost(self, reason):
                outer.done.callback(outer.received)

        self.protocol = _Protocol


def upgrade_request(path="/ws", origin=None):
    """An RFC 6455 upgrade request for ``path``."""
    lines = ["GET {} HTTP/1.1".format(path), "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append("Origin: " + origin)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def raw_connect(testcase, reactor, node, raw):
    """Connect ``raw`` (a RawClient) to ``node``'s port; closed at cleanup."""
    return await raw_connect_to(testcase, reactor, node.port.getHost().port, raw)


async def raw_connect_to(testcase, reactor, port, raw):
    """Connect ``raw`` (a RawClient) to loopback ``port``; closed at cleanup."""
    from twisted.internet.endpoints import TCP4ClientEndpoint
    from twisted.internet.protocol import Factory

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    protocol = await endpoint.connect(Factory.forProtocol(raw.protocol))

    def close():
        protocol.transport.loseConnection()
        return raw.done

    testcase.addCleanup(close)
    return protocol


async def scripted_handshake(testcase, reactor, node, first, *, binary=False):
    """
    Open a WebSocket to ``node``, send ``first`` as the first frame and
    return the ``(payload, is_binary)`` frames received once it ends.
    """
    return await scripted_handshake_to(testcase, reactor, node.port.getHost().port, first,
                                       binary=binary)


async def scripted_handshake_to(testcase, reactor, port, first, *, binary=False):
    """:func:`scripted_handshake` against any mesh node on loopback ``port``."""
    from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
    from twisted.internet.endpoints import TCP4ClientEndpoint

    from lethean.mesh._stacking import use_reactor_timers

    received = []
    done = defer.Deferred()

    class Scripted(WebSocketClientProtocol):
        def onOpen(self):
            self.sendMessage(first, isBinary=binary)

        def onMessage(self, payload, isBinary):
            received.append((payload, isBinary))

        def connectionLost(self, reason):
            super().connectionLost(reason)
            done.callback(received)

    factory = WebSocketClientFactory("ws://127.0.0.1:{}/ws".format(port), reactor=reactor)
    factory.protocol = Scripted
    use_reactor_timers(factory, reactor)
    factory.setProtocolOptions(autoPingInterval=0)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    protocol = await endpoint.connect(factory)
    testcase.addCleanup(lambda: protocol.transport.loseConnection() or done)
    return await done


def mute(pump):
    """From now on, nothing the iosim client writes reaches the server (a dead peer)."""
    pump.clientIO.getOutBuffer = lambda: b""
