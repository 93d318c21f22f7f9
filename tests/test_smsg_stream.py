"""The sigil a piece at a time: the same bytes and errors as encrypt/decrypt."""

import io

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.smsg import (
    ContainerChecksumError,
    DecryptionError,
    SigilReader,
    decrypt,
    encrypt,
    pack_trix,
    seal_pieces,
    unpack_trix,
)
from lethean.smsg import _sigil
from tests._accel import PurePath
from lethean.smsg._sigil import OVERHEAD_BYTES
from lethean.smsg._sigil_stream import PIECE_BYTES

keys = st.binary(min_size=32, max_size=32)
nonces = st.binary(min_size=24, max_size=24)
#: Around the sizes where pieces, ChaCha20 blocks and key stream blocks end.
sizes = st.one_of(
    st.integers(0, 300),
    st.sampled_from([PIECE_BYTES - 1, PIECE_BYTES, PIECE_BYTES + 1, 2 * PIECE_BYTES + 33]),
)


def pieces_of(data, cuts):
    """``data`` cut at the given points."""
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def sealed(key, data, nonce):
    out = io.BytesIO()
    written = seal_pieces(key, [data], out.write, nonce)
    return written, out.getvalue()


def outcome(function, *args):
    """The value, or the error's type and text."""
    try:
        return "ok", function(*args)
    except Exception as e:
        return type(e), str(e)


class KeyStreamTests(SynchronousTestCase):
    """The pre-obfuscation from any offset."""

    @given(st.binary(max_size=3000), st.binary(max_size=200), nonces)
    def test_any_stretch(self, head, data, nonce):
        """Obfuscating from an offset gives that stretch of the whole."""
        whole = _sigil.xor_obfuscate(head + data, nonce)
        self.assertEqual(_sigil.xor_obfuscate_at(data, nonce, len(head)), whole[len(head):])

    def test_negative_offset(self):
        """There is no key stream before the first byte."""
        self.assertRaises(ValueError, _sigil.xor_obfuscate_at, b"x", bytes(24), -1)

    def test_far_offsets(self):
        """Offsets past the precomputed counters give the same stream."""
        nonce = bytes(range(24))
        data = bytes(range(256)) * 300
        whole = _sigil.xor_obfuscate(data, nonce)
        for offset in (65535, 65536, 65537, 70000):
            self.assertEqual(_sigil.xor_obfuscate_at(data[offset:offset + 99], nonce, offset),
                             whole[offset:offset + 99])


class SealPiecesTests(SynchronousTestCase):
    """seal_pieces writes exactly what encrypt returns."""

    @given(keys, nonces, sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
           st.lists(st.integers(0, 3 * PIECE_BYTES), max_size=4))
    def test_same_bytes_as_encrypt(self, key, nonce, data, cuts):
        """Any plaintext, cut anywhere, seals to encrypt's bytes."""
        out = io.BytesIO()
        written = seal_pieces(key, pieces_of(data, cuts), out.write, nonce)
        self.assertEqual(out.getvalue(), encrypt(key, data, nonce))
        self.assertEqual(written, len(data) + OVERHEAD_BYTES)

    def test_random_nonce(self):
        """Without a nonce a fresh one is drawn, and decrypt opens the result."""
        key = bytes(32)
        first, second = sealed(key, b"x" * 100, None)[1], sealed(key, b"x" * 100, None)[1]
        self.assertNotEqual(first[:24], second[:24])
        self.assertEqual(decrypt(key, first), b"x" * 100)

    def test_bad_key_and_nonce(self):
        """Wrong sizes are programming errors, as for encrypt."""
        self.assertRaises(ValueError, seal_pieces, bytes(31), [b"x"], io.BytesIO().write)
        self.assertRaises(ValueError, seal_pieces, bytes(32), [b"x"], io.BytesIO().write,
                          bytes(23))


