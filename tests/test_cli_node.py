"""The controller commands of ``lethean`` against a real node on loopback."""

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from lethean.cli import _node as cli_node
from lethean.identity import NodeManager, PrivateKey
from lethean.node._assembly import assemble_node
from lethean.peers import Peer, PeerRegistry
from tests.test_node_miners import wait_for_lines

ROOT = str(Path(__file__).resolve().parent.parent)
MINER = "import sys; print('hashrate 7', flush=True); sys.stdin.read()"


class ControllerCommandTests(TestCase):
    """miner start/stop, logs, stats and deploy, each as a real CLI process."""

    timeout = 60

    def setUp(self):
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.cli_dir = os.path.join(folder, "cli")
        self.node_dir = node_dir = os.path.join(folder, "node")
        identity = NodeManager.in_directory(node_dir).load_or_create(name="bravo", role="worker")
        registry = PeerRegistry(reactor, os.path.join(node_dir, "peers.json"))
        options = {"listen": "tcp:0:interface=127.0.0.1", "data-dir": node_dir, "peer": [],
                   "miner-command": " ".join([sys.executable, "-c", json.dumps(MINER)])}
        self.node = assemble_node(reactor, identity, registry, options)
        self.node.startService()
        self.addCleanup(self.node.stopService)
        port = self.node.getServiceNamed("transport").port.getHost().port
        self.address = "127.0.0.1:{}".format(port)
        self.app = self.node.getServiceNamed("application")

    async def lethean(self, *argv):
        """Run ``lethean ARGV --json``; the parsed output, or fail on a non-zero exit."""
        out, err, status = await getProcessOutputAndValue(
            sys.executable, ["-c", "from lethean.cli import main; main()", *argv,
                             "--data-dir", self.cli_dir, "--json"],
            env=dict(os.environ, PYTHONPATH=ROOT), path=ROOT, reactor=reactor)
        self.assertEqual(status, 0, err)
        return json.loads(out)

    async def test_miner_logs_and_deploy(self):
        """A miner started from the CLI runs on the node, its logs come back, a profile deploys."""
        started = (await self.lethean("miner", "start", self.address, "xmrig",
                                      "--config", '{"pool": "p:1"}'))["started"]
        await wait_for_lines(self.app.miner_manager.get_miner(started), 1)
        logs = await self.lethean("logs", self.address, started, "--lines", "5")
        self.assertEqual(logs["lines"], ["hashrate 7"])
        stats = await self.lethean("stats", self.address)
        [(node_id, node_stats)] = stats.items()
        self.assertEqual([m["name"] for m in node_stats["miners"]], [started])
        self.assertEqual((await self.lethean("miner", "stop", node_id, started))["stopped"], started)

        profile = os.path.join(self.cli_dir, "gpu.json")
        with open(profile, "w") as f:
            json.dump({"id": "gpu", "threads": 2}, f)
        deployed = await self.lethean("deploy", node_id, profile, "--kind", "profile",
                                      "--name", "gpu")
        self.assertTrue(deployed["success"])
        self.assertEqual(self.app.worker.profile_manager.get_profile("gpu"),
                         {"id": "gpu", "threads": 2})

    async def test_deploy_miner(self):
        """``deploy --kind miner`` installs the binary, executable, under its own file name."""
        miner = os.path.join(self.cli_dir, "xmrig")
        os.makedirs(self.cli_dir)
        with open(miner, "wb") as f:
            f.write(b"#!/bin/sh\necho mining\n")
        deployed = await self.lethean("deploy", self.address, miner, "--kind", "miner",
                                      "--name", "xmrig")
        self.assertEqual((deployed["name"], deployed["success"]), ("xmrig", True))
        installed = os.path.join(self.node_dir, "miners", "xmrig", "xmrig")
        with open(installed, "rb") as f:
            self.assertEqual(f.read(), b"#!/bin/sh\necho mining\n")
        self.assertTrue(os.access(installed, os.X_OK))

    async def test_unknown_miner_is_one_line_and_status_1(self):
        """A remote error prints one line on stderr and exits 1."""
        out, err, status = await getProcessOutputAndValue(
            sys.executable, ["-c", "from lethean.cli import main; main()", "logs",
                             self.address, "nope", "--data-dir", self.cli_dir],
            env=dict(os.environ, PYTHONPATH=ROOT), path=ROOT, reactor=reactor)
        self.assertEqual((status, out), (1, b""))
        self.assertEqual(len(err.decode().strip().splitlines()), 1)
        self.assertIn("miner not found: nope", err.decode())


class _Hole(Protocol):
    """Accepts a connection and never answers; tells its factory it was dialled."""

    def connectionMade(self):
        self.factory.dialled.append(self)
        waiting, self.factory.waiting = self.factory.waiting, []
        for d in waiting:
            d.callback(self)


class _BlackHole(Factory):
    protocol = _Hole

    def __init__(self):
        self.dialled = []
        self.waiting = []

    def when_dialled(self):
        if self.dialled:
            return defer.succeed(self.dialled[0])
        d = defer.Deferred()
        self.waiting.append(d)
        return d


class StatsAllTests(TestCase):
    """``lethean stats --all`` through the CLI's own functions, in this process."""

    timeout = 30

    async def test_silent_peers_are_dialled_at_once(self):
        """A peer that never answers holds up no other: every peer is dialled at once."""
        data_dir = os.path.abspath(self.mktemp())
        registry = PeerRegistry(reactor, os.path.join(data_dir, "peers.json"))
        holes = []
        for name in ("silent-1", "silent-2"):
            hole = _BlackHole()
            port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(hole)
            self.addCleanup(port.stopListening)
            key = PrivateKey.generate()
            registry.add_peer(Peer(id=key.node_id, name=name, public_key=key.public_key_b64,
                                   address="127.0.0.1:{}".format(port.getHost().port)))
            holes.append(hole)
        await registry.close()
        args = argparse.Namespace(data_dir=data_dir, all=True, json=True, target=None,
                                  timeout=600.0)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            running = defer.Deferred.fromCoroutine(cli_node._stats(reactor, args))
            connections = await defer.gatherResults([hole.when_dialled() for hole in holes])
            # Nobody was given up on before the last peer was dialled.
            given_up_before = err.getvalue()
            for connection in connections:
                connection.transport.abortConnection()
            status = await running
        self.assertEqual(given_up_before, "")
        self.assertEqual((status, json.loads(out.getvalue())), (0, {}))
        unreachable = err.getvalue().splitlines()
        self.assertEqual(len(unreachable), 2, unreachable)
        self.assertTrue(all(line.startswith("lethean: cannot reach") for line in unreachable))
