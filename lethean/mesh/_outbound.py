"""
The initiator's link: ``upgrading -> awaiting_ack -> open -> closed``, as an
automat machine, with its own handshake deadline.

The ack is checked by ``_handshake.verify_ack``; the open link's behaviour
is :class:`~lethean.mesh.MeshConnection`'s.
"""

from __future__ import annotations

from automat import MethodicalMachine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from lethean.errors import LetheanError
from lethean.interfaces import ILinkOwner
from lethean.identity import generate_challenge
from lethean.mesh._connection import MeshConnection, reason_text
from lethean.mesh._counters import REFUSED_SELF
from lethean.mesh._errors import HandshakeError, HandshakeTimeoutError, SelfConnectionError
from lethean.mesh._handshake import Acked, handshake_message, verify_ack
from lethean.mesh._linkstate import LinkSocket

from lethean.mesh._session import offer_challenge

__all__ = ["OutboundLink"]


class OutboundLink(MeshConnection):
    """The initiator's link; ``result`` fires with it once open, or fails."""

    outbound = True
    _machine = MethodicalMachine()

    def __init__(self, owner: ILinkOwner, websocket: LinkSocket,
                 result: Deferred[OutboundLink], *, dialled: str | None,
                 expected_id: str | None = None, expected_key: str | None = None) -> None:
        super().__init__(owner, websocket)
        self.dialled = dialled
        self._result = result
        self._expected_id = expected_id
        self._expected_key = expected_key
        self._challenge = b""
        self._deadline: IDelayedCall | None = self._clock.callLater(self._config.handshake_timeout_s, self.timed_out)

    @_machine.state(initial=True)
    def upgrading(self) -> None:
        """The HTTP upgrade is under way."""

    @_machine.state()
    def awaiting_ack(self) -> None:
        """Our handshake is sent; the responder's ack must verify."""

    @_machine.state()
    def open(self) -> None:
        """The responder proved its key: messages flow."""

    @_machine.state()
    def closed_(self) -> None:
        """Gone, or going."""

    @_machine.input()
    def opened(self) -> None:
        """The WebSocket is open."""

    @_machine.input()
    def message_received(self, payload: bytes, is_binary: bool) -> None:
        """A whole WebSocket message arrived."""

    @_machine.input()
    def accepted(self, acked: Acked, ack: bytes) -> None:
        """The ack (the frame ``ack``) verified: ``acked`` says who and how."""

    @_machine.input()
    def failed(self, error: LetheanError) -> None:
        """The handshake failed with ``error``."""

    @_machine.input()
    def timed_out(self) -> None:
        """The handshake deadline passed."""

    @_machine.input()
    def proved(self) -> None:
        """A sealed frame from the responder decrypted (it proved its key already)."""

    @_machine.input()
    def drop(self, reason: str, text: str) -> None:
        """Abort the connection: the peer misbehaves or is dead."""

    @_machine.input()
    def shutdown(self, reason: str | None = None, code: int | None = None) -> None:
        """Close gracefully (with a sealed disconnect when ``reason`` is given)."""

    @_machine.input()
    def lost(self, failure: Failure) -> None:
        """The connection is gone."""

    @_machine.output()
    def _send_handshake(self) -> None:
        local = self._owner.identity
        # A v2 offer looks like any 32 random bytes to a Go responder.
        self._challenge = (offer_challenge(local.identity.raw_public_key) if self._sessions
                           else generate_challenge())
        message = handshake_message(local, self._expected_id or "", self._challenge,
                                    clock=self._clock)
        self._hello = message.to_bytes()
        self._websocket.sendMessage(self._hello, isBinary=False)

    @_machine.output()
    def _verify(self, payload: bytes, is_binary: bool) -> None:
        try:
            acked = verify_ack(self._owner.identity, payload, self._challenge,
                               max_bytes=self._config.max_message_bytes,
                               expected_key=self._expected_key,
                               expected_id=self._expected_id, offered=self._sessions)
        except LetheanError as e:
            self.failed(e)
        else:
            self.accepted(acked, bytes(payload))

    @_machine.output()
    def _open(self, acked: Acked, ack: bytes) -> None:
        self._cancel_deadline()
        self._proven = True
        self._begin(acked.peer, acked.shared_secret)
        if acked.session:
            # Our upgrade proves our key; the link is registered once the
            # responder's first v2 frame opens.
            self._start_session(ack)
        else:
            # First sealed frames: our capabilities, which prove our key,
            # then the keepalive ping a Go worker answers at once.
            self._hello = b""
            self._send_capabilities()
            self._ping()
            self._owner.link_proven(self)
            if not self.closed:
                self._log_up()
                self._await_capabilities()
        self._result.callback(self)

    @_machine.output()
    def _fail(self, error: LetheanError) -> None:
        self._cancel_deadline()
        self.closed = True
        reason = "handshake_failed:" + error.kind
        if isinstance(error, SelfConnectionError):
            reason = REFUSED_SELF
        self._owner.report(reason, str(error), peer=self.address,
                           peer_id=self._expected_id or "")
        transport = self._websocket.transport
        if transport is not None:
            transport.abortConnection()
        self._result.errback(error)

    @_machine.output()
    def _time_out(self) -> None:
        self._deadline = None
        error = HandshakeTimeoutError("no mesh handshake within {} s".format(
            self._config.handshake_timeout_s))
        self.closed = True
        self._owner.report("handshake_timeout", str(error), peer=self.address,
                           peer_id=self._expected_id or "")
        transport = self._websocket.transport
        if transport is not None:
            transport.abortConnection()
        self._result.errback(error)

    @_machine.output()
    def _lost_early(self, failure: Failure) -> None:
        self._cancel_deadline()
        self.closed = True
        self._report_drop(failure)
        self._result.errback(HandshakeError("connection lost during the handshake: {}".format(
            reason_text(failure))))

    @_machine.output()
    def _drop_open(self, reason: str, text: str) -> None:
        self._drop_while_open(reason, text)

    @_machine.output()
    def _close_open(self, reason: str | None, code: int | None) -> None:
        self._close_while_open(reason, code)

    @_machine.output()
    def _drop_early(self, reason: str, text: str) -> None:
        self._cancel_deadline()
        self.closed = True
        self._owner.report(reason, text, peer=self.address, peer_id=self._expected_id or "")
        self._offence(reason)
        self._abort_connection()
        self._result.errback(HandshakeError(text))

    @_machine.output()
    def _close_early(self) -> None:
        self._cancel_deadline()
        self.closed = True
        transport = self._websocket.transport
        if transport is not None:
            transport.abortConnection()
        self._result.errback(HandshakeError("closed during the handshake"))

    @_machine.output()
    def _lost_open(self, failure: Failure) -> None:
        self._lost_while_open(failure)

    @_machine.output()
    def _gone(self) -> None:
        self._gone_now()

    @_machine.output()
    def _receive(self, payload: bytes, is_binary: bool) -> None:
        self._receive_sealed(payload, is_binary)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    upgrading.upon(opened, enter=awaiting_ack, outputs=[_send_handshake])
    awaiting_ack.upon(message_received, enter=awaiting_ack, outputs=[_verify])
    awaiting_ack.upon(accepted, enter=open, outputs=[_open])
    awaiting_ack.upon(failed, enter=closed_, outputs=[_fail])
    upgrading.upon(failed, enter=closed_, outputs=[_fail])
    for _state in (upgrading, awaiting_ack):
        _state.upon(timed_out, enter=closed_, outputs=[_time_out])
        _state.upon(shutdown, enter=closed_, outputs=[_close_early])
        _state.upon(drop, enter=closed_, outputs=[_drop_early])
        _state.upon(lost, enter=closed_, outputs=[_lost_early, _gone])
    open.upon(message_received, enter=open, outputs=[_receive])
    open.upon(proved, enter=open, outputs=[])
    open.upon(drop, enter=closed_, outputs=[_drop_open])
    open.upon(shutdown, enter=closed_, outputs=[_close_open])
    open.upon(lost, enter=closed_, outputs=[_lost_open, _gone])
    closed_.upon(message_received, enter=closed_, outputs=[])
    closed_.upon(drop, enter=closed_, outputs=[])
    closed_.upon(shutdown, enter=closed_, outputs=[])
    closed_.upon(timed_out, enter=closed_, outputs=[])
    closed_.upon(lost, enter=closed_, outputs=[_gone])
    del _state
