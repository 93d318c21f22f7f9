"""
The persistent peer registry.

Behaviour follows the reference (node/peer.go) where it is sound and says
so where lethean differs: damaged files are moved aside instead of
overwritten, the auth mode survives restarts, identities are bound to keys,
writes are durable and happen off the reactor thread, selection is
deterministic and normalised by default.
"""

import functools
import os
from typing import TypeVar

from twisted.internet import defer, error as net_error
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from lethean._files import remove_stale_temporaries
from lethean._types import StrPath
from lethean.interfaces import IPeerRegistry
from lethean.peers._auth import (
    ALLOWLIST_SUFFIX,
    AUTH_MODE_SUFFIX,
    AuthMode,
    decode_auth_mode,
    encode_allowlist,
    encode_auth_mode,
)
from lethean.peers._errors import (
    PeerIdMismatchError,
    InvalidPeerError,
    InvalidPeerKeyError,
    KeyMismatchError,
    PeerExistsError,
    PeerNotAllowedError,
    PeerNotFoundError,
    PeerRejectedError,
    RegistryFullError,
)
from lethean.peers._files import Writer, default_writer
from lethean.peers._keys import canonical_public_key, decode_public_key, key_prefix, node_id_for
from lethean.peers._record import (
    DEFAULT_SCORE,
    MAX_SCORE,
    MIN_SCORE,
    Peer,
    as_finite_float,
    decode_peers,
    decode_string_array,
    encode_peers,
    validate_peer_name,
)
from lethean.peers._saved import SavedFile
from lethean.peers._select import NORMALISED_METRIC, RankIndex, SelectionMetric
from lethean.smsg import Timestamp

__all__ = [
    "PeerRegistry",
    "MAX_AUTOMATIC_PEERS",
    "SAVE_DELAY_S",
    "SUCCESS_DELTA",
    "FAILURE_DELTA",
    "TIMEOUT_DELTA",
]

_log = Logger()

#: A change is written at most this long after it was made (peers.md 2.4).
SAVE_DELAY_S = 5.0
#: Peers registered automatically (from inbound handshakes, without an
#: address) kept at most; past it the least valuable one is forgotten.
MAX_AUTOMATIC_PEERS = 1000
#: Score changes for a success, a failure and a timeout (peers.md 4).
SUCCESS_DELTA = 1.0
FAILURE_DELTA = -5.0
TIMEOUT_DELTA = -3.0

_TIMEOUTS = (defer.TimeoutError, net_error.TimeoutError, TimeoutError)

_T = TypeVar("_T")


def _value(peer: Peer) -> tuple[float, int]:
    """How much a peer is worth keeping: its score, then how recently it was seen."""
    seen = peer.last_seen or peer.added_at
    return (peer.score, seen.unix_nanos if seen is not None else 0)


def _clamp(score: float) -> float:
    return min(MAX_SCORE, max(MIN_SCORE, score))


