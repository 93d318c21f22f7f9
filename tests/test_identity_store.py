"""Identity files: locations, permissions, atomic writes, cross-checks (lethean.identity._store)."""

import os
import stat

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from twisted.internet.testing import EventLoggingObserver

from lethean.identity import (
    IdentityExistsError,
    IdentityFileError,
    IdentityMismatchError,
    InsecureKeyFileError,
    InvalidNodeNameError,
    LocalIdentity,
    NoIdentityError,
    NodeManager,
    PrivateKey,
    default_identity_path,
    default_key_path,
    validate_node_name,
)
from lethean.identity import _store
from lethean.smsg import Timestamp

PRIVATE_A = bytes.fromhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
NODE_JSON_A = (b'{\n  "id": "aaa8fff703b50b2297f4f6e13508f724",\n  "name": "alpha",\n'
               b'  "publicKey": "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw=",\n'
               b'  "createdAt": "2026-01-02T03:04:05.12Z",\n  "role": "dual"\n}')


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class StoreTestCase(SynchronousTestCase):
    """A manager in a fresh folder, with umask 0 so modes are not masked."""

    def setUp(self):
        if os.name != "posix":  # pragma: no cover
            self.skipTest("file modes are POSIX-only")
        self.folder = FilePath(self.mktemp())
        self.clock = Clock()
        self.clock.advance(1767323045.12)
        self.manager = NodeManager.in_directory(self.folder.child("node").path, clock=self.clock)
        old = os.umask(0)
        self.addCleanup(os.umask, old)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def save_alpha(self, manager=None):
        local = LocalIdentity.create(PrivateKey(PRIVATE_A), "alpha", "dual",
                                     Timestamp.parse("2026-01-02T03:04:05.12Z"))
        (manager or self.manager).save(local)
        return local


class LocationTests(SynchronousTestCase):
    """The reference's XDG locations."""

    def test_xdg_variables_win(self):
        """$XDG_DATA_HOME and $XDG_CONFIG_HOME place the files as adrg/xdg does."""
        self.patch(os, "environ", {"XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c", "HOME": "/h"})
        self.assertEqual(default_key_path(), os.path.join("/d", "lethean-desktop", "node", "private.key"))
        self.assertEqual(default_identity_path(), os.path.join("/c", "lethean-desktop", "node.json"))

    def test_platform_defaults(self):
        """Without the variables (or with relative ones) the platform's folders are used."""
        import platformdirs
        self.patch(os, "environ", {"XDG_DATA_HOME": "relative", "HOME": os.environ.get("HOME", "/")})
        self.patch(platformdirs, "user_data_dir", lambda: "/data")
        self.patch(platformdirs, "user_config_dir", lambda: "/config")
        self.assertEqual(default_key_path(), os.path.join("/data", "lethean-desktop", "node", "private.key"))
        self.assertEqual(default_identity_path(), os.path.join("/config", "lethean-desktop", "node.json"))

    def test_manager_defaults(self):
        """A manager without paths uses the default locations."""
        self.patch(os, "environ", {"XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c"})
        manager = NodeManager()
        self.assertEqual((manager.key_path, manager.identity_path),
                         (default_key_path(), default_identity_path()))
        self.assertRaises(ValueError, NodeManager, insecure_key="ignore")


