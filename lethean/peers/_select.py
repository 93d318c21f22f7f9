"""
Choosing the best peers: the reference's weighted distance, and a sorted index.

The reference puts every peer at a 4-D point (ping, hops, distance, score
deficit, each multiplied by a weight) and asks a "KD-tree" for the points
nearest the origin.  The query point never moves, so a peer's distance only
changes when the peer does: keeping peers sorted by distance answers "best
N" by reading the first N entries, with no tree and no scan.  It is a sorted
index (``bisect`` over a list), not a KD-tree; benchmarks/peers_select.py
measures it against a scan and against scipy's cKDTree.
"""

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Iterator

from attrs import Attribute, field, frozen

from lethean.peers._record import MAX_SCORE, Peer

__all__ = [
    "SelectionMetric",
    "REFERENCE_METRIC",
    "NORMALISED_METRIC",
    "REFERENCE_WEIGHTS",
    "rank_peers",
]

#: Weights of the ping, hops, geographic distance and score-deficit axes.
REFERENCE_WEIGHTS = (1.0, 0.7, 0.2, 1.2)

#: What "as bad as it gets" means on each axis for the normalised metric:
#: one second of latency, ten hops, half the Earth's circumference, score 0.
NORMALISED_SCALES = (1000.0, 10.0, 20015.0, 100.0)

#: A value on each of the four axes.
Axes = tuple[float, float, float, float]
#: Where a peer sorts: squared distance, then node id.
RankKey = tuple[float, str]


def _four_floats(value: Iterable[float]) -> Axes:
    numbers = tuple(float(v) for v in value)
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise ValueError("need four finite numbers, got {!r}".format(numbers))
    return numbers


def _positive(instance: object, attribute: "Attribute[Axes]", value: Axes) -> None:
    if not all(v > 0 for v in value):
        raise ValueError("{} must be positive".format(attribute.name))


@frozen
class SelectionMetric:
    """
    How far a peer is from the ideal peer (0 ms, 0 hops, 0 km, score 100).

    Each axis is ``raw * weight / scale``; the distance is Euclidean.  With
    scales of 1 this is exactly the reference (:data:`REFERENCE_METRIC`),
    where kilometres and milliseconds swamp hops and score;
    :data:`NORMALISED_METRIC` first divides every axis by its full range so
    that the weights mean what they say.
    """

    name: str
    weights: Axes = field(default=REFERENCE_WEIGHTS, converter=_four_floats)
    scales: Axes = field(default=(1.0, 1.0, 1.0, 1.0), converter=_four_floats, validator=_positive)

    def point(self, peer: Peer) -> Axes:
        """The peer's coordinates on the four axes."""
        (w0, w1, w2, w3), (s0, s1, s2, s3) = self.weights, self.scales
        return (
            peer.ping_ms * w0 / s0,
            peer.hops * w1 / s1,
            peer.geo_km * w2 / s2,
            (MAX_SCORE - peer.score) * w3 / s3,
        )

    def distance_squared(self, peer: Peer) -> float:
        """The squared distance; ranking uses it, as sqrt would only lose ties."""
        a, b, c, d = self.point(peer)
        return a * a + b * b + c * c + d * d

    def distance(self, peer: Peer) -> float:
        """The Euclidean distance of the peer from the ideal."""
        return math.sqrt(self.distance_squared(peer))

    def rank_key(self, peer: Peer) -> RankKey:
        """Sort key: nearer first, ties broken by node id (the reference breaks them at random)."""
        return (self.distance_squared(peer), peer.id)


#: The reference's selection: raw metrics times weights, no normalisation.
REFERENCE_METRIC = SelectionMetric("reference")
#: Lethean's default: every axis divided by its full range, then weighted.
NORMALISED_METRIC = SelectionMetric("normalised", scales=NORMALISED_SCALES)


def rank_peers(peers: Iterable[Peer], n: int,
               metric: SelectionMetric = NORMALISED_METRIC) -> list[Peer]:
    """
    The ``n`` best of ``peers`` under ``metric``, best first: a plain scan.

    For one-off lists; the registry keeps an index instead.
    """
    if n <= 0:
        return []
    return sorted(peers, key=metric.rank_key)[:n]


class RankIndex:
    """
    Node ids kept sorted by ``metric.rank_key``; O(log n) to find, one
    list shift to insert or remove, and the best N are the first N.
    """

    def __init__(self, metric: SelectionMetric) -> None:
        self.metric = metric
        self._keys: dict[str, RankKey] = {}  # id -> rank key
        self._sorted: list[RankKey] = []  # rank keys, ascending

    def __len__(self) -> int:
        return len(self._sorted)

    def put(self, peer: Peer) -> None:
        """Add the peer or move it to its new rank."""
        self.discard(peer.id)
        key = self.metric.rank_key(peer)
        self._keys[peer.id] = key
        bisect.insort(self._sorted, key)

    def discard(self, peer_id: str) -> None:
        """Forget the peer if it is indexed."""
        key = self._keys.pop(peer_id, None)
        if key is not None:
            del self._sorted[bisect.bisect_left(self._sorted, key)]

    def clear(self) -> None:
        self._keys.clear()
        del self._sorted[:]

    def best(self, n: int, accept: Callable[[str], bool] | None = None) -> list[str]:
        """The ids of the first ``n`` peers, best first, that ``accept(id)`` (if given) allows."""
        if n <= 0:
            return []
        ids: Iterator[str] = (peer_id for _, peer_id in self._sorted)
        if accept is not None:
            ids = filter(accept, ids)
        return list(itertools.islice(ids, n))
