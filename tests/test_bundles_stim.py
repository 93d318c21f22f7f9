"""STIM containers, profile bundles and inspection."""

import hashlib
import json
import struct

from hypothesis import given, settings, strategies as st
from twisted.logger import LogLevel, globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase

from lethean.bundles import (
    Bundle,
    ChecksumMismatchError,
    InvalidBundleError,
    InvalidStimHeaderError,
    InvalidStimPayloadError,
    PasswordRequiredError,
    PlaintextRefusedError,
    create_miner_bundle,
    create_plain_profile_bundle,
    create_profile_bundle,
    extract_profile_bundle,
    inspect_bundle,
)
from lethean.bundles._stim import DEFAULT_TIM_CONFIG, open_stim, parse_stim, seal_stim
from lethean.bundles._tar import EMPTY_TAR, scan_tar, write_tar
from lethean.bundles._bundle import checksum_of
from lethean.errors import LetheanError
from lethean.smsg import ContainerError, DecryptionError, pack_trix
from tests import strategies

#: The worked example of bundles.md section 3.3.
SPEC_NONCES = dict(config_nonce=bytes(range(0, 24)), rootfs_nonce=bytes(range(24, 48)))


def restamp(stim, header):
    """``stim`` with its header replaced (payload unchanged)."""
    header_length = struct.unpack(">I", stim[5:9])[0]
    return pack_trix(b"STIM", header, stim[9 + header_length:])


class SpecVectorTests(SynchronousTestCase):
    """The STIM worked example of bundles.md 3.3, byte for byte."""

    def setUp(self):
        self.stim = seal_stim(b'{"pool":"x"}', EMPTY_TAR, "pw", **SPEC_NONCES)

    def test_prefix_and_header(self):
        """Magic, version, header length and header text are the reference's."""
        self.assertEqual(self.stim[:9].hex(), "5354494d020000006a")
        self.assertEqual(
            self.stim[9:9 + 106],
            b'{"config_size":52,"encryption_algorithm":"chacha20poly1305",'
            b'"rootfs_size":1064,"tim":true,"version":"1.0"}')
        self.assertEqual(self.stim[115:119].hex(), "00000034")

    def test_config_part(self):
        """The sealed config is the documented 52 bytes."""
        self.assertEqual(
            self.stim[119:171].hex(),
            "000102030405060708090a0b0c0d0e0f1011121314151617"
            "1d95d5ee75c38a9b0ff34e9333f2d54c396bc8f35b874cb545f7aaf6")

    def test_length_and_checksum(self):
        """The whole container is 1,235 bytes with the documented SHA-256."""
        self.assertEqual(len(self.stim), 1235)
        self.assertEqual(
            checksum_of(self.stim),
            "c386375872314ffcc2311c4bcc4ada782f1d9a99b02037cefb0ca7103b8cd6d2")

    def test_opens(self):
        """Decrypting gives back the config and the 1,024-byte empty tar."""
        tim = open_stim(self.stim, "pw")
        self.assertEqual((tim.config, tim.rootfs), (b'{"pool":"x"}', EMPTY_TAR))


