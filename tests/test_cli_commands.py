"""
The ``lethean`` command as a person meets it: exit statuses, messages that
name the peer and say what to do, ``--json`` everywhere, pipes closed early,
Ctrl-C, and the mistakes that must cost nothing.
"""

import json
import os
import sys

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import serverFromString
from twisted.trial.unittest import TestCase
from twisted.web import resource, server

from lethean.identity import NodeManager, PrivateKey
from lethean.mesh import MeshTransport, TransportConfig
from lethean.node import Controller, NodeOperations, RequestRefusedError
from lethean.node._payloads import DEPLOY_CHUNK
from lethean.mesh._envelope import DEPLOY
from lethean.peers import Peer, PeerRegistry
from tests._loopback_node import start_node
from tests._processes import PROCESS_TEST_TIMEOUT_S, ROOT, environment, run_lethean


class _Child(protocol.ProcessProtocol):
    """A ``lethean`` process whose standard output we may close at once."""

    def __init__(self, close_stdout=False):
        self.close_stdout = close_stdout
        self.out = b""
        self.err = b""
        self.ended = defer.Deferred()

    def connectionMade(self):
        if self.close_stdout:
            self.transport.closeChildFD(1)

    def outReceived(self, data):
        self.out += data

    def errReceived(self, data):
        self.err += data

    def processEnded(self, reason):
        self.ended.callback(reason.value.exitCode)


def spawn_lethean(test, home, *argv, close_stdout=False):
    """``lethean ARGV`` as a child process; ``(process, _Child)``."""
    child = _Child(close_stdout)
    process = reactor.spawnProcess(
        child, sys.executable, [sys.executable, "-c", "from lethean.cli import main; main()",
                                *argv], env=environment(home), path=ROOT)

    def kill():
        if not child.ended.called:
            process.signalProcess("KILL")
            return child.ended
    test.addCleanup(kill)
    return process, child


