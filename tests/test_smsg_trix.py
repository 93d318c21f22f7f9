"""The Trix container and the sigil cipher (lethean.smsg._trix, _sigil)."""

import hashlib
import json

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.smsg import (
    ContainerError,
    DecryptionError,
    decrypt,
    derive_key,
    encrypt,
    pack_trix,
    unpack_trix,
)
from lethean.smsg._sigil import xor_obfuscate
from lethean.smsg._trix import trix_checksum
from tests._accel import PurePath

_LTHN = {"o": "0", "l": "1", "e": "3", "a": "4", "s": "z", "t": "7",
         "0": "o", "1": "l", "3": "e", "4": "a", "7": "t"}


def _go_runes_slowly(data):
    """Go's utf8.DecodeRune loop, transcribed: an invalid byte is one U+FFFD."""
    out, i = [], 0
    while i < len(data):
        for width in (1, 2, 3, 4):
            try:
                out.append(data[i:i + width].decode("utf-8"))
            except UnicodeDecodeError:
                continue
            i += width
            break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)

# smsg.md section 2 and 7: the key of identities A and B, and the sigil
# output of an empty plaintext under nonce 00..17.
KEY_AB = bytes.fromhex("ffb4e274c8ac9be6daf63ab164af2c7a659bc97a066fc1af430587bb104cd93c")
HEADER = {"algorithm": "chacha20poly1305", "version": "1.0"}
HEADER_JSON = b'{"algorithm":"chacha20poly1305","version":"1.0"}'

headers = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.text(max_size=16), st.integers(-2**53, 2**53), st.booleans(), st.none()),
    max_size=5,
)


class PackTrixTests(SynchronousTestCase):
    """Writing containers as Enchantrix does."""

    def test_layout(self):
        """Magic, version 2, big-endian header length, sorted compact header, payload."""
        frame = pack_trix(b"SMSG", {"version": "1.0", "algorithm": "chacha20poly1305"}, b"xyz")
        self.assertEqual(frame, b"SMSG\x02\x00\x00\x00\x30" + HEADER_JSON + b"xyz")

    def test_header_is_html_escaped(self):
        """The header is written with Go's HTML escaping, as json.Marshal does."""
        frame = pack_trix(b"STIM", {"a": "<&>"}, b"")
        self.assertEqual(frame[9:], b'{"a":"\\u003c\\u0026\\u003e"}')

    def test_integers_and_booleans(self):
        """STIM-style headers carry integers and booleans unchanged."""
        frame = pack_trix(b"STIM", {"tim": True, "config_size": 12}, b"")
        self.assertEqual(frame[9:], b'{"config_size":12,"tim":true}')

    def test_magic_must_be_four_bytes(self):
        """A magic of another length is a programming error."""
        self.assertRaises(ValueError, pack_trix, b"SMS", {}, b"")


