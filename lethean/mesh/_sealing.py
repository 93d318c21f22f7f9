"""
A link's sending side: every message is sealed (the reference's static
pair key, or the v2 session's stream) and every frame counted.
"""

from __future__ import annotations

from lethean.errors import LetheanError
from lethean.mesh._envelope import Message, new_message
from lethean.mesh._errors import MessageTooLargeError, NotConnectedError
from lethean.mesh._linkstate import LinkState
from lethean.mesh._session import FRAME_OVERHEAD_BYTES

__all__ = ["LinkSending"]


class LinkSending(LinkState):
    """Seal and send (see the module docstring)."""

    def seal(self, message: Message, *, final: bool = False) -> bytes:
        """
        The next frame for ``message``; MessageTooLargeError over the peer's
        limit.  On a v2 link the frame takes the next place in the stream:
        send it, and in order.  ``final`` (v2) ends our stream.
        """
        session = self._session
        if session is not None and session.cipher is not None:
            return session.cipher.seal(message.to_bytes(), final=final)
        return self._seal_v1(message)

    def _seal_v1(self, message: Message) -> bytes:
        cipher = self._cipher
        assert cipher is not None, "sealing starts once the handshake keyed the link"
        try:
            return cipher.seal(message, timestamp=int(self._clock.seconds()))
        except LetheanError as e:
            raise MessageTooLargeError(str(e)) from None

    def send(self, message: Message) -> None:
        if self.closed or self._cipher is None:
            raise NotConnectedError("peer {} not connected".format(self.peer_id))
        session = self._session
        if session is not None and not session.keyed:
            # Nothing but the upgrade goes out under the static key.
            data = message.to_bytes()
            self._session_size_check(data)
            session.hold(data)
            return
        self.send_frame(self.seal(message))

    def _session_size_check(self, data: bytes) -> None:
        size = len(data) + FRAME_OVERHEAD_BYTES
        if size > self._config.max_message_bytes:
            raise MessageTooLargeError("frame of {} bytes, limit {}".format(
                size, self._config.max_message_bytes))

    def send_frame(self, frame: bytes) -> None:
        """Send one sealed frame; every byte counts against the peer's send budget."""
        if self.closed or self._cipher is None:
            raise NotConnectedError("peer {} not connected".format(self.peer_id))
        self.frames_out += 1
        self.bytes_out += len(frame)
        self._websocket.sendMessage(frame, isBinary=True)

    def _send_new(self, type: str, payload: object) -> Message:
        message = new_message(type, self._owner.identity.id, self.peer_id, payload,
                              clock=self._clock)
        self.send(message)
        return message
