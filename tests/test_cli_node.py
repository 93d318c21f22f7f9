"""The controller commands of ``lethean`` against a real node on loopback."""

import argparse
import contextlib
import io
import json
import os
import sys

from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from lethean.bundles import Bundle
from lethean.cli import _node as cli_node
from lethean.identity import NodeManager, PrivateKey
from lethean.node._assembly import assemble_node
from lethean.node._control import unix_endpoint
from lethean.peers import Peer, PeerRegistry
from tests._processes import PROCESS_TEST_TIMEOUT_S, run_lethean, short_folder
from tests.test_node_miners import wait_for_lines

MINER = "import sys; print('hashrate 7', flush=True); sys.stdin.read()"


class ControllerCommandTests(TestCase):
    """miner start/stop, logs, stats and deploy, each as a real CLI process."""

    timeout = PROCESS_TEST_TIMEOUT_S

    def setUp(self):
        folder = self.folder = os.path.abspath(self.mktemp())
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
        out, err, status = await run_lethean(self.folder, *argv, "--data-dir", self.cli_dir,
                                             "--json")
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

        os.makedirs(self.cli_dir, exist_ok=True)
        profile = os.path.join(self.cli_dir, "gpu.json")
        with open(profile, "w") as f:
            json.dump({"id": "gpu", "threads": 2}, f)
        deployed = await self.lethean("deploy", node_id, profile, "--kind", "profile",
                                      "--name", "gpu")
        self.assertTrue(deployed["success"])
        self.assertEqual(self.app.worker.profile_manager.get_profile("gpu"),
                         {"id": "gpu", "threads": 2})

    async def test_deploy_miner(self):
        """``deploy --kind miner`` bundles the binary for the link; it is installed executable."""
        miner = os.path.join(self.folder, "xmrig")
        with open(miner, "wb") as f:
            f.write(b"#!/bin/sh\necho mining\n")
        deployed = await self.lethean("deploy", self.address, miner, "--kind", "miner",
                                      "--name", "xmrig")
        self.assertEqual((deployed["name"], deployed["success"]), ("xmrig", True))
        # Inside the bundle the binary is called "miner" unless --miner-file-name says.
        installed = os.path.join(self.node_dir, "miners", "xmrig", "miner")
        with open(installed, "rb") as f:
            self.assertEqual(f.read(), b"#!/bin/sh\necho mining\n")
        self.assertTrue(os.access(installed, os.X_OK))

    async def test_bundle_for_a_peer_deploys_later(self):
        """``bundle create --for`` writes a bundle sealed for the link; deployed as it is, it installs."""
        os.makedirs(self.cli_dir, exist_ok=True)
        profile = os.path.join(self.cli_dir, "gpu.json")
        with open(profile, "w") as f:
            json.dump({"id": "cpu", "threads": 3}, f)
        path = os.path.join(self.cli_dir, "gpu.bundle")
        made = await self.lethean("bundle", "create", "profile", profile, "--name", "gpu",
                                  "--for", self.address, "-o", path)
        node_id = self.node.getServiceNamed("transport").identity.id
        self.assertEqual((made["type"], made["name"], made["for"], made["encrypted"]),
                         ("profile", "gpu", node_id, True))
        with open(path, "rb") as f:
            self.assertEqual(made["checksum"], Bundle.from_json(f.read()).checksum)
        deployed = await self.lethean("deploy", node_id, path)
        self.assertTrue(deployed["success"])
        self.assertEqual(self.app.worker.profile_manager.get_profile("gpu"),
                         {"id": "gpu", "threads": 3})

    async def test_unknown_miner_is_one_line_and_status_1(self):
        """A remote error prints one line on stderr and exits 1."""
        out, err, status = await run_lethean(self.folder, "logs", self.address, "nope",
                                             "--data-dir", self.cli_dir)
        self.assertEqual((status, out), (1, b""))
        self.assertEqual(len(err.decode().strip().splitlines()), 1)
        self.assertIn("no miner named 'nope' runs there", err.decode())


