"""``twistd -n lethean-node`` as a real process, driven by the ``lethean`` CLI."""

import json
import os
import re
import sys
from pathlib import Path

from twisted.internet import defer, protocol, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

ROOT = str(Path(__file__).resolve().parent.parent)
#: The whole test, twistd start-up included, must finish within this.
DEADLINE_S = 60


class _Output(protocol.ProcessProtocol):
    """Collects a child's output and fires Deferreds on lines and on exit."""

    def __init__(self):
        self.text = ""
        self.ended = defer.Deferred()
        self._watches = []

    def wait_for(self, pattern):
        """A Deferred firing with the first match of ``pattern`` in the output."""
        d = defer.Deferred()
        self._watches.append((re.compile(pattern), d))
        self._check()
        return d

    def _check(self):
        for entry in list(self._watches):
            match = entry[0].search(self.text)
            if match:
                self._watches.remove(entry)
                entry[1].callback(match)

    def outReceived(self, data):
        self.text += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def processEnded(self, reason):
        for _, d in self._watches:
            d.errback(AssertionError("process ended before printing it:\n" + self.text))
        self._watches = []
        self.ended.callback(reason.value)


def _environment():
    return dict(os.environ, PYTHONPATH=ROOT)


def twistd_node(testcase, base, *argv):
    """Start ``twistd -n lethean-node ARGV`` in ``base``; killed at cleanup if still running."""
    output = _Output()
    process = reactor.spawnProcess(
        output, sys.executable,
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
         "-n", "--pidfile=", "lethean-node", *argv],
        env=_environment(), path=base)

    def kill_if_running():
        if output.ended.called:
            return None
        process.signalProcess("KILL")
        return output.ended
    testcase.addCleanup(kill_if_running)
    return output, process


class NodeProcessTests(TestCase):
    """A real node: started by twistd, queried by the CLI, stopped by SIGTERM."""

    timeout = DEADLINE_S

    def lethean(self, data_dir, *argv):
        """Run the ``lethean`` CLI; fires with (stdout, stderr, status)."""
        return getProcessOutputAndValue(
            sys.executable, ["-c", "from lethean.cli import main; main()", *argv,
                             "--data-dir", data_dir],
            env=_environment(), path=ROOT, reactor=reactor)

    async def test_twistd_node_answers_the_cli_and_flushes_on_sigterm(self):
        """The node starts on defaults plus a data dir, answers ping and stats, and saves peers on SIGTERM."""
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        node_dir, cli_dir = os.path.join(base, "node"), os.path.join(base, "cli")
        output, process = twistd_node(self, base, "--listen", "tcp:0:interface=127.0.0.1",
                                      "--data-dir", node_dir, "--name", "alpha")

        created = await output.wait_for(r"created node identity ([0-9a-f]{32})")
        node_id = created.group(1)
        port = (await output.wait_for(r"starting on (\d+)")).group(1)
        address = "127.0.0.1:" + port

        out, err, status = await self.lethean(cli_dir, "ping", address, "--json")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["peerId"], node_id)

        out, err, status = await self.lethean(cli_dir, "stats", node_id, "--json")
        self.assertEqual(status, 0, err)
        stats = json.loads(out)[node_id]
        self.assertEqual((stats["nodeId"], stats["nodeName"], stats["miners"]),
                         (node_id, "alpha", []))

        out, _, status = await self.lethean(cli_dir, "identity", "show")
        cli_id = json.loads(out)["id"]

        process.signalProcess("TERM")
        ended = await output.ended
        # twistd exits cleanly, then re-raises SIGTERM so its status says why.
        self.assertIn((ended.exitCode, ended.signal), [(0, None), (None, 15)], output.text)
        self.assertIn("Server Shut Down", output.text)
        with open(os.path.join(node_dir, "peers.json"), "rb") as f:
            saved = json.load(f)
        self.assertIn(cli_id, [peer["id"] for peer in saved])


class ListenFailureTests(TestCase):
    """A node that cannot bind its endpoint says so in one line and exits non-zero."""

    timeout = DEADLINE_S

    async def test_port_in_use(self):
        """With the port held by someone else, twistd exits 1 with one line naming endpoint and reason."""
        from twisted.internet.endpoints import serverFromString

        holder = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            protocol.Factory.forProtocol(protocol.Protocol))
        self.addCleanup(holder.stopListening)
        endpoint = "tcp:{}:interface=127.0.0.1".format(holder.getHost().port)
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        output, _ = twistd_node(self, base, "--listen", endpoint,
                                "--data-dir", os.path.join(base, "node"))

        ended = await output.ended
        self.assertEqual(ended.exitCode, 1, output.text)
        failures = [line for line in output.text.splitlines() if "cannot listen" in line]
        self.assertEqual(len(failures), 1, output.text)
        self.assertIn(endpoint, failures[0])
        self.assertIn("Address already in use", failures[0])
        self.assertNotIn("Traceback", output.text)
        self.assertNotIn("is up", output.text)
