"""
The operator's view of real ``twistd lethean-node`` processes: ``lethean``
commands go through the running node, its status page renders in a real
headless Chromium.
"""

import json
import os
import re
import shutil
import tempfile

from twisted.internet import reactor, task
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from lethean.cli._client import find_node
from lethean.identity import PrivateKey
from tests._processes import PROCESS_TEST_TIMEOUT_S, run_lethean, short_folder, start_twistd_node
#: Seconds between two looks at a node's status while its links come up.
POLL_S = 0.1

_UP = r"node ([0-9a-f]{32}) \((\w+), \w+\) is up: mesh on ws://127\.0\.0\.1:(\d+)/ws"

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class TwistdNode:
    """A started ``twistd lethean-node`` and what its start-up line says."""

    @classmethod
    async def start(cls, test, home, name, *options):
        node = cls()
        node.data_dir = os.path.join(home, name)
        node.process, node.output = start_twistd_node(test, home, node.data_dir,
                                                      "--name", name, *options)
        up = await node.output.wait_for(_UP)
        node.id, node.name = up.group(1), up.group(2)
        node.address = "127.0.0.1:" + up.group(3)
        return node

    async def linked(self, count):
        """Wait until the node's status shows ``count`` peers; the status."""
        client = await find_node(reactor, self.data_dir)
        while True:
            status = await client.get("/api/status")
            if len(status["peers"]) >= count:
                return status
            await task.deferLater(reactor, POLL_S)

    async def stop(self):
        self.process.signalProcess("TERM")
        return await self.output.ended


class CommandsThroughNodeTests(TestCase):
    """With a node running for the data folder, the lethean command goes through it."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def lethean(self, *argv):
        out, err, status = await run_lethean(self.home, *argv)
        self.assertEqual(status, 0, err)
        return out.decode(), err.decode()

    async def test_commands_use_the_node_links_and_registry(self):
        """status, ping, stats and peers add through alpha: bravo sees no second link; the edit is saved."""
        self.home = short_folder(self)
        bravo = await TwistdNode.start(self, self.home, "bravo")
        alpha = await TwistdNode.start(self, self.home, "alpha", "--peer", bravo.address)
        await alpha.linked(1)
        out, _ = await self.lethean("status", "--data-dir", alpha.data_dir, "--json")
        status = json.loads(out)
        self.assertEqual([(p["id"], p["name"], p["direction"], p["session"])
                          for p in status["peers"]], [(bravo.id, "bravo", "outbound", "v2")])

        text, _ = await self.lethean("status", "--data-dir", alpha.data_dir)
        self.assertIn("SESSION", text)
        self.assertIn("bravo", text)
        self.assertIn(bravo.id, text)
        self.assertIn("connections_opened", text)

        out, _ = await self.lethean("ping", bravo.id, "--data-dir", alpha.data_dir, "--json")
        self.assertEqual(json.loads(out)["peerId"], bravo.id)
        out, _ = await self.lethean("stats", bravo.id, "--data-dir", alpha.data_dir, "--json")
        self.assertEqual(json.loads(out)[bravo.id]["nodeName"], "bravo")
        out, _ = await self.lethean("stats", "--all", "--data-dir", alpha.data_dir, "--json")
        self.assertEqual(list(json.loads(out)), [bravo.id])

        key = PrivateKey.generate()
        out, err = await self.lethean("peers", "add", "10.0.0.7:9091", "--public-key",
                                      key.public_key_b64, "--name", "zed",
                                      "--data-dir", alpha.data_dir, "--json")
        self.assertEqual(json.loads(out)[0]["id"], key.node_id)
        self.assertNotIn("changed its files", err)
        out, _ = await self.lethean("peers", "list", "--data-dir", alpha.data_dir, "--json")
        listed = {p["id"]: p for p in json.loads(out)}
        self.assertEqual(set(listed), {bravo.id, key.node_id})
        self.assertTrue(listed[bravo.id]["connected"])

        # One link from alpha to bravo all along: no CLI identity reached bravo.
        bravo_status = json.loads((await self.lethean(
            "status", "--data-dir", bravo.data_dir, "--json"))[0])
        self.assertEqual([p["id"] for p in bravo_status["peers"]], [alpha.id])
        self.assertEqual(bravo_status["node"]["registeredPeers"], 1)
        self.assertNotIn("duplicate", bravo.output.text)
        self.assertNotIn("duplicate", alpha.output.text)

        # The node's own save (at stop) keeps the peer added through it.
        await alpha.stop()
        with open(os.path.join(alpha.data_dir, "peers.json")) as f:
            saved = {p["id"]: p for p in json.load(f)}
        self.assertEqual(saved[key.node_id]["name"], "zed")
        self.assertIn(bravo.id, saved)

        # With alpha stopped, status says so and peers edits go to the files.
        out, err, code = await run_lethean(self.home, "status", "--data-dir", alpha.data_dir)
        self.assertEqual((code, out), (1, b""))
        self.assertIn(b"No node is running", err)
        out, err = await self.lethean("peers", "remove", key.node_id, "--data-dir",
                                      alpha.data_dir)
        self.assertIn("changed its files directly", err)


class StatusPageTests(TestCase):
    """The status page in a real headless Chromium, against three linked nodes."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_page_shows_the_peers_of_three_nodes(self):
        """Chromium renders alpha's page over TCP with the token; its peers table lists bravo and charlie."""
        chromium = _chromium()
        if chromium is None:
            self.skipTest("chromium is not installed (Debian package 'chromium'; .ci/run "
                          "installs it)")
        home = short_folder(self)
        bravo = await TwistdNode.start(self, home, "bravo")
        charlie = await TwistdNode.start(self, home, "charlie")
        alpha = await TwistdNode.start(
            self, home, "alpha", "--peer", bravo.address, "--peer", charlie.address,
            "--control", "tcp:0:interface=127.0.0.1",
            "--control", "unix:" + os.path.join(home, "alpha", "control.sock"))
        port = re.search(r"control on tcp:127\.0\.0\.1:(\d+)", alpha.output.text).group(1)
        with open(os.path.join(alpha.data_dir, "control.token")) as f:
            token = f.read().strip()

        await alpha.linked(2)
        profile = tempfile.mkdtemp(prefix="lethean-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        out, err, code = await getProcessOutputAndValue(
            chromium, CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--dump-dom",
                                        "http://operator:{}@127.0.0.1:{}/".format(token, port)],
            env=dict(os.environ, HOME=profile), reactor=reactor)
        dom = out.decode("utf-8", "replace")
        self.assertEqual(code, 0, err.decode("utf-8", "replace")[-2000:])
        peers = re.search(r'<table id="peers">(.*?)</table>', dom, re.S)
        self.assertIsNotNone(peers, dom[:2000])
        rows = re.findall(r"<tr>(.*?)</tr>", peers.group(1), re.S)[1:]
        names = sorted(re.search(r"<td>(.*?)</td>", row).group(1) for row in rows)
        self.assertEqual(names, ["bravo", "charlie"])
        self.assertIn(bravo.id, peers.group(1))
        self.assertIn(charlie.id, peers.group(1))
        self.assertIn("lethean node alpha", dom)
