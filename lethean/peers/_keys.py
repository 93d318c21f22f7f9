"""
Public keys as the registry compares them, and the id each key implies.

Keys travel as padded standard base64 of 32 raw bytes (identity.md 2).  Go
decodes leniently, so one key has several spellings; the registry compares
the decoded bytes, never the strings.  Reading a key and deriving its id
are the identity layer's; here they raise the registry's own
:class:`InvalidPeerKeyError`.
"""

from __future__ import annotations

from lethean.identity import _errors as _identity_errors
from lethean.identity import _keys as _identity_keys
from lethean.peers._errors import InvalidPeerKeyError

__all__ = ["PUBLIC_KEY_BYTES", "decode_public_key", "canonical_public_key", "node_id_for", "key_prefix"]

#: Raw size of an X25519 public key.
PUBLIC_KEY_BYTES = _identity_keys.KEY_BYTES


def decode_public_key(text: object) -> bytes:
    """The 32 raw bytes of a base64 public key; InvalidPeerKeyError otherwise."""
    if not isinstance(text, str):
        raise InvalidPeerKeyError("public key must be a string")
    try:
        return _identity_keys.decode_public_key(text)
    except _identity_errors.InvalidPublicKeyError as e:
        raise InvalidPeerKeyError(str(e)) from None


def canonical_public_key(text: str) -> str:
    """The one spelling Go itself writes for the key ``text``."""
    return _identity_keys.encode_public_key(decode_public_key(text))


def node_id_for(public_key: str) -> str:
    """The node id a key implies: hex of the first 16 bytes of SHA-256 (identity.md 3)."""
    return _identity_keys.node_id_for(decode_public_key(public_key))


def key_prefix(public_key: str) -> str:
    """What logs may show of a key: its first 16 characters, as the reference does."""
    return public_key[:16] + "..."
