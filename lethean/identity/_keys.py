"""
X25519 keys, node ids, the shared secret and the challenge MAC (identity.md 1-5).

The private key is the unclamped 32-byte random scalar (libsodium clamps
inside every scalar multiplication, as Go's ``crypto/ecdh`` does), the
public key travels as padded standard base64 and the node id is the hex of
the first 16 bytes of its SHA-256.  There is no signing key: "Ed25519" in
the reference's docs is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import attrs
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import CryptoError

from lethean.identity._errors import InvalidPublicKeyError, LowOrderPointError
from lethean._gojson import decode_base64

__all__ = [
    "KEY_BYTES",
    "CHALLENGE_BYTES",
    "PrivateKey",
    "encode_public_key",
    "decode_public_key",
    "node_id_for",
    "shared_secret",
    "generate_challenge",
    "sign_challenge",
    "verify_challenge",
]

#: Size of private keys, public keys and shared secrets.
KEY_BYTES = 32
#: Size of a handshake challenge.
CHALLENGE_BYTES = 32
_ZERO = bytes(KEY_BYTES)

#: A public key as raw bytes or as its base64 text.
PublicKeyLike = bytes | bytearray | memoryview | str


def encode_public_key(raw: bytes) -> str:
    """Padded standard base64 of a 32-byte public key (44 characters)."""
    if len(raw) != KEY_BYTES:
        raise ValueError("a public key is 32 bytes")
    return base64.b64encode(raw).decode("ascii")


def decode_public_key(text: str) -> bytes:
    """
    The 32 raw bytes of a base64 public key, read as Go reads it: padded
    standard alphabet, CR and LF skipped anywhere (so a key wrapped over
    lines is the same key), nothing else tolerated.
    """
    try:
        raw = decode_base64(text)
    except ValueError:
        raise InvalidPublicKeyError("public key is not padded standard base64") from None
    if len(raw) != KEY_BYTES:
        raise InvalidPublicKeyError("public key is {} bytes, not 32".format(len(raw)))
    return raw


def _raw_public(public_key: PublicKeyLike) -> bytes:
    if isinstance(public_key, str):
        return decode_public_key(public_key)
    if len(public_key) != KEY_BYTES:
        raise InvalidPublicKeyError("public key is {} bytes, not 32".format(len(public_key)))
    return bytes(public_key)


def node_id_for(public_key: PublicKeyLike) -> str:
    """The node id a public key (raw bytes or base64) implies: 32 hex digits."""
    return hashlib.sha256(_raw_public(public_key)).digest()[:16].hex()


@attrs.frozen
class PrivateKey:
    """
    An X25519 private key.  The bytes never appear in ``repr``, logs or
    JSON; only :class:`~lethean.identity.NodeManager` writes them, to a
    0600 file.
    """

    _raw: bytes = attrs.field(repr=False, alias="raw")

    @_raw.validator
    def _check(self, attribute: "attrs.Attribute[bytes]", value: object) -> None:
        if not isinstance(value, bytes) or len(value) != KEY_BYTES:
            raise ValueError("a private key is 32 bytes")

    @classmethod
    def generate(cls) -> "PrivateKey":
        """A fresh key from the OS CSPRNG."""
        return cls(os.urandom(KEY_BYTES))

    def secret_bytes(self) -> bytes:
        """The raw scalar, for writing the key file. Handle with care."""
        return self._raw

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key, X25519(private, 9)."""
        return crypto_scalarmult_base(self._raw)

    @property
    def public_key_b64(self) -> str:
        """The public key as it travels: padded standard base64."""
        return encode_public_key(self.public_key)

    @property
    def node_id(self) -> str:
        """The node id of this key."""
        return node_id_for(self.public_key)

    def exchange(self, peer_public_key: PublicKeyLike) -> bytes:
        """
        The raw X25519 output with a peer key (raw bytes or base64).

        Raises :class:`InvalidPublicKeyError` for a malformed key and
        :class:`LowOrderPointError` when the output is all zero.
        """
        peer = _raw_public(peer_public_key)
        try:
            raw = crypto_scalarmult(self._raw, peer)
        except (CryptoError, RuntimeError):
            # libsodium refuses known small-order points up front.
            raise LowOrderPointError("peer public key has low order") from None
        if hmac.compare_digest(raw, _ZERO):
            raise LowOrderPointError("peer public key has low order")
        return raw

    def shared_secret(self, peer_public_key: PublicKeyLike) -> bytes:
        """SHA-256 of :meth:`exchange`: the secret both peers derive (identity.md 4)."""
        return hashlib.sha256(self.exchange(peer_public_key)).digest()


def shared_secret(private_key: "PrivateKey | bytes", peer_public_key: PublicKeyLike) -> bytes:
    """The shared secret of a :class:`PrivateKey` (or its 32 bytes) and a peer key."""
    if not isinstance(private_key, PrivateKey):
        private_key = PrivateKey(bytes(private_key))
    return private_key.shared_secret(peer_public_key)


def generate_challenge() -> bytes:
    """32 fresh random bytes for the responder to MAC."""
    return os.urandom(CHALLENGE_BYTES)


def sign_challenge(secret: bytes, challenge: bytes) -> bytes:
    """The challenge response: HMAC-SHA256 keyed with the shared secret."""
    return hmac.digest(secret, challenge, "sha256")


def verify_challenge(secret: bytes, challenge: bytes, response: bytes) -> bool:
    """Whether ``response`` answers ``challenge`` (constant time; any length)."""
    return hmac.compare_digest(hmac.digest(secret, challenge, "sha256"), bytes(response))
