"""Miner bundles: creation, extraction, the execute bit, and reading from files."""

import io
import json
import os
import stat
import struct

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.bundles import (
    Bundle,
    BundleFileError,
    BundleTooLargeError,
    ChecksumMismatchError,
    InvalidBundleError,
    InvalidBundleNameError,
    PasswordRequiredError,
    UnknownBundleTypeError,
    CorruptArchiveError,
    ExtractLimits,
    InvalidStimHeaderError,
    create_miner_bundle,
    create_miner_bundle_from_file,
    extract_miner_bundle,
)
from lethean.bundles._stim import (
    DEFAULT_TIM_CONFIG,
    open_stim,
    open_stim_lazily,
    parse_stim,
    seal_stim,
)
from lethean.bundles._tar import EMPTY_TAR, scan_tar, write_tar
from lethean.bundles._extract import extract_tar
from lethean.bundles._open import pick_miner
from lethean.bundles._create import read_miner
from lethean.bundles._stim import check_stim_header
from lethean.smsg import ContainerError, DecryptionError, decrypt, derive_key, pack_trix
from tests import strategies
from tests._bundles_miner import ELF, NONCES, outcome
from tests._paths import VECTORS


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

class ChangingFile(io.BytesIO):
    """A file whose content changes once its size has been taken."""

    def __init__(self, data, later):
        super().__init__(data)
        self.later = later

    def seek(self, offset, whence=io.SEEK_SET):
        position = super().seek(offset, whence)
        if whence == io.SEEK_SET and self.later is not None:
            here = self.tell()
            self.truncate(0)
            super().seek(0)
            self.write(self.later)
            super().seek(here)
            self.later = None
        return position


class CreateFromFileTests(SynchronousTestCase):
    """create_miner_bundle_from_file: create_miner_bundle's bytes, read a piece at a time."""

    def setUp(self):
        self.path = self.mktemp()
        self.content = os.urandom(3 * 1024 * 1024 + 17)  # several read pieces
        with open(self.path, "wb") as f:
            f.write(self.content)

    def test_same_bundle(self):
        """From a path or an open file, the bundle is create_miner_bundle's, byte for byte."""
        expected = create_miner_bundle("xmrig", self.content, "m", "pw", mtime=7, **NONCES)
        self.assertEqual(create_miner_bundle_from_file(
            self.path, "m", "pw", miner_name="xmrig", mtime=7, **NONCES), expected)
        with open(self.path, "rb") as f:
            self.assertEqual(create_miner_bundle_from_file(
                f, "m", "pw", miner_name="xmrig", mtime=7, **NONCES), expected)

    def test_from_the_current_position(self):
        """A file is read from where it stands to its end."""
        source = io.BytesIO(b"junk" + ELF)
        source.seek(4)
        bundle = create_miner_bundle_from_file(source, "m", "pw", mtime=0)
        self.assertEqual(scan_tar(open_stim(bundle.data, "pw").rootfs)[0].size, len(ELF))

    def test_file_names(self):
        """The miner is named after the file, or 'miner' for a file without a name."""
        self.assertEqual(scan_tar(open_stim(create_miner_bundle_from_file(
            self.path, "m", "pw").data, "pw").rootfs)[0].path, os.path.basename(self.path))
        self.assertEqual(scan_tar(open_stim(create_miner_bundle_from_file(
            io.BytesIO(ELF), "m", "pw").data, "pw").rootfs)[0].path, "miner")

    def test_refusals(self):
        """Missing or oversized files fail as read_miner; bad arguments as create_miner_bundle."""
        self.assertEqual(outcome(create_miner_bundle_from_file, self.path + ".missing", "m", "pw"),
                         outcome(read_miner, self.path + ".missing"))
        self.assertEqual(
            outcome(create_miner_bundle_from_file, self.path, "m", "pw", max_bytes=10),
            outcome(read_miner, self.path, max_bytes=10))
        cases = [
            (("xmrig", "../m", "pw"), {}),
            (("a/b", "m", "pw"), {}),
            (("xmrig", "m", ""), {}),
            (("xmrig", "m", "pw"), {"bundle_type": "profile"}),
            (("xmrig", "m", "pw"), {"profile_json": b"{"}),
        ]
        for (miner_name, name, password), extra in cases:
            expected = outcome(create_miner_bundle, miner_name, ELF, name, password, **extra)
            self.assertIsInstance(expected[0], type)
            self.assertEqual(outcome(create_miner_bundle_from_file, io.BytesIO(ELF), name,
                                     password, miner_name=miner_name, **extra), expected)

    def test_file_changing_while_read(self):
        """A file that shrinks or grows while it is read is refused, not half sealed."""
        for later in (ELF[:100], ELF + b"more"):
            source = ChangingFile(ELF, later)
            self.assertRaises(BundleFileError, create_miner_bundle_from_file, source, "m", "pw")


