"""
The mesh handshake without I/O: build the two text frames and decide.

The responder's decision is one of :class:`Accept` (send the ack, then
sealed frames), :class:`Reject` (send the rejection ack, then close) or
:class:`Drop` (close without a word), in the reference's order of checks:
version, key, authorisation (handshake.md 2).  Ours add: the claimed id
must be the id of the key, and a known id must present its stored key
(both inside ``IPeerRegistry.check_peer``); a claimed id that is not
its key's gets a rejection ack saying so, so that the initiator (a Go one
reports "handshake rejected: ...") learns why.

The initiator's :func:`verify_ack` applies the size limit to the ack (the
reference reads it unbounded), checks the challenge MAC and pins the key.

Between lethean peers the challenge also negotiates a v2 session
(``_session``): an initiator's offer is a challenge of a recognisable
shape, and a responder that accepts it answers with another MAC than the
reference's.  A Go peer sees the reference's bytes either way.
"""

from __future__ import annotations

from typing import TypeVar

import attrs
from twisted.internet.interfaces import IReactorTime

from lethean._types import Buffer

from lethean._gostruct import GoStruct, StructOf, go_field
from lethean._gotypes import BOOL, BYTES, STRING
from lethean.errors import LetheanError
from lethean.identity import (
    LocalIdentity,
    LowOrderPointError,
    NodeIdentity,
    node_id_for,
    sign_challenge,
    verify_challenge,
)
from lethean.identity import InvalidPublicKeyError as InvalidKeyError
from lethean.mesh._envelope import (
    HANDSHAKE,
    HANDSHAKE_ACK,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS,
    Message,
    Timestamp,
    decode_message,
    new_message,
)
from lethean.mesh._session import accept_response, accepts_offer, is_offer
from lethean.mesh._errors import (
    HandshakeError, HandshakeRejectedError, PeerKeyMismatchError, SelfConnectionError)
from lethean.interfaces import IPeerRegistry
from lethean.peers import InvalidPeerKeyError, PeerIdMismatchError, PeerRejectedError

__all__ = [
    "HandshakePayload",
    "HandshakeAckPayload",
    "REASON_ID_MISMATCH",
    "REASON_SELF",
    "REASON_UNAUTHORIZED",
    "Accept",
    "Acked",
    "Reject",
    "Drop",
    "handshake_message",
    "ack_message",
    "rejection_message",
    "respond",
    "verify_ack",
    "version_reason",
]

_Payload = TypeVar("_Payload", bound=GoStruct)

#: The reason text of an allowlist (or key) refusal, exactly as the reference.

REASON_UNAUTHORIZED = "peer not authorized"
#: The reason text when the claimed node id is not derived from the key
#: (the reference accepts such a handshake; lethean refuses it).
REASON_ID_MISMATCH = "node id does not match public key"
#: lethean's rejection of a handshake from its own key (a node that dialled
#: itself); no Go node sends it, and a Go peer never meets it (it would need
#: our key).
REASON_SELF = "this is the node itself"


def version_reason(version: str) -> str:
    """The reference's exact rejection text for an unsupported version."""
    return "incompatible protocol version {}, supported: [{}]".format(
        version, " ".join(SUPPORTED_PROTOCOL_VERSIONS))


@attrs.frozen
class HandshakePayload(GoStruct):
    """The initiator's ``handshake`` payload (handshake.md 1)."""

    identity: NodeIdentity = go_field("identity", StructOf(NodeIdentity), default=attrs.NOTHING)
    challenge: bytes = go_field("challenge", BYTES, omitempty=True, repr=False)
    version: str = go_field("version", STRING)


@attrs.frozen
class HandshakeAckPayload(GoStruct):
    """The responder's ``handshake_ack`` payload; ``reason`` only when refused."""

    identity: NodeIdentity = go_field("identity", StructOf(NodeIdentity), default=attrs.NOTHING)
    challenge_response: bytes = go_field("challengeResponse", BYTES, omitempty=True, repr=False)
    accepted: bool = go_field("accepted", BOOL)
    reason: str = go_field("reason", STRING, omitempty=True)


