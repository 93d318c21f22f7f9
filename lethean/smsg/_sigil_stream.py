"""
The sigil for payloads too large to hold twice: sealed from pieces, opened
a piece at a time.

:func:`~lethean.smsg.encrypt` and :func:`~lethean.smsg.decrypt` take and
give whole byte strings, and the pre-obfuscation builds its key stream in
one piece: right for a mesh frame, several times the size of a deploy
bundle's rootfs.  Here the same bytes are made and read a piece at a time:
:func:`seal_pieces` writes ``nonce | ciphertext | tag`` from plaintext
pieces, and :class:`SigilReader` authenticates a payload, then decrypts
any stretch of it on demand.

libsodium's XChaCha20-Poly1305 (IETF) has no incremental interface, so it
is composed here from the parts libsodium composes it of: HChaCha20 of the
key and the nonce's first 16 bytes gives a subkey; ChaCha20 (IETF) under
that subkey and ``0^4 | nonce[16:24]`` gives, in block 0, the Poly1305 key
and, from block 1 on, the stream the plaintext is XORed with; the tag is
Poly1305 of ``ciphertext | zeros to a multiple of 16 | u64_le(0) |
u64_le(length)`` (no associated data).  ``cryptography`` provides ChaCha20
from any block and incremental Poly1305; HChaCha20 is the ChaCha20 block
function without the final addition of its input, so it is one ChaCha20
block minus that input.  The tests compare every byte with libsodium.
"""

import io
import os
import struct
from collections.abc import Callable, Iterable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms
from cryptography.hazmat.primitives.poly1305 import Poly1305

from lethean._types import Buffer
from lethean.smsg._errors import DecryptionError
from lethean.smsg._sigil import KEY_BYTES, NONCE_BYTES, OVERHEAD_BYTES, TAG_BYTES, xor_obfuscate_at

__all__ = ["PIECE_BYTES", "SigilReader", "seal_pieces"]

#: Plaintext handled at once: bounds the key stream and every copy.
PIECE_BYTES = 64 * 1024

#: Ciphertext authenticated per call (about a millisecond of work).
_MAC_PIECE_BYTES = 1024 * 1024
_BLOCK_BYTES = 64
_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_WORDS = struct.Struct("<16I")
_U32 = struct.Struct("<I")
_LENGTHS = struct.Struct("<QQ")


def _chacha20(key: bytes, initial: bytes) -> CipherContext:
    """A ChaCha20 (IETF) context; ``initial`` is the 16-byte counter | nonce."""
    return Cipher(algorithms.ChaCha20(key, initial), mode=None).encryptor()


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    block = _WORDS.unpack(_chacha20(key, nonce16).update(bytes(_BLOCK_BYTES)))
    start = _SIGMA + struct.unpack("<8I", key) + struct.unpack("<4I", nonce16)
    return struct.pack("<8I", *[(block[i] - start[i]) & 0xFFFFFFFF
                                for i in (0, 1, 2, 3, 12, 13, 14, 15)])


