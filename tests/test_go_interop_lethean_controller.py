"""
lethean controllers against the Go reference's worker (``gonode worker``):
the in-process :class:`~lethean.node.Controller` and the ``lethean`` CLI.
"""

import json
import os
import re

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.bundles import create_miner_bundle, create_profile_bundle
from lethean.identity import NodeManager
from lethean.mesh import MeshTransport, TransportConfig, new_message
from lethean.node import Controller, DeployTooLargeError, RemoteError
from lethean.node._controller import SINGLE_DEPLOY_MAX_BYTES
from lethean.peers import PeerRegistry
from lethean.smsg import frame_password
from tests import _gonode
from tests._processes import PROCESS_TEST_TIMEOUT_S
from tests._gonode import (
    cli_identity_folder,
    gonode,
    gonode_worker,
    home_for,
    lethean,
    lethean_node,
)

PROFILE = {"id": "gpu", "name": "gpu", "threads": 2}
CONFIG = {"pool": "pool.example:3333"}
MINER = b"#!/bin/sh\necho lethean-built miner\n"
#: What the Go worker's fake miner prints for a miner started with CONFIG.
#: The Go worker's error for miner requests when it has no miner manager.
NO_MINER_MANAGER = "node: miner manager not configured"
FAKE_LINES = ["[fake] xmrig-0 started", '[fake] config {"pool":"pool.example:3333"}',
              "[fake] speed 1234.5 H/s"]


def go_miners(data_dir):
    """Where the Go worker installs miner bundles (``Worker.DataDir``)."""
    return data_dir / "lethean-desktop" / "miners"


async def link_controller(testcase, home, worker):
    """
    A lethean Controller on a real MeshTransport (data in ``home``/lethean),
    linked to the Go ``worker``; sets ``registry``, ``transport``,
    ``controller`` and ``link`` on ``testcase``.
    """
    identity = NodeManager.in_directory(home / "lethean").load_or_create(
        name="alpha", role="controller")
    testcase.registry = PeerRegistry(reactor, str(home / "lethean" / "peers.json"))
    testcase.transport = MeshTransport(reactor, identity, testcase.registry,
                                       TransportConfig(listen=None))
    testcase.controller = Controller(reactor, testcase.transport, testcase.registry)
    testcase.transport.add_consumer(testcase.controller)
    testcase.transport.startService()
    testcase.addCleanup(testcase.registry.close)
    testcase.addCleanup(testcase.transport.stopService)
    testcase.addCleanup(testcase.controller.stop)
    testcase.link = await testcase.transport.connect(worker.address)