def reference_open_stim(data, password):
    """open_stim as it was before it streamed: whole-part decrypt, same order."""
    if not password:
        raise PasswordRequiredError("the bundle is encrypted: a password is required")
    key = derive_key(password)
    layout = parse_stim(data)
    config = decrypt(key, layout.config_part)
    rootfs = decrypt(key, layout.rootfs_part)
    check_stim_header(layout)
    return config, rootfs


def lazy_open_stim(data, password):
    tim = open_stim_lazily(data, password)
    return tim.config, tim.rootfs.read_all()


class LazyOpenTests(SynchronousTestCase):
    """open_stim_lazily opens and refuses exactly what whole-part decryption does."""

    @settings(max_examples=100)
    @given(st.binary(max_size=300), st.binary(max_size=3000), st.sampled_from(["pw", "", "no"]),
           st.lists(st.tuples(st.integers(0, 10 ** 5), st.integers(0, 255)), max_size=3),
           st.integers(0, 10 ** 5))
    def test_same_outcome(self, config, rootfs, password, flips, cut):
        """Any STIM, bit-flipped or cut, with any password: the same result or error."""
        stim = bytearray(seal_stim(config, rootfs, "pw"))
        for where, value in flips:
            stim[where % len(stim)] = value
        if cut % 3 == 0:
            stim = stim[:cut % (len(stim) + 1)]
        stim = bytes(stim)
        self.assertEqual(outcome(lazy_open_stim, stim, password),
                         outcome(reference_open_stim, stim, password))

    def test_header_checked_last(self):
        """A header that disagrees with the parts is refused after decryption."""
        stim = seal_stim(b"{}", EMPTY_TAR, "pw")
        layout = parse_stim(stim)
        bad = pack_trix(b"STIM", dict(layout.header, version="2.0"), struct.pack(
            ">I", len(layout.config_part)) + layout.config_part + layout.rootfs_part)
        self.assertRaises(InvalidStimHeaderError, open_stim_lazily, bad, "pw")
        self.assertRaises(DecryptionError, open_stim_lazily, bad, "wrong")

    def test_rootfs_read_from_the_container(self):
        """The rootfs is read from the container as needed (its size is known at once)."""
        rootfs = write_tar([("xmrig", ELF)], mtime=0)
        tim = open_stim_lazily(seal_stim(b"{}", rootfs, "pw"), "pw")
        self.assertEqual(tim.rootfs.size, len(rootfs))
        with tim.rootfs.open() as f:
            self.assertEqual(scan_tar(f), scan_tar(rootfs))


class ExtractFromFileTests(SynchronousTestCase):
    """The rootfs may be a seekable file: the same members, files and refusals."""

    @settings(max_examples=30)
    @given(strategies.bundle_tree_files)
    def test_same_tree(self, files):
        """A tar read from a file extracts as the same tar held in memory."""
        rootfs = write_tar(files, mtime=0)
        from_bytes = extract_tar(rootfs, os.path.abspath(self.mktemp()))
        from_file = extract_tar(io.BytesIO(rootfs), os.path.abspath(self.mktemp()))
        self.assertEqual(from_bytes.files, from_file.files)
        for path in from_bytes.files:
            with open(os.path.join(from_bytes.root, path), "rb") as a, \
                    open(os.path.join(from_file.root, path), "rb") as b:
                self.assertEqual(a.read(), b.read())
        self.assertEqual(pick_miner(io.BytesIO(rootfs), scan_tar(rootfs)),
                         pick_miner(rootfs, scan_tar(rootfs)))

    def test_same_refusals(self):
        """A cut or oversized archive is refused from a file as from bytes."""
        rootfs = write_tar([("xmrig", ELF)], mtime=0)
        limits = ExtractLimits(max_member_bytes=10)
        for data, kwargs in ((rootfs[:600], {}), (rootfs, {"limits": limits}), (b"x" * 700, {})):
            self.assertEqual(outcome(scan_tar, io.BytesIO(data), **kwargs),
                             outcome(scan_tar, data, **kwargs))
        self.assertRaises(CorruptArchiveError, extract_tar, io.BytesIO(rootfs[:600]),
                          os.path.abspath(self.mktemp()))
