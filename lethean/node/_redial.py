"""
When a kept-up link is dialled again, and what the log says about it.

A link that closes as soon as it is up (the peer closed it as a duplicate,
refused us after the handshake, or is restarting in a loop) is a failed
attempt like a dial that fails: it is redialled after the retry policy's
growing delay, not at once, or two nodes would spin.  A link that stayed up
for :data:`STABLE_LINK_S` is redialled at once, and the delays start over.
A run of failures writes its first line, then at most one summary line
every :data:`SUMMARY_S`, so a peer that is down for a day costs a few
lines an hour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

__all__ = ["RedialSchedule", "STABLE_LINK_S", "SUMMARY_S"]

_log = Logger()

#: A link that lasted less than this counts as a failed attempt.
STABLE_LINK_S = 10.0
#: In a run of failures, at most one log line this often.
SUMMARY_S = 600.0


class RedialSchedule:
    """
    The redial delays and log lines of one target.

    :param clock: ``IReactorTime``.
    :param target: the target as the operator wrote it (for the log).
    :param retry_policy: ``attempt -> seconds`` (e.g. ``backoffPolicy()``).
    """

    def __init__(self, clock: IReactorTime, target: str,
                 retry_policy: Callable[[int], float]) -> None:
        self._clock = clock
        self.target = target
        self._retry_policy = retry_policy
        self.attempt = 0
        self._up_at: float | None = None
        self._quiet_until: float | None = None
        self._held = 0

    def dial_failed(self, reason: str) -> float:
        """The dial failed with ``reason``: seconds to wait before the next one."""
        delay = self._next_delay()
        self._note("cannot reach {target} ({reason}); retrying in {delay:.1f} s",
                   reason=reason, delay=delay)
        return delay

    def link_up(self) -> None:
        """The dial made a link (or found one up)."""
        self._up_at = self._clock.seconds()

    def link_lost(self, reason: str | None) -> float:
        """The link closed with ``reason`` (or None): seconds to wait before redialling."""
        lasted = self._clock.seconds() - (self._up_at if self._up_at is not None else 0.0)
        self._up_at = None
        reason = reason or "closed"
        if lasted >= STABLE_LINK_S:
            self.attempt, self._quiet_until, self._held = 0, None, 0
            _log.info("link to {target} closed ({reason}); redialling", target=self.target,
                      reason=reason)
            return 0.0
        delay = self._next_delay()
        self._note("link to {target} closed after {lasted:.1f} s ({reason}); redialling in "
                   "{delay:.1f} s", reason=reason, delay=delay, lasted=lasted)
        return delay

    def _next_delay(self) -> float:
        self.attempt += 1
        return self._retry_policy(self.attempt)

    def _note(self, text: str, *, reason: str, delay: float, **fields: Any) -> None:
        """One line of a run of failures, or a count towards its next summary."""
        now = self._clock.seconds()
        if self._quiet_until is not None and now < self._quiet_until:
            self._held += 1
            return
        if self._held:
            _log.info("{held} more failed attempts to keep a link to {target} in the last "
                      "{window:.0f} s (the last: {reason}); retrying in {delay:.1f} s",
                      held=self._held, target=self.target, window=SUMMARY_S, reason=reason,
                      delay=delay)
        else:
            _log.info(text, target=self.target, reason=reason, delay=delay, **fields)
        self._held = 0
        self._quiet_until = now + SUMMARY_S
