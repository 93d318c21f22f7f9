"""``lethean bundle``: create, inspect and extract from the command line."""

import io
import json
import os
import stat
import sys

from twisted.trial.unittest import SynchronousTestCase

from lethean.bundles import (
    Bundle,
    BundleFileError,
    MemberTooLargeError,
    PasswordRequiredError,
    PlaintextRefusedError,
    UnsafeDestinationError,
)
from lethean.smsg import DecryptionError
from lethean.cli import _bundle
from lethean.cli._main import build_parser, describe_error

ELF = b"\x7fELF" + bytes(100)


class BundleCommandTests(SynchronousTestCase):
    """Each command prints JSON and maps failures to lethean errors."""

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.environ = {}
        self.patch(os, "environ", self.environ)
        self.write("xmrig", ELF)
        self.write("profile.json", b'{"id":"p"}')
        self.write("password", b"s3cret\n")

    def path(self, name):
        return os.path.join(self.folder, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)

    def run_command(self, *argv):
        """Run ``lethean ARGV``; returns (status, stdout bytes)."""
        out = io.BytesIO()
        text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        self.patch(sys, "stdout", text)
        args = build_parser().parse_args(list(argv))
        status = args.func(args)
        text.flush()
        return status, out.getvalue()

    def run_json(self, *argv):
        status, out = self.run_command(*argv, "--json")
        self.assertEqual(status, 0)
        return json.loads(out)

    def test_profile_round_trip_with_password_file(self):
        """create profile -> extract with --password-file writes the profile."""
        created = self.run_json("bundle", "create", "profile", self.path("profile.json"),
                                "--name", "p", "--password-file", self.path("password"),
                                "-o", self.path("p.bundle"))
        self.assertEqual((created["type"], created["encrypted"]), ("profile", True))
        result = self.run_json("bundle", "extract", self.path("p.bundle"), self.path("out.json"),
                               "--password-file", self.path("password"))
        self.assertEqual(result["profile_file"], self.path("out.json"))
        with open(self.path("out.json"), "rb") as f:
            self.assertEqual(f.read(), b'{"id":"p"}')

    def test_create_to_stdout(self):
        """Without -o the bundle JSON itself goes to stdout."""
        self.environ[_bundle.PASSWORD_ENV] = "s3cret"
        status, out = self.run_command("bundle", "create", "profile", self.path("profile.json"),
                                       "--name", "p")
        self.assertEqual(status, 0)
        bundle = Bundle.from_json(out)
        bundle.verify()
        self.assertTrue(out.endswith(b"}\n"))

    def test_miner_round_trip_with_env_password(self):
        """create miner -> inspect -> extract using --password-env."""
        self.environ["MY_PW"] = "s3cret"
        self.run_json("bundle", "create", "miner", self.path("xmrig"), "--name", "xmrig-1",
                      "--profile", self.path("profile.json"), "--password-env", "MY_PW",
                      "-o", self.path("m.bundle"))
        outer = self.run_json("bundle", "inspect", self.path("m.bundle"))
        self.assertEqual((outer["name"], outer["decrypted"]), ("xmrig-1", False))
        inner = self.run_json("bundle", "inspect", self.path("m.bundle"), "--password-env", "MY_PW")
        self.assertEqual(inner["files"], [{"path": "xmrig", "size": len(ELF), "mode": "0600"}])
        result = self.run_json("bundle", "extract", self.path("m.bundle"), self.path("dest"),
                               "--password-env", "MY_PW")
        self.assertEqual(result["miner_path"], os.path.join(self.path("dest"), "xmrig"))
        self.assertTrue(os.stat(result["miner_path"]).st_mode & stat.S_IXUSR)
        self.assertEqual(result["profile"], '{"id":"p"}')

    def test_extract_refuses_existing_destination(self):
        """A non-empty destination needs --replace."""
        self.environ[_bundle.PASSWORD_ENV] = "pw"
        self.run_json("bundle", "create", "miner", self.path("xmrig"), "--name", "m",
                      "-o", self.path("m.bundle"))
        os.makedirs(self.path("dest"))
        self.write("dest/keep", b"")
        error = self.assertRaises(UnsafeDestinationError, self.run_command, "bundle", "extract",
                                  self.path("m.bundle"), self.path("dest"))
        self.assertIn("pass --replace", describe_error(error))
        self.run_json("bundle", "extract", self.path("m.bundle"), self.path("dest"), "--replace")
        self.assertEqual(os.listdir(self.path("dest")), ["xmrig"])

    def test_plain_profile_needs_allow_plain(self):
        """Extracting a plain profile needs --allow-plain."""
        self.run_json("bundle", "create", "profile", self.path("profile.json"), "--name", "p",
                      "--plain", "-o", self.path("plain.bundle"))
        error = self.assertRaises(PlaintextRefusedError, self.run_command, "bundle", "extract",
                                  self.path("plain.bundle"), self.path("out.json"))
        self.assertIn("plaintext", describe_error(error))
        self.run_json("bundle", "extract", self.path("plain.bundle"), self.path("out.json"),
                      "--allow-plain")

    def test_missing_password(self):
        """Creating an encrypted bundle without any password source fails cleanly."""
        self.assertRaises(PasswordRequiredError, self.run_command, "bundle", "create", "profile",
                          self.path("profile.json"), "--name", "p")
        self.assertRaises(PasswordRequiredError, self.run_command, "bundle", "create", "miner",
                          self.path("xmrig"), "--name", "m", "--password-env", "UNSET")

    def test_wrong_password(self):
        """A wrong password is a decryption error, and nothing is written."""
        self.run_json("bundle", "create", "miner", self.path("xmrig"), "--name", "m",
                      "--password", "right", "-o", self.path("m.bundle"))
        self.assertRaises(DecryptionError, self.run_command, "bundle", "extract",
                          self.path("m.bundle"), self.path("dest"), "--password", "wrong")
        self.assertFalse(os.path.exists(self.path("dest")))

    def test_missing_file(self):
        """A bundle file that does not exist is a file error, not a traceback."""
        self.assertRaises(BundleFileError, self.run_command, "bundle", "inspect",
                          self.path("nope"))

    def test_limits_from_options(self):
        """--max-file-bytes is applied to the archive."""
        self.run_json("bundle", "create", "miner", self.path("xmrig"), "--name", "m",
                      "--password", "pw", "-o", self.path("m.bundle"))
        self.assertRaises(MemberTooLargeError, self.run_command, "bundle", "extract",
                          self.path("m.bundle"), self.path("dest"), "--password", "pw",
                          "--max-file-bytes", "10")
        self.assertFalse(os.path.exists(self.path("dest")))

    def test_help_explains_every_option(self):
        """Every option of every bundle command has help text."""
        parser = build_parser()
        for argv in (["bundle", "extract"], ["bundle", "inspect"],
                     ["bundle", "create", "miner"], ["bundle", "create", "profile"]):
            sub = parser
            for word in argv:
                sub = next(a for a in sub._actions if a.dest in (
                    "command", "bundle_command", "bundle_kind")).choices[word]
            for action in sub._actions:
                self.assertTrue(action.help, "{} {} has no help".format(argv, action.dest))
