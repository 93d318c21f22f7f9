"""Helpers the control API tests share: in-process nodes on loopback, and raw exchanges."""

import os

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol

from lethean.cli._client import ControlClient
from lethean.identity import NodeManager
from lethean.node._control import CONTROL_TOKEN_NAME
from lethean.node._assembly import assemble_node
from lethean.node._control import unix_endpoint
from lethean.peers import PeerRegistry
from tests._processes import short_folder


class Node:
    """One in-process node as twistd assembles it, on loopback."""

    def __init__(self, test, name, control=None, role="dual", folder=None):
        self.folder = folder or os.path.join(short_folder(test), name)
        identity = NodeManager.in_directory(self.folder).load_or_create(name=name, role=role)
        self.registry = PeerRegistry(reactor, os.path.join(self.folder, "peers.json"))
        self.socket = os.path.join(self.folder, "control.sock")
        if control is None:
            control = [unix_endpoint(self.socket)]
        options = {"listen": "tcp:0:interface=127.0.0.1", "data-dir": self.folder, "peer": [],
                   "control": control}
        self.service = assemble_node(reactor, identity, self.registry, options)
        self.service.startService()
        test.addCleanup(lambda: self.service.stopService() if self.service.running else None)
        self.transport = self.service.getServiceNamed("transport")
        self.control = self.service.getServiceNamed("control")
        self.app = self.service.getServiceNamed("application")
        self.id = identity.id
        self.address = "127.0.0.1:{}".format(self.transport.port.getHost().port)

    def client(self):
        """A control API client over the node's unix socket."""
        return ControlClient(reactor, UNIXClientEndpoint(reactor, self.socket), where=self.socket)

    def tcp_port(self):
        [port] = [port for _, port in self.control.ports if hasattr(port.getHost(), "port")]
        return port.getHost().port

    def token(self):
        with open(os.path.join(self.folder, CONTROL_TOKEN_NAME)) as f:
            return f.read().strip()


async def linked_nodes(test, **alpha_options):
    """alpha, bravo and charlie, with alpha linked to the other two."""
    alpha = Node(test, "alpha", **alpha_options)
    bravo = Node(test, "bravo", role="worker")
    charlie = Node(test, "charlie", role="worker")
    for worker in (bravo, charlie):
        await alpha.transport.connect(worker.address)
    # One round trip each, so every link has carried sealed frames both ways.
    for worker in (bravo, charlie):
        await alpha.app.controller.ping_peer(worker.id)
    return alpha, bravo, charlie


class RawClient(protocol.Protocol):
    """Sends raw bytes, collects the answer until the connection closes."""

    def __init__(self, data):
        self.data = data
        self.received = b""
        self.done = defer.Deferred()

    def connectionMade(self):
        self.transport.write(self.data)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.done.callback(self.received)


async def raw_exchange(endpoint, data):
    """Write ``data`` on a new connection to ``endpoint``; the whole answer."""
    raw = RawClient(data)
    await connectProtocol(endpoint, raw)
    return await raw.done
