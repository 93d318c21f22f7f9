"""
The responder's link: ``upgrading -> awaiting_handshake -> proving -> open
-> closed``, as an automat machine.

``proving`` is an accepted initiator that has not yet proved it holds its
key: it stays in the pending pool and never holds a peer id until its first
sealed frame decrypts (on a v2 link: its first v2 frame, which its upgrade
precedes).  The decisions are ``_handshake.respond``'s; the
open link's behaviour is :class:`~lethean.mesh.MeshConnection`'s.
"""

from __future__ import annotations

from automat import MethodicalMachine
from twisted.python.failure import Failure

from lethean.interfaces import IAdmission, ILinkOwner
from lethean.mesh._connection import MeshConnection, reason_text
from lethean.mesh._handshake import Accept, Reject, respond
from lethean.mesh._linkstate import LinkSocket

from lethean.mesh._logs import clean

__all__ = ["InboundLink"]


class InboundLink(MeshConnection):
    """The responder's link (see the module docstring for its states)."""

    outbound = False
    _machine = MethodicalMachine()

    def __init__(self, owner: ILinkOwner, websocket: LinkSocket) -> None:
        super().__init__(owner, websocket)
        self._admission: IAdmission | None = IAdmission(websocket.transport, None)
        self._ack = b""

    # states

    @_machine.state(initial=True)
    def upgrading(self) -> None:
        """The HTTP upgrade is being answered."""

    @_machine.state()
    def awaiting_handshake(self) -> None:
        """The WebSocket is open; the first text frame must be a handshake."""

    @_machine.state()
    def proving(self) -> None:
        """Accepted: the initiator has not yet proved it holds its key."""

    @_machine.state()
    def open(self) -> None:
        """Proven and registered: messages flow."""

    @_machine.state()
    def closed_(self) -> None:
        """Gone, or going."""

    # inputs

    @_machine.input()
    def opened(self) -> None:
        """The WebSocket is open."""

    @_machine.input()
    def message_received(self, payload: bytes, is_binary: bool) -> None:
        """A whole WebSocket message arrived."""

    @_machine.input()
    def accept(self, decision: Accept) -> None:
        """The handshake was accepted."""

    @_machine.input()
    def reject(self, decision: Reject) -> None:
        """The handshake was rejected with a reason."""

    @_machine.input()
    def refuse(self, reason: str, text: str) -> None:
        """The handshake is dropped without a word."""

    @_machine.input()
    def proved(self) -> None:
        """A sealed frame from the initiator decrypted."""

    @_machine.input()
    def drop(self, reason: str, text: str) -> None:
        """Abort the connection: the peer misbehaves or is dead."""

    @_machine.input()
    def shutdown(self, reason: str | None = None, code: int | None = None) -> None:
        """Close gracefully (with a sealed disconnect when ``reason`` is given)."""

    @_machine.input()
    def lost(self, failure: Failure) -> None:
        """The connection is gone."""

    # outputs

    @_machine.output()
    def _respond(self, payload: bytes, is_binary: bool) -> None:
        if is_binary:
            self.refuse("refused_bad_handshake", "binary frame during the handshake")
            return
        owner = self._owner
        self._hello = bytes(payload)
        decision = respond(owner.identity, owner.registry, payload, clock=self._clock,
                           sessions=self._sessions)
        if isinstance(decision, Accept):
            peer = self._websocket.transport.getPeer()
            refusal = owner.refusal(getattr(peer, "host", None), decision.peer)
            if refusal is not None:
                self.peer_id = decision.peer.id
                self.refuse("refused_offender", refusal)
                return
            self.accept(decision)
        elif isinstance(decision, Reject):
            self.reject(decision)
        else:
            self.peer_id = clean(decision.peer_id, 64)
            self.refuse("refused_bad_handshake", decision.reason)

    @_machine.output()
    def _send_ack(self, decision: Accept) -> None:
        self._ack = decision.ack.to_bytes()
        self._websocket.sendMessage(self._ack, isBinary=False)
        self._owner.count("handshake_accepted")
        self._begin(decision.peer, decision.shared_secret)
        if self._admission is not None:
            self._admission.accepted()
        self._owner.link_accepted(self)

    @_machine.output()
    def _send_first_sealed(self, decision: Accept) -> None:
        if decision.session:
            self._start_session(self._ack)
        else:
            self._send_capabilities()
        self._ack = b""

    @_machine.output()
    def _send_rejection(self, decision: Reject) -> None:
        self._websocket.sendMessage(decision.ack.to_bytes(), isBinary=False)
        self.closed = True
        self._owner.report("refused_" + decision.kind, decision.reason, peer=self.address,
                           peer_id=decision.peer_id)
        self._offence("refused_" + decision.kind)
        # The ack is already in the socket buffer; loseConnection sends it first.
        self._lose_connection()

    @_machine.output()
    def _refuse_now(self, reason: str, text: str) -> None:
        self.closed = True
        self._owner.report(reason, text, peer=self.address, peer_id=self.peer_id)
        self._offence(reason)
        self._abort_connection()

    @_machine.output()
    def _admit(self) -> None:
        if self._admission is not None:
            self._admission.admitted()
        self._owner.link_proven(self)
        if not self.closed:
            self._log_up()

    @_machine.output()
    def _drop_unproven(self, reason: str, text: str) -> None:
        self._owner.report(reason, text, peer=self.address, peer_id=self.peer_id)
        self._offence(reason)
        self._stop(text)
        self._abort_connection()

    @_machine.output()
    def _drop_open(self, reason: str, text: str) -> None:
        self._drop_while_open(reason, text)

    @_machine.output()
    def _close_unproven(self, reason: str | None, code: int | None) -> None:
        self._say_goodbye(reason, code)
        self._stop(reason or "closed")
        self._lose_connection()

    @_machine.output()
    def _close_open(self, reason: str | None, code: int | None) -> None:
        self._close_while_open(reason, code)

    @_machine.output()
    def _lost_early(self, failure: Failure) -> None:
        self.closed = True
        self._report_drop(failure)

    @_machine.output()
    def _lost_unproven(self, failure: Failure) -> None:
        self._report_drop(failure)
        self._stop(reason_text(failure))

    @_machine.output()
    def _lost_open(self, failure: Failure) -> None:
        self._lost_while_open(failure)

    @_machine.output()
    def _gone(self) -> None:
        self._gone_now()

    @_machine.output()
    def _receive(self, payload: bytes, is_binary: bool) -> None:
        self._receive_sealed(payload, is_binary)

    upgrading.upon(opened, enter=awaiting_handshake, outputs=[])
    awaiting_handshake.upon(message_received, enter=awaiting_handshake, outputs=[_respond])
    awaiting_handshake.upon(accept, enter=proving, outputs=[_send_ack, _send_first_sealed])
    awaiting_handshake.upon(reject, enter=closed_, outputs=[_send_rejection])
    awaiting_handshake.upon(refuse, enter=closed_, outputs=[_refuse_now])
    for _state in (upgrading, awaiting_handshake):
        _state.upon(drop, enter=closed_, outputs=[_refuse_now])
        _state.upon(shutdown, enter=closed_, outputs=[_close_unproven])
        _state.upon(lost, enter=closed_, outputs=[_lost_early, _gone])
    proving.upon(message_received, enter=proving, outputs=[_receive])
    proving.upon(proved, enter=open, outputs=[_admit])
    proving.upon(drop, enter=closed_, outputs=[_drop_unproven])
    proving.upon(shutdown, enter=closed_, outputs=[_close_unproven])
    proving.upon(lost, enter=closed_, outputs=[_lost_unproven, _gone])
    open.upon(message_received, enter=open, outputs=[_receive])
    open.upon(drop, enter=closed_, outputs=[_drop_open])
    open.upon(shutdown, enter=closed_, outputs=[_close_open])
    open.upon(lost, enter=closed_, outputs=[_lost_open, _gone])
    closed_.upon(message_received, enter=closed_, outputs=[])
    closed_.upon(drop, enter=closed_, outputs=[])
    closed_.upon(shutdown, enter=closed_, outputs=[])
    closed_.upon(lost, enter=closed_, outputs=[_gone])
    del _state
