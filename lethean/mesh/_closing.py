"""
How a link ends: closed by us (a sealed ``disconnect`` first, best effort),
dropped by us (aborted, counted, an offence if it is one), or lost; the
owner is told once, every timer stops, and whoever waits for the end hears
of it when the connection is gone.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.python.failure import Failure

from lethean.errors import LetheanError
from lethean.mesh._envelope import DISCONNECT, DISCONNECT_NORMAL, new_message
from lethean.mesh._linkbounds import LinkBounds
from lethean.mesh._logs import clean
from lethean.mesh._upgrade import LinkUpgrade

__all__ = ["LinkClosing", "reason_text"]


class LinkClosing(LinkUpgrade, LinkBounds):
    """Close, drop, lose: the ways out of the open (or proving) state."""

    def close(self, reason: str | None = None, code: int | None = None) -> defer.Deferred[None]:
        """
        Close the link; with ``reason``, first a sealed ``disconnect``
        ``{"reason", "code"}`` (best effort).  Returns a Deferred that fires
        once the connection is gone.
        """
        self.shutdown(reason, code)
        return self.when_lost()

    def when_lost(self) -> defer.Deferred[None]:
        """A Deferred firing (with None) when the connection has gone."""
        if self._gone:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._lost.append(d)
        return d

    def _say_goodbye(self, reason: str | None, code: int | None) -> None:
        if reason is None or self._cipher is None:
            return
        session = self._session
        if session is not None and not session.keyed:
            return  # nothing but the upgrade under the static key
        message = new_message(DISCONNECT, self._owner.identity.id, self.peer_id,
                              {"reason": reason,
                               "code": DISCONNECT_NORMAL if code is None else code},
                              clock=self._clock)
        try:
            # On a v2 link, the last frame of our stream.
            self.send_frame(self.seal(message, final=True))
        except LetheanError:
            pass

    def _stop(self, reason: str) -> None:
        """Leave the open (or proving) state: timers off, owner told once."""
        self.message_received = _ignore
        self.closed = True
        self.reason = reason
        if self._keepalive.running:
            self._keepalive.stop()
        self._end_session()
        self._announce()
        self._owner.link_lost(self, reason)

    def _lose_connection(self) -> None:
        transport = self._websocket.transport
        if transport is not None:
            # No WebSocket close frame, as the reference: TCP close once
            # the buffer has drained.
            transport.loseConnection()

    def _abort_connection(self) -> None:
        # Through Autobahn, so that it stops parsing what is already buffered.
        if self._websocket.transport is not None:
            self._websocket.dropConnection(abort=True)

    def _report_drop(self, failure: Failure) -> None:
        """When we dropped the connection (a deadline, a full send buffer), say why once."""
        reason = getattr(failure.value, "reason", None)
        if reason is not None:
            self._owner.report(reason, str(failure.value), peer=self.address,
                               peer_id=self.peer_id)
            self._offence(reason)

    def _count_drop(self, failure: Failure) -> None:
        reason = getattr(failure.value, "reason", None)
        if reason is not None:
            self._owner.count(reason)

    def _gone_now(self) -> None:
        self.closed = True
        self._gone = True
        for call in self._resume_calls.values():
            if call.active():
                call.cancel()
        self._resume_calls = {}
        if self._announce_timer is not None and self._announce_timer.active():
            self._announce_timer.cancel()
        self._announce_timer = None
        self._end_session()
        waiters, self._lost = self._lost, []
        for d in waiters:
            d.callback(None)

    def _drop_while_open(self, reason: str, text: str) -> None:
        self._owner.count(reason)
        self._offence(reason)
        self._log_down(text)
        self._stop(text)
        self._abort_connection()

    def _close_while_open(self, reason: str | None, code: int | None) -> None:
        self._say_goodbye(reason, code)
        self._log_down(reason or "closed")
        self._stop(reason or "closed")
        self._lose_connection()

    def _lost_while_open(self, failure: Failure) -> None:
        text = reason_text(failure)
        self._count_drop(failure)
        self._log_down(text)
        self._stop(text)


def _ignore(payload: bytes, is_binary: bool) -> None:
    """Frames after the link closed."""


def reason_text(failure: Failure) -> str:
    """Why a connection was lost, short and escaped."""
    return clean(failure.getErrorMessage() or type(failure.value).__name__)
