"""
A link's upgrade to a v2 session (``_session``), between two lethean peers
that negotiated it in the handshake.

Each side's first sealed frame is its ``session_upgrade`` (sealed with the
static pair key), every later frame a v2 frame.  Nothing else is sealed
with the static key: messages sent meanwhile wait in a bounded queue.  The
link is registered (and ``link up`` logged) once the peer's first v2 frame
has opened, or dropped if that does not happen within
``session_timeout_s``.
"""

from __future__ import annotations

from lethean.errors import LetheanError
from lethean.mesh._announcement import LinkAnnouncement
from lethean.mesh._envelope import Message, decode_message, new_message
from lethean.mesh._errors import SessionError
from lethean.mesh._logs import clean
from lethean.mesh._session import SESSION_UPGRADE, Session, transcript_hash

__all__ = ["LinkUpgrade"]


class LinkUpgrade(LinkAnnouncement):
    """Start, complete and end a link's v2 session."""

    def _start_session(self, ack: bytes) -> None:
        """
        The handshake negotiated v2: send our upgrade (the only frame
        sealed with the static key) and start the upgrade's deadline.
        ``ack`` is the ack frame, as sent or received.
        """
        local = self._owner.identity.identity.raw_public_key
        assert self.peer is not None and self.shared_secret is not None, "after the handshake"
        peer = self.peer.raw_public_key
        session = self._session = Session(
            self._clock, initiator=bool(self.outbound), shared_secret=self.shared_secret,
            initiator_key=local if self.outbound else peer,
            responder_key=peer if self.outbound else local,
            transcript=transcript_hash(self._hello, ack),
            max_frame_bytes=self._config.max_message_bytes)
        self._hello = b""
        self._session_deadline = self._clock.callLater(
            self._config.session_timeout_s, self._session_late)
        upgrade = new_message(SESSION_UPGRADE, self._owner.identity.id, self.peer_id,
                              session.start(), clock=self._clock)
        self.send_frame(self._seal_v1(upgrade))

    def _session_late(self) -> None:
        self._session_deadline = None
        self.drop("dropped_session_timeout", "no v2 session within {} s".format(
            self._config.session_timeout_s))

    def _upgrade_received(self, session: Session, message: Message) -> None:
        """The peer's first sealed frame on a v2 link: it must be its upgrade."""
        if message.type != SESSION_UPGRADE:
            self.drop("dropped_session_refused", "expected the session upgrade, got {}".format(
                clean(message.type, 64)))
            return
        problem = self._envelope_problem(message)
        if problem is not None:
            self.drop("dropped_session_refused", "session upgrade refused: " + problem[1])
            return
        try:
            session.upgrade(message.payload)
        except SessionError as e:
            self.drop(e.reason, str(e))
            return
        # Our stream's first frames: our capabilities (then, from the
        # initiator, the ping a Go peer would expect), then what waited.
        self._send_capabilities()
        if self.outbound:
            self._ping()
        for data in session.release():
            if self.closed or session.cipher is None:
                return
            self.send_frame(session.cipher.seal(data))

    def _receive_v2(self, session: Session, frame: bytes) -> None:
        cipher = session.cipher
        assert cipher is not None, "v2 frames are read once the session is keyed"
        try:
            message = decode_message(cipher.open(frame))
        except SessionError as e:
            self.drop(e.reason, "v2 frame refused: {}".format(e))
            return
        except LetheanError as e:
            self.drop("dropped_session_frame", "v2 frame refused: {}".format(e))
            return
        self._opened(frame)
        if session.state != "v2":
            self._session_established(session)
            if self.closed:
                return
        self._accept(message)

    def _session_established(self, session: Session) -> None:
        """The peer's first v2 frame opened: the session is up, the link may be registered."""
        session.opened()
        self.session = "v2"
        if self._session_deadline is not None and self._session_deadline.active():
            self._session_deadline.cancel()
        self._session_deadline = None
        self._owner.count("sessions_v2")
        if not self._proven:
            # The responder: a v2 frame proves the initiator holds its key
            # now (a replayed handshake and upgrade cannot make one).
            self._proven = True
            self.proved()
        else:
            self._owner.link_proven(self)
            if not self.closed:
                self._log_up()

    def _end_session(self) -> None:
        if self._session_deadline is not None and self._session_deadline.active():
            self._session_deadline.cancel()
        self._session_deadline = None
        if self._session is not None:
            self._session.forget()
