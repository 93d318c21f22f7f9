"""
A registry of one's own that also sees another registry's peers, read only.

The ``lethean`` command with no node running is a short-lived controller
with an identity and a registry of its own.  It must still reach the peers
the operator registered for the data folder in use (``lethean peers add``):
by name, id or address, with their pinned keys.  It must never write that
folder's files, which belong to the node that may start there at any time.
:class:`OverlayRegistry` holds both: the borrowed records are used like
its own, changes to them stay in memory, and only its own are saved.
"""

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from lethean.peers._record import Peer, decode_peers
from lethean.peers._registry import PeerRegistry

__all__ = ["OverlayRegistry", "read_peers"]

_log = Logger()


def read_peers(path: str) -> list[Peer]:
    """
    The records of the peers.json at ``path``, read without changing it:
    none when it is missing or unreadable, what survives of a damaged one.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    peers, problems = decode_peers(data)
    if problems:
        _log.warn("{path} is damaged ({reason}); using the {kept} peers that could be read",
                  path=path, reason="; ".join(problems[:3]), kept=len(peers))
    return peers


class OverlayRegistry(PeerRegistry):
    """
    A :class:`PeerRegistry` kept in ``path`` that also holds the peers of
    ``borrowed_path`` (another registry's peers.json), read once and never
    written back.  A borrowed record wins over an own record of the same
    id: it is what the operator registered.
    """

    def __init__(self, reactor: IReactorTime, path: str, borrowed_path: str,
                 **kwargs: Any) -> None:
        super().__init__(reactor, path, **kwargs)
        self.borrowed_path = borrowed_path
        self._borrowed: set[str] = set()
        for peer in read_peers(borrowed_path):
            self._peers[peer.id] = peer
            self._index.put(peer)
            self._borrowed.add(peer.id)

    def is_borrowed(self, peer_id: str) -> bool:
        """True when ``peer_id``'s record came from ``borrowed_path``."""
        return peer_id in self._borrowed

    def _saved_peers(self) -> list[Peer]:
        return [p for p in self._peers.values() if p.id not in self._borrowed]

    def remove_peer(self, peer_id: str) -> None:
        super().remove_peer(peer_id)
        self._borrowed.discard(peer_id)