class UnpackTrixTests(SynchronousTestCase):
    """Reading containers, in the reference's order of checks."""

    def frame(self, header=HEADER_JSON, payload=b"payload", magic=b"SMSG", version=2):
        return magic + bytes((version,)) + len(header).to_bytes(4, "big") + header + payload

    def container_error(self, data, **kwargs):
        error = self.assertRaises(ContainerError, unpack_trix, data, b"SMSG", **kwargs)
        self.assertEqual(error.kind, "invalid_container")
        return error.container_error

    def test_round_trip(self):
        """A valid container gives back its header and payload."""
        self.assertEqual(unpack_trix(self.frame(), b"SMSG"), (HEADER, b"payload"))

    def test_empty_payload(self):
        """The payload may be empty: it is whatever follows the header."""
        self.assertEqual(unpack_trix(self.frame(payload=b""), b"SMSG"), (HEADER, b""))

    def test_short_data_is_truncated(self):
        """Fewer than four bytes cannot hold the magic."""
        for size in range(4):
            self.assertEqual(self.container_error(b"SMSG"[:size]), "truncated")

    def test_bad_magic(self):
        """Another magic is rejected before anything else is read."""
        self.assertEqual(self.container_error(self.frame(magic=b"STIM")), "bad_magic")
        self.assertEqual(self.container_error(b"SMSX"), "bad_magic")

    def test_bad_version(self):
        """Only container version 2 is read."""
        for version in (0, 1, 3, 255):
            self.assertEqual(self.container_error(self.frame(version=version)), "bad_version")

    def test_truncated_length_and_header(self):
        """The data ends inside the length field or inside the header."""
        frame = self.frame()
        for size in (5, 8, 9, 20, 9 + len(HEADER_JSON) - 1):
            self.assertEqual(self.container_error(frame[:size]), "truncated")

    def test_header_too_large_checked_before_presence(self):
        """A declared header over the limit is refused without reading it."""
        data = b"SMSG\x02" + (16 * 1024 * 1024 + 1).to_bytes(4, "big")
        self.assertEqual(self.container_error(data), "header_too_large")
        self.assertEqual(self.container_error(self.frame(), max_header_bytes=47),
                         "header_too_large")

    def test_payload_limit(self):
        """An optional payload limit is enforced."""
        self.assertEqual(self.container_error(self.frame(), max_payload_bytes=6),
                         "payload_too_large")
        self.assertEqual(unpack_trix(self.frame(), b"SMSG", max_payload_bytes=7)[1], b"payload")

    def test_bad_header_json(self):
        """A header that is not a JSON object is refused."""
        for header in (b"", b"xx", b"[1]", b'"s"', b"{", b'{"a":NaN}', b"{} x",
                       b'{"a":1e999}', b"[" * 100000):
            self.assertEqual(self.container_error(self.frame(header=header)), "bad_header_json")

    def test_null_header_reads_as_empty(self):
        """Go reads a null header as an empty map."""
        self.assertEqual(unpack_trix(self.frame(header=b"null"), b"SMSG")[0], {})

    def test_checksum_verified(self):
        """A string checksum is verified with its algorithm."""
        for algorithm in ("sha256", "sha512", "sha1", "md5", "lthn", "unknown"):
            header = {"checksum": trix_checksum(algorithm, b"payload"),
                      "checksum_algo": algorithm}
            frame = pack_trix(b"SMSG", header, b"payload")
            self.assertEqual(unpack_trix(frame, b"SMSG"), (header, b"payload"))
            self.assertEqual(self.container_error(frame[:-1] + b"X"), "checksum_mismatch")

    def test_unknown_algorithm_is_sha256(self):
        """Enchantrix falls back to SHA-256 for an unknown algorithm name."""
        self.assertEqual(trix_checksum("nope", b"x"), hashlib.sha256(b"x").hexdigest())

    def test_checksum_without_algorithm(self):
        """A checksum without ``checksum_algo`` is refused."""
        frame = pack_trix(b"SMSG", {"checksum": "00"}, b"")
        self.assertEqual(self.container_error(frame), "checksum_mismatch")

    def test_lthn_hash(self):
        """The lthn hash salts with the reversed, substituted text."""
        self.assertEqual(trix_checksum("lthn", b"hello"),
                         hashlib.sha256(b"hello" + b"0113h").hexdigest())
        self.assertEqual(trix_checksum("lthn", b"a\xffb"),
                         hashlib.sha256(b"a\xffb" + "b\ufffd4".encode()).hexdigest())
        self.assertEqual(trix_checksum("lthn", b""), hashlib.sha256(b"").hexdigest())

    @settings(max_examples=300)
    @given(st.binary(max_size=64) | st.text(max_size=32).map(lambda t: t.encode("utf-8")))
    def test_lthn_hash_reads_bytes_as_go_does(self, payload):
        """Each invalid UTF-8 byte is one U+FFFD, as Go's []rune(string(b)) gives."""
        salt = "".join(_LTHN.get(c, c) for c in reversed(_go_runes_slowly(payload)))
        self.assertEqual(trix_checksum("lthn", payload),
                         hashlib.sha256(payload + salt.encode("utf-8")).hexdigest())

    def test_accepts_memoryview_and_bytearray(self):
        """Buffers other than bytes are read the same way."""
        frame = self.frame()
        self.assertEqual(unpack_trix(bytearray(frame), b"SMSG"), (HEADER, b"payload"))
        self.assertEqual(unpack_trix(memoryview(frame), b"SMSG"), (HEADER, b"payload"))

    @settings(max_examples=200)
    @given(magic=st.binary(min_size=4, max_size=4), header=headers, payload=st.binary(max_size=300))
    def test_round_trip_property(self, magic, header, payload):
        """Any header and payload come back unchanged."""
        self.assertEqual(unpack_trix(pack_trix(magic, header, payload), magic), (header, payload))

    @settings(max_examples=300)
    @given(data=st.binary(max_size=200))
    def test_random_bytes_raise_only_container_errors(self, data):
        """Random data either parses or raises a ContainerError."""
        for candidate in (data, b"SMSG\x02" + data):
            try:
                unpack_trix(candidate, b"SMSG")
            except ContainerError:
                pass

    @settings(max_examples=200)
    @given(header=headers, payload=st.binary(max_size=64), cut=st.integers(0, 200))
    def test_any_prefix_is_truncated_or_parses(self, header, payload, cut):
        """Cutting a container anywhere yields the truncated error or a shorter payload."""
        frame = pack_trix(b"SMSG", header, payload)
        header_end = len(frame) - len(payload)
        cut = min(cut, len(frame))
        if cut < header_end:
            self.assertEqual(self.container_error(frame[:cut]), "truncated")
        else:
            self.assertEqual(unpack_trix(frame[:cut], b"SMSG"), (header, payload[:cut - header_end]))