class CommandTests(TestCase):
    """Real ``lethean`` processes against a node running in this process."""

    timeout = PROCESS_TEST_TIMEOUT_S

    def setUp(self):
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        self.node, self.address = start_node(self, self.home)
        self.app = self.node.getServiceNamed("application")
        # No node runs for this folder: the command dials with its own identity.
        self.cli_dir = os.path.join(self.home, "cli")

    def lethean(self, *argv):
        return run_lethean(self.home, *argv, "--data-dir", self.cli_dir)

    async def check(self, argv, status, words=(), json_out=False):
        """Run ``lethean ARGV``: its status is ``status`` and stderr one line with ``words``."""
        out, err, code = await self.lethean(*argv)
        err = err.decode()
        self.assertEqual(code, status, (argv, out, err))
        if status:
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertTrue(err.startswith("lethean: ") or "usage:" in err, err)
            self.assertNotIn("Traceback", err)
        for word in words:
            self.assertIn(word, err)
        return json.loads(out) if json_out else out

    async def test_exit_statuses_and_usage_mistakes(self):
        """0 for success, 1 for a failed operation, 2 for each mistake of the command line."""
        await self.check(["ping", self.address], 0)
        await self.check(["ping", "127.0.0.1:1"], 1, ["nothing listens"])
        usage = [
            (["ping", "127.0.0.1"], "has no port"),
            (["stats", "tcp:127.0.0.1:9101"], "endpoint string"),
            (["ping", self.address, "--timeout", "0"], "--timeout"),
            (["ping", self.address, "--timeout", "-1"], "--timeout"),
            (["logs", self.address, "x", "--lines", "0"], "--lines"),
            (["miner", "start", self.address, "xmrig", "--config", "not json"], "not JSON"),
            (["miner", "start", self.address, "xmrig"], "--profile NAME"),
            (["stats", self.address, "--all"], "not both"),
            (["stats"], "give a target"),
            (["peers", "add", "127.0.0.1", "--public-key",
              PrivateKey.generate().public_key_b64], "has no port"),
            (["peers", "add", "127.0.0.1:9", "--public-key", "notakey"], "not a public key"),
            (["deploy", self.address, "missing.json", "--kind", "profile", "--name", "p"],
             "not a file"),
            (["status", "--control", "bogus"], "--control"),
            (["ping", self.address, "--control", "tcp:127.0.0.1"], "--control"),
            (["peers", "list", "--control", "bogus"], "--control"),
            (["ping", "wss://" + self.address, "--tls-fingerprint", "zz"], "fingerprint"),
            (["ping", "wss://" + self.address, "--tls-ca", "missing.pem"], "--tls-ca"),
        ]
        # Independent processes, so all at once: each is a Python start-up,
        # and one after another they take minutes on a busy machine.
        answers = await defer.gatherResults([self.lethean(*argv) for argv, _ in usage],
                                            consumeErrors=True)
        for (argv, words), (out, err, code) in zip(usage, answers):
            self.assertEqual(code, 2, (argv, err))
            self.assertIn(words, err.decode(), argv)
            self.assertNotIn(b"Traceback", err)
        # Nothing half-done: the refused peer was not stored (bravo, pinged by
        # the command's own controller, is in its own registry).
        out, _, _ = await self.lethean("peers", "list", "--json")
        self.assertEqual([(p["name"], p["source"]) for p in json.loads(out)], [("bravo", "cli")])

    async def test_target_forms(self):
        """id, id prefix, name, HOST:PORT, localhost, ws:// and ws://.../ws reach one node."""
        bravo = self.node.getServiceNamed("transport").identity.id
        first = await self.check(["ping", self.address, "--json"], 0, json_out=True)
        self.assertEqual((first["peerId"], first["peer"]["name"]), (bravo, "bravo"))
        self.assertIsInstance(first["rttMs"], float)
        self.assertEqual(first["rttMs"], round(first["rttMs"], 3))
        port = self.address.rsplit(":", 1)[1]
        for target in (bravo, bravo[:6], "bravo", "localhost:" + port,
                       "ws://127.0.0.1:{}".format(port), "ws://localhost:{}/ws".format(port)):
            result = await self.check(["ping", target, "--json"], 0, json_out=True)
            self.assertEqual(result["peerId"], bravo, target)
        # Dialling localhost left the saved 127.0.0.1 address alone.
        out, err, code = await run_lethean(self.home, "peers", "list", "--json", "--data-dir",
                                           os.path.join(self.home, "xdg-data",
                                                        "lethean-desktop", "cli"))
        self.assertEqual([p["address"] for p in json.loads(out)], [self.address])

    async def test_messages_name_the_peer_and_what_to_do(self):
        """Remote refusals are in lethean's words, with the peer's raw text kept in --json."""
        bravo = self.node.getServiceNamed("transport").identity.id
        await self.check(["ping", self.address], 0)
        out = await self.check(["logs", "bravo", "nope", "--json"], 1,
                               ["bravo ({} at {})".format(bravo, self.address),
                                "no miner named 'nope'", "lethean stats bravo"], json_out=True)
        self.assertEqual(out["error"]["remote"]["message"],
                         "Worker.handleGetLogs: miner not found: nope")
        self.assertEqual(out["error"]["peer"]["id"], bravo)
        await self.check(["miner", "start", "bravo", "xmrig", "--profile", "gpu"], 1,
                         ["no profile 'gpu'", "lethean deploy bravo PROFILE.json --kind profile "
                          "--name gpu"])
        await self.check(["stats", "charlie"], 1, ["no registered peer is named 'charlie'",
                                                   "lethean peers list"])

    async def test_not_a_lethean_node(self):
        """An HTTP server is recognised as not a lethean node, by ws and by wss."""
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            server.Site(resource.Resource()))
        self.addCleanup(port.stopListening)
        address = "127.0.0.1:{}".format(port.getHost().port)
        await self.check(["ping", address], 1, ["is not a lethean node", "check the port"])
        # TLS to a plain HTTP server: refused outright, or never answered; either
        # way the line says to dial ws://.
        await self.check(["ping", "wss://" + address, "--timeout", "5"], 1, ["ws://" + address])

    async def test_changed_key_names_the_fix(self):
        """A peer answering with another key than the pinned one: the command that forgets it."""
        stranger = PrivateKey.generate()
        registry = PeerRegistry(reactor, os.path.join(
            self.home, "xdg-data", "lethean-desktop", "cli", "peers.json"))
        registry.add_peer(Peer(id=stranger.node_id, name="bravo", address=self.address,
                               public_key=stranger.public_key_b64))
        await registry.close()
        await self.check(["ping", "bravo"], 1, [
            "answered with another key", "lethean peers remove " + stranger.node_id])

    async def test_refused_by_an_allowlist_names_our_key(self):
        """A node in allowlist mode refuses us: the line says which key to allow, and how."""
        node, address = start_node(self, self.home, "charlie", auth="allowlist")
        node.getServiceNamed("transport").registry.set_auth_mode(
            __import__("lethean.peers", fromlist=["AuthMode"]).AuthMode.ALLOWLIST)
        err = (await self.lethean("ping", address))[1].decode()
        own = NodeManager.in_directory(os.path.join(
            self.home, "xdg-data", "lethean-desktop", "cli")).load().identity.public_key
        self.assertIn("refused us", err)
        self.assertIn("lethean peers allow " + own, err)

    async def test_stats_all_reports_every_node(self):
        """stats --all: the node that answered and the one that did not, and status 1."""
        await self.check(["ping", self.address], 0)
        dead = PrivateKey.generate()
        registry = PeerRegistry(reactor, os.path.join(
            self.home, "xdg-data", "lethean-desktop", "cli", "peers.json"))
        registry.add_peer(Peer(id=dead.node_id, name="dead", address="127.0.0.1:1",
                               public_key=dead.public_key_b64))
        await registry.close()
        out, err, code = await self.lethean("stats", "--all", "--json")
        self.assertEqual(code, 1, err)
        reported = json.loads(out)
        bravo = self.node.getServiceNamed("transport").identity.id
        self.assertEqual(reported[bravo]["nodeName"], "bravo")
        self.assertEqual(reported[dead.node_id]["error"]["kind"], "connection_refused")
        self.assertIn("dead ({} at 127.0.0.1:1)".format(dead.node_id), err.decode())
        self.assertIn("1 of 2 nodes did not report", err.decode())

    async def test_json_on_every_command_that_prints_data(self):
        """--json gives JSON for the data commands and for their errors."""
        identity_dir = os.path.join(self.home, "ident")
        for argv in (["identity", "new", "--data-dir", identity_dir, "--json"],
                     ["identity", "show", "--data-dir", identity_dir, "--json"]):
            out, err, code = await run_lethean(self.home, *argv)
            self.assertEqual(code, 0, err)
            self.assertIn("publicKey", json.loads(out))
        for argv in (["ping", self.address], ["stats", self.address], ["peers", "list"],
                     ["peers", "auth"], ["logs", self.address, "nope"]):
            out, err, code = await self.lethean(*argv, "--json")
            document = json.loads(out)
            self.assertEqual("error" in document, code == 1, (argv, document))

    async def test_broken_pipe_ends_quietly(self):
        """A reader that closed the pipe: no traceback, status 0, for plain and reactor commands."""
        for argv in (["peers", "list", "--json"], ["ping", self.address, "--json"],
                     ["identity", "show", "--json", "--data-dir", os.path.join(
                         self.home, "xdg-data", "lethean-desktop", "cli")]):
            await self.check(["ping", self.address], 0)
            _, child = spawn_lethean(self, self.home, *argv, "--data-dir", self.cli_dir,
                                     close_stdout=True) if argv[0] != "identity" else \
                spawn_lethean(self, self.home, *argv, close_stdout=True)
            status = await child.ended
            self.assertEqual((status, child.err), (0, b""), argv)

    async def test_ctrl_c_during_deploy(self):
        """SIGINT to a deploy in progress: 'interrupted' on its own line, status 130."""
        arrived = defer.Deferred()

        async def hold(connection, message):
            if not arrived.called:
                arrived.callback(message.type)
            await defer.Deferred()  # never acknowledged: the deploy waits
        worker = self.app.worker
        self.patch(worker, "handlers", dict(worker.handlers, **{DEPLOY: hold,
                                                                 DEPLOY_CHUNK: hold}))
        miner = os.path.join(self.home, "miner.bin")
        with open(miner, "wb") as f:
            f.write(os.urandom(2 * 1024 * 1024))
        process, child = spawn_lethean(self, self.home, "deploy", self.address, miner,
                                       "--kind", "miner", "--name", "big",
                                       "--data-dir", self.cli_dir)
        await arrived
        process.signalProcess("INT")
        status = await child.ended
        self.assertEqual(status, 130, child.err)
        self.assertEqual(child.out, b"")
        self.assertTrue(child.err.endswith(b"\ninterrupted\n"), child.err)
        self.assertEqual(child.err.count(b"interrupted"), 1, child.err)
        self.assertNotIn(b"Traceback", child.err)
        self.assertNotIn(b"handshake", child.err)


