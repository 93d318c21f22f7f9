"""
The bounds on what a peer can make its link do, charged as a WebSocket
message arrives (before it is read whole): the message rate, the bytes,
the fragments, the control frames, the work in flight.  Past a bound the
link pauses reading, skips the message, or drops the peer; a drop for a
reason that is an offence (``_counters.OFFENCES``) is a strike against
the peer's address and key.
"""

from __future__ import annotations

from typing import TypeVar

from lethean.mesh._counters import OFFENCES
from lethean.mesh._linkstate import LinkState

__all__ = ["LinkBounds", "MAX_HANDSHAKE_BYTES"]

#: The largest handshake (or ack) message read: an honest one is well under
#: a kilobyte, and a stranger's is parsed before anything else is known.
MAX_HANDSHAKE_BYTES = 64 * 1024

_T = TypeVar("_T")


class LinkBounds(LinkState):
    """What arrives, as it arrives (called by the Autobahn protocol)."""

    def message_begins(self) -> None:
        """A WebSocket message starts: charge the peer's message rate now."""
        self._fragments = 0
        self._message_bytes = 0
        if self._cipher is None:
            return
        if self._bucket.allow():
            self._skip = False
            return
        self._owner.count("rate_limited")
        session = self._session
        if session is not None and session.keyed:
            # A session frame cannot be skipped unread (its stream would
            # lose its place): read it, and pause reading until it is due.
            self._skip = False
            self._pause("rate", self._bucket.take(1))
            return
        self._skip = True
        # Excess is forgiven only slowly: tokens trickling in between the
        # frames of a flood must not reset it.
        if not self._excess.allow():
            self.drop("dropped_flooding", "kept sending past its rate limit")

    def fragment_begins(self, length: int) -> None:
        """A frame of a message starts: bound the fragments, charge the bytes."""
        self._fragments += 1
        self._message_bytes += length
        if self._cipher is None and self._message_bytes > MAX_HANDSHAKE_BYTES:
            self.drop("refused_bad_handshake", "handshake message over {} bytes".format(
                MAX_HANDSHAKE_BYTES))
            return
        config = self._config
        if self._fragments > config.max_fragments + self._message_bytes // config.fragment_bytes:
            self.drop("dropped_fragments", "{} fragments for {} bytes".format(
                self._fragments, self._message_bytes))
            return
        wait = self._bytes.take(length)
        if wait > 0 and not self.closed:
            self._pause("bytes", wait)

    def control_frame(self) -> bool:
        """A ping or pong arrived; False (and the peer dropped) past the control rate."""
        if self._control.allow():
            return True
        self.drop("dropped_control_frames", "too many WebSocket control frames")
        return False

    def protocol_error(self, text: str) -> None:
        """Autobahn failed the connection for a WebSocket protocol violation."""
        self.drop("dropped_protocol_error", text)

    def _pause(self, reason: str, seconds: float | None = None) -> None:
        transport = self._websocket.transport
        if not self._pauses and transport is not None:
            transport.pauseProducing()
        self._pauses.add(reason)
        if seconds is not None:
            call = self._resume_calls.get(reason)
            if call is not None and call.active():
                call.cancel()
            self._resume_calls[reason] = self._clock.callLater(seconds, self._resume, reason)

    def _resume(self, reason: str) -> None:
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        transport = self._websocket.transport
        if not self._pauses and transport is not None and not self._gone:
            transport.resumeProducing()

    def _finished(self, result: _T) -> _T:
        """A consumer's work for a message ended: resume reading once few are left."""
        self._in_flight -= 1
        if self._in_flight <= self._config.max_in_flight // 2:
            self._resume("busy")
        return result

    def _offence(self, reason: str) -> None:
        """
        A strike for the address, and for the key once the peer proved it
        holds it (an unproven link may be a replay of someone else's key).
        """
        if reason in OFFENCES:
            transport = self._websocket.transport
            peer = transport.getPeer() if transport is not None else None
            key = self.peer.public_key if self._proven and self.peer is not None else None
            self._owner.offence(getattr(peer, "host", None), key)