class ThroughNodeCommandTests(ControllerCommandTests):
    """
    The same commands with a node (alpha) running for the data folder: each
    goes through alpha's control API and alpha's link to bravo.
    """

    def setUp(self):
        super().setUp()
        self.cli_dir = os.path.join(short_folder(self), "alpha")
        identity = NodeManager.in_directory(self.cli_dir).load_or_create(name="alpha")
        self.alpha_id = identity.id
        registry = PeerRegistry(reactor, os.path.join(self.cli_dir, "peers.json"))
        options = {"listen": None, "data-dir": self.cli_dir, "peer": [],
                   "control": [unix_endpoint(os.path.join(self.cli_dir, "control.sock"))]}
        self.alpha = assemble_node(reactor, identity, registry, options)
        self.alpha.startService()
        self.addCleanup(self.alpha.stopService)

    async def test_miner_logs_and_deploy(self):
        """As above, all over alpha's one link: bravo knows alpha and nobody else."""
        await super().test_miner_logs_and_deploy()
        transport = self.node.getServiceNamed("transport")
        self.assertEqual([c.peer_id for c in transport.connections()], [self.alpha_id])
        self.assertEqual([p.id for p in self.app.controller.registry.list_peers()],
                         [self.alpha_id])
        self.assertFalse(os.path.exists(os.path.join(self.folder, "xdg-data")))


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
        # No node runs for data_dir: the command uses its own registry.
        self.patch(os, "environ", dict(os.environ, XDG_DATA_HOME=os.path.abspath(self.mktemp())))
        registry = PeerRegistry(reactor, os.path.join(cli_node.cli_folder(), "peers.json"))
        holes, hole_ids = [], []
        for name in ("silent-1", "silent-2"):
            hole = _BlackHole()
            port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(hole)
            self.addCleanup(port.stopListening)
            key = PrivateKey.generate()
            registry.add_peer(Peer(id=key.node_id, name=name, public_key=key.public_key_b64,
                                   address="127.0.0.1:{}".format(port.getHost().port)))
            holes.append(hole)
            hole_ids.append(key.node_id)
        await registry.close()
        args = argparse.Namespace(data_dir=data_dir, control=None, all=True, json=True,
                                  target=None, timeout=600.0)
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
        # Every node is reported, the failed ones with their error, and the status says so.
        reported = json.loads(out.getvalue())
        self.assertEqual(status, 1)
        self.assertEqual(sorted(reported), sorted(hole_ids))
        self.assertTrue(all(set(entry) == {"error"} for entry in reported.values()), reported)
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 3, lines)
        for name, line in zip(sorted(["silent-1", "silent-2"]), sorted(lines[:2])):
            self.assertTrue(line.startswith("lethean: " + name), line)
        self.assertEqual(lines[2], "lethean: 2 of 2 nodes did not report")


class HungNodeTests(TestCase):
    """A control socket that accepts but never answers: a hung node, said so."""

    timeout = 30

    async def test_a_hung_node_is_named_as_such(self):
        """The command stops with a line saying the node gave no answer, and what to do."""
        from twisted.internet.endpoints import UNIXServerEndpoint

        from lethean.cli import _client
        from lethean.cli._errors import NodeNotAnsweringError
        from lethean.node import control_socket_path

        folder = short_folder(self)
        hole = _BlackHole()
        port = await UNIXServerEndpoint(reactor, control_socket_path(folder)).listen(hole)
        self.addCleanup(port.stopListening)
        self.patch(_client, "PROBE_TIMEOUT_S", 0.1)
        with self.assertRaises(NodeNotAnsweringError) as caught:
            await _client.find_node(reactor, folder)
        # The command connected before it gave up: the socket accepts it, if
        # the reactor has not come round to that yet.
        await hole.when_dialled()
        self.assertEqual(len(hole.dialled), 1)
        line = str(caught.exception)
        self.assertIn("gave no answer within 0.1 s", line)
        self.assertIn("restart", line)


