"""
The Enchantrix ChaCha-Poly sigil: ``nonce(24) | XChaCha20-Poly1305(obf) | tag(16)``.

Before encryption the plaintext is XORed with a key stream of SHA-256
blocks over ``nonce || u64_be(counter)`` (the reference's "pre-obfuscation";
it adds nothing cryptographically, but a peer that skips it reads garbage).
The AEAD has no associated data.  The key is ``SHA-256(password)``; the
mesh password is the base64 of the peers' shared secret.
"""

from __future__ import annotations

import hashlib
import os
import struct

from lethean._types import Buffer
from lethean._accel import pick
from lethean.smsg._aead import COMPILED_SIGIL, open_sealed, seal
from lethean.smsg._errors import DecryptionError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "OVERHEAD_BYTES",
    "derive_key",
    "encrypt",
    "decrypt",
    "xor_obfuscate",
    "pure_xor_obfuscate",
    "seal_obfuscated",
    "open_obfuscated",
    "xor_obfuscate_at",
    "pure_xor_obfuscate_at",
]

KEY_BYTES = 32
NONCE_BYTES = 24
TAG_BYTES = 16
#: Bytes the sigil adds to a plaintext.
OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES

_BLOCK = 32
# Counter suffixes for the first 64 KiB of key stream, built once.
_COUNTERS = tuple(struct.pack(">Q", i) for i in range(2048))
_sha256 = hashlib.sha256


def derive_key(password: str) -> bytes:
    """The sigil key for a password: SHA-256 of its UTF-8 bytes."""
    return _sha256(password.encode("utf-8")).digest()


def _keystream(nonce: bytes, length: int, first_block: int = 0) -> bytes:
    """``length`` bytes of key stream, from block ``first_block`` on."""
    blocks = first_block + -(-length // _BLOCK)
    copy = _sha256(nonce).copy
    parts: list[bytes] = []
    append = parts.append
    for counter in _COUNTERS[first_block:blocks]:
        h = copy()
        h.update(counter)
        append(h.digest())
    for i in range(max(len(_COUNTERS), first_block), blocks):
        h = copy()
        h.update(struct.pack(">Q", i))
        append(h.digest())
    return b"".join(parts)


def pure_xor_obfuscate(data: Buffer, nonce: bytes) -> bytes:
    """``data`` XOR the SHA-256 key stream of ``nonce`` (its own inverse)."""
    length = len(data)
    if not length:
        return b""
    stream = _keystream(nonce, length)
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:length], "little")
    return mixed.to_bytes(length, "little")


#: :func:`pure_xor_obfuscate`, compiled when the accelerator is built.
xor_obfuscate = pick(pure_xor_obfuscate, "xor_obfuscate")


def pure_seal_obfuscated(prefix: bytes, nonce: bytes, key: bytes, plaintext: Buffer) -> bytes:
    """
    ``prefix | nonce | XChaCha20-Poly1305(plaintext XOR key stream)``: the
    whole sigil, behind ``prefix`` (a container header, or nothing).
    """
    return b"".join((prefix, nonce, seal(xor_obfuscate(plaintext, nonce), nonce, key)))


def pure_open_obfuscated(data: Buffer, offset: int, key: bytes) -> bytes:
    """
    The plaintext of the sigil payload ``data[offset:]``; raises
    :class:`DecryptionError` when it is too short or does not verify.
    """
    if len(data) - offset < OVERHEAD_BYTES:
        raise DecryptionError("payload of {} bytes is shorter than nonce and tag".format(
            len(data) - offset))
    nonce = bytes(data[offset:offset + NONCE_BYTES])
    return xor_obfuscate(open_sealed(data, offset + NONCE_BYTES, nonce, key), nonce)


#: The compiled twins when the accelerator is built: one call, one buffer.
seal_obfuscated = pick(pure_seal_obfuscated, "sigil_seal", COMPILED_SIGIL)
open_obfuscated = pick(pure_open_obfuscated, "sigil_open", COMPILED_SIGIL)


def encrypt(key: bytes, plaintext: Buffer, nonce: bytes | None = None) -> bytes:
    """
    Seal ``plaintext``: ``nonce | ciphertext | tag``.

    ``nonce`` defaults to 24 fresh random bytes; pass one only for
    reproducible test output.
    """
    if len(key) != KEY_BYTES:
        raise ValueError("a sigil key is 32 bytes")
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    elif len(nonce) != NONCE_BYTES:
        raise ValueError("a sigil nonce is 24 bytes")
    return seal_obfuscated(b"", bytes(nonce), bytes(key), plaintext)


def decrypt(key: bytes, payload: Buffer) -> bytes:
    """
    Open a sigil payload; raises :class:`DecryptionError` when it is shorter
    than 40 bytes or fails authentication (wrong key, any flipped bit).
    """
    if len(key) != KEY_BYTES:
        raise ValueError("a sigil key is 32 bytes")
    return open_obfuscated(payload, 0, bytes(key))


def pure_xor_obfuscate_at(data: Buffer, nonce: bytes, offset: int) -> bytes:
    """
    ``data`` XOR the key stream of ``nonce`` from byte ``offset`` on: the
    same bytes :func:`xor_obfuscate` gives for that stretch of a longer
    plaintext, so a large one can be handled a piece at a time.
    """
    if offset < 0:
        raise ValueError("negative offset")
    length = len(data)
    if not length:
        return b""
    first, skip = divmod(offset, _BLOCK)
    stream = _keystream(nonce, skip + length, first)
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[skip:skip + length], "little")
    return mixed.to_bytes(length, "little")


#: :func:`pure_xor_obfuscate_at`, compiled when the accelerator is built
#: (a bundle's rootfs goes through it whole, when sealed and when opened).
xor_obfuscate_at = pick(pure_xor_obfuscate_at, "xor_obfuscate_at")
