"""
``lethean levin`` against a real monerod (Debian package ``monero``).

Each test starts its own ``monerod --testnet`` on loopback with a fresh data
directory, no outside peers and ports chosen by the kernel, then runs the
``lethean`` command as a child process and checks its JSON and exit status.
Skipped only when ``monerod`` is not installed.
"""

import json
import os
import re
import shutil
import sys

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from lethean.levin import LevinError, close_peer, connect_peer, ping_peer
from lethean.levin._networks import MONERO_TESTNET
from tests._processes import PROCESS_TEST_TIMEOUT_S
from tests.test_levin_cli import REPO, RUN_LETHEAN

MONEROD = shutil.which("monerod")
#: Generous: a cold start (genesis block, LMDB) takes about a second.
DAEMON_START_S = 60.0
DAEMON_STOP_S = 30.0

#: monerod's log line for its P2P listening socket (it binds port 0 as asked).
_BOUND = re.compile(rb"Net service bound \(IPv4\) to 127\.0\.0\.1:(\d+)")


def monerod_arguments(data_dir):
    """A testnet daemon on loopback: kernel-chosen ports, no peers, no sync, quiet."""
    return [
        MONEROD, "--testnet", "--non-interactive",
        "--data-dir", data_dir, "--log-file", os.path.join(data_dir, "monerod.log"),
        "--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port", "0",
        "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", "0", "--rpc-ssl", "disabled",
        "--no-zmq", "--no-igd", "--no-sync", "--disable-dns-checkpoints",
        "--check-updates", "disabled",
        # No outgoing connections at all: exclusive peers replace the seed
        # nodes, and zero out-peers means not even those are dialled.
        "--out-peers", "0", "--add-exclusive-node", "127.0.0.1:9",
        "--log-level", "*:WARNING,net.p2p:INFO",
    ]


class _Monerod(ProcessProtocol):
    """Watches monerod's output for its P2P port; ``ended`` fires on exit."""

    def __init__(self):
        self.port = Deferred()
        self.ended = Deferred()
        self.output = bytearray()

    def outReceived(self, data):
        self.output += data
        if not self.port.called:
            found = _BOUND.search(self.output)
            if found:
                self.port.callback(int(found.group(1)))

    errReceived = outReceived

    def processEnded(self, reason):
        if not self.port.called:
            self.port.errback(RuntimeError("monerod exited before listening: {}".format(
                bytes(self.output[-2000:]).decode("utf-8", "replace"))))
        self.ended.callback(None)


class MonerodTests(TestCase):
    """ping and handshake against monerod --testnet on loopback."""

    if MONEROD is None:
        skip = "monerod is not installed (Debian: apt-get install monero)"

    timeout = DAEMON_START_S + DAEMON_STOP_S + PROCESS_TEST_TIMEOUT_S

    async def start_monerod(self):
        """Start a daemon; returns its P2P port once it answers a ping."""
        data_dir = os.path.abspath(self.mktemp())
        os.makedirs(data_dir)
        daemon = _Monerod()
        process = reactor.spawnProcess(
            daemon, MONEROD, monerod_arguments(data_dir),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": data_dir},
            path=data_dir)
        self.addCleanup(self.stop_monerod, process, daemon)
        port = await daemon.port.addTimeout(DAEMON_START_S, reactor)
        await self.until_it_answers(port, reactor.seconds() + DAEMON_START_S)
        return port

    async def until_it_answers(self, port, deadline):
        while True:
            try:
                protocol = await connect_peer(
                    reactor, "tcp:host=127.0.0.1:port=%d" % port, timeout=5)
                try:
                    await ping_peer(protocol, timeout=5)
                finally:
                    await close_peer(protocol)
                return
            except LevinError:
                if reactor.seconds() > deadline:
                    raise
                await task.deferLater(reactor, 0.2, lambda: None)

    async def stop_monerod(self, process, daemon):
        if daemon.ended.called:
            return
        process.signalProcess("TERM")
        try:
            await daemon.ended.addTimeout(DAEMON_STOP_S, reactor)
        except DeferredTimeoutError:
            process.signalProcess("KILL")
            await daemon.ended

    async def lethean(self, *argv):
        """
        Run ``lethean levin ...``; returns (stdout, stderr, exit status).
        ``--timeout`` bounds its exchange with the daemon; its start-up (many
        seconds on a busy machine) only the test's timeout.
        """
        return await getProcessOutputAndValue(
            sys.executable, ["-c", RUN_LETHEAN, "levin", *argv, "--timeout", "10", "--json"],
            env=dict(os.environ), path=str(REPO), reactor=reactor)

    async def test_ping(self):
        """ping prints status OK and the daemon's peer id, exit 0."""
        port = await self.start_monerod()
        out, err, code = await self.lethean("ping", "127.0.0.1:%d" % port)
        self.assertEqual(code, 0, err)
        reply = json.loads(out)["ping"]
        self.assertEqual(reply["status"], "OK")
        self.assertIsInstance(reply["peer_id"], int)

    async def test_handshake(self):
        """handshake on testnet prints the daemon's node data and chain state, exit 0."""
        port = await self.start_monerod()
        out, err, code = await self.lethean("handshake", "127.0.0.1:%d" % port,
                                            "--network", "testnet")
        self.assertEqual(code, 0, err)
        output = json.loads(out)
        testnet = MONERO_TESTNET
        node = output["handshake"]["node_data"]
        self.assertEqual(node["network_id"], testnet.network_id.hex())
        self.assertEqual(node["my_port"], port)
        self.assertIsInstance(node["peer_id"], int)
        for reply in (output["handshake"], output["timed_sync"]):
            # A fresh chain: only the genesis block.
            self.assertEqual(reply["payload_data"]["current_height"], 1)
            self.assertEqual(reply["payload_data"]["top_id"], testnet.genesis_hash.hex())
        # The same daemon answers a ping afterwards: we left politely.
        out, err, code = await self.lethean("ping", "127.0.0.1:%d" % port)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["ping"]["peer_id"], node["peer_id"])

    async def test_wrong_network(self):
        """A mainnet handshake to the testnet daemon fails with one line, exit 1."""
        port = await self.start_monerod()
        out, err, code = await self.lethean("handshake", "127.0.0.1:%d" % port,
                                            "--network", "mainnet")
        # With --json the error is also on stdout, as JSON.
        self.assertEqual((code, json.loads(out)["error"]["kind"]), (1, "handshake_rejected"))
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(b"rejected the Levin handshake", err)
        self.assertIn(b"mainnet", err)
