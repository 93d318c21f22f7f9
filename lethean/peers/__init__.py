"""
The persistent peer registry: who the node knows, how good they are, who may connect.

:class:`PeerRegistry` keeps :class:`Peer` records in the reference's
``peers.json`` (plus its allowlist file, plus lethean's auth-mode file),
saves changes shortly after they happen, scores peers, picks the best ones
and decides whether an identity may connect.  See docs/peers.md.
"""

from lethean.peers._auth import ALLOWLIST_SUFFIX, AUTH_MODE_SUFFIX, AuthMode
from lethean.peers._errors import (
    IdentityMismatchError,
    InvalidPeerError,
    InvalidPeerNameError,
    InvalidPublicKeyError,
    KeyMismatchError,
    PeerError,
    PeerExistsError,
    NotAllowlistedError,
    PeerNotAllowedError,
    PeerNotFoundError,
    PeerRejectedError,
    RegistryFullError,
)
from lethean.peers._files import default_peers_path, write_atomic
from lethean.peers._keys import node_id_for
from lethean.peers._record import (
    DEFAULT_SCORE,
    MAX_NAME_BYTES,
    MAX_SCORE,
    MIN_SCORE,
    Peer,
    decode_peers,
    encode_peers,
    sanitise_peer_name,
    validate_peer_name,
)
from lethean.peers._overlay import OverlayRegistry, read_peers
from lethean.peers._registry import (
    FAILURE_DELTA,
    SAVE_DELAY_S,
    SUCCESS_DELTA,
    TIMEOUT_DELTA,
    PeerRegistry,
)
from lethean.peers._select import (
    NORMALISED_METRIC,
    REFERENCE_METRIC,
    REFERENCE_WEIGHTS,
    SelectionMetric,
    rank_peers,
)

__all__ = [
    "ALLOWLIST_SUFFIX",
    "AUTH_MODE_SUFFIX",
    "AuthMode",
    "DEFAULT_SCORE",
    "FAILURE_DELTA",
    "IdentityMismatchError",
    "InvalidPeerError",
    "InvalidPeerNameError",
    "InvalidPublicKeyError",
    "KeyMismatchError",
    "MAX_NAME_BYTES",
    "MAX_SCORE",
    "MIN_SCORE",
    "NORMALISED_METRIC",
    "OverlayRegistry",
    "Peer",
    "PeerError",
    "PeerExistsError",
    "NotAllowlistedError",
    "PeerNotAllowedError",
    "PeerNotFoundError",
    "PeerRegistry",
    "PeerRejectedError",
    "RegistryFullError",
    "REFERENCE_METRIC",
    "REFERENCE_WEIGHTS",
    "SAVE_DELAY_S",
    "SUCCESS_DELTA",
    "SelectionMetric",
    "TIMEOUT_DELTA",
    "decode_peers",
    "default_peers_path",
    "encode_peers",
    "node_id_for",
    "rank_peers",
    "read_peers",
    "sanitise_peer_name",
    "validate_peer_name",
    "write_atomic",
]