def _message(type: str, from_: str, to: str, payload: object, clock: IReactorTime | None,
             message_id: str | None, ts: Timestamp | str | None) -> Message:
    if ts is None:
        if clock is None:
            raise TypeError("give clock (or ts and message_id for fixed bytes)")
        return new_message(type, from_, to, payload, clock=clock, message_id=message_id)

    stamp = ts if isinstance(ts, Timestamp) else Timestamp.parse(ts)
    # A fixed ``ts`` comes with a fixed ``message_id`` (the callers' fixed bytes).
    return Message(id=message_id, type=type, from_=from_, to=to,  # type: ignore[arg-type]
                   ts=stamp, payload=payload)



def handshake_message(local: LocalIdentity, to: str, challenge: Buffer, *,
                      clock: IReactorTime | None = None, version: str = PROTOCOL_VERSION,
                      message_id: str | None = None,
                      ts: Timestamp | str | None = None) -> Message:
    """The initiator's ``handshake`` envelope (give ``ts`` and ``message_id`` for fixed bytes)."""
    payload = HandshakePayload(local.identity, bytes(challenge), version).to_json_value()
    return _message(HANDSHAKE, local.id, to, payload, clock, message_id, ts)


def ack_message(local: LocalIdentity, to: str, challenge_response: Buffer, *,
                clock: IReactorTime | None = None, message_id: str | None = None,
                ts: Timestamp | str | None = None) -> Message:
    """The responder's accepting ``handshake_ack`` (no ``challengeResponse`` if empty)."""
    payload = HandshakeAckPayload(local.identity, bytes(challenge_response),
                                  True).to_json_value()
    return _message(HANDSHAKE_ACK, local.id, to, payload, clock, message_id, ts)


def rejection_message(local: LocalIdentity, to: str, reason: str, *,
                      clock: IReactorTime | None = None, message_id: str | None = None,
                      ts: Timestamp | str | None = None) -> Message:
    """The responder's refusing ``handshake_ack`` (handshake.md 3)."""
    payload = HandshakeAckPayload(local.identity, b"", False, reason).to_json_value()
    return _message(HANDSHAKE_ACK, local.id, to, payload, clock, message_id, ts)


@attrs.frozen
class Accept:
    """
    Send ``ack``; the link to ``peer`` is then sealed with ``shared_secret``,
    and upgraded to a v2 session when ``session`` (the initiator offered
    it and the ack accepts it).
    """

    ack: Message
    peer: NodeIdentity
    shared_secret: bytes = attrs.field(repr=False)
    session: bool = False


@attrs.frozen
class Acked:
    """The responder's ack verified: who it is, the pair's secret, and whether it took v2."""

    peer: NodeIdentity
    shared_secret: bytes = attrs.field(repr=False)
    session: bool = False


@attrs.frozen
class Reject:
    """Send ``ack`` (``accepted: false``), then close."""

    ack: Message
    peer_id: str
    reason: str
    #: ``"version"``, ``"id_mismatch"`` or ``"unauthorized"``: a fixed name
    #: for counters.
    kind: str


@attrs.frozen
class Drop:
    """Close without a reply; ``reason`` is for the log only."""

    peer_id: str
    reason: str


def _read_payload(cls: type[_Payload], payload: object) -> _Payload:
    """The payload read as Go reads it (:class:`InvalidPayloadError`), if an object at all."""
    if type(payload) is not dict:
        raise ValueError("payload is not a JSON object")
    return cls.from_json_value(payload)


def _parse_handshake(message: Message) -> tuple[NodeIdentity, bytes, str]:
    hello = _read_payload(HandshakePayload, message.payload)
    return hello.identity, hello.challenge, hello.version


