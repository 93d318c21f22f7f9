"""
Per-peer rate limiting and mesh-wide message de-duplication, on a clock.

Both take an ``IReactorTime`` so tests drive them with ``task.Clock``.
"""

from collections import OrderedDict

import attrs

__all__ = [
    "TokenBucket",
    "DedupCache",
    "RATE_BURST",
    "RATE_PER_S",
    "DEDUP_TTL_S",
    "DEDUP_MAX_ENTRIES",
]

#: Frames a peer may send at once (the reference's bucket capacity).
RATE_BURST = 100
#: Sustained frames per second a peer may send (the reference's refill).
RATE_PER_S = 50
#: How long a message id is remembered as seen.
DEDUP_TTL_S = 300.0
#: Most ids remembered at once; the oldest are forgotten first.
DEDUP_MAX_ENTRIES = 100_000


@attrs.define
class TokenBucket:
    """
    A token bucket with continuous refill.

    The reference refills only per whole elapsed second and throws the
    fraction away, so a peer sending steadily just under the rate can be
    throttled; here tokens accrue continuously at ``rate_per_s``.
    """

    clock: object
    capacity: float = RATE_BURST
    rate_per_s: float = RATE_PER_S
    _tokens: float = attrs.field(init=False)
    _last: float = attrs.field(init=False)

    def __attrs_post_init__(self):
        self._tokens = float(self.capacity)
        self._last = self.clock.seconds()

    def allow(self):
        """Take one token if there is one; ``True`` when the frame may pass."""
        now = self.clock.seconds()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.capacity), self._tokens + elapsed * self.rate_per_s)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@attrs.define
class DedupCache:
    """
    Message ids seen recently, shared by every connection of a transport.

    Unlike the reference's map this is bounded: past ``max_entries`` the
    oldest ids are forgotten, so a flood of unique ids cannot grow memory.
    Expired ids are dropped as they are met, and by :meth:`sweep`.
    """

    clock: object
    ttl_s: float = DEDUP_TTL_S
    max_entries: int = DEDUP_MAX_ENTRIES
    _seen: OrderedDict = attrs.field(init=False, factory=OrderedDict)

    def check_and_mark(self, message_id):
        """``True`` if ``message_id`` is new (and now remembered), else ``False``."""
        now = self.clock.seconds()
        first_seen = self._seen.get(message_id)
        if first_seen is not None and now - first_seen < self.ttl_s:
            return False
        self._seen.pop(message_id, None)
        self._seen[message_id] = now
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True

    def sweep(self):
        """Forget every id older than the TTL; returns how many were dropped."""
        cutoff = self.clock.seconds() - self.ttl_s
        dropped = 0
        while self._seen:
            message_id, first_seen = next(iter(self._seen.items()))
            if first_seen > cutoff:
                break
            del self._seen[message_id]
            dropped += 1
        return dropped

    def __len__(self):
        return len(self._seen)
