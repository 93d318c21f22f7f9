"""
Logs that survive an attack: peer-controlled text escaped and truncated,
and at most a few lines per reason before a periodic summary takes over.

A flood of refused connections would otherwise write one line each, and a
request line of 256 KiB would be copied into the log twice.
:class:`LogLimiter` lets ``per_reason`` events of each reason through per
``window_s`` (and ``total`` of all reasons), counts the rest, and writes one
summary line per reason at the end of the window.  It runs on the injected
clock.
"""

from __future__ import annotations

import re
from collections import Counter

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger


__all__ = ["clean", "peer_text", "LogLimiter", "AutobahnLog",
           "LOG_WINDOW_S", "LOG_PER_REASON", "LOG_TOTAL", "MAX_LOGGED_CHARS"]

_log = Logger(namespace="lethean.mesh")

#: Length of the log window, and how many lines each reason (and all of
#: them together) may write in it before only the summary is written.
LOG_WINDOW_S = 10.0
LOG_PER_REASON = 5
LOG_TOTAL = 50
#: Peer-controlled text longer than this is cut in log lines.
MAX_LOGGED_CHARS = 120


def clean(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """
    ``value`` made safe for one log line: control and non-ASCII characters
    escaped, cut to ``limit`` characters with a note of what was cut.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        value_text = bytes(value[:limit * 4]).decode("latin-1")
    else:
        value_text = str(value)
    cut = len(value_text) > limit * 4
    text = value_text[:limit * 4].encode("unicode_escape").decode("ascii")
    if len(text) > limit or cut:
        return "{}...(cut)".format(text[:limit])
    return text


def peer_text(address: object) -> str:
    """``host:port`` of an ``IAddress`` (or the value itself as text)."""
    host = getattr(address, "host", None)
    if host is None:
        return clean(address, 64)
    return "{}:{}".format(host, getattr(address, "port", "?"))


class LogLimiter:
    """Rate-limits log events per reason on ``clock``, with periodic summaries."""

    def __init__(self, clock: IReactorTime, *, window_s: float = LOG_WINDOW_S,
                 per_reason: int = LOG_PER_REASON, total: int = LOG_TOTAL,
                 log: Logger = _log) -> None:
        self._clock = clock
        self.window_s = window_s
        self.per_reason = per_reason
        self.total = total
        self._log = log
        self._written: Counter[str] = Counter()
        self._suppressed: Counter[str] = Counter()
        self._window_end: float | None = None
        self._summary: IDelayedCall | None = None

    def allow(self, reason: str) -> bool:
        """True if an event for ``reason`` may be written now (else it is counted)."""
        now = self._clock.seconds()
        if self._window_end is None or now >= self._window_end:
            self._window_end = now + self.window_s
            self._written.clear()
        if (self._written[reason] < self.per_reason
                and sum(self._written.values()) < self.total):
            self._written[reason] += 1
            return True
        self._suppressed[reason] += 1
        if self._summary is None:
            self._summary = self._clock.callLater(self.window_s, self.flush)
        return False

    def flush(self) -> None:
        """Write one summary line per reason whose events were held back."""
        if self._summary is not None and self._summary.active():
            self._summary.cancel()
        self._summary = None
        suppressed, self._suppressed = self._suppressed, Counter()
        for reason, count in sorted(suppressed.items()):
            self._log.warn("{count} more {reason} events in the last {window_s:.0f} s "
                           "(not logged one by one)",
                           count=count, reason=reason, window_s=self.window_s)

    def stop(self) -> None:
        """Write what is pending and cancel the timer."""
        self.flush()


class AutobahnLog:
    """
    Autobahn's per-protocol ``log``: its debug lines are dropped, the rest
    (refused handshakes, failed connections) go through the limiter as
    ``websocket`` events, escaped.
    """

    def __init__(self, limiter: LogLimiter, peer: str) -> None:
        self._limiter = limiter
        self._peer = peer

    def _emit(self, level: str, format: str, **fields: object) -> None:
        if format.startswith(_OURS):
            return  # the link already said why it dropped the connection
        if self._limiter.allow("websocket"):
            try:
                text = format.format(**fields)
            except (KeyError, IndexError, ValueError, AttributeError):
                text = format
            getattr(_log, level)("websocket {peer}: {reason}", peer=self._peer,
                                 reason=clean(_tls_words(text)))

    def debug(self, *args: object, **kwargs: object) -> None:
        pass

    trace = debug

    def info(self, format: str, **fields: object) -> None:
        self._emit("info", format, **_safe(fields))

    def warn(self, format: str, **fields: object) -> None:
        self._emit("warn", format, **_safe(fields))

    def error(self, format: str, **fields: object) -> None:
        self._emit("warn", format, **_safe(fields))

    critical = failure = error


def _tls_words(text: str) -> str:
    """
    Autobahn's ``SSL error: REASON (in FUNCTION)`` (the function is often
    empty) as a line that says what happened.
    """
    match = _SSL_ERROR.fullmatch(text)
    if match is None:
        return text
    reason, where = match.group(1), match.group(2)
    if reason == "http request":
        return "TLS error: plain HTTP on the TLS port (it dialled ws://, not wss://)"
    return "TLS error: {}{}".format(reason, " (in {})".format(where) if where else "")


_SSL_ERROR = re.compile(r"SSL error: (.*?) \(in (.*)\)", re.S)

#: Autobahn's lines about drops the link reports itself.
_OURS = ("dropping connection", "failing WebSocket connection")


def _safe(fields: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in fields.items() if key != "log_failure"}