class NoNodeRegistryTests(TestCase):
    """
    With no node running for the data folder, the command's own controller
    uses the peers registered there (read only) beside its own, and every
    hint it prints is a command that works.
    """

    timeout = PROCESS_TEST_TIMEOUT_S

    def setUp(self):
        self.home = os.path.abspath(self.mktemp())
        self.data_dir = os.path.join(self.home, "node-files")
        os.makedirs(self.data_dir)
        bravo_dir = os.path.join(self.home, "bravo")
        identity = NodeManager.in_directory(bravo_dir).load_or_create(name="bravo",
                                                                       role="worker")
        self.bravo_id, self.bravo_key = identity.id, identity.identity.public_key
        registry = PeerRegistry(reactor, os.path.join(bravo_dir, "peers.json"))
        self.bravo = assemble_node(reactor, identity, registry,
                                   {"listen": "tcp:0:interface=127.0.0.1", "peer": [],
                                    "data-dir": bravo_dir})
        self.bravo.startService()
        self.addCleanup(self.bravo.stopService)
        port = self.bravo.getServiceNamed("transport").port.getHost().port
        self.address = "127.0.0.1:{}".format(port)

    def lethean(self, *argv):
        return run_lethean(self.home, *argv, "--data-dir", self.data_dir)

    async def run_hint(self, err):
        """Run the ``lethean ...`` command quoted in ``err``; its exit status."""
        import re
        import shlex

        match = re.search(r"'lethean (peers remove [^']+)'", err)
        self.assertIsNotNone(match, err)
        out, err, status = await run_lethean(self.home, *shlex.split(match.group(1)))
        self.assertEqual(status, 0, err)
        return err.decode()

    async def key_changed_then_fixed(self, target, pinned):
        """``ping target`` finds another key than ``pinned``; its hint fixes that."""
        out, err, status = await self.lethean("ping", target)
        self.assertEqual(status, 1, err)
        self.assertIn(pinned.node_id, err.decode())
        await self.run_hint(err.decode())
        out, err, status = await self.lethean("ping", self.address, "--json")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["peerId"], self.bravo_id)

    def peers_file(self):
        with open(os.path.join(self.data_dir, "peers.json"), "rb") as f:
            return f.read()

    async def test_registered_peers_are_targets(self):
        """A peer added with 'peers add' is pinged by name and asked by 'stats --all'."""
        out, err, status = await self.lethean("stats", "--all")
        self.assertEqual(status, 0, err)
        self.assertIn("'lethean peers add HOST:PORT --public-key KEY --data-dir {}'".format(
            self.data_dir), out.decode())
        out, err, status = await self.lethean("peers", "add", self.address, "--public-key",
                                              self.bravo_key, "--name", "bravo")
        self.assertEqual(status, 0, err)
        before = self.peers_file()
        out, err, status = await self.lethean("ping", "bravo", "--json")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["peerId"], self.bravo_id)
        out, err, status = await self.lethean("stats", "--all", "--json")
        self.assertEqual(status, 0, err)
        self.assertEqual(list(json.loads(out)), [self.bravo_id])
        # The node's files are read, never written.
        self.assertEqual(self.peers_file(), before)
        out, err, status = await self.lethean("ping", "zulu")
        self.assertEqual(status, 1, err)
        self.assertIn("'lethean peers list --data-dir {}'".format(self.data_dir), err.decode())

    async def test_a_changed_key_hint_works(self):
        """The key pinned in the data folder changed: the hinted 'peers remove' works."""
        other = PrivateKey.generate()
        out, err, status = await self.lethean("peers", "add", self.address, "--public-key",
                                              other.public_key_b64, "--name", "bravo")
        self.assertEqual(status, 0, err)
        await self.key_changed_then_fixed("bravo", other)

    async def test_a_changed_key_of_the_command_own_registry(self):
        """A key the command pinned itself changed: the hinted 'peers remove' forgets it."""
        other = PrivateKey.generate()
        own = PeerRegistry(reactor, os.path.join(self.home, "xdg-data", "lethean-desktop",
                                                 "cli", "peers.json"))
        own.add_peer(Peer(id=other.node_id, name="old-bravo", public_key=other.public_key_b64,
                          address=self.address))
        await own.close()
        out, err, status = await self.lethean("peers", "list", "--json")
        self.assertEqual(status, 0, err)
        [listed] = json.loads(out)
        self.assertEqual((listed["id"], listed["source"]), (other.node_id, "cli"))
        await self.key_changed_then_fixed(self.address, other)