class StimReadTests(SynchronousTestCase):
    """open_stim's checks, in the reference's order, plus the header check."""

    def setUp(self):
        self.stim = seal_stim(b"{}", EMPTY_TAR, "pw")

    def test_empty_password(self):
        """An empty password is refused before anything is read."""
        self.assertRaises(PasswordRequiredError, open_stim, b"garbage", "")
        self.assertRaises(PasswordRequiredError, open_stim, self.stim, None)
        self.assertRaises(PasswordRequiredError, seal_stim, b"{}", EMPTY_TAR, "")

    def test_wrong_password(self):
        """A wrong password fails decryption."""
        self.assertRaises(DecryptionError, open_stim, self.stim, "not pw")

    def test_bad_magic(self):
        """Another magic is an invalid container."""
        error = self.assertRaises(ContainerError, open_stim, b"SMSG" + self.stim[4:], "pw")
        self.assertEqual(error.kind, "invalid_container")

    def test_payload_shorter_than_length_prefix(self):
        """A payload under 4 bytes is an invalid STIM payload."""
        stim = pack_trix(b"STIM", {}, b"\x00\x00\x00")
        self.assertRaises(InvalidStimPayloadError, open_stim, stim, "pw")

    def test_config_length_overruns(self):
        """A config length beyond the payload is an invalid STIM payload."""
        stim = pack_trix(b"STIM", {}, struct.pack(">I", 1000) + bytes(100))
        self.assertRaises(InvalidStimPayloadError, open_stim, stim, "pw")

    def test_header_sizes_must_match(self):
        """A header whose sizes disagree with the parts is refused (the reference ignores it)."""
        header = parse_stim(self.stim).header
        for key, value in [("config_size", 1), ("rootfs_size", 1), ("tim", False),
                           ("version", "2.0"), ("encryption_algorithm", "aes"),
                           ("config_size", str(header["config_size"])),
                           ("rootfs_size", True)]:
            bad = dict(header, **{key: value})
            error = self.assertRaises(InvalidStimHeaderError, open_stim, restamp(self.stim, bad), "pw")
            self.assertEqual(error.kind, "invalid_stim_header")
            self.assertIsInstance(error, InvalidStimPayloadError)

    def test_config_size_zero_fails_decryption(self):
        """A config length of 0 (header saying so or not) is decryption_failed, as in Go."""
        header = parse_stim(self.stim).header
        rest = self.stim[9 + struct.unpack(">I", self.stim[5:9])[0] + 4:]
        for stated in (dict(header, config_size=0), header,
                       dict(header, config_size=0, rootfs_size=len(rest))):
            stim = pack_trix(b"STIM", stated, struct.pack(">I", 0) + rest)
            error = self.assertRaises(DecryptionError, open_stim, stim, "pw")
            self.assertEqual(error.kind, "decryption_failed")

    def test_header_checked_after_decryption(self):
        """A wrong password wins over a header that disagrees with the parts."""
        bad = dict(parse_stim(self.stim).header, config_size=0, rootfs_size=1, tim=False)
        stim = restamp(self.stim, bad)
        self.assertRaises(DecryptionError, open_stim, stim, "not pw")
        self.assertRaises(InvalidStimHeaderError, open_stim, stim, "pw")

    def test_short_rootfs_part_fails_decryption(self):
        """A rootfs part shorter than nonce and tag fails decryption, whatever the header says."""
        layout = parse_stim(self.stim)
        payload = struct.pack(">I", len(layout.config_part)) + layout.config_part + bytes(39)
        for stated in (layout.header, dict(layout.header, rootfs_size=39)):
            self.assertRaises(DecryptionError, open_stim, pack_trix(b"STIM", stated, payload), "pw")

    def test_parse_does_not_judge_the_header(self):
        """parse_stim locates the parts of a STIM whatever its header says (Go ignores it)."""
        layout = parse_stim(restamp(self.stim, {"tim": False}))
        self.assertEqual(layout.header, {"tim": False})
        self.assertEqual(len(layout.config_part), 42)

    def test_each_part_authenticated(self):
        """Flipping a bit anywhere in either part fails decryption."""
        layout_start = len(self.stim) - len(parse_stim(self.stim).rootfs_part)
        for index in (130, layout_start + 30, len(self.stim) - 1):
            tampered = bytearray(self.stim)
            tampered[index] ^= 1
            self.assertRaises(DecryptionError, open_stim, bytes(tampered), "pw")

    @settings(max_examples=200)
    @given(st.binary(max_size=300))
    def test_random_bytes(self, data):
        """Random input raises only lethean errors."""
        for candidate in (data, b"STIM\x02" + data):
            try:
                open_stim(candidate, "pw")
            except LetheanError:
                pass

    @settings(max_examples=100)
    @given(st.data())
    def test_mutated_container(self, data):
        """A STIM with bytes changed opens unchanged or raises a lethean error."""
        stim = bytearray(self.stim)
        for _ in range(data.draw(st.integers(1, 3))):
            stim[data.draw(st.integers(0, len(stim) - 1))] = data.draw(st.integers(0, 255))
        try:
            tim = open_stim(bytes(stim), "pw")
        except LetheanError:
            return
        self.assertEqual(tim.config, b"{}")

    @settings(max_examples=50)
    @given(st.binary(max_size=2000), st.binary(max_size=2000), st.text(min_size=1, max_size=20))
    def test_round_trip(self, config, rootfs, password):
        """Any config and rootfs bytes come back under any non-empty password."""
        tim = open_stim(seal_stim(config, rootfs, password), password)
        self.assertEqual((tim.config, tim.rootfs), (config, rootfs))


