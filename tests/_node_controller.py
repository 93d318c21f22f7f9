"""Helpers the controller tests share: a controller node with a worker node on a MemoryMesh."""

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import reply
from lethean.node._controller import Controller
from lethean.node._worker import Worker
from lethean.peers import Peer, PeerRegistry
from lethean.testing import MemoryMesh
from tests._node_worker import (
    FakeMiner,
    FakeMinerManager,
    FakeProfileManager,
    make_identity,
    synchronous,
)


class Silent:
    """A consumer that never answers (a busy or Go-only worker)."""

    def __init__(self):
        self.received = []

    def messageReceived(self, connection, message):
        self.received.append(message)


class ControllerHarness(SynchronousTestCase):
    """A controller node, a worker node, and a registry on a task.Clock."""

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1767323045)
        self.mesh = MemoryMesh(self.clock)
        self.home = self.mesh.add_node(make_identity("alpha"))
        self.registry = PeerRegistry(self.clock, self.mktemp())
        self.addCleanup(self.registry.close)
        self.controller = Controller(self.clock, self.home, self.registry)
        self.home.add_consumer(self.controller)
        self.miners = FakeMinerManager([FakeMiner("xmrig-0", stats={"hashrate": 5.0},
                                                  lines=["x", "y"])])
        self.profiles = FakeProfileManager()
        self.miners_root = self.mktemp()
        self.far, self.worker = self.add_worker("bravo")

    def add_worker(self, name, register=True):
        node = self.mesh.add_node(make_identity(name))
        worker = Worker(self.clock, node.identity, miner_manager=self.miners,
                        profile_manager=self.profiles, miners_root=self.miners_root,
                        run_in_thread=synchronous)
        node.add_consumer(worker)
        if register:
            identity = node.identity.identity
            self.registry.add_peer(Peer(id=identity.id, name=name, public_key=identity.public_key,
                                        address=node.address))
        return node, worker

    def answer_with(self, message_type, payload):
        """Replace the worker by one that answers every request with this."""
        for consumer in list(self.far._consumers):
            self.far.remove_consumer(consumer)

        class Answer:
            def messageReceived(inner, connection, message):
                connection.send(reply(message, message_type, payload, clock=self.clock))
        self.far.add_consumer(Answer())

    def assertNoRequestTimers(self):
        """No request timeout is left scheduled."""
        self.assertEqual((self.controller._pending, self.controller._by_connection), ({}, {}))
        self.assertEqual([call for call in self.clock.getDelayedCalls()
                          if call.func == self.controller._timed_out], [])

    @property
    def far_id(self):
        return self.far.identity.id