class InProcessControllerTests(TestCase):
    """A lethean Controller on a real MeshTransport drives a Go worker."""

    skip = _gonode.SKIP
    timeout = 120

    async def setUp(self):
        self.home = home_for(self)
        self.go_dir = self.home / "go"
        self.worker = await gonode_worker(self, self.home, self.go_dir, "--miners",
                                          "--profiles")
        await link_controller(self, self.home, self.worker)

    async def test_handshake_ping_stats(self):
        """The Go worker's id, name and role come out of the handshake; ping and stats answer."""
        self.assertEqual(self.link.peer_id, self.worker.id)
        self.assertEqual(self.link.peer.public_key, self.worker.public_key)
        self.assertEqual((self.link.peer.name, self.link.peer.role), ("go-worker", "worker"))
        # The reference's frames, and no lethean extension announced.
        self.assertEqual((self.link.session, self.link.features), ("v1", frozenset()))
        rtt_ms = await self.controller.ping_peer(self.worker.id)
        self.assertGreaterEqual(rtt_ms, 0)
        stats = await self.controller.get_remote_stats(self.worker.id)
        self.assertEqual((stats.node_id, stats.node_name, stats.miners),
                         (self.worker.id, "go-worker", ()))
        # Trust on first use: the Go worker is now a registered, connected peer.
        record = self.registry.get_peer(self.worker.id)
        self.assertEqual((record.public_key, record.address),
                         (self.worker.public_key, self.worker.address))

    async def test_miner_start_logs_stop(self):
        """A miner started with a config shows in stats and logs, and stops."""
        name = await self.controller.start_remote_miner(self.worker.id, "xmrig", config=CONFIG)
        self.assertEqual(name, "xmrig-0")
        # The worker's output pipe may lag behind the socket: wait for its line.
        started = await self.worker.wait_for(event="miner_started")
        self.assertEqual(started, {"event": "miner_started", "name": "xmrig-0",
                                   "config": json.dumps(CONFIG, separators=(",", ":"))})
        stats = await self.controller.get_remote_stats(self.worker.id)
        [miner] = stats.miners
        self.assertEqual((miner.name, miner.type, miner.hashrate, miner.pool),
                         ("xmrig-0", "xmrig", 1234.5, "pool.example:3333"))
        self.assertEqual(await self.controller.get_remote_logs(self.worker.id, "xmrig-0", 100),
                         FAKE_LINES)
        self.assertEqual(await self.controller.get_remote_logs(self.worker.id, "xmrig-0", 1,
                                                               since=1),
                         FAKE_LINES[-1:])
        self.assertEqual(await self.controller.stop_remote_miner(self.worker.id, "xmrig-0"),
                         "xmrig-0")
        self.assertEqual((await self.controller.get_remote_stats(self.worker.id)).miners, ())
        with self.assertRaises(RemoteError) as caught:
            await self.controller.get_remote_logs(self.worker.id, "xmrig-0", 10)
        self.assertEqual((caught.exception.code, caught.exception.message),
                         (1004, "Worker.handleGetLogs: miner not found: xmrig-0"))

    async def test_deploy_profile_then_start_from_it(self):
        """A profile bundle sealed for the link is saved by the Go worker and starts a miner."""
        password = frame_password(self.link.shared_secret)
        bundle = create_profile_bundle(json.dumps(PROFILE).encode(), "gpu", password)
        ack = await self.controller.deploy_bundle(self.worker.id, bundle)
        self.assertEqual((ack.success, ack.name), (True, "gpu"))
        saved = await self.worker.wait_for(event="profile_saved")
        self.assertEqual(json.loads(saved["profile"]), PROFILE)
        name = await self.controller.start_remote_miner(self.worker.id, "xmrig", profile_id="gpu")
        self.assertEqual(name, "xmrig-0")
        started = await self.worker.wait_for(event="miner_started")
        self.assertEqual(json.loads(started["config"]), PROFILE)

    async def test_deploy_miner(self):
        """A miner bundle with a profile is installed by the Go worker, profile saved."""
        password = frame_password(self.link.shared_secret)
        bundle = create_miner_bundle("xmrig", MINER, "xmrig-lethean", password,
                                     profile_json=json.dumps(PROFILE).encode())
        ack = await self.controller.deploy_bundle(self.worker.id, bundle)
        self.assertEqual((ack.success, ack.name), (True, "xmrig-lethean"))
        with open(go_miners(self.go_dir) / "xmrig-lethean" / "xmrig", "rb") as f:
            self.assertEqual(f.read(), MINER)
        saved = await self.worker.wait_for(event="profile_saved")
        self.assertEqual(json.loads(saved["profile"]), PROFILE)

    async def test_deploy_too_large_for_one_frame(self):
        """A bundle over one deploy fails at once, naming the Go peer and the limit; nothing is sent."""
        password = frame_password(self.link.shared_secret)
        bundle = create_miner_bundle("xmrig", os.urandom(SINGLE_DEPLOY_MAX_BYTES), "big",
                                     password)
        with self.assertRaises(DeployTooLargeError) as caught:
            await self.controller.deploy_bundle(self.worker.id, bundle)
        text = str(caught.exception)
        self.assertIn(self.worker.id, text)
        self.assertIn(str(SINGLE_DEPLOY_MAX_BYTES), text)
        # The Go worker reads frames in order: the marker's line comes after anything sent.
        marker = new_message("marker", self.transport.identity.id, self.worker.id,
                             clock=reactor)
        self.link.send(marker)
        await self.worker.wait_for(event="recv", id=marker.id)
        self.assertEqual([e["type"] for e in self.worker.events(event="recv")
                          if e["type"] not in ("capabilities", "ping")], ["marker"])

    async def test_deploy_with_the_wrong_password(self):
        """A bundle sealed with another password is refused with the Go worker's error."""
        bundle = create_profile_bundle(json.dumps(PROFILE).encode(), "gpu", "not the link")
        with self.assertRaises(RemoteError) as caught:
            await self.controller.deploy_bundle(self.worker.id, bundle)
        self.assertEqual(caught.exception.code, 1004)
        self.assertEqual(
            caught.exception.message,
            "Worker.handleDeploy: failed to extract profile bundle: ExtractProfileBundle: "
            "failed to decrypt bundle: decryption failed (wrong password?): enchantrix: "
            "decryption failed")
        # The Go worker saves before it acknowledges: nothing was written.
        self.assertFalse((self.go_dir / "profiles").exists())