@implementer(IPeerRegistry)
class PeerRegistry:
    """
    Known peers, kept in ``path`` (a peers.json) and two files beside it.

    :param reactor: provides ``IReactorTime``; the clock for timestamps and
        the save timer, and (if it has threads) where file writes run.
    :param path: the peers.json file; the allowlist is ``<path>.allowlist.json``
        and the auth mode ``<path>.auth.json``.
    :param metric: how ``select_*`` rank peers; ``REFERENCE_METRIC`` for the
        reference's exact ranking.
    :param writer: ``writer(path, content) -> Deferred or None`` writes the
        bytes ``content()`` atomically; defaults to a thread-pool writer on a
        real reactor and to writing at once on a ``task.Clock``.
    :param save_delay_s: the debounce window for peers.json.
    :param max_automatic_peers: how many peers :meth:`add_automatic` keeps.

    Loading happens here, synchronously, before the reactor has work to do;
    temporary files left by interrupted saves are removed first.
    """

    def __init__(self, reactor: IReactorTime, path: StrPath,
                 metric: SelectionMetric = NORMALISED_METRIC, writer: Writer | None = None,
                 save_delay_s: float = SAVE_DELAY_S,
                 max_automatic_peers: int = MAX_AUTOMATIC_PEERS) -> None:
        self._reactor = reactor
        self.path = os.fspath(path)
        self.metric = metric
        self._save_delay_s = save_delay_s
        self.max_automatic_peers = max_automatic_peers
        self._timer: IDelayedCall | None = None
        self._peers: dict[str, Peer] = {}
        self._connected: set[str] = set()
        self._index = RankIndex(metric)
        self._allowlist: set[str] = set()
        self._auth_mode = AuthMode.OPEN
        writer = writer if writer is not None else default_writer(reactor)
        self._peers_file = SavedFile(
            self.path, writer, lambda: functools.partial(encode_peers, self._saved_peers()),
            "peer registry")
        self._allowlist_file = SavedFile(
            self.path + ALLOWLIST_SUFFIX, writer,
            lambda: functools.partial(encode_allowlist, list(self._allowlist)), "peer allowlist")
        self._auth_file = SavedFile(
            self.path + AUTH_MODE_SUFFIX, writer,
            lambda: functools.partial(encode_auth_mode, self._auth_mode), "peer auth mode")
        for saved in (self._peers_file, self._allowlist_file, self._auth_file):
            if remove_stale_temporaries(saved.path):
                _log.info("removed temporary files interrupted saves of {path} left",
                          path=saved.path)
        self._load_peers()
        self._load_allowlist()
        self._load_auth_mode()

    # -- loading ----------------------------------------------------------

    def _load_peers(self) -> None:
        data = self._peers_file.read()
        if data is None:
            return
        peers, problems = decode_peers(data)
        for peer in peers:
            self._peers[peer.id] = peer
            self._index.put(peer)
        if len(self._peers) < len(peers):
            _log.warn("{path} lists {duplicates} node ids more than once; kept the last of each",
                      path=self.path, duplicates=len(peers) - len(self._peers))
        if problems:
            self._peers_file.set_aside(problems, len(self._peers), self._reactor.seconds())
            if self._peers_file.dirty:
                self._schedule_save()

    def _load_allowlist(self) -> None:
        data = self._allowlist_file.read()
        if data is None:
            return
        keys, problems = decode_string_array(data)
        for key in keys:
            if key:
                self._allowlist.add(self._normalise_key(key))
        if problems:
            self._allowlist_file.set_aside(problems, len(self._allowlist), self._reactor.seconds())
            if self._allowlist_file.dirty:
                self._allowlist_file.save_quietly()

    def _load_auth_mode(self) -> None:
        data = self._auth_file.read()
        if data is None:
            if self._auth_file.file.blocked:
                self._auth_mode = AuthMode.ALLOWLIST
            return
        try:
            self._auth_mode = decode_auth_mode(data)
        except ValueError as e:
            # Fail closed: this file exists because someone chose a mode.
            self._auth_mode = AuthMode.ALLOWLIST
            self._auth_file.set_aside([str(e)], 0, self._reactor.seconds())
            _log.warn("starting in allowlist mode because the auth mode could not be read")
            if self._auth_file.dirty:
                self._auth_file.save_quietly()

    @staticmethod
    def _normalise_key(key: str) -> str:
        """The canonical spelling of a key, or the text itself if it is not a key."""
        try:
            return canonical_public_key(key)
        except InvalidPeerKeyError:
            return key

    # -- saving -----------------------------------------------------------

    def _saved_peers(self) -> list[Peer]:
        """The records peers.json holds (a subclass may keep some in memory only)."""
        return list(self._peers.values())

    def _now(self) -> Timestamp:
        return Timestamp.from_unix(self._reactor.seconds())

    def _schedule_save(self) -> None:
        self._peers_file.dirty = True
        if self._timer is None:
            self._timer = self._reactor.callLater(self._save_delay_s, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        if self._peers_file.dirty:
            self._peers_file.save_quietly()

    def flush(self) -> "defer.Deferred[None]":
        """
        A Deferred that fires once every change so far is on disk.

        Cancels the pending save timer and writes whatever is behind, at once;
        fails with the first write error (which is also logged).
        """
        return defer.Deferred.fromCoroutine(self._flush())

    async def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        results = await defer.DeferredList(
            [saved.settle() for saved in (self._peers_file, self._allowlist_file, self._auth_file)],
            consumeErrors=True)
        for ok, result in results:
            if not ok and isinstance(result, Failure):
                result.raiseException()


    def close(self) -> "defer.Deferred[None]":
        """Write pending changes (see ``flush``); the registry stays usable."""
        return self.flush()

    # -- records ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._peers)

    def _store(self, peer: Peer) -> Peer:
        self._peers[peer.id] = peer
        self._index.put(peer)
        self._schedule_save()
        return peer

    def _existing(self, peer_id: str) -> Peer:
        try:
            return self._peers[peer_id]
        except KeyError:
            raise PeerNotFoundError("peer {} not found".format(peer_id)) from None

    @staticmethod
    def _check_binding(peer: Peer) -> None:
        if peer.public_key:
            if node_id_for(peer.public_key) != peer.id:
                raise InvalidPeerError(
                    "peer {} is not the node id of its public key ({})".format(
                        peer.id, node_id_for(peer.public_key)))

    def add_peer(self, peer: Peer) -> Peer:
        if not isinstance(peer, Peer):
            raise InvalidPeerError("expected a Peer record")
        if not peer.id:
            raise InvalidPeerError("peer ID is required")
        validate_peer_name(peer.name)
        self._check_binding(peer)
        if peer.id in self._peers:
            raise PeerExistsError("peer {} already exists".format(peer.id))
        changes: dict[str, object] = {}
        if peer.added_at is None:
            changes["added_at"] = self._now()
        if peer.score == 0:
            changes["score"] = DEFAULT_SCORE
        return self._store(peer.evolve(**changes) if changes else peer)

    def add_automatic(self, peer: Peer) -> Peer:
        """
        Register a peer that connected to us and proved its key (no address).

        At most ``max_automatic_peers`` such peers are kept: past it the
        least valuable one (lowest score, then longest unseen) that is
        neither connected nor on the allowlist is forgotten first; if there
        is none, RegistryFullError.
        """
        automatic = [p for p in self._peers.values() if not p.address]
        if peer.address or len(automatic) < self.max_automatic_peers:
            return self.add_peer(peer)
        candidates = [p for p in automatic
                      if p.id not in self._connected and p.public_key not in self._allowlist]
        if not candidates:
            raise RegistryFullError("{} automatically registered peers, all in use".format(
                len(automatic)))
        victim = min(candidates, key=_value)
        stored = self.add_peer(peer)
        self.remove_peer(victim.id)
        return stored

    def update_peer(self, peer: Peer) -> None:
        if not isinstance(peer, Peer):
            raise InvalidPeerError("expected a Peer record")
        self._existing(peer.id)
        self._check_binding(peer)
        self._store(peer)

    def remove_peer(self, peer_id: str) -> None:
        self._existing(peer_id)
        del self._peers[peer_id]
        self._connected.discard(peer_id)
        self._index.discard(peer_id)
        self._schedule_save()

    def get_peer(self, peer_id: str) -> Peer | None:
        return self._peers.get(peer_id)

    def list_peers(self) -> list[Peer]:
        return list(self._peers.values())

    def update_metrics(self, peer_id: str, ping_ms: float, geo_km: float, hops: int) -> None:
        peer = self._existing(peer_id)
        self._store(peer.evolve(ping_ms=ping_ms, geo_km=geo_km, hops=hops, last_seen=self._now()))

    # -- scoring ----------------------------------------------------------

    def update_score(self, peer_id: str, score: float) -> None:
        peer = self._existing(peer_id)
        self._store(peer.evolve(score=_clamp(as_finite_float(score))))

    def record_success(self, peer_id: str) -> None:
        peer = self._peers.get(peer_id)
        if peer is not None:
            self._store(peer.evolve(score=min(MAX_SCORE, peer.score + SUCCESS_DELTA), last_seen=self._now()))

    def _decrease(self, peer_id: str, delta: float, reason: str) -> None:
        peer = self._peers.get(peer_id)
        if peer is not None:
            peer = self._store(peer.evolve(score=max(MIN_SCORE, peer.score + delta)))
            _log.debug("peer {peer_id} score decreased to {new_score} ({reason})", peer_id=peer_id, new_score=peer.score, reason=reason)

    def record_failure(self, peer_id: str) -> None:
        self._decrease(peer_id, FAILURE_DELTA, "failure")

    def record_timeout(self, peer_id: str) -> None:
        self._decrease(peer_id, TIMEOUT_DELTA, "timeout")

    def record_outcome(self, peer_id: str, result: "defer.Deferred[_T]") -> "defer.Deferred[_T]":
        def succeeded(value: _T) -> _T:
            self.record_success(peer_id)
            return value

        def failed(failure: Failure) -> Failure:
            if failure.check(*_TIMEOUTS):
                self.record_timeout(peer_id)
            elif not failure.check(defer.CancelledError):
                self.record_failure(peer_id)
            return failure

        return result.addCallbacks(succeeded, failed)

    def peers_by_score(self) -> list[Peer]:
        return sorted(self._peers.values(), key=lambda p: (-p.score, p.id))

    # -- connections and selection ----------------------------------------

    def set_connected(self, peer_id: str, connected: bool) -> None:
        peer = self._peers.get(peer_id)
        if peer is None:
            return
        if connected:
            self._connected.add(peer_id)
            self._peers[peer_id] = peer.evolve(last_seen=self._now())
            # Not a reason to write, but the next write (or close) keeps it.
            self._peers_file.dirty = True
        else:
            self._connected.discard(peer_id)

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self._connected

    def connected_peers(self) -> list[Peer]:
        return [p for p in self._peers.values() if p.id in self._connected]

    def select_nearest(self, n: int, only_connected: bool = False) -> list[Peer]:
        accept = self._connected.__contains__ if only_connected else None
        return [self._peers[i] for i in self._index.best(n, accept)]

    def select_optimal(self, only_connected: bool = False) -> Peer | None:
        best = self.select_nearest(1, only_connected)
        return best[0] if best else None

    # -- who may connect --------------------------------------------------

    @property
    def auth_mode(self) -> AuthMode:
        return self._auth_mode

    def set_auth_mode(self, mode: int) -> None:
        chosen = AuthMode(mode)
        self._auth_mode = chosen
        _log.info("peer auth mode changed to {mode}", mode=chosen.name.lower())
        self._auth_file.save_quietly()

    def allow_public_key(self, public_key: str) -> None:
        key = canonical_public_key(public_key)
        self._allowlist.add(key)
        _log.debug("public key {key} added to allowlist", key=key_prefix(key))
        self._allowlist_file.save_quietly()

    def revoke_public_key(self, public_key: str) -> None:
        self._allowlist.discard(self._normalise_key(public_key))
        _log.debug("public key {key} removed from allowlist", key=key_prefix(public_key))
        self._allowlist_file.save_quietly()

    def is_public_key_allowed(self, public_key: str) -> bool:
        return self._normalise_key(public_key) in self._allowlist

    def allowed_public_keys(self) -> list[str]:
        return sorted(self._allowlist)

    def known_key(self, node_id: str) -> str | None:
        peer = self._peers.get(node_id)
        return peer.public_key if peer is not None and peer.public_key else None

    def check_peer(self, claimed_id: str, public_key: str) -> None:
        raw = decode_public_key(public_key)
        derived = node_id_for(public_key)
        if claimed_id != derived:
            raise PeerIdMismatchError(
                "claimed id {} but the key belongs to {}".format(claimed_id, derived))
        stored = self.known_key(claimed_id)
        if stored is not None:
            try:
                same = decode_public_key(stored) == raw
            except InvalidPeerKeyError:
                same = False
            if not same:
                raise KeyMismatchError("peer {} presented {}".format(claimed_id, key_prefix(public_key)))
        if self._auth_mode == AuthMode.ALLOWLIST:
            if claimed_id not in self._peers and canonical_public_key(public_key) not in self._allowlist:
                raise PeerNotAllowedError("peer {} ({})".format(claimed_id, key_prefix(public_key)))

    def is_peer_allowed(self, claimed_id: str, public_key: str) -> bool:
        try:
            self.check_peer(claimed_id, public_key)
        except (PeerRejectedError, InvalidPeerKeyError):
            return False
        return True