class _Stream:
    """One payload's ChaCha20 stream and Poly1305, from any byte on."""

    def __init__(self, key: Buffer, nonce: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a sigil key is 32 bytes")
        self.nonce = nonce
        self._subkey = _hchacha20(bytes(key), nonce[:16])
        self._nonce12 = bytes(4) + nonce[16:]

    def mac(self) -> Poly1305:
        """A Poly1305 keyed for this payload."""
        return Poly1305(_chacha20(self._subkey, _U32.pack(0) + self._nonce12).update(bytes(32)))

    def at(self, offset: int) -> CipherContext:
        """A context XORing the stream from plaintext byte ``offset`` on."""
        block, skip = divmod(offset, _BLOCK_BYTES)
        context = _chacha20(self._subkey, _U32.pack(1 + block) + self._nonce12)
        if skip:
            context.update(bytes(skip))
        return context


def _finish(mac: Poly1305, length: int) -> None:
    mac.update(bytes(-length % 16))
    mac.update(_LENGTHS.pack(0, length))


def _pieces(view: memoryview, size: int = PIECE_BYTES) -> Iterator[memoryview]:
    for start in range(0, len(view), size):
        yield view[start:start + size]


def seal_pieces(key: Buffer, pieces: Iterable[Buffer], write: Callable[[bytes], object],
                nonce: Buffer | None = None) -> int:
    """
    Seal the concatenation of ``pieces`` (bytes-like), as
    :func:`~lethean.smsg.encrypt` would, calling ``write`` with
    ``nonce | ciphertext | tag`` a piece at a time; returns the bytes
    written.  ``nonce`` defaults to 24 fresh random bytes.
    """
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    elif len(nonce) != NONCE_BYTES:
        raise ValueError("a sigil nonce is 24 bytes")
    nonce = bytes(nonce)
    stream = _Stream(key, nonce)
    mac = stream.mac()
    cipher = stream.at(0)
    write(nonce)
    offset = 0
    for piece in pieces:
        for part in _pieces(memoryview(piece).cast("B")):
            sealed = cipher.update(xor_obfuscate_at(part, nonce, offset))
            mac.update(sealed)
            write(sealed)
            offset += len(part)
    _finish(mac, offset)
    write(mac.finalize())
    return offset + OVERHEAD_BYTES


class SigilReader:
    """
    A sealed payload (``nonce | ciphertext | tag``, bytes-like), opened
    lazily.

    Construction checks what :func:`~lethean.smsg.decrypt` checks, with
    the same errors: :class:`DecryptionError` for a payload shorter than
    nonce and tag or one that fails authentication (the whole ciphertext
    is authenticated first, nothing is decrypted before).  Then
    :meth:`read_at` decrypts any stretch, and :meth:`open` gives a
    seekable binary file of the plaintext.  The payload is kept, not
    copied.
    """

    def __init__(self, key: Buffer, payload: Buffer) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a sigil key is 32 bytes")
        view = memoryview(payload).cast("B")
        if len(view) < OVERHEAD_BYTES:
            raise DecryptionError("payload of {} bytes is shorter than nonce and tag".format(
                len(view)))
        #: The plaintext's length.
        self.size = len(view) - OVERHEAD_BYTES
        self._nonce = bytes(view[:NONCE_BYTES])
        self._ciphertext = view[NONCE_BYTES:NONCE_BYTES + self.size]
        self._stream = _Stream(key, self._nonce)
        mac = self._stream.mac()
        for part in _pieces(self._ciphertext, _MAC_PIECE_BYTES):
            mac.update(part)  # in pieces: other threads get the GIL in between
        _finish(mac, self.size)
        try:
            mac.verify(bytes(view[len(view) - TAG_BYTES:]))
        except InvalidSignature:
            raise DecryptionError("authentication failed") from None
        self._cipher: CipherContext | None = None
        self._next: int | None = None

    def _read(self, offset: int, length: int) -> Iterator[bytes]:
        """The plaintext pieces of ``[offset, offset + length)``."""
        cipher = self._cipher
        if self._next != offset or cipher is None:
            cipher = self._cipher = self._stream.at(offset)
        self._next = None  # until the stretch is read whole
        end = min(offset + length, self.size)
        for part in _pieces(self._ciphertext[offset:end]):
            yield xor_obfuscate_at(cipher.update(part), self._nonce, offset)
            offset += len(part)
        self._next = end

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` plaintext bytes from ``offset`` (fewer at the end)."""
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if offset >= self.size or not length:
            return b""
        if length <= PIECE_BYTES:
            return b"".join(self._read(offset, length))
        out = io.BytesIO()
        for piece in self._read(offset, length):
            out.write(piece)
        # BytesIO hands over its buffer without a copy (CPython).
        return out.getvalue()

    def read_all(self) -> bytes:
        """The whole plaintext, as :func:`~lethean.smsg.decrypt` returns it."""
        return self.read_at(0, self.size)

    def open(self) -> io.BufferedReader:
        """A seekable, read-only binary file of the plaintext."""
        return io.BufferedReader(_RawPlaintext(self), PIECE_BYTES)


class _RawPlaintext(io.RawIOBase):
    """A :class:`SigilReader`'s plaintext as a raw binary file."""

    def __init__(self, reader: SigilReader) -> None:
        super().__init__()
        self._reader = reader
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    # io gives a writable memoryview (typeshed: any writable buffer).
    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._reader.read_at(self._position, len(buffer))
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self._reader.size + offset
        else:
            raise ValueError("invalid whence {!r}".format(whence))
        if position < 0:
            raise ValueError("negative seek position {}".format(position))
        self._position = position
        return position

    def tell(self) -> int:
        return self._position
