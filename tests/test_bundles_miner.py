"""Miner bundles: creation, extraction, the execute bit and the thread wrappers."""

import json
import os
import stat

from hypothesis import given, settings, strategies as st
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.bundles import (
    DEFAULT_TIM_CONFIG,
    Bundle,
    BundleFileError,
    BundleTooLargeError,
    ChecksumMismatchError,
    InvalidBundleError,
    InvalidBundleNameError,
    PasswordRequiredError,
    UnknownBundleTypeError,
    create_miner_bundle,
    create_miner_bundle_in_thread,
    create_profile_bundle_in_thread,
    extract_miner_bundle,
    extract_miner_bundle_in_thread,
    extract_profile_bundle_in_thread,
    install_miner_bundle_in_thread,
    open_stim,
    pick_miner,
    read_miner,
    read_miner_in_thread,
    scan_tar,
    seal_stim,
    write_tar,
)
from lethean.smsg import ContainerError, DecryptionError
from tests import strategies
from tests._paths import VECTORS

ELF = b"\x7fELF\x02\x01\x01" + bytes(300)


class CreateMinerTests(SynchronousTestCase):
    """create_miner_bundle lays the rootfs out as the reference does."""

    def test_layout(self):
        """One 0600 entry named after the binary, config = default TIM config."""
        bundle = create_miner_bundle("xmrig", ELF, "m", "pw", mtime=1795528099)
        self.assertEqual(bundle.type, "miner")
        tim = open_stim(bundle.data, "pw")
        self.assertEqual(tim.config, DEFAULT_TIM_CONFIG)
        self.assertEqual(tim.rootfs, write_tar([("xmrig", ELF)], mtime=1795528099, mode=0o600))
        [member] = scan_tar(tim.rootfs)
        self.assertEqual((member.path, member.mode), ("xmrig", 0o600))

    def test_profile_becomes_config(self):
        """A supplied profile replaces the default config."""
        bundle = create_miner_bundle("xmrig", ELF, "m", "pw", profile_json=b'{"a":1}')
        self.assertEqual(open_stim(bundle.data, "pw").config, b'{"a":1}')

    def test_full_type(self):
        """The full type is created like a miner."""
        self.assertEqual(create_miner_bundle("x", ELF, "m", "pw", bundle_type="full").type, "full")
        self.assertRaises(InvalidBundleError, create_miner_bundle, "x", ELF, "m", "pw",
                          bundle_type="profile")

    def test_bad_names(self):
        """Unsafe bundle names and miner file names are refused at creation."""
        self.assertRaises(InvalidBundleNameError, create_miner_bundle, "x", ELF, "../m", "pw")
        for miner_name in ("", ".", "..", "a/b", "a\\b"):
            self.assertRaises(InvalidBundleError, create_miner_bundle, miner_name, ELF, "m", "pw")

    def test_password_required(self):
        """A miner bundle is always encrypted."""
        self.assertRaises(PasswordRequiredError, create_miner_bundle, "x", ELF, "m", "")

    def test_read_miner(self):
        """read_miner returns the base name and content, and refuses oversize files."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(ELF)
        self.assertEqual(read_miner(path), (os.path.basename(path), ELF))
        self.assertRaises(BundleTooLargeError, read_miner, path, max_bytes=10)
        self.assertRaises(BundleFileError, read_miner, path + ".missing")


class ExtractMinerTests(SynchronousTestCase):
    """extract_miner_bundle fixes the reference's empty miner path."""

    def setUp(self):
        self.dest = os.path.abspath(self.mktemp())

    def test_vector_bundle(self):
        """The reference's miner bundle extracts with its binary executable."""
        with (VECTORS / "bundles.json").open("rb") as f:
            vector = json.load(f)["miner_bundle"]
        bundle = Bundle.from_json(vector["bundle_json"].encode())
        result = extract_miner_bundle(bundle, vector["password"], self.dest)
        self.assertEqual(result.miner_path, os.path.join(self.dest, "xmrig"))
        self.assertEqual(stat.S_IMODE(os.stat(result.miner_path).st_mode), 0o700)
        with open(result.miner_path, "rb") as f:
            self.assertEqual(f.read().hex(), vector["miner_content_hex"])
        self.assertEqual(result.profile_json, vector["expected_config_utf8"].encode())

    def test_default_config_is_not_a_profile(self):
        """A bundle made without a profile reports no profile to save."""
        bundle = create_miner_bundle("xmrig", ELF, "m", "pw")
        result = extract_miner_bundle(bundle, "pw", self.dest)
        self.assertEqual(result.config, DEFAULT_TIM_CONFIG)
        self.assertIsNone(result.profile_json)

    def test_execute_bit_in_archive_kept(self):
        """A file stored executable keeps its mode and is the miner."""
        rootfs = write_tar([("README", b"text")], mtime=0)[:-1024] + write_tar(
            [("bin/xmrig", ELF)], mtime=0, mode=0o755)
        bundle = Bundle.seal("full", "m", seal_stim(b"{}", rootfs, "pw"))
        result = extract_miner_bundle(bundle, "pw", self.dest)
        self.assertEqual(result.miner_path, os.path.join(self.dest, "bin", "xmrig"))
        self.assertEqual(stat.S_IMODE(os.stat(result.miner_path).st_mode), 0o755)
        readme = os.path.join(self.dest, "README")
        self.assertEqual(stat.S_IMODE(os.stat(readme).st_mode), 0o600)

    def test_no_miner(self):
        """A rootfs of JSON files only has no miner path."""
        rootfs = write_tar([("a.json", b"{}"), ("b.json", b" [1]")], mtime=0)
        bundle = Bundle.seal("miner", "m", seal_stim(b"{}", rootfs, "pw"))
        self.assertIsNone(extract_miner_bundle(bundle, "pw", self.dest).miner_path)

    def test_checksum_first(self):
        """A damaged bundle is refused before decryption and writes nothing."""
        bundle = create_miner_bundle("xmrig", ELF, "m", "pw")
        damaged = Bundle(bundle.type, bundle.name, bundle.data, bundle.checksum.upper())
        self.assertRaises(ChecksumMismatchError, extract_miner_bundle, damaged, "pw", self.dest)
        self.assertFalse(os.path.exists(self.dest))

    def test_wrong_password(self):
        """A wrong password writes nothing."""
        bundle = create_miner_bundle("xmrig", ELF, "m", "pw")
        self.assertRaises(DecryptionError, extract_miner_bundle, bundle, "nope", self.dest)
        self.assertFalse(os.path.exists(self.dest))

    def test_plain_miner_is_not_a_container(self):
        """A miner bundle holding plain JSON fails like the reference: not a STIM."""
        bundle = Bundle.seal("miner", "m", b'{"a":1}')
        self.assertRaises(ContainerError, extract_miner_bundle, bundle, "pw", self.dest)

    def test_unknown_type_rejected_at_parse(self):
        """A bundle of an unknown type never becomes a Bundle."""
        self.assertRaises(UnknownBundleTypeError, Bundle, "other", "m", b"", "")

    @settings(max_examples=25, deadline=None)
    @given(strategies.bundle_names, st.binary(min_size=1, max_size=3000),
           st.text(min_size=1, max_size=12))
    def test_round_trip(self, name, content, password):
        """Any binary comes back byte for byte, executable."""
        content = b"\x7fELF" + content
        bundle = Bundle.from_json(create_miner_bundle("miner", content, name, password).to_json())
        dest = os.path.abspath(self.mktemp())
        result = extract_miner_bundle(bundle, password, dest)
        with open(result.miner_path, "rb") as f:
            self.assertEqual(f.read(), content)
        self.assertTrue(os.stat(result.miner_path).st_mode & stat.S_IXUSR)


