"""
XChaCha20-Poly1305 (IETF, no associated data) straight through libsodium.

PyNaCl's ``nacl.bindings`` wrappers cost about as much per call as the
cipher itself on a mesh-sized message; calling the same libsodium functions
through PyNaCl's cffi handle (:func:`lethean._compat.sodium_handle`) halves that and lets :func:`open_sealed` read
from inside a received frame without copying it.  Sizes are checked here,
before any pointer reaches C.  If PyNaCl ever stops exposing the handle,
the public bindings are used instead.
"""

from __future__ import annotations

from typing import Any

from lethean._types import Buffer
from lethean._accel import speedups
from lethean._compat import sodium_handle
from lethean.smsg._errors import DecryptionError

__all__ = ["seal", "open_sealed", "COMPILED_SIGIL"]

_KEY = 32
_NONCE = 24
_TAG = 16

_handle = sodium_handle()
_ffi: Any
_lib: Any
_ffi, _lib = _handle if _handle is not None else (None, None)


def _check(nonce: bytes, key: bytes) -> None:
    if len(key) != _KEY or len(nonce) != _NONCE:
        raise ValueError("XChaCha20-Poly1305 needs a 32-byte key and a 24-byte nonce")


if _ffi is not None:
    _NULL = _ffi.NULL
    _new = _ffi.new
    _buffer = _ffi.buffer
    _from_buffer = _ffi.from_buffer
    _encrypt = _lib.crypto_aead_xchacha20poly1305_ietf_encrypt
    _decrypt = _lib.crypto_aead_xchacha20poly1305_ietf_decrypt

    def seal(plaintext: Buffer, nonce: bytes, key: bytes) -> bytes:
        """``ciphertext || tag`` of ``plaintext`` (bytes) under ``nonce``, ``key``."""
        _check(nonce, key)
        size = len(plaintext) + _TAG
        out = _new("unsigned char[]", size)
        _encrypt(out, _NULL, plaintext, len(plaintext), _NULL, 0, _NULL, nonce, key)
        return _buffer(out, size)[:]

    def open_sealed(data: Buffer, offset: int, nonce: bytes, key: bytes) -> bytes:
        """
        The plaintext of ``data[offset:]`` (``ciphertext || tag``); raises
        :class:`DecryptionError` when it is too short or does not verify.
        """
        _check(nonce, key)
        size = len(data) - offset - _TAG
        if size < 0 or offset < 0:
            raise DecryptionError("ciphertext shorter than its tag")
        source = data if type(data) is bytes and not offset else _from_buffer(data) + offset
        out = _new("unsigned char[]", size or 1)
        failed = _decrypt(out, _NULL, _NULL, source, size + _TAG, _NULL, 0, nonce, key)
        if failed:
            raise DecryptionError("authentication failed")
        return _buffer(out, size)[:]

    def _address(name: str) -> int:
        return int(_ffi.cast("uintptr_t", _ffi.addressof(_lib, name)))

    if speedups is not None:
        # The compiled sigil calls these two directly (lethean/smsg/_sigil.py).
        speedups.sodium_register(_address("crypto_aead_xchacha20poly1305_ietf_encrypt"),
                                 _address("crypto_aead_xchacha20poly1305_ietf_decrypt"),
                                 DecryptionError)

else:  # pragma: no cover - depends on PyNaCl
    from nacl.bindings import (
        crypto_aead_xchacha20poly1305_ietf_decrypt as _binding_decrypt,
        crypto_aead_xchacha20poly1305_ietf_encrypt as _binding_encrypt,
    )
    from nacl.exceptions import CryptoError

    def seal(plaintext: Buffer, nonce: bytes, key: bytes) -> bytes:
        """``ciphertext || tag`` of ``plaintext`` (bytes) under ``nonce``, ``key``."""
        _check(nonce, key)
        return _binding_encrypt(bytes(plaintext), None, bytes(nonce), bytes(key))

    def open_sealed(data: Buffer, offset: int, nonce: bytes, key: bytes) -> bytes:
        """
        The plaintext of ``data[offset:]`` (``ciphertext || tag``); raises
        :class:`DecryptionError` when it is too short or does not verify.
        """
        _check(nonce, key)
        if len(data) - offset < _TAG:
            raise DecryptionError("ciphertext shorter than its tag")
        try:
            return _binding_decrypt(bytes(data[offset:]), None, bytes(nonce), bytes(key))
        except CryptoError:
            raise DecryptionError("authentication failed") from None


#: Whether the compiled sigil can call libsodium (through PyNaCl's handle).
COMPILED_SIGIL = speedups is not None and _ffi is not None
