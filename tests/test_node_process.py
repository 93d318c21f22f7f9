"""``twistd -n lethean-node`` as a real process, driven by the ``lethean`` CLI."""

import json
import os

from twisted.trial.unittest import TestCase

from tests._processes import PROCESS_TEST_TIMEOUT_S, run_lethean, start_twistd_node


class NodeProcessTests(TestCase):
    """A real node: started by twistd, queried by the CLI, stopped by SIGTERM."""

    timeout = PROCESS_TEST_TIMEOUT_S

    def lethean(self, home, data_dir, *argv):
        """Run the ``lethean`` CLI; fires with (stdout, stderr, status)."""
        return run_lethean(home, *argv, "--data-dir", data_dir)

    async def test_twistd_node_answers_the_cli_and_flushes_on_sigterm(self):
        """The node starts on defaults plus a data dir, answers ping and stats, and saves peers on SIGTERM."""
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        node_dir = os.path.join(base, "node")
        # No node runs for this folder: the CLI acts with an identity of its own.
        cli_dir = os.path.join(base, "elsewhere")
        process, output = start_twistd_node(self, base, node_dir, "--name", "alpha")

        created = await output.wait_for(r"created node identity ([0-9a-f]{32})")
        node_id = created.group(1)
        port = (await output.wait_for(r"is up: mesh on ws://127.0.0.1:(\d+)")).group(1)
        address = "127.0.0.1:" + port

        out, err, status = await self.lethean(base, cli_dir, "ping", address, "--json")
        self.assertEqual(status, 0, err)
        self.assertEqual(json.loads(out)["peerId"], node_id)

        out, err, status = await self.lethean(base, cli_dir, "stats", node_id, "--json")
        self.assertEqual(status, 0, err)
        stats = json.loads(out)[node_id]
        self.assertEqual((stats["nodeId"], stats["nodeName"], stats["miners"]),
                         (node_id, "alpha", []))

        out, _, status = await run_lethean(
            base, "identity", "show", "--json", "--data-dir",
            os.path.join(base, "xdg-data", "lethean-desktop", "cli"))
        cli_id = json.loads(out)["id"]

        process.signalProcess("TERM")
        ended = await output.ended
        # twistd exits cleanly, then re-raises SIGTERM so its status says why.
        self.assertIn((ended.exitCode, ended.signal), [(0, None), (None, 15)], output.text)
        self.assertIn("Server Shut Down", output.text)
        # One line per link up and down; no factory noise.
        self.assertIn("link up: ", output.text)
        self.assertIn("link down: ", output.text)
        self.assertNotIn("Starting factory", output.text)
        with open(os.path.join(node_dir, "peers.json"), "rb") as f:
            saved = json.load(f)
        self.assertIn(cli_id, [peer["id"] for peer in saved])


class ListenFailureTests(TestCase):
    """A node that cannot bind its endpoint says so in one line and exits non-zero."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_port_in_use(self):
        """With the port held by someone else, twistd exits 1 with one line naming endpoint and reason."""
        from twisted.internet import protocol, reactor
        from twisted.internet.endpoints import serverFromString

        holder = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            protocol.Factory.forProtocol(protocol.Protocol))
        self.addCleanup(holder.stopListening)
        endpoint = "tcp:{}:interface=127.0.0.1".format(holder.getHost().port)
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        # The last --listen wins.
        _, output = start_twistd_node(self, base, os.path.join(base, "node"),
                                      "--listen", endpoint)
        ended = await output.ended
        self.assertEqual(ended.exitCode, 1, output.text)
        failures = [line for line in output.text.splitlines() if "cannot listen" in line]
        self.assertEqual(len(failures), 1, output.text)
        self.assertIn(endpoint, failures[0])
        self.assertIn("Address already in use", failures[0])
        self.assertNotIn("Traceback", output.text)
        self.assertNotIn("is up", output.text)


class DataFolderLockTests(TestCase):
    """One node per data folder: a second one is refused, a dead one's lock is not."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_second_node_on_the_same_folder_is_refused(self):
        """A second node exits 1 with one line naming the folder and the running node's pid."""
        from tests._processes import short_folder

        base = short_folder(self)
        data_dir = os.path.join(base, "node")
        first, running = start_twistd_node(self, base, data_dir)
        await running.wait_for(r"is up: mesh on ")

        _, second = start_twistd_node(self, base, data_dir)
        ended = await second.ended
        self.assertEqual(ended.exitCode, 1, second.text)
        lines = [line for line in second.text.splitlines() if data_dir in line]
        self.assertEqual(len(lines), 1, second.text)
        self.assertIn("pid {}".format(first.pid), lines[0])
        self.assertNotIn("Traceback", second.text)
        self.assertNotIn("is up", second.text)
        # The running node is untouched by the attempt.
        self.assertFalse(running.ended.called, running.text)
        out, err, status = await run_lethean(base, "status", "--json", "--data-dir", data_dir)
        self.assertEqual(status, 0, err)

        first.signalProcess("TERM")
        await running.ended
        self.assertEqual(sorted(f for f in os.listdir(data_dir) if "lock" in f), [],
                         "the lock is released on exit")

    async def test_a_killed_nodes_lock_does_not_block(self):
        """After SIGKILL (no clean-up at all) a new node starts on the folder."""
        from tests._processes import short_folder

        base = short_folder(self)
        data_dir = os.path.join(base, "node")
        first, running = start_twistd_node(self, base, data_dir)
        await running.wait_for(r"is up: mesh on ")
        first.signalProcess("KILL")
        await running.ended

        _, again = start_twistd_node(self, base, data_dir)
        await again.wait_for(r"is up: mesh on ")
        self.assertNotIn("Traceback", again.text)