class PickMinerTests(SynchronousTestCase):
    """pick_miner: execute bit first, else the first non-JSON file."""

    def pick(self, files, mode=0o600):
        rootfs = write_tar(files, mtime=0, mode=mode)
        return pick_miner(rootfs, scan_tar(rootfs))

    def test_first_non_json(self):
        """With every file 0600, the first non-JSON file is the miner."""
        self.assertEqual(self.pick([("config.json", b"{}"), ("xmrig", ELF)]), "xmrig")

    def test_none(self):
        """No files, or only JSON, means no miner."""
        self.assertIsNone(self.pick([]))
        self.assertIsNone(self.pick([("a", b"[]")]))


class ThreadWrapperTests(TestCase):
    """The *_in_thread wrappers run in the reactor's pool and return Deferreds."""

    async def test_profile_round_trip(self):
        """Create and extract a profile off the reactor thread."""
        bundle = await create_profile_bundle_in_thread(reactor, b'{"a":1}', "p", "pw")
        self.assertEqual(await extract_profile_bundle_in_thread(reactor, bundle, "pw"),
                         b'{"a":1}')

    async def test_miner_round_trip(self):
        """Read, create, extract and install a miner off the reactor thread."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(ELF)
        miner_name, content = await read_miner_in_thread(reactor, path)
        bundle = await create_miner_bundle_in_thread(reactor, miner_name, content, "m", "pw")
        result = await extract_miner_bundle_in_thread(
            reactor, bundle, "pw", os.path.abspath(self.mktemp()))
        self.assertTrue(os.access(result.miner_path, os.X_OK))
        installed = await install_miner_bundle_in_thread(
            reactor, bundle, "pw", os.path.abspath(self.mktemp()))
        self.assertEqual(os.path.basename(installed.root), "m")

    async def test_errors_arrive_as_failures(self):
        """An extraction error fails the Deferred with our error."""
        bundle = Bundle.seal("miner", "m", b"not a stim")
        with self.assertRaises(PasswordRequiredError):
            await extract_miner_bundle_in_thread(reactor, bundle, "", self.mktemp())
