"""``lethean peers``: the registry files edited from the command line."""

import io
import json
import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from lethean.cli._main import build_parser
from lethean.identity import PrivateKey
from lethean.peers import AuthMode, PeerNotFoundError, PeerRegistry
from twisted.internet.task import Clock


class PeersCommandTests(SynchronousTestCase):
    """Each command changes the files a node loads, and prints text or JSON."""

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.key = PrivateKey.generate()
        # The command's own registry (read with no node running) is the test's.
        self.patch(os, "environ", dict(os.environ, XDG_DATA_HOME=os.path.join(
            self.folder, "xdg-data")))

    def run_command(self, *argv):
        """Run ``lethean peers ARGV --data-dir FOLDER``; returns (status, stdout)."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        args = build_parser().parse_args(["peers", *argv, "--data-dir", self.folder])
        return args.func(args), out.getvalue()

    def reload(self):
        """The registry a node would load from the folder now."""
        return PeerRegistry(Clock(), os.path.join(self.folder, "peers.json"))

    def test_add_then_list(self):
        """add registers the peer under the id its key implies; list shows it."""
        status, _ = self.run_command("add", "127.0.0.1:9091", "--public-key",
                                     self.key.public_key_b64, "--name", "bravo",
                                     "--role", "worker")
        self.assertEqual(status, 0)
        peer = self.reload().get_peer(self.key.node_id)
        self.assertEqual((peer.name, peer.address, peer.role),
                         ("bravo", "127.0.0.1:9091", "worker"))
        self.assertIsNotNone(peer.added_at)
        status, out = self.run_command("list", "--json")
        self.assertEqual(status, 0)
        self.assertEqual([p["id"] for p in json.loads(out)], [self.key.node_id])
        status, out = self.run_command("list")
        self.assertIn("bravo", out.splitlines()[1])

    def test_empty_list(self):
        """An empty registry lists as 'no peers', or [] in JSON."""
        self.assertEqual(self.run_command("list"), (0, "no peers\n"))
        self.assertEqual(json.loads(self.run_command("list", "--json")[1]), [])

    def test_remove(self):
        """remove forgets the peer; an unknown id is a lethean error."""
        self.run_command("add", "h:1", "--public-key", self.key.public_key_b64)
        self.assertEqual(self.run_command("remove", self.key.node_id)[0], 0)
        self.assertIsNone(self.reload().get_peer(self.key.node_id))
        self.assertRaises(PeerNotFoundError, self.run_command, "remove", self.key.node_id)

    def test_allow_revoke_and_auth(self):
        """allow/revoke edit the allowlist; auth sets and shows the saved mode."""
        self.run_command("allow", self.key.public_key_b64)
        self.assertTrue(self.reload().is_public_key_allowed(self.key.public_key_b64))
        self.run_command("revoke", self.key.public_key_b64)
        self.assertFalse(self.reload().is_public_key_allowed(self.key.public_key_b64))
        self.assertEqual(self.run_command("auth", "allowlist")[0], 0)
        self.assertEqual(self.reload().auth_mode, AuthMode.ALLOWLIST)
        status, out = self.run_command("auth", "--json")
        self.assertEqual(json.loads(out), {"auth": "allowlist"})

    def test_bad_key_is_refused(self):
        """A key that is not 32 bytes of base64 is refused and nothing is written."""
        from lethean.errors import LetheanError

        self.assertRaises(LetheanError, self.run_command, "add", "h:1", "--public-key", "AAAA")
        self.assertEqual(self.reload().list_peers(), [])


class PeersMistakesTests(SynchronousTestCase):
    """Mistakes end in one line and the documented status, and change nothing."""

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.key = PrivateKey.generate()
        # The command's own registry (read with no node running) is the test's.
        self.patch(os, "environ", dict(os.environ, XDG_DATA_HOME=os.path.join(
            self.folder, "xdg-data")))

    def main(self, *argv, folder=None):
        """``lethean peers ARGV`` through main(); (status, stdout, stderr)."""
        from lethean.cli import main

        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        with self.assertRaises(SystemExit) as caught:
            main(["peers", *argv, "--data-dir", folder or self.folder])
        return caught.exception.code, out.getvalue(), err.getvalue()

    def test_unwritable_folder_is_one_line(self):
        """A data folder that cannot be written: one line naming the file and the fix."""
        a_file = os.path.join(self.folder, "file")
        open(a_file, "w").close()
        status, out, err = self.main("allow", self.key.public_key_b64,
                                     folder=os.path.join(a_file, "node"))
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("cannot write", err)
        self.assertIn("run the command as the user that owns", err)

    def test_bad_keys_are_usage_errors(self):
        """A value that is not a public key is a usage error (2) for allow, revoke and add."""
        for argv in (["allow", "notakey"], ["revoke", "notakey"],
                     ["add", "127.0.0.1:9", "--public-key", "notakey"]):
            status, out, err = self.main(*argv)
            self.assertEqual(status, 2, (argv, err))
            self.assertIn("lethean identity show", err)
        self.assertEqual(os.listdir(self.folder), [])

    def test_remove_by_name_or_prefix(self):
        """remove takes an id prefix or a name, as every target does."""
        for name in ("bravo", "charlie"):
            key = PrivateKey.generate()
            self.main("add", "10.0.0.1:9091", "--public-key", key.public_key_b64,
                      "--name", name)
            if name == "bravo":
                bravo = key.node_id
        status, out, _ = self.main("remove", "bravo")
        self.assertEqual((status, out), (0, "removed {}\n".format(bravo)))
        status, out, err = self.main("remove", "zulu")
        self.assertEqual(status, 1)
        self.assertIn("lethean peers list", err)