def respond(local: LocalIdentity, registry: IPeerRegistry, data: Buffer | str, *,
            clock: IReactorTime, sessions: bool = False) -> Accept | Reject | Drop:
    """
    The responder's decision on the first frame ``data`` (bytes or text).

    ``registry`` is an ``IPeerRegistry``; nothing is registered here: the
    initiator is unproven until its first sealed frame decrypts.  With
    ``sessions``, an initiator's v2 offer is accepted.
    """
    try:
        message = decode_message(data)
        if message.type != HANDSHAKE:
            return Drop("", "expected handshake, got {!r}".format(message.type[:64]))
        peer, challenge, version = _parse_handshake(message)
    except (LetheanError, ValueError) as e:
        return Drop("", "bad handshake: {}".format(e))
    if version not in SUPPORTED_PROTOCOL_VERSIONS:
        reason = version_reason(version)
        return Reject(rejection_message(local, peer.id, reason, clock=clock), peer.id[:64],
                      reason[:200], "version")
    if peer.public_key == local.identity.public_key:
        return Reject(rejection_message(local, peer.id, REASON_SELF, clock=clock),
                      peer.id[:64], "a handshake with this node's own key: this node dialled itself",
                      "self")
    try:
        secret = local.shared_secret(peer.public_key)
    except (InvalidKeyError, LowOrderPointError, ValueError) as e:
        return Drop(peer.id[:64], "bad public key: {}".format(e))
    try:
        registry.check_peer(peer.id, peer.public_key)
    except PeerIdMismatchError as e:
        return Reject(rejection_message(local, peer.id, REASON_ID_MISMATCH, clock=clock),
                      peer.id[:64], "{}: {}".format(REASON_ID_MISMATCH, e), "id_mismatch")
    except InvalidPeerKeyError as e:
        return Drop(peer.id[:64], "bad public key: {}".format(e))
    except PeerRejectedError as e:
        return Reject(rejection_message(local, peer.id, REASON_UNAUTHORIZED, clock=clock),
                      peer.id, "{}: {}".format(REASON_UNAUTHORIZED, e), "unauthorized")
    session = sessions and is_offer(challenge, peer.raw_public_key)
    if session:
        response = accept_response(secret, challenge)
    else:
        response = sign_challenge(secret, challenge) if challenge else b""
    return Accept(ack_message(local, peer.id, response, clock=clock), peer, secret, session)


def verify_ack(local: LocalIdentity, data: Buffer, challenge: bytes, *, max_bytes: int,
               expected_key: str | None = None, expected_id: str | None = None,
               offered: bool = False) -> Acked:
    """
    Check the responder's ack; returns :class:`Acked`.  When ``offered``
    (``challenge`` is a v2 offer), an ack accepting it is valid too, and
    ``session`` says which answer came.

    Raises :class:`HandshakeRejectedError` for ``accepted: false``,
    :class:`PeerKeyMismatchError` when ``expected_key`` (base64) or
    ``expected_id`` is given and the responder presents another, and :class:`HandshakeError` for
    anything else.
    """
    if len(data) > max_bytes:
        raise HandshakeError("handshake_ack of {} bytes, limit {}".format(len(data), max_bytes))
    try:
        message = decode_message(data)
    except LetheanError as e:
        raise HandshakeError("bad handshake_ack: {}".format(e)) from None
    if message.type != HANDSHAKE_ACK:
        raise HandshakeError("expected handshake_ack, got {}".format(message.type[:64]))
    try:
        ack = _read_payload(HandshakeAckPayload, message.payload)
    except (ValueError, LetheanError) as e:
        raise HandshakeError("bad handshake_ack payload: {}".format(e)) from None
    peer, response = ack.identity, ack.challenge_response
    if peer.public_key == local.identity.public_key:
        # Refused or not: a node that answers with our key is this node.
        raise SelfConnectionError("it answered with this node's own key: this node dialled "
                                  "itself")
    if not ack.accepted:
        raise HandshakeRejectedError(ack.reason[:200])
    try:
        peer.verify_binding()
        secret = local.shared_secret(peer.public_key)
    except (LetheanError, ValueError) as e:
        raise HandshakeError("responder key: {}".format(e)) from None
    if expected_key is not None and node_id_for(expected_key) != peer.id:
        raise PeerKeyMismatchError("responder presented a key other than the pinned one")
    if expected_id and expected_id != peer.id:
        raise PeerKeyMismatchError("dialled {} but {} answered".format(expected_id[:64], peer.id))
    if not response:
        raise HandshakeError("server did not provide challenge response")
    if offered and accepts_offer(secret, challenge, response):
        return Acked(peer, secret, True)
    if not verify_challenge(secret, challenge, response):
        raise HandshakeError("challenge response verification failed")
    return Acked(peer, secret, False)
