"""
A Go controller (``gonode ctl``) against lethean nodes: a ``twistd
lethean-node`` process and a node assembled in this process.
"""

import json
import os
import shlex
import stat
import sys

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.identity import NodeManager
from lethean.node import assemble_node
from lethean.peers import PeerRegistry
from tests import _gonode
from tests._gonode import gonode_ctl, home_for, lethean_node
from tests.test_node_miners import wait_for_lines

#: A fake miner: one console line, then it runs until stopped.
MINER = "import sys; print('hashrate 7', flush=True); sys.stdin.read()"
MINER_COMMAND = shlex.join([sys.executable, "-c", MINER])
PROFILE = {"id": "gpu", "threads": 2}
#: What a Go controller's ``start`` op sends as the miner's config.
CONFIG = {"pool": "pool.example:3333"}


def write(path, content, mode=0o644):
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return str(path)


class GoControllerTests(TestCase):
    """Every controller operation of the reference, answered by lethean."""

    skip = _gonode.SKIP
    timeout = 180

    def setUp(self):
        self.home = home_for(self)
        self.node_dir = self.home / "node"
        self.go_dir = self.home / "go"
        self.profile = write(self.home / "gpu.json", json.dumps(PROFILE).encode())
        self.miner = write(self.home / "xmrig", b"#!/bin/sh\necho go-built miner\n", 0o755)

    def ctl(self, address, *ops):
        return gonode_ctl(self.home, address, self.go_dir, *ops)

    async def serve_go_controller(self, address, node_id, name, lines_of):
        """Run every operation from a Go controller against the node at ``address``."""
        config = json.dumps(CONFIG)
        results, code = await self.ctl(
            address, "ping", "stats", "start:xmrig:" + config, "stats",
            "deploy-profile:{}:gpu".format(self.profile),
            "deploy-miner:{}:xmrig-go:{}".format(self.miner, self.profile))
        self.assertEqual(code, 0, results)
        connect = results["connect"]
        self.assertEqual((connect["peer_id"], connect["peer_name"]), (node_id, name))
        self.assertTrue(results["ping"]["ok"], results["ping"])
        stats = results["stats"]["stats"]
        self.assertEqual((stats["nodeId"], stats["nodeName"]), (node_id, name))
        [miner] = stats["miners"]
        self.assertEqual(miner["type"], "xmrig")
        self.assertTrue(results["start:xmrig:" + config]["ok"])
        profile_ack = results["deploy-profile:{}:gpu".format(self.profile)]
        self.assertEqual(profile_ack["ack"], {"success": True, "name": "gpu"})
        miner_ack = results["deploy-miner:{}:xmrig-go:{}".format(self.miner, self.profile)]
        self.assertEqual(miner_ack["ack"], {"success": True, "name": "xmrig-go"})

        with open(self.node_dir / "profiles" / "gpu.json") as f:
            self.assertEqual(json.load(f), PROFILE)
        installed = self.node_dir / "miners" / "xmrig-go" / "xmrig"
        with open(installed, "rb") as f:
            self.assertEqual(f.read(), b"#!/bin/sh\necho go-built miner\n")
        self.assertTrue(os.stat(installed).st_mode & stat.S_IXUSR)

        await lines_of(miner["name"])
        logs_op = "logs:{}:5".format(miner["name"])
        results, code = await self.ctl(address, logs_op, "stop:*", "stats")
        self.assertEqual(code, 0, results)
        self.assertEqual(results[logs_op]["lines"], ["hashrate 7"])
        self.assertEqual(results["stop:*"]["stopped"], [miner["name"]])
        self.assertEqual(results["stats"]["stats"]["miners"], [])

    async def test_twistd_node(self):
        """A twistd lethean-node with --miner-command serves every Go controller operation."""
        node = await lethean_node(self, self.home, self.node_dir, "--name", "alpha",
                                  "--miner-command", MINER_COMMAND)

        async def lines_of(miner):
            # The miner prints in its own time: ask until its line is there.
            async def logged():
                results, _ = await self.ctl(node.address, "logs:{}:5".format(miner))
                return True if results["logs:{}:5".format(miner)]["lines"] else None
            while not await logged():
                pass

        await self.serve_go_controller(node.address, node.id, "alpha", lines_of)
        status = await node.stop()
        self.assertIn((status.exitCode, status.signal), [(0, None), (None, 15)], node.output.text)

    async def test_twistd_node_refusals(self):
        """Without --miner-command, and for a plain profile, the Go controller gets clear refusals."""
        node = await lethean_node(self, self.home, self.node_dir, "--name", "alpha")
        await self.check_refusals(node.address)

    async def test_in_process_node_refusals(self):
        """The same refusals from a node assembled in this process without a miner command."""
        _, _, port = self.in_process_node("bravo")
        await self.check_refusals("127.0.0.1:{}".format(port))

    async def check_refusals(self, address):
        """A Go controller's requests that a node without a miner command refuses."""
        start = "start:xmrig:" + json.dumps(CONFIG)
        plain = "deploy-plain:{}:gpu".format(self.profile)
        results, code = await self.ctl(address, start, "startprofile:xmrig:nope",
                                       "logs:nope", "stop:nope", plain, "ping")
        # A Go worker installs an unencrypted profile from anyone; lethean refuses it.
        self.assertEqual(results[plain]["error"],
                         "remote error (1004): Worker.handleDeploy: failed to extract profile "
                         "bundle: ExtractProfileBundle: bundle 'gpu' is unencrypted")
        self.assertFalse((self.node_dir / "profiles" / "gpu.json").exists())
        self.assertEqual(code, 1)
        self.assertEqual(
            results["startprofile:xmrig:nope"]["error"],
            "remote error (1004): Worker.handleStartMiner: profile not found: nope")
        self.assertEqual(
            results[start]["error"],
            "Controller.StartRemoteMiner: miner start failed: no miner command configured "
            "(twistd lethean-node --miner-command)")
        self.assertEqual(results["logs:nope"]["error"],
                         "remote error (1004): Worker.handleGetLogs: miner not found: nope")
        self.assertEqual(results["logs:nope"]["remote_code"], 1004)
        self.assertEqual(results["stop:nope"]["error"],
                         "Controller.StopRemoteMiner: miner stop failed: miner not found: nope")
        self.assertTrue(results["ping"]["ok"])

    def in_process_node(self, name, **config):
        """A node assembled in this process and started; ``(identity, registry, port)``."""
        identity = NodeManager.in_directory(self.node_dir).load_or_create(
            name=name, role="worker")
        registry = PeerRegistry(reactor, os.path.join(self.node_dir, "peers.json"))
        self.node = assemble_node(reactor, identity, registry, {
            "listen": "tcp:0:interface=127.0.0.1", "data-dir": str(self.node_dir), "peer": [],
            **config})
        self.node.startService()
        self.addCleanup(self.node.stopService)
        return identity, registry, self.node.getServiceNamed("transport").port.getHost().port

    async def test_in_process_node(self):
        """A node assembled in this process serves every Go controller operation."""
        identity, registry, port = self.in_process_node(
            "bravo", **{"miner-command": MINER_COMMAND})
        app = self.node.getServiceNamed("application")

        async def lines_of(miner):
            await wait_for_lines(app.miner_manager.get_miner(miner), 1)

        await self.serve_go_controller("127.0.0.1:{}".format(port), identity.id, "bravo",
                                       lines_of)
        # The Go controller proved its key, so the node registered it.
        events, _, _ = await _gonode.gonode(self.home, "identity", "show",
                                            "--data-dir", str(self.go_dir))
        go_identity = events[0]["identity"]
        self.assertEqual(registry.get_peer(go_identity["id"]).public_key,
                         go_identity["publicKey"])