class ProfileBundleTests(SynchronousTestCase):
    """Creating and extracting profile bundles."""

    def test_encrypted_round_trip(self):
        """A profile sealed with a password extracts to the same bytes."""
        bundle = create_profile_bundle(b'{"id":"p"}', "p", "pw")
        self.assertEqual(bundle.type, "profile")
        self.assertTrue(bundle.data.startswith(b"STIM\x02"))
        self.assertEqual(extract_profile_bundle(bundle, "pw"), b'{"id":"p"}')

    def test_rootfs_is_empty_tar(self):
        """An encrypted profile's rootfs is exactly 1,024 zero bytes."""
        bundle = create_profile_bundle(b"[]", "p", "pw")
        self.assertEqual(open_stim(bundle.data, "pw").rootfs, bytes(1024))

    def test_random_nonces(self):
        """Two bundles of the same profile differ (fresh nonces)."""
        first = create_profile_bundle(b"{}", "p", "pw")
        second = create_profile_bundle(b"{}", "p", "pw")
        self.assertNotEqual(first.data, second.data)

    def test_profile_must_be_json(self):
        """A profile that is not JSON is refused at creation."""
        self.assertRaises(InvalidBundleError, create_profile_bundle, b"{oops", "p", "pw")
        self.assertRaises(InvalidBundleError, create_plain_profile_bundle, b"\xff", "p")

    def test_plain_profile_must_look_plain(self):
        """A plain profile must be an object or array, or receivers would take it for STIM."""
        self.assertRaises(InvalidBundleError, create_plain_profile_bundle, b'"text"', "p")

    def test_plain_refused_by_default(self):
        """An unencrypted profile is refused unless explicitly allowed."""
        bundle = create_plain_profile_bundle(b'{"a":1}', "p")
        self.assertEqual(bundle.data, b'{"a":1}')
        error = self.assertRaises(PlaintextRefusedError, extract_profile_bundle, bundle, "pw")
        self.assertEqual(error.kind, "plaintext_refused")
        self.assertEqual(extract_profile_bundle(bundle, "", allow_plain=True), b'{"a":1}')

    def test_checksum_checked_first(self):
        """A bad checksum wins over every other problem."""
        bundle = Bundle("profile", "p", b"STIM garbage", "0" * 64)
        self.assertRaises(ChecksumMismatchError, extract_profile_bundle, bundle, "")

    def test_empty_password(self):
        """An encrypted profile with an empty password needs a password."""
        bundle = create_profile_bundle(b"{}", "p", "pw")
        self.assertRaises(PasswordRequiredError, extract_profile_bundle, bundle, "")

    def test_rejection_logged_once(self):
        """Each refused bundle emits exactly one warning event naming it."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        bundle = create_profile_bundle(b"{}", "secret-profile", "pw")
        self.assertRaises(DecryptionError, extract_profile_bundle, bundle, "wrong")
        self.assertEqual(len(events), 1)
        event = events[0]
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["bundle"], "secret-profile")
        self.assertEqual(event["kind"], "decryption_failed")
        self.assertIn("reason", event)
        self.assertNotIn("wrong", repr(event))

    @settings(max_examples=50)
    @given(strategies.bundle_profiles, strategies.bundle_wire_names, st.text(min_size=1, max_size=16))
    def test_profile_round_trip(self, profile, name, password):
        """Any profile, name and password round-trip through the bundle JSON."""
        bundle = Bundle.from_json(create_profile_bundle(profile, name, password).to_json())
        self.assertEqual(extract_profile_bundle(bundle, password), profile)


class InspectTests(SynchronousTestCase):
    """inspect_bundle reports without extracting."""

    def setUp(self):
        self.bundle = create_miner_bundle(
            "xmrig", b"\x7fELF" + bytes(600), "m", "pw", mtime=1)

    def test_without_password(self):
        """Without a password only the outer layer is shown."""
        info = inspect_bundle(self.bundle)
        self.assertTrue(info.checksum_ok)
        self.assertTrue(info.encrypted)
        self.assertEqual(info.stim_header["tim"], True)
        self.assertEqual(info.rootfs_part_bytes, 512 + 1024 + 1024 + 40)
        self.assertIsNone(info.files)
        self.assertIsNone(info.to_dict()["config"])

    def test_with_password(self):
        """With the password, the config and the file list appear."""
        info = inspect_bundle(self.bundle, "pw")
        self.assertEqual(info.config, DEFAULT_TIM_CONFIG)
        self.assertEqual([(f.path, f.size, f.mode) for f in info.files], [("xmrig", 604, 0o600)])
        summary = info.to_dict()
        self.assertEqual(summary["files"], [{"path": "xmrig", "size": 604, "mode": "0600"}])
        json.dumps(summary)

    def test_damaged_checksum_reported(self):
        """A bad checksum is reported, not raised."""
        damaged = Bundle(self.bundle.type, "m", self.bundle.data, "0" * 64)
        self.assertFalse(inspect_bundle(damaged).checksum_ok)

    def test_plain(self):
        """A plain profile shows as unencrypted with its JSON."""
        info = inspect_bundle(create_plain_profile_bundle(b"[1]", "p"))
        self.assertFalse(info.encrypted)
        self.assertEqual(info.to_dict()["config"], "[1]")


class RootfsTarTests(SynchronousTestCase):
    """The rootfs tar as the reference writes it."""

    def test_empty(self):
        """An empty tree is exactly two zero blocks."""
        self.assertEqual(write_tar([], mtime=0), bytes(1024))

    def test_no_padding_to_records(self):
        """One small file makes 2,048 bytes, not tarfile's 10,240."""
        self.assertEqual(len(write_tar([("a", b"x")], mtime=0)), 2048)

    def test_go_header_fields(self):
        """Device numbers are octal zeros and owner names empty, as Go writes."""
        header = write_tar([("xmrig", b"x")], mtime=1795528099)[:512]
        self.assertEqual(header[100:108], b"0000600\0")
        self.assertEqual(header[329:345], b"0000000\0" * 2)
        self.assertEqual(header[265:329], bytes(64))
        self.assertEqual(header[257:265], b"ustar\x0000")
        self.assertEqual(sum(header[:148]) + 8 * 32 + sum(header[156:]),
                         int(header[148:154], 8))

    def test_long_names_still_readable(self):
        """A name too long for USTAR falls back to PAX and still reads back."""
        name = "d/" * 60 + "file"
        [member] = scan_tar(write_tar([(name, b"abc")], mtime=0))
        self.assertEqual((member.path, member.size), (name, 3))

    @settings(max_examples=100)
    @given(strategies.bundle_tree_files, st.integers(0, 2**33 - 1))
    def test_round_trip(self, files, mtime):
        """Whatever is written scans back as the same paths and sizes."""
        members = scan_tar(write_tar(files, mtime=mtime))
        self.assertEqual([(m.path, m.size, m.mode) for m in members],
                         [(path, len(content), 0o600) for path, content in files])

    def test_digest_of_empty_tar(self):
        """The empty tar's digest is the vectors' rootfs_tar_sha256_hex."""
        self.assertEqual(
            hashlib.sha256(EMPTY_TAR).hexdigest(),
            "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")