class SelfDialTests(TestCase):
    """A node whose --peer turns out to be itself (its own key answers) gives it up."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_a_twin_with_the_same_identity_is_refused_at_both_ends(self):
        """Both count refused_self, neither registers the other, the dialler stops with one line."""
        import shutil

        from tests._processes import short_folder

        base = short_folder(self)
        alpha_dir, twin_dir = os.path.join(base, "alpha"), os.path.join(base, "twin")
        _, alpha = start_twistd_node(self, base, alpha_dir)
        port = (await alpha.wait_for(r"is up: mesh on ws://127.0.0.1:(\d+)")).group(1)
        os.makedirs(twin_dir, mode=0o700)
        for name in ("private.key", "node.json"):
            shutil.copy2(os.path.join(alpha_dir, name), twin_dir)

        _, twin = start_twistd_node(self, base, twin_dir, "--peer", "127.0.0.1:" + port)
        await twin.wait_for(r"is this node itself.*not dialled again")
        for folder in (alpha_dir, twin_dir):
            out, err, status = await run_lethean(base, "status", "--json", "--data-dir", folder)
            self.assertEqual(status, 0, err)
            document = json.loads(out)
            self.assertEqual(document["counters"]["refused_self"], 1, folder)
            self.assertEqual(document["peers"], [])
            self.assertEqual(document["node"]["registeredPeers"], 0)
        # One refusal line from the link, one from the dialler giving up; no retries.
        lines = [line for line in twin.text.splitlines() if "127.0.0.1:" + port in line]
        self.assertEqual(len(lines), 2, twin.text)
        self.assertIn("refused_self", lines[0])


class LogLevelTests(TestCase):
    """--log-level: debug lines stay out of the twistd log unless asked for."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def _served_then_linked(self, *options):
        """A node that served a control request (a debug line), then logged a link (info)."""
        from tests._processes import short_folder

        base = short_folder(self)
        data_dir = os.path.join(base, "node")
        _, output = start_twistd_node(self, base, data_dir, *options)
        port = (await output.wait_for(r"is up: mesh on ws://127.0.0.1:(\d+)")).group(1)
        out, err, status = await run_lethean(base, "status", "--json", "--data-dir", data_dir)
        self.assertEqual(status, 0, err)
        # A later event, logged after the request's: the log is read in order.
        out, err, status = await run_lethean(base, "ping", "127.0.0.1:" + port, "--data-dir",
                                             os.path.join(base, "cli"))
        self.assertEqual(status, 0, err)
        return output

    async def test_no_debug_lines_by_default(self):
        """At the default level no debug line (ours or a library's) reaches the log."""
        output = await self._served_then_linked()
        await output.wait_for(r"link up: ")
        self.assertNotIn("#debug", output.text)
        self.assertNotIn("control GET /api/status", output.text)

    async def test_debug_level_shows_requests(self):
        """With --log-level debug the requests served are logged."""
        output = await self._served_then_linked("--log-level", "debug")
        await output.wait_for(r"control GET /api/status: 200")