class GenerateTests(StoreTestCase):
    """Creating and saving identities."""

    def test_generate(self):
        """A new identity is dual, named after the host, stamped by the clock, and loads back."""
        local = self.manager.generate()
        self.assertEqual(local.identity.role, "dual")
        validate_node_name(local.identity.name)
        self.assertEqual(str(local.identity.created_at), "2026-01-02T03:04:05.12Z")
        self.assertEqual(local.id, local.private_key.node_id)
        self.assertIs(self.manager.local, local)
        self.assertEqual(self.manager.load(), local)

    def test_modes(self):
        """The key file is 0600, node.json 0644, a created folder 0700."""
        self.manager.generate(name="alpha")
        self.assertEqual(mode_of(self.manager.key_path), 0o600)
        self.assertEqual(mode_of(self.manager.identity_path), 0o644)
        self.assertEqual(mode_of(os.path.dirname(self.manager.key_path)), 0o700)

    def test_key_file_private_from_creation(self):
        """The key file is created 0600 with O_EXCL and is never readable by others, even briefly."""
        opened, written = [], []
        real_open, real_write = os.open, os.write

        def spy_open(path, flags, mode=0o777, *args, **kwargs):
            fd = real_open(path, flags, mode, *args, **kwargs)
            opened.append((path, flags, mode, fd))
            return fd

        def spy_write(fd, data):
            written.append((fd, bytes(data), stat.S_IMODE(os.fstat(fd).st_mode)))
            return real_write(fd, data)

        self.patch(os, "open", spy_open)
        self.patch(os, "write", spy_write)
        local = self.manager.generate(name="alpha")
        secret = local.private_key.secret_bytes()
        key_writes = [mode for fd, data, mode in written if secret in data]
        self.assertEqual(key_writes, [0o600])
        creations = [(flags, mode) for path, flags, mode, fd in opened
                     if os.path.dirname(path) == os.path.dirname(self.manager.key_path)
                     and "private.key" in path]
        self.assertEqual(len(creations), 1)
        flags, mode = creations[0]
        self.assertEqual(mode, 0o600)
        self.assertTrue(flags & os.O_CREAT and flags & os.O_EXCL)

    def test_writes_are_fsynced_and_renamed(self):
        """Both files are fsynced and renamed into place; the folder is fsynced too."""
        synced, replaced = [], []
        real_fsync, real_replace = os.fsync, os.replace
        self.patch(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
        self.patch(os, "replace", lambda a, b: (replaced.append(b), real_replace(a, b))[1])
        self.manager.generate(name="alpha")
        self.assertEqual(replaced, [self.manager.key_path, self.manager.identity_path])
        self.assertEqual(len(synced), 4)

    def test_failed_write_leaves_old_files(self):
        """A write that fails leaves the old file and no temporary file behind."""
        self.save_alpha()
        before = FilePath(self.manager.identity_path).getContent()

        def broken_write(fd, data):
            raise OSError("disk full")
        self.patch(os, "write", broken_write)
        error = self.assertRaises(IdentityFileError, self.manager.generate, name="beta", force=True)
        self.assertIn("disk full", str(error))
        self.assertEqual(FilePath(self.manager.identity_path).getContent(), before)
        self.assertEqual(sorted(os.listdir(os.path.dirname(self.manager.key_path))),
                         ["node.json", "private.key"])

    def test_node_json_bytes(self):
        """node.json is written exactly as the reference writes it."""
        self.save_alpha()
        self.assertEqual(FilePath(self.manager.identity_path).getContent(), NODE_JSON_A)
        self.assertEqual(FilePath(self.manager.key_path).getContent(), PRIVATE_A)

    def test_refuses_to_replace_without_force(self):
        """generate() keeps an existing identity unless forced (the node id would change)."""
        first = self.manager.generate(name="alpha")
        self.assertRaises(IdentityExistsError, self.manager.generate, name="beta")
        self.assertEqual(self.manager.load(), first)
        second = self.manager.generate(name="beta", force=True)
        self.assertNotEqual(second.id, first.id)
        self.assertEqual(self.manager.load(), second)

    def test_names_and_roles(self):
        """A chosen name must be a valid peer name; the role one of the three."""
        self.assertRaises(InvalidNodeNameError, self.manager.generate, name="node.example.com")
        self.assertRaises(ValueError, self.manager.generate, role="boss")
        self.assertFalse(self.manager.exists())
        self.assertEqual(self.manager.generate(name="w 1", role="worker").identity.role, "worker")

    def test_secret_never_logged(self):
        """No log event carries the private key, in any encoding."""
        import base64
        local = self.manager.generate(name="alpha")
        secret = local.private_key.secret_bytes()
        texts = [repr(event) for event in self.events]
        self.assertTrue(texts)
        for text in texts:
            self.assertNotIn(secret.hex(), text)
            self.assertNotIn(base64.b64encode(secret).decode(), text)
            self.assertNotIn(repr(secret)[2:20], text)
        self.assertNotIn(secret.hex(), repr(self.manager))
        self.assertNotIn(secret, FilePath(self.manager.identity_path).getContent())


class LoadTests(StoreTestCase):
    """Loading refuses damaged, exposed or mismatched files."""

    def test_no_identity(self):
        """Without node.json there is no identity."""
        error = self.assertRaises(NoIdentityError, self.manager.load)
        self.assertEqual(error.kind, "no_identity")

    def test_node_json_without_key(self):
        """node.json without its key is an error, not a reason to make a new key."""
        self.save_alpha()
        os.unlink(self.manager.key_path)
        self.assertRaises(IdentityFileError, self.manager.load)
        self.assertRaises(IdentityFileError, self.manager.load_or_create)

    def test_key_of_wrong_size(self):
        """A key file of any size but 32 bytes is refused."""
        self.save_alpha()
        for content in (b"", PRIVATE_A[:31], PRIVATE_A + b"\n"):
            FilePath(self.manager.key_path).setContent(content)
            os.chmod(self.manager.key_path, 0o600)
            self.assertRaises(IdentityFileError, self.manager.load)

    def test_unreadable_files(self):
        """Files we may not read give an IdentityFileError naming them."""
        import errno
        self.save_alpha()
        real_open = os.open

        def denied(path, *args, **kwargs):
            if path == self.manager.identity_path:
                raise PermissionError(errno.EACCES, "Permission denied")
            return real_open(path, *args, **kwargs)
        self.patch(os, "open", denied)
        error = self.assertRaises(IdentityFileError, self.manager.load)
        self.assertIn(self.manager.identity_path, str(error))
        self.assertIn("Permission denied", str(error))

    def test_key_not_a_regular_file(self):
        """A folder where the key should be is refused."""
        self.save_alpha()
        os.unlink(self.manager.key_path)
        os.mkdir(self.manager.key_path)
        self.assertRaises(IdentityFileError, self.manager.load)

    def test_corrupt_node_json(self):
        """A corrupt node.json is an error (the reference would silently replace the identity)."""
        self.save_alpha()
        for content in (b"", b"{", b"[]", b'{"id": 5}', b'{"createdAt": "soon"}', b"x" * 70000):
            FilePath(self.manager.identity_path).setContent(content)
            self.assertRaises(IdentityFileError, self.manager.load)
            self.assertRaises(IdentityFileError, self.manager.load_or_create)

    def test_node_json_of_another_key(self):
        """node.json from another node's key is refused (weakness 11)."""
        self.save_alpha()
        other = NodeManager.in_directory(self.folder.child("other").path, clock=self.clock)
        other.generate(name="beta")
        FilePath(other.identity_path).copyTo(FilePath(self.manager.identity_path))
        error = self.assertRaises(IdentityMismatchError, self.manager.load)
        self.assertEqual(error.kind, "identity_mismatch")

    def test_tampered_id(self):
        """An edited id in node.json is refused."""
        self.save_alpha()
        FilePath(self.manager.identity_path).setContent(
            NODE_JSON_A.replace(b"aaa8fff703b50b2297f4f6e13508f724", b"bc841db8fea3efd84555a7f8eeb92503"))
        self.assertRaises(IdentityMismatchError, self.manager.load)

    def test_exposed_key_repaired(self):
        """A group/world-readable key is chmod-ed to 0600 with a warning saying so."""
        self.save_alpha()
        os.chmod(self.manager.key_path, 0o644)
        self.manager.load()
        self.assertEqual(mode_of(self.manager.key_path), 0o600)
        [event] = [e for e in self.events if e.get("action") == "repaired"]
        self.assertEqual((event["path"], event["mode"]), (self.manager.key_path, "0644"))
        self.assertEqual(event["log_level"].name, "warn")
        self.assertIn("other users", event["reason"])

    def test_exposed_key_refused(self):
        """With insecure_key='refuse' the key is left alone and loading fails, with an error event."""
        manager = NodeManager.in_directory(self.folder.child("node").path, insecure_key="refuse")
        self.save_alpha(manager)
        os.chmod(manager.key_path, 0o640)
        error = self.assertRaises(InsecureKeyFileError, manager.load)
        self.assertEqual(error.kind, "insecure_key_file")
        self.assertEqual(mode_of(manager.key_path), 0o640)
        [event] = [e for e in self.events if e.get("action") == "refused"]
        self.assertEqual((event["mode"], event["log_level"].name), ("0640", "error"))

    def test_private_key_quiet_when_safe(self):
        """A 0600 key loads without any permission event."""
        self.save_alpha()
        self.manager.load()
        self.assertEqual([e for e in self.events if "action" in e], [])


class LoadOrCreateTests(StoreTestCase):
    """load_or_create and delete."""

    def test_creates_then_loads(self):
        """The first call creates, later calls load the same identity."""
        first = self.manager.load_or_create(name="alpha")
        again = NodeManager.in_directory(os.path.dirname(self.manager.key_path)).load_or_create()
        self.assertEqual(again, first)

    def test_rebuilds_missing_node_json_around_the_key(self):
        """A key without node.json keeps its node id; the rebuild is logged."""
        local = self.save_alpha()
        os.unlink(self.manager.identity_path)
        rebuilt = self.manager.load_or_create(name="alpha2")
        self.assertEqual((rebuilt.id, rebuilt.identity.name), (local.id, "alpha2"))
        self.assertEqual(self.manager.load(), rebuilt)
        self.assertTrue([e for e in self.events if e.get("reason") == "node.json missing"])

    def test_delete(self):
        """delete() removes both files and forgets the identity; twice is fine."""
        self.manager.generate(name="alpha")
        self.manager.delete()
        self.manager.delete()
        self.assertFalse(self.manager.exists())
        self.assertIsNone(self.manager.local)
        self.assertRaises(NoIdentityError, self.manager.load)

    def test_store_module_is_synchronous(self):
        """The store documents that it blocks, so callers know to use it at startup."""
        self.assertIn("block", _store.__doc__)
