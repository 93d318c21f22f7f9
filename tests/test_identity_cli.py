"""``lethean identity``: show and create the node identity from the command line."""

import io
import json
import os
import stat
import sys

from twisted.trial.unittest import SynchronousTestCase

from lethean.cli._main import build_parser, describe_error
from lethean.identity import (
    IdentityExistsError,
    InsecureKeyFileError,
    InvalidNodeNameError,
    NodeManager,
    NoIdentityError,
)


class IdentityCommandTests(SynchronousTestCase):
    """Each command prints JSON, never the key, and maps failures to lethean errors."""

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())

    def run_command(self, *argv):
        """Run ``lethean ARGV``; returns (status, parsed JSON output)."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        args = build_parser().parse_args(list(argv) + ["--json"])
        status = args.func(args)
        return status, json.loads(out.getvalue())

    def test_new_then_show(self):
        """new writes the identity and prints it; show prints the same thing."""
        status, created = self.run_command("identity", "new", "--data-dir", self.folder,
                                           "--name", "alpha", "--role", "worker")
        self.assertEqual(status, 0)
        self.assertEqual((created["name"], created["role"]), ("alpha", "worker"))
        self.assertEqual(created["keyPath"], os.path.join(self.folder, "private.key"))
        status, shown = self.run_command("identity", "show", "--data-dir", self.folder)
        self.assertEqual((status, shown), (0, created))
        self.assertEqual(list(shown)[:5], ["id", "name", "publicKey", "createdAt", "role"])

    def test_private_key_never_printed(self):
        """The output holds no form of the private key."""
        import base64
        _, created = self.run_command("identity", "new", "--data-dir", self.folder)
        secret = NodeManager.in_directory(self.folder).load().private_key.secret_bytes()
        text = json.dumps(created)
        self.assertNotIn(secret.hex(), text)
        self.assertNotIn(base64.b64encode(secret).decode(), text)

    def test_show_without_identity(self):
        """show fails with the 'no identity' error and its exit status."""
        args = build_parser().parse_args(["identity", "show", "--data-dir", self.folder])
        error = self.assertRaises(NoIdentityError, args.func, args)
        self.assertEqual(error.exit_code, 1)
        self.assertIn("lethean identity new", describe_error(error))

    def test_new_refuses_to_replace_without_force(self):
        """A second new fails unless --force is given, which changes the id."""
        _, first = self.run_command("identity", "new", "--data-dir", self.folder)
        args = build_parser().parse_args(["identity", "new", "--data-dir", self.folder])
        self.assertRaises(IdentityExistsError, args.func, args)
        _, second = self.run_command("identity", "new", "--data-dir", self.folder, "--force")
        self.assertNotEqual(first["id"], second["id"])

    def test_invalid_name(self):
        """A name peers would reject is refused up front."""
        args = build_parser().parse_args(["identity", "new", "--data-dir", self.folder,
                                          "--name", "node.example.com"])
        self.assertRaises(InvalidNodeNameError, args.func, args)

    def test_show_refusing_an_exposed_key(self):
        """--insecure-key refuse fails on a world-readable key; the default repairs it."""
        if os.name != "posix":  # pragma: no cover
            self.skipTest("file modes are POSIX-only")
        self.run_command("identity", "new", "--data-dir", self.folder)
        key = os.path.join(self.folder, "private.key")
        os.chmod(key, 0o644)
        args = build_parser().parse_args(["identity", "show", "--data-dir", self.folder,
                                          "--insecure-key", "refuse"])
        self.assertRaises(InsecureKeyFileError, args.func, args)
        self.run_command("identity", "show", "--data-dir", self.folder)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)

    def test_default_locations(self):
        """Without --data-dir the XDG locations are used."""
        self.patch(os, "environ", {"XDG_DATA_HOME": os.path.join(self.folder, "data"),
                                   "XDG_CONFIG_HOME": os.path.join(self.folder, "config")})
        _, created = self.run_command("identity", "new")
        self.assertEqual(created["keyPath"], os.path.join(
            self.folder, "data", "lethean-desktop", "node", "private.key"))
        self.assertEqual(created["identityPath"], os.path.join(
            self.folder, "config", "lethean-desktop", "node.json"))

    def test_help_explains_every_option(self):
        """--help of each command mentions every option."""
        for command, options in (("show", ["--data-dir", "--insecure-key"]),
                                 ("new", ["--data-dir", "--name", "--role", "--force"])):
            out = io.StringIO()
            self.patch(sys, "stdout", out)
            self.assertRaises(SystemExit, build_parser().parse_args, ["identity", command, "--help"])
            for option in options:
                self.assertIn(option, out.getvalue())
