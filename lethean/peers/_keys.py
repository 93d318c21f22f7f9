"""
Public keys as the registry compares them, and the id each key implies.

Keys travel as padded standard base64 of 32 raw bytes (identity.md 2).  Go
decodes leniently, so one key has several spellings; the registry compares
the decoded bytes, never the strings.
"""

import base64
import binascii
import hashlib

from lethean.peers._errors import InvalidPublicKeyError

__all__ = ["PUBLIC_KEY_BYTES", "decode_public_key", "canonical_public_key", "node_id_for", "key_prefix"]

#: Raw size of an X25519 public key.
PUBLIC_KEY_BYTES = 32


def decode_public_key(text):
    """The 32 raw bytes of a base64 public key; InvalidPublicKeyError otherwise."""
    if not isinstance(text, str):
        raise InvalidPublicKeyError("public key must be a string")
    try:
        raw = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPublicKeyError("public key is not valid base64") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise InvalidPublicKeyError("public key is {} bytes, not {}".format(len(raw), PUBLIC_KEY_BYTES))
    return raw


def canonical_public_key(text):
    """The one spelling Go itself writes for the key ``text``."""
    return base64.b64encode(decode_public_key(text)).decode("ascii")


def node_id_for(public_key):
    """The node id a key implies: hex of the first 16 bytes of SHA-256 (identity.md 3)."""
    return hashlib.sha256(decode_public_key(public_key)).digest()[:16].hex()


def key_prefix(public_key):
    """What logs may show of a key: its first 16 characters, as the reference does."""
    return public_key[:16] + "..."
