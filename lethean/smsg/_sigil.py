"""
The Enchantrix ChaCha-Poly sigil: ``nonce(24) | XChaCha20-Poly1305(obf) | tag(16)``.

Before encryption the plaintext is XORed with a key stream of SHA-256
blocks over ``nonce || u64_be(counter)`` (the reference's "pre-obfuscation";
it adds nothing cryptographically, but a peer that skips it reads garbage).
The AEAD has no associated data.  The key is ``SHA-256(password)``; the
mesh password is the base64 of the peers' shared secret.
"""

import hashlib
import os
import struct

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt as _aead_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt as _aead_encrypt,
)
from nacl.exceptions import CryptoError

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


def derive_key(password):
    """The sigil key for a password: SHA-256 of its UTF-8 bytes."""
    return _sha256(password.encode("utf-8")).digest()


def _keystream(nonce, length):
    blocks = -(-length // _BLOCK)
    base = _sha256(nonce)
    parts = []
    append = parts.append
    for i in range(blocks):
        h = base.copy()
        h.update(_COUNTERS[i] if i < 2048 else struct.pack(">Q", i))
        append(h.digest())
    return b"".join(parts)


def xor_obfuscate(data, nonce):
    """``data`` XOR the SHA-256 key stream of ``nonce`` (its own inverse)."""
    length = len(data)
    if not length:
        return b""
    stream = _keystream(nonce, length)
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:length], "little")
    return mixed.to_bytes(length, "little")


def encrypt(key, plaintext, nonce=None):
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
    nonce = bytes(nonce)
    sealed = _aead_encrypt(xor_obfuscate(plaintext, nonce), None, nonce, bytes(key))
    return nonce + sealed


def decrypt(key, payload):
    """
    Open a sigil payload; raises :class:`DecryptionError` when it is shorter
    than 40 bytes or fails authentication (wrong key, any flipped bit).
    """
    if len(key) != KEY_BYTES:
        raise ValueError("a sigil key is 32 bytes")
    if len(payload) < OVERHEAD_BYTES:
        raise DecryptionError("payload of {} bytes is shorter than nonce and tag".format(
            len(payload)))
    nonce = bytes(payload[:NONCE_BYTES])
    try:
        obfuscated = _aead_decrypt(bytes(payload[NONCE_BYTES:]), None, nonce, bytes(key))
    except CryptoError:
        raise DecryptionError("authentication failed") from None
    return xor_obfuscate(obfuscated, nonce)
