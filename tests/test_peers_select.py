"""Peer selection: the reference's weighted distance, normalisation, and the sorted index."""

import math

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.peers import NORMALISED_METRIC, REFERENCE_METRIC, Peer, SelectionMetric, rank_peers

from tests.test_peers import make_registry, peer_for


def brute_force(peers, n, metric):
    """The specification, spelled out: squared weighted distance to the origin, ties by id."""
    def key(p):
        coords = [p.ping_ms * metric.weights[0] / metric.scales[0],
                  p.hops * metric.weights[1] / metric.scales[1],
                  p.geo_km * metric.weights[2] / metric.scales[2],
                  (100 - p.score) * metric.weights[3] / metric.scales[3]]
        return (sum(c * c for c in coords), p.id)
    return sorted(peers, key=key)[:max(n, 0)]


metrics = st.sampled_from([REFERENCE_METRIC, NORMALISED_METRIC])
small_floats = st.floats(0, 1000, allow_nan=False)
# Operations on a registry of peers 0..7: (kind, peer number, values).
operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 7), st.tuples(small_floats, st.integers(0, 20), small_floats,
                                                           st.sampled_from([0.0, 10.0, 50.0, 99.5, 100.0]))),
    st.tuples(st.just("metrics"), st.integers(0, 7), st.tuples(small_floats, st.integers(0, 20), small_floats)),
    st.tuples(st.just("remove"), st.integers(0, 7), st.none()),
    st.tuples(st.sampled_from(["success", "failure", "timeout"]), st.integers(0, 7), st.none()),
), max_size=40)


class MetricTests(SynchronousTestCase):
    """Distances as the reference computes them, and lethean's normalised variant."""

    def test_reference_distance(self):
        """The reference point is (ping*1.0, hops*0.7, km*0.2, (100-score)*1.2), Euclidean from the origin."""
        peer = Peer(id="a", ping_ms=30, hops=2, geo_km=500, score=80)
        self.assertEqual(REFERENCE_METRIC.point(peer), (30.0, 1.4, 100.0, 24.0))
        self.assertAlmostEqual(REFERENCE_METRIC.distance(peer), math.sqrt(30 ** 2 + 1.4 ** 2 + 100 ** 2 + 24 ** 2))

    def test_reference_lets_kilometres_dominate(self):
        """Under the reference a near, flaky peer beats a far, perfect one; normalised, it does not."""
        near_flaky = Peer(id="near", ping_ms=20, geo_km=100, score=5)
        far_perfect = Peer(id="far", ping_ms=20, geo_km=2000, score=100)
        self.assertEqual(rank_peers([far_perfect, near_flaky], 1, REFERENCE_METRIC), [near_flaky])
        self.assertEqual(rank_peers([far_perfect, near_flaky], 1, NORMALISED_METRIC), [far_perfect])

    def test_custom_metric_validation(self):
        """A metric needs four finite weights and four positive scales."""
        self.assertRaises(ValueError, SelectionMetric, "x", weights=(1, 2, 3))
        self.assertRaises(ValueError, SelectionMetric, "x", scales=(1, 0, 1, 1))
        self.assertRaises(ValueError, SelectionMetric, "x", weights=(1, 1, 1, float("nan")))

    def test_rank_peers_edges(self):
        """n <= 0 gives nothing; n past the end gives everyone."""
        peers = [Peer(id="a"), Peer(id="b")]
        self.assertEqual(rank_peers(peers, 0), [])
        self.assertEqual(rank_peers(peers, -1), [])
        self.assertEqual(rank_peers(peers, 5), peers)


class RegistrySelectionTests(SynchronousTestCase):
    """select_optimal and select_nearest on a live registry."""

    def test_empty(self):
        """An empty registry selects nobody."""
        registry, _, _ = make_registry(self)
        self.assertIsNone(registry.select_optimal())
        self.assertEqual(registry.select_nearest(3), [])

    def test_ties_go_to_the_smaller_id(self):
        """Identical metrics resolve by node id, every time (the reference picks at random)."""
        registry, _, _ = make_registry(self)
        peers = [registry.add_peer(peer_for(n)) for n in range(6)]
        ordered = sorted(peers, key=lambda p: p.id)
        self.assertEqual(registry.select_optimal(), ordered[0])
        self.assertEqual(registry.select_nearest(6), ordered)

    def test_n_bounds(self):
        """n <= 0 gives nothing; n larger than the registry gives everyone."""
        registry, _, _ = make_registry(self)
        for n in range(3):
            registry.add_peer(peer_for(n))
        self.assertEqual(registry.select_nearest(0), [])
        self.assertEqual(registry.select_nearest(-2), [])
        self.assertEqual(len(registry.select_nearest(10)), 3)

    def test_only_connected(self):
        """With only_connected, disconnected peers are skipped however good they are."""
        registry, _, _ = make_registry(self)
        best = registry.add_peer(peer_for(1, ping_ms=1))
        worse = registry.add_peer(peer_for(2, ping_ms=900))
        registry.set_connected(worse.id, True)
        self.assertEqual(registry.select_optimal(), best)
        self.assertEqual(registry.select_optimal(only_connected=True), registry.get_peer(worse.id))
        registry.set_connected(worse.id, False)
        self.assertIsNone(registry.select_optimal(only_connected=True))

    def test_reference_metric_available(self):
        """A registry built with REFERENCE_METRIC ranks exactly as the reference (ties aside)."""
        registry, _, _ = make_registry(self, metric=REFERENCE_METRIC)
        near_flaky = registry.add_peer(peer_for(1, ping_ms=20, geo_km=100, score=5))
        registry.add_peer(peer_for(2, ping_ms=20, geo_km=2000, score=100))
        self.assertEqual(registry.select_optimal(), near_flaky)

    def test_scores_move_the_ranking(self):
        """Failures push a peer down the ranking without anyone rebuilding anything."""
        registry, _, _ = make_registry(self)
        a = registry.add_peer(peer_for(1))
        b = registry.add_peer(peer_for(2))
        first = registry.select_optimal()
        for _ in range(3):
            registry.record_failure(first.id)
        other = b if first.id == a.id else a
        self.assertEqual(registry.select_optimal().id, other.id)

    @settings(max_examples=150, deadline=None)
    @given(metrics, operations, st.integers(-1, 10))
    def test_matches_brute_force(self, metric, ops, n):
        """After any sequence of changes, selection equals a brute-force sort of all peers."""
        registry, _, _ = make_registry(self, metric=metric)
        for kind, number, values in ops:
            peer = peer_for(number)
            present = registry.get_peer(peer.id) is not None
            if kind == "add" and not present:
                ping, hops, km, score = values
                registry.add_peer(peer.evolve(ping_ms=ping, hops=hops, geo_km=km, score=score))
            elif kind == "metrics" and present:
                registry.update_metrics(peer.id, ping_ms=values[0], geo_km=values[2], hops=values[1])
            elif kind == "remove" and present:
                registry.remove_peer(peer.id)
            elif kind in ("success", "failure", "timeout"):
                getattr(registry, "record_" + kind)(peer.id)
        everyone = registry.list_peers()
        self.assertEqual(registry.select_nearest(n), brute_force(everyone, n, metric))
        best = brute_force(everyone, 1, metric)
        self.assertEqual(registry.select_optimal(), best[0] if best else None)
