"""Small mistakes at the command line: one line that says what to do, and the documented status."""

import json
import os

from twisted.trial.unittest import TestCase

from tests._processes import PROCESS_TEST_TIMEOUT_S, run_lethean, short_folder

#: A valid X25519 public key nobody uses.
KEY = "+ODEgFwqO1UbQHbQSj+w8zaJfgjs+wB0iMIYf0QYM1Q="


class IdentityMessageTests(TestCase):
    """lethean identity on folders that cannot hold one, or hold none."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_new_where_a_file_stands_for_the_folder(self):
        """A data folder that cannot be written is one line naming why and --data-dir; nothing written."""
        base = short_folder(self)
        blocker = os.path.join(base, "file")
        open(blocker, "w").close()
        out, err, status = await run_lethean(base, "identity", "new", "--data-dir",
                                             os.path.join(blocker, "node"))
        self.assertEqual(status, 1, err)
        [line] = err.decode().splitlines()
        self.assertIn("{} is a file, not a folder".format(blocker), line)
        self.assertIn("--data-dir", line)
        self.assertNotIn("damaged", line)

    async def test_new_in_a_read_only_folder(self):
        """A read-only data folder is one line naming the file and --data-dir."""
        if os.geteuid() == 0:
            self.skipTest("root writes into read-only folders")
        base = short_folder(self)
        folder = os.path.join(base, "ro")
        os.makedirs(folder, mode=0o500)
        out, err, status = await run_lethean(base, "identity", "new", "--data-dir", folder)
        self.assertEqual(status, 1, err)
        [line] = err.decode().splitlines()
        self.assertIn("Permission denied", line)
        self.assertIn("--data-dir", line)

    async def test_show_without_identity_names_the_folder(self):
        """identity show on a folder with no identity hints the commands, with its --data-dir."""
        base = short_folder(self)
        folder = os.path.join(base, "empty")
        out, err, status = await run_lethean(base, "identity", "show", "--data-dir", folder)
        self.assertEqual(status, 1, err)
        [line] = err.decode().splitlines()
        self.assertIn("'lethean identity new --data-dir {}'".format(folder), line)
        self.assertIn("'twistd -n lethean-node --data-dir {}'".format(folder), line)


class PeersMessageTests(TestCase):
    """lethean peers add and revoke of what is already so."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_adding_a_registered_peer_again(self):
        """The second add says the peer is registered and how to change it; exit 1, record unchanged."""
        base = short_folder(self)
        folder = os.path.join(base, "node")
        argv = ("peers", "add", "10.0.0.2:9091", "--public-key", KEY, "--name", "bravo",
                "--data-dir", folder)
        out, err, status = await run_lethean(base, *argv)
        self.assertEqual(status, 0, err)
        out, err, status = await run_lethean(base, "peers", "add", "10.0.0.9:9091",
                                             "--public-key", KEY, "--data-dir", folder)
        self.assertEqual(status, 1, err)
        [line] = err.decode().splitlines()
        self.assertIn("bravo (", line)
        self.assertIn("is already registered", line)
        self.assertIn("'lethean peers remove ", line)
        self.assertNotIn("changed its files", err.decode())
        out, err, status = await run_lethean(base, "peers", "list", "--json", "--data-dir",
                                             folder)
        [peer] = json.loads(out)
        self.assertEqual(peer["address"], "10.0.0.2:9091")

    async def test_revoking_a_key_not_on_the_allowlist(self):
        """Revoking a key that is not allowlisted says so and exits 1."""
        base = short_folder(self)
        folder = os.path.join(base, "node")
        out, err, status = await run_lethean(base, "peers", "revoke", KEY, "--data-dir", folder)
        self.assertEqual(status, 1, err)
        [line] = err.decode().splitlines()
        self.assertEqual(line, "lethean: {} is not on the allowlist: nothing was revoked".format(KEY))
        out, err, status = await run_lethean(base, "peers", "allow", KEY, "--data-dir", folder)
        self.assertEqual(status, 0, err)
        out, err, status = await run_lethean(base, "peers", "revoke", KEY, "--data-dir", folder)
        self.assertEqual(status, 0, err)


class NodeWithoutControlTests(TestCase):
    """A node running with --control none: its files are not edited behind its back."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_peers_edit_refused_while_the_node_runs(self):
        """peers add exits 1 naming the node's pid and the fix; peers.json is not touched."""
        from tests._processes import start_twistd_node

        base = short_folder(self)
        folder = os.path.join(base, "node")
        process, output = start_twistd_node(self, base, folder, "--control", "none")
        await output.wait_for(r"is up: mesh on ")
        out, err, status = await run_lethean(base, "peers", "add", "10.0.0.2:9091",
                                             "--public-key", KEY, "--data-dir", folder)
        self.assertEqual(status, 1, err)
        [line] = err.decode().splitlines()
        self.assertIn("pid {}".format(process.pid), line)
        self.assertIn("--control none", line)
        self.assertFalse(os.path.exists(os.path.join(folder, "peers.json")))
        # Reading is fine.
        out, err, status = await run_lethean(base, "peers", "list", "--data-dir", folder)
        self.assertEqual(status, 0, err)


class CommandLogTests(TestCase):
    """lethean --log-level prints the command's own log on standard error."""

    timeout = PROCESS_TEST_TIMEOUT_S

    async def test_log_level_shows_the_command_s_log(self):
        """Quiet by default; with --log-level debug the dial's own log lines come first."""
        from twisted.internet import protocol, reactor
        from twisted.internet.endpoints import serverFromString

        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            protocol.Factory.forProtocol(protocol.Protocol))
        number = port.getHost().port
        await port.stopListening()
        base = short_folder(self)
        argv = ("ping", "127.0.0.1:{}".format(number), "--data-dir", os.path.join(base, "c"))
        out, err, status = await run_lethean(base, *argv)
        self.assertEqual(status, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        out, err, status = await run_lethean(base, "--log-level", "debug", *argv)
        self.assertEqual(status, 1, err)
        lines = err.decode().splitlines()
        self.assertIn("could not connect to 127.0.0.1:{}".format(number), err.decode())
        self.assertEqual(len([line for line in lines if line.startswith("lethean: ")]), 1, lines)
        out, err, status = await run_lethean(base, "--log-level", "loud", *argv)
        self.assertEqual(status, 2, err)
