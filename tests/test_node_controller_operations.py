"""The controller's operations (ping, miners, logs, stats), on one node, both ways and over loopback."""

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.bundles import create_profile_bundle
from lethean.node._controller import Controller
from lethean.node._errors import (
    ControllerError,
    MinerCommandError,
    RequestAbortedError,
    RequestTimeoutError,
)
from lethean.node._worker import Worker
from lethean.smsg import frame_password
from lethean.testing import MemoryMesh
from tests._mesh import address_of, make_node
from tests._node_controller import ControllerHarness, Silent
from tests._node_worker import FakeProfileManager, make_identity


class OperationTests(ControllerHarness):
    """The operations of controller-worker.md 2.2."""

    def test_ping(self):
        """Ping returns the RTT in ms and records it in the registry."""
        self.mesh.autoflush = False
        d = self.controller.ping_peer(self.far_id)
        self.clock.advance(0.25)
        self.mesh.flush()
        self.assertEqual(self.successResultOf(d), 250.0)
        self.assertEqual(self.registry.get_peer(self.far_id).ping_ms, 250.0)

    def test_ping_timeout(self):
        """A peer that never pongs fails after 5 s."""
        self.far.answer_pings = False
        self.far.remove_consumer(self.worker)
        d = self.controller.ping_peer(self.far_id)
        self.clock.advance(5)
        self.failureResultOf(d, RequestTimeoutError)

    def test_start_and_stop_miner(self):
        """Start returns the instance name; stop the stopped name."""
        self.assertEqual(self.successResultOf(self.controller.start_remote_miner(
            self.far_id, "xmrig", config={"threads": 4})), "xmrig-0")
        self.assertEqual(self.miners.started, [("xmrig", {"threads": 4})])
        self.assertEqual(self.successResultOf(self.controller.stop_remote_miner(
            self.far_id, "xmrig-0")), "xmrig-0")

    def test_miner_failures(self):
        """A miner_ack with success false fails with the reference's text."""
        self.miners.start_error = "boom"
        failure = self.failureResultOf(self.controller.start_remote_miner(
            self.far_id, "xmrig", config={}), MinerCommandError)
        self.assertEqual(str(failure.value), "miner start failed: boom")
        self.miners.stop_error = "gone"
        failure = self.failureResultOf(self.controller.stop_remote_miner(self.far_id, "x"),
                                       MinerCommandError)
        self.assertEqual(str(failure.value), "miner stop failed: gone")
        self.failureResultOf(self.controller.start_remote_miner(self.far_id, ""), ControllerError)

    def test_logs(self):
        """Logs come back as a list; since is sent in milliseconds."""
        self.assertEqual(self.successResultOf(self.controller.get_remote_logs(
            self.far_id, "xmrig-0", 10, since=1767323045120)), ["x", "y"])
        self.assertEqual(self.miners.miners["xmrig-0"].history_calls[0][1].timestamp(),
                         1767323045.12)

    def test_all_stats(self):
        """Every connected peer is asked at once; failing peers are left out."""
        third, third_worker = self.add_worker("charlie")
        third.remove_consumer(third_worker)
        third.add_consumer(Silent())
        self.add_worker("delta")  # registered but not connected: not asked
        for node in (self.far, third):
            self.successResultOf(self.controller.connect_to_peer(node.identity.id))
            self.registry.set_connected(node.identity.id, True)
        d = self.controller.get_all_stats()
        self.assertNoResult(d)
        self.clock.advance(10)
        stats = self.successResultOf(d)
        self.assertEqual(list(stats), [self.far_id])


class DualRoleTests(SynchronousTestCase):
    """Controller and worker on one transport (weakness 8)."""

    def test_both_directions(self):
        """Two dual nodes ask each other for stats over one link."""
        clock = task.Clock()
        mesh = MemoryMesh(clock)
        nodes = [mesh.add_node(make_identity(name)) for name in ("alpha", "bravo")]
        controllers = []
        for node in nodes:
            controller = Controller(clock, node)
            node.add_consumer(controller)
            node.add_consumer(Worker(clock, node.identity))
            controllers.append(controller)
        self.successResultOf(nodes[0].connect(nodes[1].address))
        a, b = (node.identity.id for node in nodes)
        self.assertEqual(self.successResultOf(controllers[0].get_remote_stats(b)).node_name, "bravo")
        self.assertEqual(self.successResultOf(controllers[1].get_remote_stats(a)).node_name, "alpha")
        both = defer.gatherResults([controllers[0].get_remote_stats(b),
                                    controllers[1].get_remote_stats(a)])
        self.assertEqual([s.node_id for s in self.successResultOf(both)], [b, a])


class LoopbackTests(TestCase):
    """Controller and worker on two real MeshTransports over loopback."""

    def setUp(self):
        self.alpha = make_node(self, reactor, "alpha")
        self.bravo = make_node(self, reactor, "bravo")
        self.profiles = FakeProfileManager()
        self.bravo.add_consumer(Worker(reactor, self.bravo.identity,
                                       profile_manager=self.profiles,
                                       miners_root=self.mktemp()))
        self.alpha_worker = Worker(reactor, self.alpha.identity)
        self.alpha.add_consumer(self.alpha_worker)
        self.controllers = []
        for node in (self.alpha, self.bravo):
            controller = Controller(reactor, node)
            node.add_consumer(controller)
            self.addCleanup(controller.stop)
            self.controllers.append(controller)

    async def test_requests_and_deploy(self):
        """Stats, ping and an encrypted profile deploy work over real links, both ways."""
        controller = self.controllers[0]
        link = await self.alpha.connect(address_of(self.bravo))
        bravo_id = self.bravo.identity.id
        stats = await controller.get_remote_stats(bravo_id)
        self.assertEqual(stats.node_name, "bravo")
        self.assertGreaterEqual(await controller.ping_peer(bravo_id), 0.0)
        bundle = create_profile_bundle(b'{"name":"gpu"}', "gpu",
                                       frame_password(link.shared_secret))
        ack = await controller.deploy_bundle(bravo_id, bundle)
        self.assertEqual((ack.success, self.profiles.saved), (True, [{"name": "gpu"}]))
        back = await self.controllers[1].get_remote_stats(self.alpha.identity.id)
        self.assertEqual(back.node_name, "alpha")

    async def test_lost_link_fails_pending(self):
        """A request waiting on a link that closes fails at once."""
        self.alpha.remove_consumer(self.alpha_worker)
        self.alpha.add_consumer(Silent())
        await self.bravo.connect(address_of(self.alpha))
        pending = self.controllers[1].get_remote_stats(self.alpha.identity.id)
        self.bravo.connection(self.alpha.identity.id).close()
        with self.assertRaises(RequestAbortedError):
            await pending
