"""Helpers for the mesh transport tests: identities, registries, nodes, consumers."""

from twisted.internet import defer, task
from zope.interface import implementer

from lethean.identity import LocalIdentity, PrivateKey
from lethean.interfaces import IMessageConsumer, IPacketConsumer
from lethean.mesh import MeshTransport, TransportConfig
from lethean.peers import PeerRegistry
from lethean.smsg import Timestamp

CREATED = Timestamp.parse("2026-01-02T03:04:05.12Z")
LOOPBACK = "tcp:0:interface=127.0.0.1"


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

    from lethean.mesh._protocol import MeshClientFactory, MeshServerFactory

    clock = task.Clock()
    clock.advance(1_700_000_000)
    nodes = [MeshTransport(clock, make_identity(name), make_registry(testcase),
                           TransportConfig(listen=None, **config))
             for name in ("bravo", "alpha")]
    server, client = nodes
    server_factory = MeshServerFactory(server, url="ws://localhost/ws")
    client_factory = MeshClientFactory(client, "ws://127.0.0.1:9091/ws")
    client_factory.result.addCallback(client.outbound_ready, "127.0.0.1:9091")
    client_protocol, server_protocol, pump = connectedServerAndClient(
        lambda: server_factory.buildProtocol(None), lambda: client_factory.buildProtocol(None),
        clock=clock)
    pump.flush()
    return clock, server, client, server_protocol, client_protocol, pump