class OperationsTests(TestCase):
    """A controller of our own against a node: what mistakes must not change."""

    timeout = 60

    async def test_mistakes_keep_the_score_and_the_address(self):
        """A refused request keeps the peer's score; dialling localhost keeps its address."""
        home = os.path.abspath(self.mktemp())
        node, address = start_node(self, home)
        folder = os.path.join(home, "ctl")
        identity = NodeManager.in_directory(folder).load_or_create(role="controller")
        registry = PeerRegistry(reactor, os.path.join(folder, "peers.json"))
        self.addCleanup(registry.close)
        transport = MeshTransport(reactor, identity, registry, TransportConfig(listen=None))
        controller = Controller(reactor, transport, registry)
        transport.add_consumer(controller)
        transport.startService()
        self.addCleanup(transport.stopService)
        self.addCleanup(controller.stop)
        operations = NodeOperations(reactor, transport, registry, controller)
        pong = await operations.ping(address)
        score = registry.get_peer(pong["peerId"]).score
        with self.assertRaises(RequestRefusedError):
            await operations.logs("bravo", "nope", 10)
        with self.assertRaises(RequestRefusedError):
            await operations.stop_miner("bravo", "nope")
        self.assertEqual(registry.get_peer(pong["peerId"]).score, score)
        await operations.ping("localhost:" + address.rsplit(":", 1)[1])
        self.assertEqual(registry.get_peer(pong["peerId"]).address, address)
