"""
Per-peer rate limiting and mesh-wide message de-duplication, on a clock.

Both take an ``IReactorTime`` so tests drive them with ``task.Clock``.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs
from twisted.internet.interfaces import IReactorTime

__all__ = [
    "TokenBucket",
    "DedupCache",
    "Offenders",
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

    clock: IReactorTime
    capacity: float = RATE_BURST
    rate_per_s: float = RATE_PER_S
    _tokens: float = attrs.field(init=False)
    _last: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.capacity)
        self._last = self.clock.seconds()

    def _refilled(self) -> float:
        """The tokens there are now (every frame asks: kept to one call)."""
        now = self.clock.seconds()
        elapsed = now - self._last
        self._last = now
        tokens = self._tokens
        if elapsed > 0.0:
            tokens += elapsed * self.rate_per_s
        if tokens > self.capacity:
            tokens = float(self.capacity)
        return tokens

    def allow(self) -> bool:
        """Take one token if there is one; ``True`` when the frame may pass."""
        tokens = self._refilled()
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False

    def take(self, amount: float) -> float:
        """
        Take ``amount`` tokens, going into debt if need be; returns the
        seconds until the debt is repaid (0.0 when there was enough).
        """
        tokens = self._tokens = self._refilled() - amount
        if tokens >= 0:
            return 0.0
        return -tokens / self.rate_per_s


@attrs.define
class DedupCache:
    """
    Message ids seen recently, shared by every connection of a transport.

    Unlike the reference's map this is bounded: past ``max_entries`` the
    oldest ids are forgotten, so a flood of unique ids cannot grow memory.
    Expired ids are dropped as they are met, and by :meth:`sweep`.
    """

    clock: IReactorTime
    ttl_s: float = DEDUP_TTL_S
    max_entries: int = DEDUP_MAX_ENTRIES
    _seen: OrderedDict[str, float] = attrs.field(init=False, factory=OrderedDict)

    def check_and_mark(self, message_id: str) -> bool:
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

    def sweep(self) -> int:
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

    def __len__(self) -> int:
        return len(self._seen)


#: Offences before a key or address is refused, the first refusal's
#: length (doubling with each further offence) and its ceiling.
OFFENDER_STRIKES = 3
OFFENDER_BACKOFF_S = 60.0
OFFENDER_MAX_BACKOFF_S = 3600.0
#: Most keys and addresses remembered at once; the least recent go first.
OFFENDER_MAX_ENTRIES = 10_000
#: More doublings than any backoff needs to reach its ceiling.
_MAX_DOUBLINGS = 64


@attrs.define
class Offenders:
    """
    Keys and addresses that misbehaved recently, on a clock.

    Each offence is a strike; from ``strikes`` strikes on, the offender is
    refused for ``backoff_s``, doubled for every further strike up to
    ``max_backoff_s``.  Strikes are forgotten once a refusal period (or
    ``backoff_s`` with no refusal) passes without a new one.  Bounded:
    past ``max_entries`` the least recent offender is forgotten.
    """

    clock: IReactorTime
    strikes: int = OFFENDER_STRIKES
    backoff_s: float = OFFENDER_BACKOFF_S
    max_backoff_s: float = OFFENDER_MAX_BACKOFF_S
    max_entries: int = OFFENDER_MAX_ENTRIES
    _entries: OrderedDict[str, tuple[int, float]] = attrs.field(init=False, factory=OrderedDict)

    def strike(self, key: str) -> bool:
        """Record an offence by ``key``; returns True if it is now refused."""
        now = self.clock.seconds()
        strikes, until = self._current(key, now)
        strikes += 1
        if strikes >= self.strikes:
            # The exponent stops growing once the ceiling is reached: a flood
            # of refused connections strikes thousands of times.
            doublings = min(strikes - self.strikes, _MAX_DOUBLINGS)
            until = now + min(self.max_backoff_s, self.backoff_s * 2 ** doublings)
        else:
            until = max(until, now + self.backoff_s)
        self._entries.pop(key, None)
        self._entries[key] = (strikes, until)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return strikes >= self.strikes

    def refused(self, key: str) -> bool:
        """True while ``key`` is serving a refusal period."""
        strikes, until = self._current(key, self.clock.seconds())
        return strikes >= self.strikes and until > self.clock.seconds()

    def _current(self, key: str, now: float) -> tuple[int, float]:
        entry = self._entries.get(key)
        if entry is None:
            return 0, 0.0
        if entry[1] <= now:
            del self._entries[key]
            return 0, 0.0
        return entry

    def __len__(self) -> int:
        return len(self._entries)
