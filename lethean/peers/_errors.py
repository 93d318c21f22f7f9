"""
What can go wrong in the peer registry.

Each docstring's first line is the message a user sees; ``str(error)`` adds
the detail (the reference's own error text where it has one).
"""

from lethean.errors import LetheanError
from lethean.identity import _errors as _identity_errors

__all__ = [
    "PeerError",
    "InvalidPeerError",
    "InvalidPeerNameError",
    "InvalidPeerKeyError",
    "PeerExistsError",
    "PeerNotFoundError",
    "NotAllowlistedError",
    "PeerRejectedError",
    "PeerIdMismatchError",
    "KeyMismatchError",
    "PeerNotAllowedError",
    "RegistryFullError",
]


class PeerError(LetheanError):
    """The peer registry refused the operation."""

    kind = "peer"


class InvalidPeerError(PeerError):
    """The peer record is invalid."""

    kind = "invalid_peer"


class InvalidPeerNameError(InvalidPeerError):
    """The peer name is invalid: use 1-64 letters, digits, hyphens, underscores or spaces."""

    kind = "invalid_peer_name"


# Also the identity layer's error, so one ``except`` serves both layers.
class InvalidPeerKeyError(InvalidPeerError, _identity_errors.InvalidPublicKeyError):
    """The public key is not a base64-encoded 32-byte X25519 key."""

    kind = "invalid_public_key"


class PeerExistsError(PeerError):
    """The peer is already registered."""

    kind = "peer_exists"


class PeerNotFoundError(PeerError):
    """The peer is not registered."""

    kind = "peer_not_found"


class NotAllowlistedError(PeerError):
    """The public key is not on the allowlist."""

    kind = "not_allowlisted"


class PeerRejectedError(PeerError):
    """The peer may not connect."""

    kind = "peer_rejected"


class PeerIdMismatchError(PeerRejectedError):
    """The node id is not derived from the public key the peer presented."""

    kind = "id_mismatch"


class KeyMismatchError(PeerRejectedError):
    """The peer presented a different public key than the one registered for its node id."""

    kind = "key_mismatch"


class PeerNotAllowedError(PeerRejectedError):
    """The peer is neither registered nor in the allowlist."""

    kind = "not_allowed"


class RegistryFullError(PeerError):
    """The registry holds as many automatically registered peers as it may."""

    kind = "registry_full"