class NoMinerManagerTests(TestCase):
    """
    A Go worker with no miner manager (as a lethean node without
    ``--miner-command`` is on the other side): the lethean controller and the
    CLI report its refusals, and the link stays up.
    """

    skip = _gonode.SKIP
    # A backstop: the CLI is a Python start-up, slow on a loaded machine.
    timeout = PROCESS_TEST_TIMEOUT_S

    async def setUp(self):
        self.home = home_for(self)
        self.worker = await gonode_worker(self, self.home, self.home / "go")

    async def test_controller(self):
        """start, stop and logs get the Go worker's error; stats list no miners."""
        await link_controller(self, self.home, self.worker)
        for request in (
                lambda: self.controller.start_remote_miner(self.worker.id, "xmrig",
                                                           config=CONFIG),
                lambda: self.controller.stop_remote_miner(self.worker.id, "xmrig-0"),
                lambda: self.controller.get_remote_logs(self.worker.id, "xmrig-0", 10)):
            with self.assertRaises(RemoteError) as caught:
                await request()
            self.assertEqual((caught.exception.code, caught.exception.message),
                             (1004, NO_MINER_MANAGER))
        stats = await self.controller.get_remote_stats(self.worker.id)
        self.assertEqual(stats.miners, ())
        self.assertIs(self.transport.connection(self.worker.id), self.link)

    async def test_cli(self):
        """``lethean miner start`` exits 1 with one line naming the worker and what it lacks."""
        out, err, code = await lethean(self.home, "miner", "start", self.worker.address,
                                       "xmrig", "--config", json.dumps(CONFIG), "--data-dir",
                                       str(self.home / "cli"))
        self.assertEqual((code, out), (1, ""), err)
        [line] = err.splitlines()
        self.assertEqual(line, "lethean: go-worker ({} at {}) could not start the miner: it runs "
                         "no miners (a controller-only node, or a worker without "
                         "miners)".format(self.worker.id, self.worker.address))