class SigilReaderTests(SynchronousTestCase):
    """SigilReader opens what decrypt opens, and refuses what it refuses."""

    @given(keys, nonces, sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
           st.lists(st.tuples(st.integers(0, 3 * PIECE_BYTES), st.integers(0, 2 * PIECE_BYTES)),
                    max_size=5))
    def test_reads_any_stretch(self, key, nonce, data, reads):
        """read_all is decrypt's result; read_at any stretch is its slice."""
        payload = encrypt(key, data, nonce)
        reader = SigilReader(key, payload)
        self.assertEqual(reader.size, len(data))
        self.assertEqual(reader.read_all(), data)
        for offset, length in reads:
            self.assertEqual(reader.read_at(offset, length), data[offset:offset + length])

    @given(keys, nonces, st.binary(max_size=200), st.data())
    def test_same_errors_as_decrypt(self, key, nonce, data, draw):
        """A cut, a flipped bit or a wrong key fails as decrypt fails, with its words."""
        payload = bytearray(encrypt(key, data, nonce))
        choice = draw.draw(st.sampled_from(["cut", "flip", "key"]))
        if choice == "cut":
            payload = payload[:draw.draw(st.integers(0, len(payload) - 1))]
        elif choice == "flip":
            index = draw.draw(st.integers(0, len(payload) - 1))
            payload[index] ^= 1 << draw.draw(st.integers(0, 7))
        else:
            key = bytes(b ^ 1 for b in key)
        expected = outcome(decrypt, key, bytes(payload))
        self.assertEqual(expected[0], DecryptionError)
        self.assertEqual(outcome(SigilReader, key, bytes(payload)), expected)

    def test_payload_kept_not_copied(self):
        """The reader reads from the payload it was given (a memoryview is fine)."""
        payload = bytearray(encrypt(bytes(32), b"abc" * 100, bytes(24)))
        reader = SigilReader(bytes(32), memoryview(payload))
        self.assertEqual(reader.read_at(3, 6), b"abcabc")

    def test_file(self):
        """open() is a seekable, read-only binary file of the plaintext."""
        data = bytes(range(256)) * 1000
        with SigilReader(bytes(32), encrypt(bytes(32), data)).open() as f:
            self.assertTrue(f.seekable())
            self.assertEqual(f.read(10), data[:10])
            self.assertEqual(f.seek(100_000), 100_000)
            self.assertEqual(f.tell(), 100_000)
            self.assertEqual(f.read(5), data[100_000:100_005])
            self.assertEqual(f.seek(-3, io.SEEK_END), len(data) - 3)
            self.assertEqual(f.read(), data[-3:])
            self.assertEqual(f.read(), b"")
            f.seek(len(data) + 10)
            self.assertEqual(f.read(1), b"")
            self.assertRaises((ValueError, OSError), f.seek, -1)
            self.assertRaises(OSError, f.write, b"x")

    def test_reads_out_of_range(self):
        """Past the end gives nothing; negative offsets are refused."""
        reader = SigilReader(bytes(32), encrypt(bytes(32), b"abc"))
        self.assertEqual(reader.read_at(3, 10), b"")
        self.assertEqual(reader.read_at(1, 0), b"")
        self.assertRaises(ValueError, reader.read_at, -1, 1)


class TrixViewTests(SynchronousTestCase):
    """unpack_trix(view=True) gives the payload without copying it."""

    def test_view_into_the_container(self):
        """The payload is a read-only view of the container's own bytes."""
        container = bytearray(pack_trix(b"STIM", {"a": 1}, b"payload bytes"))
        header, payload = unpack_trix(container, b"STIM", view=True)
        self.assertEqual((header, bytes(payload)), ({"a": 1}, b"payload bytes"))
        self.assertTrue(payload.readonly)
        container[-5:] = b"BYTES"
        self.assertEqual(bytes(payload), b"payload BYTES")

    def test_checksum_still_verified(self):
        """A header checksum is checked on the view as on a copy."""
        container = pack_trix(b"STIM", {"checksum": "00", "checksum_algo": "sha256"}, b"x")
        self.assertRaises(ContainerChecksumError, unpack_trix, container, b"STIM", view=True)


class PureKeyStreamTests(PurePath, KeyStreamTests):
    """The same, on the pure-Python key stream."""


class PureSealPiecesTests(PurePath, SealPiecesTests):
    """The same, on the pure-Python key stream."""


class PureSigilReaderTests(PurePath, SigilReaderTests):
    """The same, on the pure-Python key stream."""
