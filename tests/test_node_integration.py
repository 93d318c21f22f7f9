"""Three real nodes on loopback: a controller and two workers, as twistd builds them."""

import json
import os
import sys

from twisted.internet import reactor
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from lethean.bundles import create_miner_bundle, create_profile_bundle
from lethean.identity import NodeManager
from lethean.node import RequestAbortedError
from lethean.node._assembly import assemble_node
from lethean.peers import PeerRegistry
from lethean.smsg import frame_password
from lethean.ueps import INTENT_COMPUTE, Header, Packet
from tests.test_node_miners import wait_for_lines

#: A miner that reports a speed, then waits to be stopped.
MINER = "import sys; print('hashrate 100.5', flush=True); sys.stdin.read()"
#: A miner far over one frame (48 chunks) and over the 8 MiB a link may
#: buffer, so the deploy window and the send buffer are both exercised.
#: How fast a 50 MB deploy goes is measured in benchmarks/bundles.py.
BIG_MINER_BYTES = 12 * 1024 * 1024


class ThreeNodeTests(TestCase):
    """Controller alpha drives workers bravo and charlie over real mesh links."""

    timeout = 60

    def start_node(self, name, role, miner_command=None):
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        identity = NodeManager.in_directory(folder).load_or_create(name=name, role=role)
        registry = PeerRegistry(reactor, os.path.join(folder, "peers.json"))
        options = {"listen": "tcp:0:interface=127.0.0.1", "data-dir": folder,
                   "miner-command": miner_command, "peer": []}
        node = assemble_node(reactor, identity, registry, options)
        node.startService()
        self.addCleanup(lambda: node.stopService() if node.running else None)
        node.transport = node.getServiceNamed("transport")
        node.app = node.getServiceNamed("application")
        node.id = identity.id
        node.address = "127.0.0.1:{}".format(node.transport.port.getHost().port)
        return node

    async def asyncSetUp(self):
        miner = " ".join([sys.executable, "-c", json.dumps(MINER)])
        self.alpha = self.start_node("alpha", "controller")
        self.bravo = self.start_node("bravo", "worker", miner)
        self.charlie = self.start_node("charlie", "worker", miner)
        self.controller = self.alpha.app.controller
        for worker in (self.bravo, self.charlie):
            await self.alpha.transport.connect(worker.address)

    async def test_stats_miners_logs_and_deploy(self):
        """Stats from all, a real miner started, read and stopped, a profile deployed."""
        await self.asyncSetUp()
        stats = await self.controller.get_all_stats()
        self.assertEqual({peer: s.node_name for peer, s in stats.items()},
                         {self.bravo.id: "bravo", self.charlie.id: "charlie"})

        name = await self.controller.start_remote_miner(self.bravo.id, "xmrig",
                                                        config={"pool": "pool.example:3333"})
        miner = self.bravo.app.miner_manager.get_miner(name)
        await wait_for_lines(miner, 1)
        lines = await self.controller.get_remote_logs(self.bravo.id, name, 10)
        self.assertEqual(lines, ["hashrate 100.5"])
        [item] = (await self.controller.get_remote_stats(self.bravo.id)).miners
        self.assertEqual((item.name, item.hashrate, item.pool),
                         (name, 100.5, "pool.example:3333"))
        self.assertEqual(await self.controller.stop_remote_miner(self.bravo.id, name), name)
        self.assertIsNotNone(miner.exit_code)

        password = frame_password(self.alpha.transport.connection(self.charlie.id).shared_secret)
        bundle = create_profile_bundle(b'{"id": "gpu", "threads": 4}', "gpu", password)
        ack = await self.controller.deploy_bundle(self.charlie.id, bundle)
        self.assertTrue(ack.success)
        self.assertEqual(self.charlie.app.worker.profile_manager.get_profile("gpu"),
                         {"id": "gpu", "threads": 4})

    async def test_miner_deploy_far_over_one_frame(self):
        """A miner of many chunks, more than a send buffer holds, installs executable."""
        await self.asyncSetUp()
        content = b"\x7fELF" + os.urandom(BIG_MINER_BYTES)
        # The link's own bundle key (a v2 session's): the worker opens it at the first try.
        password = frame_password(self.alpha.transport.connection(self.bravo.id).bundle_secret)
        bundle = create_miner_bundle("xmrig", content, "big-miner", password)
        ack = await self.controller.deploy_bundle(self.bravo.id, bundle)
        self.assertEqual((ack.success, ack.name), (True, "big-miner"))
        installed = os.path.join(self.bravo.app.worker.miners_root, "big-miner", "xmrig")
        self.assertEqual(os.path.getsize(installed), len(content))
        self.assertTrue(os.access(installed, os.X_OK))

    async def test_ueps_packets_and_circuit_breaker(self):
        """Packets reach bravo's dispatcher; a peer sending threats is then ignored."""
        await self.asyncSetUp()
        received = []
        dispatcher = self.bravo.app.dispatcher
        dispatcher.register(INTENT_COMPUTE, received.append)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

        self.alpha.transport.send_packet(self.bravo.id, Packet(Header(INTENT_COMPUTE), b"job 1"))
        # Frames on one link are handled in order: once the pong is back,
        # every packet sent before the ping has been dispatched.
        await self.controller.ping_peer(self.bravo.id)
        self.assertEqual([p.payload for p in received], [b"job 1"])

        for _ in range(dispatcher.breaker_trips):
            self.alpha.transport.send_packet(
                self.bravo.id, Packet(Header(INTENT_COMPUTE, threat_score=60000), b"bad"))
        self.alpha.transport.send_packet(self.bravo.id, Packet(Header(INTENT_COMPUTE), b"job 2"))
        await self.controller.ping_peer(self.bravo.id)
        self.assertEqual([p.payload for p in received], [b"job 1"])
        self.assertEqual(len([e for e in events if e.get("reason") == "repeated threat drops"]), 1)

        await self.charlie.transport.connect(self.bravo.address)
        self.charlie.transport.send_packet(self.bravo.id, Packet(Header(INTENT_COMPUTE), b"job 3"))
        await self.charlie.app.controller.ping_peer(self.bravo.id)
        self.assertEqual([p.payload for p in received], [b"job 1", b"job 3"])

    async def test_peer_dies_mid_request(self):
        """A worker that goes away fails the pending request at once, not at its timeout."""
        await self.asyncSetUp()
        pending = self.controller.get_remote_stats(self.charlie.id)
        await self.charlie.stopService()
        with self.assertRaises(RequestAbortedError):
            await pending
        stats = await self.controller.get_remote_stats(self.bravo.id)
        self.assertEqual(stats.node_name, "bravo")
