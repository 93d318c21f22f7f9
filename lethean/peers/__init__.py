"""
The persistent peer registry: who the node knows, how good they are, who may connect.

:class:`PeerRegistry` keeps :class:`Peer` records in the reference's
``peers.json`` (plus its allowlist file, plus lethean's auth-mode file),
saves changes shortly after they happen, scores peers, picks the best ones
and decides whether an identity may connect.  See docs/peers.md.
"""

from lethean.peers._auth import AuthMode
from lethean.peers._errors import (
    PeerIdMismatchError,
    InvalidPeerError,
    InvalidPeerNameError,
    InvalidPeerKeyError,
    KeyMismatchError,
    PeerError,
    PeerExistsError,
    NotAllowlistedError,
    PeerNotAllowedError,
    PeerNotFoundError,
    PeerRejectedError,
    RegistryFullError,
)
from lethean.peers._files import default_peers_path
from lethean.peers._keys import node_id_for
from lethean.peers._record import Peer, sanitise_peer_name, validate_peer_name
from lethean.peers._overlay import OverlayRegistry
from lethean.peers._registry import PeerRegistry
from lethean.peers._select import NORMALISED_METRIC, REFERENCE_METRIC, SelectionMetric, rank_peers

__all__ = [
    "AuthMode",
    "PeerIdMismatchError",
    "InvalidPeerError",
    "InvalidPeerNameError",
    "InvalidPeerKeyError",
    "KeyMismatchError",
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
    "SelectionMetric",
    "default_peers_path",
    "node_id_for",
    "rank_peers",
    "sanitise_peer_name",
    "validate_peer_name",
]
