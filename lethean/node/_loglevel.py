"""
``--log-level``: keep events below a level out of twistd's log.

twistd writes every event it receives, debug included, and has no option
to choose a level.  Once its log observers are in place (when the node
starts), each is wrapped in a ``FilteringLogObserver`` that drops events
below the level; events without a level (old-style ones) pass.  The filter
is process-wide: an application that builds the node with
``tap.makeService`` gets it too (``--log-level debug`` lets everything
through).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    LogEvent,
    LogLevel,
    LogPublisher,
    PredicateResult,
    globalLogPublisher,
)
from zope.interface import implementer

__all__ = ["LOG_LEVEL_NAMES", "filter_log_observers", "parse_log_level"]

#: A ``LogLevel`` (or ``PredicateResult``) constant: constantly's
#: ``NamedConstant``, which carries no type information.
NamedConstant = Any

#: The names ``--log-level`` takes, lowest first.
LOG_LEVEL_NAMES = ("debug", "info", "warn", "error", "critical")


def parse_log_level(name: str) -> NamedConstant:
    """The ``LogLevel`` called ``name`` (any case); ValueError for another word."""
    name = name.strip().lower()
    if name not in LOG_LEVEL_NAMES:
        raise ValueError("a log level is one of: " + ", ".join(LOG_LEVEL_NAMES))
    return LogLevel.levelWithName(name)


@implementer(ILogFilterPredicate)
class _AtLeast:
    """The predicate: an event passes when it has no level or one at ``level`` or above."""

    def __init__(self, level: NamedConstant) -> None:
        self.level = level

    def __call__(self, event: LogEvent) -> NamedConstant:
        level = event.get("log_level")
        if level is not None and level < self.level:
            return PredicateResult.no
        return PredicateResult.maybe


class _Filtered(FilteringLogObserver):
    """An observer wrapped by :func:`filter_log_observers` (never wrapped twice)."""


def filter_log_observers(level: NamedConstant,
                         publisher: LogPublisher = globalLogPublisher) -> None:
    """Wrap every observer of ``publisher`` so that events below ``level`` are dropped."""
    predicate = _AtLeast(level)
    # A LogPublisher lists its observers only privately; nothing else reaches them.
    for observer in list(getattr(publisher, "_observers", ())):
        if isinstance(observer, _Filtered):
            observer._filterPredicates = [predicate]  # type: ignore[attr-defined]
            continue
        publisher.removeObserver(observer)
        publisher.addObserver(_Filtered(observer, [predicate]))