class CommandLineTests(TestCase):
    """The ``lethean`` CLI, as a process, against a Go worker."""

    skip = _gonode.SKIP
    # A backstop: each command is a Python start-up, slow on a loaded machine.
    timeout = 300

    async def setUp(self):
        self.home = home_for(self)
        self.go_dir = self.home / "go"
        self.cli_dir = self.home / "cli"
        self.worker = await gonode_worker(self, self.home, self.go_dir, "--miners",
                                          "--profiles")

    async def cli(self, *argv):
        """``lethean ARGV --data-dir CLI --json``: the parsed output (exit 0 required)."""
        out, err, code = await lethean(self.home, *argv, "--data-dir", str(self.cli_dir),
                                       "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    async def test_ping_stats_miners_logs(self):
        """ping, stats, miner start/stop and logs, each a CLI process against the Go worker."""
        address = self.worker.address
        self.assertEqual((await self.cli("ping", address))["peerId"], self.worker.id)
        stats = await self.cli("stats", address)
        self.assertEqual(stats[self.worker.id]["nodeName"], "go-worker")
        started = await self.cli("miner", "start", address, "xmrig", "--config",
                                 json.dumps(CONFIG))
        self.assertEqual(started["started"], "xmrig-0")
        # By node id now: the first dial registered the worker.
        logs = await self.cli("logs", self.worker.id, "xmrig-0", "--lines", "2")
        self.assertEqual(logs["lines"], FAKE_LINES[-2:])
        stats = await self.cli("stats", self.worker.id)
        self.assertEqual([m["name"] for m in stats[self.worker.id]["miners"]], ["xmrig-0"])
        self.assertEqual((await self.cli("miner", "stop", self.worker.id, "xmrig-0"))["stopped"],
                         "xmrig-0")
        out, err, code = await lethean(self.home, "miner", "stop", self.worker.id, "xmrig-0",
                                       "--data-dir", str(self.cli_dir))
        self.assertEqual((code, out), (1, ""))
        self.assertIn("could not stop the miner: no miner named 'xmrig-0'", err)

    async def test_deploy_profile(self):
        """``lethean deploy --kind profile`` bundles for the link; the Go worker saves it."""
        profile = self.home / "gpu.json"
        profile.write_text(json.dumps(PROFILE))
        deployed = await self.cli("deploy", self.worker.address, str(profile), "--kind",
                                  "profile", "--name", "gpu")
        self.assertEqual((deployed["peerId"], deployed["success"]), (self.worker.id, True))
        saved = await self.worker.wait_for(event="profile_saved")
        self.assertEqual(json.loads(saved["profile"]), PROFILE)

    async def test_deploy_miner(self):
        """``lethean deploy --kind miner`` bundles the binary for the link; Go installs it."""
        miner = self.home / "xmrig"
        miner.write_bytes(MINER)
        deployed = await self.cli("deploy", self.worker.address, str(miner), "--kind", "miner",
                                  "--name", "xmrig-cli", "--miner-file-name", "xmrig")
        self.assertEqual((deployed["name"], deployed["success"]), ("xmrig-cli", True))
        with open(go_miners(self.go_dir) / "xmrig-cli" / "xmrig", "rb") as f:
            self.assertEqual(f.read(), MINER)

    async def dialling_key(self):
        """The public key the command dials the Go worker with."""
        # No node runs for --data-dir: the command dials with an identity of its own.
        out, err, code = await lethean(self.home, "identity", "new", "--json", "--data-dir",
                                       str(cli_identity_folder(self.home)))
        self.assertEqual(code, 0, err)
        return json.loads(out)["publicKey"]

    async def test_deploy_go_made_bundle_file(self):
        """A bundle file the Go node made with the link's password deploys as is."""
        # The Go worker's side of the link's secret: the bundle password.
        events, code, text = await gonode(
            self.home, "identity", "show", "--data-dir", str(self.go_dir),
            "--peer-key", await self.dialling_key(), "--password")
        self.assertEqual(code, 0, text)
        profile = self.home / "gpu.json"
        profile.write_text(json.dumps(PROFILE))
        bundle = self.home / "gpu.bundle"
        events, code, text = await gonode(
            self.home, "bundle", "create-profile", "--in", str(profile), "--out", str(bundle),
            "--name", "gpu", "--password", events[0]["password"])
        self.assertEqual(code, 0, text)
        deployed = await self.cli("deploy", self.worker.address, str(bundle))
        self.assertEqual((deployed["name"], deployed["success"]), ("gpu", True))
        saved = await self.worker.wait_for(event="profile_saved")
        self.assertEqual(json.loads(saved["profile"]), PROFILE)


class ThroughNodeCommandLineTests(CommandLineTests):
    """
    The same commands with a ``twistd lethean-node`` running for the data
    folder: each goes through its control API and its one link to the Go worker.
    """

    async def setUp(self):
        await super().setUp()
        self.node = await lethean_node(self, self.home, self.cli_dir, "--name", "alpha")

    async def dialling_key(self):
        return NodeManager.in_directory(str(self.cli_dir)).load().identity.public_key

    async def test_ping_stats_miners_logs(self):
        """As above, all over the node's one link to the Go worker."""
        await super().test_ping_stats_miners_logs()
        ups = re.findall(r"link up: go-worker ([0-9a-f]{32}) ", self.node.output.text)
        self.assertEqual(ups, [self.worker.id])
        self.assertFalse(cli_identity_folder(self.home).exists())
