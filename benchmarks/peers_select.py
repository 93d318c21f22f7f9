"""
How fast can the registry pick its best peers?

Compares, at several registry sizes, the designs for "select the best 1 or
10 peers" under the reference's weighted distance:

* ``scan``: compute every peer's distance on each query (``min`` /
  ``heapq.nsmallest``), what the reference's Poindexter build does;
* ``sorted_index``: lethean's ``RankIndex``, peers kept sorted by distance
  (the query point is fixed, so the best N are the first N);
* ``kdtree``: scipy's ``cKDTree`` over the weighted points (only when scipy
  is importable; it is not a lethean dependency).

The ``update_then_select`` rows change one peer's metrics before each query,
which is what a live registry does: the scan has nothing to maintain, the
index moves one entry, and the reference rebuilds its tree.

Prints one JSON line per measurement:
``{"name": ..., "peers": N, "ops_per_s": ...}``.
Run from the checkout: ``python benchmarks/peers_select.py`` (or
``python -m benchmarks.peers_select``).
"""

import argparse
import heapq
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import emit, rate  # noqa: E402
from lethean.peers import Peer, REFERENCE_METRIC  # noqa: E402
from lethean.peers._select import RankIndex  # noqa: E402


def make_peers(count, rng):
    """``count`` peers with plausible, random metrics."""
    return [
        Peer(
            id="{:032x}".format(rng.getrandbits(128)),
            ping_ms=rng.uniform(1, 400),
            hops=rng.randint(1, 8),
            geo_km=rng.uniform(0, 20000),
            score=rng.uniform(0, 100),
        )
        for _ in range(count)
    ]


def scan_designs(peers, metric):
    key = metric.rank_key

    def optimal():
        return min(peers, key=key)

    def nearest10():
        return heapq.nsmallest(10, peers, key=key)

    return {"scan_optimal": optimal, "scan_nearest10": nearest10}


def index_designs(peers, metric):
    index = RankIndex(metric)
    for peer in peers:
        index.put(peer)
    return {
        "sorted_index_optimal": lambda: index.best(1),
        "sorted_index_nearest10": lambda: index.best(10),
    }, index


def kdtree_designs(peers, metric):
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return {}, None
    build = lambda: cKDTree([metric.point(p) for p in peers])  # noqa: E731
    tree = build()
    origin = (0.0, 0.0, 0.0, 0.0)
    return {
        "kdtree_optimal": lambda: tree.query(origin, k=1),
        "kdtree_nearest10": lambda: tree.query(origin, k=10),
        "kdtree_build": build,
    }, build


def measure(count, seconds, seed):
    rng = random.Random(seed)
    metric = REFERENCE_METRIC
    peers = make_peers(count, rng)
    designs = dict(scan_designs(peers, metric))
    index_ops, index = index_designs(peers, metric)
    designs.update(index_ops)
    tree_ops, build_tree = kdtree_designs(peers, metric)
    designs.update(tree_ops)

    def changed_peer():
        i = rng.randrange(count)
        peers[i] = peers[i].evolve(ping_ms=rng.uniform(1, 400))
        return peers[i]

    def scan_mixed():
        changed_peer()
        return min(peers, key=metric.rank_key)

    def index_mixed():
        index.put(changed_peer())
        return index.best(1)

    designs["scan_update_then_select"] = scan_mixed
    designs["sorted_index_update_then_select"] = index_mixed
    if build_tree is not None:
        origin = (0.0, 0.0, 0.0, 0.0)
        designs["kdtree_update_then_select"] = lambda: (changed_peer(), build_tree().query(origin, k=1))

    for name, operation in designs.items():
        yield {"name": name, "peers": count, "ops_per_s": round(rate(operation, seconds), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=int, nargs="+", default=[10, 1000, 100000],
                        help="registry sizes to measure (default: 10 1000 100000)")
    parser.add_argument("--seconds", type=float, default=0.5,
                        help="time spent on each measurement (default: 0.5)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the peer metrics (default: 1)")
    args = parser.parse_args(argv)
    for count in args.peers:
        for row in measure(count, args.seconds, args.seed):
            emit(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
