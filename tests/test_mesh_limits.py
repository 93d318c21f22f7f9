"""The per-peer token bucket and the de-duplication cache, on a Clock."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import COUNTER_NAMES
from lethean.mesh._counters import OFFENCES
from lethean.mesh._limits import DedupCache, TokenBucket


class TokenBucketTests(SynchronousTestCase):
    """Burst, refill and cap of the token bucket."""

    def test_burst_then_refuse(self):
        """A full bucket lets exactly ``capacity`` frames through at once."""
        bucket = TokenBucket(Clock(), capacity=100, rate_per_s=50)
        self.assertEqual(sum(bucket.allow() for _ in range(150)), 100)

    def test_fractional_refill_counts(self):
        """Half a second at 50/s gives 25 frames (the reference gives none)."""
        clock = Clock()
        bucket = TokenBucket(clock, capacity=100, rate_per_s=50)
        for _ in range(100):
            bucket.allow()
        clock.advance(0.5)
        self.assertEqual(sum(bucket.allow() for _ in range(100)), 25)

    def test_refill_is_capped(self):
        """A long idle period never fills past capacity."""
        clock = Clock()
        bucket = TokenBucket(clock, capacity=10, rate_per_s=50)
        clock.advance(3600)
        self.assertEqual(sum(bucket.allow() for _ in range(100)), 10)

    def test_clock_going_backwards_gives_nothing(self):
        """A clock step backwards neither refills nor breaks the bucket."""
        clock = Clock()
        clock.advance(100)
        bucket = TokenBucket(clock, capacity=1, rate_per_s=1)
        self.assertTrue(bucket.allow())
        clock.rightNow = 50
        self.assertFalse(bucket.allow())


class DedupCacheTests(SynchronousTestCase):
    """Ids are remembered for the TTL, swept, and bounded."""

    def test_repeat_within_ttl_is_duplicate(self):
        """The same id twice within the TTL is a duplicate."""
        cache = DedupCache(Clock(), ttl_s=300)
        self.assertTrue(cache.check_and_mark("a"))
        self.assertFalse(cache.check_and_mark("a"))

    def test_repeat_after_ttl_is_new(self):
        """After the TTL an id counts as new again."""
        clock = Clock()
        cache = DedupCache(clock, ttl_s=300)
        cache.check_and_mark("a")
        clock.advance(300)
        self.assertTrue(cache.check_and_mark("a"))

    def test_sweep_drops_expired_only(self):
        """sweep() forgets old ids and keeps recent ones."""
        clock = Clock()
        cache = DedupCache(clock, ttl_s=300)
        cache.check_and_mark("old")
        clock.advance(200)
        cache.check_and_mark("new")
        clock.advance(150)
        self.assertEqual(cache.sweep(), 1)
        self.assertEqual(len(cache), 1)
        self.assertFalse(cache.check_and_mark("new"))

    def test_bounded(self):
        """Past max_entries the oldest ids are forgotten first."""
        cache = DedupCache(Clock(), max_entries=3)
        for message_id in "abcd":
            cache.check_and_mark(message_id)
        self.assertEqual(len(cache), 3)
        self.assertTrue(cache.check_and_mark("a"))
        self.assertFalse(cache.check_and_mark("d"))


class OffenceTests(SynchronousTestCase):
    """Which drop and refusal reasons are offences, declared with the counters."""

    def test_offences_are_counters(self):
        """Every offence is a published counter name."""
        self.assertLessEqual(OFFENCES, set(COUNTER_NAMES))

    def test_offences(self):
        """The reasons that earn a strike: hostile input, not bad luck or timeouts."""
        self.assertEqual(OFFENCES, {
            "dropped_flooding", "dropped_bad_frames", "dropped_text_frame",
            "dropped_fragments", "dropped_control_frames", "dropped_protocol_error",
            "refused_bad_handshake", "refused_id_mismatch", "dropped_prove_timeout",
            "dropped_session_frame", "dropped_session_refused"})
