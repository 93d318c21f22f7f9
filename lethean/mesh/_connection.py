"""
What every mesh link does once its handshake is done: sealed frames in and
out, keepalive, the capability exchange, and the bounds on what a peer can
make it do.

A link is driven by its thin Autobahn protocol (``_protocol``), which only
forwards events, and talks to its owner (the transport) through
``ILinkOwner``.  The handshakes are explicit state machines in
``_inbound`` (``upgrading -> awaiting_handshake -> proving -> open ->
closed``) and ``_outbound`` (``upgrading -> awaiting_ack -> open ->
closed``), subclasses of :class:`MeshConnection`.

Receive order per sealed frame (transport.md, plus weakness 13): rate
limit, decrypt, then the frame counts as activity, then the envelope
checks (``_checks``), de-duplication, then the link's own messages
(capabilities, session upgrade, ping, keepalive pong) or the owner's
consumers.  Frames that do not decrypt never refresh the idle timer, so
garbage cannot keep a dead peer alive.

Between two lethean peers that negotiated it in the handshake, the link
upgrades to a v2 session (``_upgrade``).

The link's behaviours are layered, one concept to a module: its state
(``_linkstate``), sealing and sending (``_sealing``), the bounds on what
arrives (``_linkbounds``), keepalive (``_keepalive``), the capability
exchange (``_announcement``), the v2 upgrade (``_upgrade``) and the ways
it ends (``_closing``); this module adds the handshake's end and
receiving.
"""

from __future__ import annotations

from zope.interface import implementer

from lethean.errors import LetheanError
from lethean.identity import NodeIdentity
from lethean.interfaces import IMeshConnection
from lethean.mesh._capabilities import CAPABILITIES
from lethean.mesh._closing import LinkClosing, reason_text
from lethean.mesh._envelope import PING, PONG, Message, open_message
from lethean.mesh._session import SESSION_UPGRADE
from lethean.smsg import FrameCipher

__all__ = ["MeshConnection", "reason_text"]


@implementer(IMeshConnection)
class MeshConnection(LinkClosing):
    """
    What both directions share once the handshake is done.

    ``owner`` provides ``ILinkOwner``; ``websocket`` is the Autobahn
    protocol carrying the frames (its ``transport`` is the connection's
    ``Wire``).
    """

    # -- the open link ---------------------------------------------------------

    def _begin(self, peer: NodeIdentity, secret: bytes) -> None:
        """The handshake is done: key the cipher, start keepalive."""
        self.peer = peer
        self.peer_id = peer.id
        self.shared_secret = secret
        self._cipher = FrameCipher(secret, max_frame_bytes=self._config.max_message_bytes)
        self.connected_at = self.last_activity = self._clock.seconds()
        self._keepalive.start(self._config.ping_interval_s, now=False)
        # Sealed frames now go straight to the link, not through the
        # machine's input (automat builds a bound input on every access).
        self.message_received = self._receive_sealed

    # -- receiving ----------------------------------------------------------------

    def _receive_sealed(self, frame: bytes, is_binary: bool) -> None:
        """One frame after the handshake; never raises."""
        if self._skip:
            self._skip = False
            return
        if not is_binary:
            self.drop("dropped_text_frame", "text frame after the handshake")
            return
        session = self._session
        if session is not None and session.keyed:
            self._receive_v2(session, frame)
            return
        cipher = self._cipher
        assert cipher is not None, "sealed frames are read once the handshake keyed the link"
        try:
            message = open_message(cipher, frame)

        except LetheanError as e:
            self._owner.report("decrypt_failed", "dropped frame: {}".format(e),
                               peer=self.address, peer_id=self.peer_id)
            if not self._bad.allow():
                self.drop("dropped_bad_frames", "kept sending frames that do not decrypt")
            return
        self._opened(frame)
        if session is not None:
            self._upgrade_received(session, message)
            return
        if not self._proven:
            self._proven = True
            self.proved()
            if self.closed:
                return
        self._accept(message)

    def _accept(self, message: Message) -> None:
        """Envelope checks and de-duplication, then the message is handled."""
        problem = self._envelope_problem(message)
        if problem is not None:
            reason, text = problem
            self._owner.report(reason, "dropped message: " + text, peer=self.address,
                               peer_id=self.peer_id)
            return
        if self._owner.is_duplicate(message.id):
            self._owner.count("duplicates")
            return
        self._handle(message)

    def _handle(self, message: Message) -> None:
        if message.type == CAPABILITIES:
            self._capabilities(message)
            return
        if message.type == SESSION_UPGRADE:
            if self._session is None:
                self.drop("dropped_session_refused",
                          "session upgrade from a peer that did not negotiate v2")
            else:
                self.drop("dropped_session_refused", "a second session upgrade")
            return
        # Any other frame first: the peer announces nothing (a Go peer).
        self._announce()
        if message.type == PING:
            self._pong(message)
            return
        if message.type == PONG and self._pong_received(message):
            return
        self._owner.count("messages_received")
        for result in self._owner.deliver(self, message) or ():
            if not result.called:
                self._in_flight += 1
                if self._in_flight > self._config.max_in_flight:
                    self._pause("busy")
                result.addBoth(self._finished)