class SigilTests(SynchronousTestCase):
    """The XChaCha20-Poly1305 sigil with XOR pre-obfuscation."""

    def test_derive_key(self):
        """The key is SHA-256 of the UTF-8 password (smsg.md section 2)."""
        self.assertEqual(derive_key("a2hjLdS7C8R4w9XeHAZkh1rhJF2cgGLl8FkdqHzPyw0="), KEY_AB)

    def test_empty_plaintext_vector(self):
        """An empty plaintext gives nonce and tag only (smsg.md section 7)."""
        nonce = bytes(range(24))
        self.assertEqual(encrypt(KEY_AB, b"", nonce),
                         nonce + bytes.fromhex("742d01ab094e87871f7c4700ba7c344f"))
        self.assertEqual(decrypt(KEY_AB, nonce + bytes.fromhex("742d01ab094e87871f7c4700ba7c344f")), b"")

    def test_first_keystream_block(self):
        """Key-stream block 0 is SHA-256(nonce || 0 as u64 BE)."""
        nonce = bytes(range(0xA0, 0xB8))
        block = bytes.fromhex("be366308e11b589d06b140e3e3749c2cdb3e65fe3f98a6e491f587029d317102")
        self.assertEqual(xor_obfuscate(bytes(32), nonce), block)

    def test_keystream_counts_blocks(self):
        """Block i uses counter i, so long plaintexts use fresh blocks."""
        nonce = bytes(24)
        stream = xor_obfuscate(bytes(100), nonce)
        self.assertEqual(stream[64:96], hashlib.sha256(nonce + (2).to_bytes(8, "big")).digest())
        self.assertEqual(len(stream), 100)

    def test_keystream_beyond_the_precomputed_counters(self):
        """Plaintexts longer than 64 KiB keep counting."""
        nonce = bytes(24)
        stream = xor_obfuscate(bytes(2049 * 32 + 1), nonce)
        self.assertEqual(stream[2048 * 32:2049 * 32],
                         hashlib.sha256(nonce + (2048).to_bytes(8, "big")).digest())

    def test_random_nonce(self):
        """Without a nonce, each call uses a fresh random one."""
        first, second = encrypt(KEY_AB, b"same"), encrypt(KEY_AB, b"same")
        self.assertNotEqual(first[:24], second[:24])
        self.assertEqual(len(first), 4 + 40)

    def test_wrong_key(self):
        """Another key fails authentication."""
        sealed = encrypt(KEY_AB, b"secret")
        error = self.assertRaises(DecryptionError, decrypt, bytes(32), sealed)
        self.assertEqual(error.kind, "decryption_failed")

    def test_short_payload(self):
        """Anything shorter than nonce plus tag fails the same way."""
        for size in range(40):
            self.assertRaises(DecryptionError, decrypt, KEY_AB, bytes(size))

    def test_bad_key_or_nonce_length(self):
        """Wrong key or nonce sizes are programming errors, not decryption failures."""
        self.assertRaises(ValueError, encrypt, bytes(31), b"")
        self.assertRaises(ValueError, encrypt, KEY_AB, b"", bytes(23))
        self.assertRaises(ValueError, decrypt, bytes(33), bytes(40))

    @settings(max_examples=200)
    @given(plaintext=st.binary(max_size=600), nonce=st.binary(min_size=24, max_size=24))
    def test_round_trip(self, plaintext, nonce):
        """Decrypting what was encrypted gives the plaintext back."""
        sealed = encrypt(KEY_AB, plaintext, nonce)
        self.assertEqual(len(sealed), len(plaintext) + 40)
        self.assertEqual(decrypt(KEY_AB, sealed), plaintext)

    @settings(max_examples=200)
    @given(plaintext=st.binary(max_size=100), data=st.data())
    def test_any_flipped_bit_fails(self, plaintext, data):
        """Flipping any single bit of the output makes decryption fail."""
        sealed = bytearray(encrypt(KEY_AB, plaintext))
        bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
        sealed[bit // 8] ^= 1 << (bit % 8)
        self.assertRaises(DecryptionError, decrypt, KEY_AB, bytes(sealed))

    @settings(max_examples=200)
    @given(data=st.binary(max_size=200))
    def test_random_bytes_raise_only_our_error(self, data):
        """Random payloads raise DecryptionError and nothing else."""
        try:
            decrypt(KEY_AB, data)
        except LetheanError as e:
            self.assertIsInstance(e, DecryptionError)

    def test_obfuscation_is_applied(self):
        """The AEAD protects the obfuscated bytes, not the plaintext itself."""
        from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
        nonce = bytes(range(24))
        plaintext = json.dumps({"body": "x"}).encode()
        sealed = encrypt(KEY_AB, plaintext, nonce)
        inner = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[24:], None, nonce, KEY_AB)
        self.assertNotEqual(inner, plaintext)
        self.assertEqual(xor_obfuscate(inner, nonce), plaintext)


# The same tests on the pure-Python path (tests/_accel.py).


class PureSigilTests(PurePath, SigilTests):
    """SigilTests, on the pure-Python twins of the compiled functions."""
