"""
The mesh message envelope: ``{"id","type","from","to","ts","payload","replyTo"}``.

Encoding is byte-identical to the Go reference's mesh encoder (fields in
declaration order, HTML escaping off, ``payload`` ``null`` when absent,
``replyTo`` omitted when empty, RFC 3339 ``ts`` with trimmed nanoseconds).
Decoding has the Go decoder's tolerance (keys matched case-insensitively,
unknown keys ignored, the last duplicate wins, ``null`` leaves a field
unset, numbers beyond float64 allowed where Go does not read them) and
raises only :class:`InvalidMessageJSONError`.  A decoded message encodes
back as the reference's ``json.Marshal`` of its ``Message`` would: unknown
keys dropped, fields re-encoded, and the payload -- a ``json.RawMessage``
in Go -- written as it came, compacted (its duplicate keys, escapes and
number spellings kept).

The payload is plain JSON data (``dict``/``list``/...), a
:class:`~lethean.smsg.RawJSON`, or any object with ``to_json_value()``;
dict keys are written in insertion order, which is how Go writes struct
fields.
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

import attrs
from twisted.internet.interfaces import IReactorTime

from lethean._gojson import (
    Pairs,
    RawJSON,
    compact,
    decode_base64,
    fold_key,
    loads_strict,
    top_level_pairs,
    top_level_raw,
    utf8,
)
from lethean._gostruct import Collapsed, go_field, schema_of
from lethean._gotime import InvalidTimestampError, Timestamp
from lethean._gotypes import ANY, STRING, TIME, Mismatch
from lethean._types import Buffer
from lethean.mesh._errors import InvalidMessageJSONError

if TYPE_CHECKING:
    from lethean.smsg import FrameCipher


__all__ = [
    "Message",
    "new_message",
    "reply",
    "error_reply",
    "encode_message",
    "decode_message",
    "open_message",
    "decode_base64",
    "RawJSON",
    "Timestamp",
    "InvalidTimestampError",
    "MESSAGE_TYPES",
    "HANDSHAKE",
    "HANDSHAKE_ACK",
    "PING",
    "PONG",
    "DISCONNECT",
    "GET_STATS",
    "STATS",
    "START_MINER",
    "STOP_MINER",
    "MINER_ACK",
    "DEPLOY",
    "DEPLOY_ACK",
    "GET_LOGS",
    "LOGS",
    "ERROR",
    "ERROR_UNKNOWN",
    "ERROR_INVALID_MESSAGE",
    "ERROR_UNAUTHORIZED",
    "ERROR_NOT_FOUND",
    "ERROR_OPERATION_FAILED",
    "ERROR_TIMEOUT",
    "DISCONNECT_NORMAL",
    "DISCONNECT_GOING_AWAY",
    "DISCONNECT_PROTOCOL_ERROR",
    "DISCONNECT_IDLE_TIMEOUT",
    "DISCONNECT_SHUTDOWN",
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOL_VERSIONS",
]

# Message types (envelope.md section 3); compared exactly, case-sensitive.
HANDSHAKE = "handshake"
HANDSHAKE_ACK = "handshake_ack"
PING = "ping"
PONG = "pong"
DISCONNECT = "disconnect"
GET_STATS = "get_stats"
STATS = "stats"
START_MINER = "start_miner"
STOP_MINER = "stop_miner"
MINER_ACK = "miner_ack"
DEPLOY = "deploy"
DEPLOY_ACK = "deploy_ack"
GET_LOGS = "get_logs"
LOGS = "logs"
ERROR = "error"
#: Every type the reference defines.
MESSAGE_TYPES = frozenset((
    HANDSHAKE, HANDSHAKE_ACK, PING, PONG, DISCONNECT, GET_STATS, STATS,
    START_MINER, STOP_MINER, MINER_ACK, DEPLOY, DEPLOY_ACK, GET_LOGS, LOGS, ERROR,
))

# Error payload codes (envelope.md section 5); the reference only sends 1004.
ERROR_UNKNOWN = 1000
ERROR_INVALID_MESSAGE = 1001
ERROR_UNAUTHORIZED = 1002
ERROR_NOT_FOUND = 1003
ERROR_OPERATION_FAILED = 1004
ERROR_TIMEOUT = 1005

# Disconnect payload codes (envelope.md 4.6); not WebSocket close codes.
DISCONNECT_NORMAL = 1000
DISCONNECT_GOING_AWAY = 1001
DISCONNECT_PROTOCOL_ERROR = 1002
DISCONNECT_IDLE_TIMEOUT = 1003
DISCONNECT_SHUTDOWN = 1004

#: The protocol version an initiator states, and the set a responder accepts.
PROTOCOL_VERSION = "1.0"
SUPPORTED_PROTOCOL_VERSIONS = ("1.0",)


@attrs.frozen
class Message:
    """
    One mesh message.  ``from_`` is the JSON ``from`` and ``reply_to`` the
    JSON ``replyTo``; ``payload`` is ``None`` when there is none.

    The string fields are not validated on construction (messages are
    built on the hot path); encoding a non-string raises ``TypeError``.
    """

    GO_PACKAGE = "node"

    id: str = go_field("id", STRING, default=attrs.NOTHING)
    type: str = go_field("type", STRING, default=attrs.NOTHING)
    from_: str = go_field("from", STRING, default=attrs.NOTHING)
    to: str = go_field("to", STRING, default=attrs.NOTHING)
    ts: Timestamp = go_field("ts", TIME, default=attrs.NOTHING,
                             validator=attrs.validators.instance_of(Timestamp))
    #: A ``json.RawMessage`` in Go: written as received (see below).
    payload: object = go_field("payload", ANY)
    reply_to: str = go_field("replyTo", STRING, omitempty=True)
    #: ``(envelope text, payload)`` of a decoded message: the payload is
    #: written back from that text while it is still the decoded object.
    _received: tuple[str, object] | None = attrs.field(
default=None, eq=False, repr=False, kw_only=True)

    def to_json(self, *, html: bool = False) -> str:
        """
        The envelope text, exactly as the Go mesh encoder writes it
        (``html=True``: as Go's ``json.Marshal`` writes it).
        """
        return encode_message(self, html=html)

    def to_bytes(self) -> bytes:
        """The envelope as UTF-8 bytes (what a handshake text frame carries)."""
        return utf8(encode_message(self))

    @classmethod
    def from_json(cls, data: str | Buffer) -> "Message":
        """Decode envelope text or bytes; see :func:`decode_message`."""
        return decode_message(data)


def encode_message(message: Message, *, html: bool = False) -> str:
    """
    The envelope text of ``message`` (Go mesh encoder: HTML escaping off;
    ``html=True`` gives Go's ``json.Marshal`` instead).

    Raises ``ValueError``/``TypeError`` for a payload Go could not encode
    either (NaN, infinities, non-string keys, unknown objects).
    """
    payload = None if message._received is None else _received_payload(message, html)
    if payload is None:
        return _write(message, html)
    return _SCHEMA.encode(message, html, {"payload": payload})


def _received_payload(message: Message, html: bool) -> str | None:
    """
    The payload text as received (Go's ``json.RawMessage``), or None when
    the message was not decoded, had no payload, or its payload was since
    replaced or changed.
    """
    received = message._received
    if received is None or message.payload is not received[1]:
        return None
    text, payload = received
    raw = None
    for key, value in top_level_raw(text):
        if key == "payload" or fold_key(key) == "payload":
            raw = value
    if raw is None:
        return None
    if type(payload) in (dict, list) and loads_strict(raw, keep_overflow=True) != payload:
        return None
    return compact(raw, html)


def decode_message(data: str | Buffer) -> Message:
    """
    A :class:`Message` from envelope JSON (``str`` or UTF-8 ``bytes``).

    Missing fields take Go's zero values (``""``, the zero time, ``None``);
    a present field of the wrong JSON type, an invalid ``ts`` or anything
    that is not a JSON object raises :class:`InvalidMessageJSONError`.
    """
    if not isinstance(data, str):
        # Go replaces invalid UTF-8 inside strings; outside them it is a
        # syntax error either way.
        data = bytes(data).decode("utf-8", "replace")
    try:
        document = loads_strict(data, keep_overflow=True)
    except ValueError as e:
        raise InvalidMessageJSONError("not JSON: {}".format(e)) from None
    if type(document) is not dict:
        raise InvalidMessageJSONError("a message is a JSON object, not {}".format(
            type(document).__name__))
    try:
        # The schema's fields are Message's leading positional arguments.
        values = _read_collapsed(document)
    except Collapsed:
        pass
    else:
        return Message(*values, received=(data, values[_PAYLOAD]))
    # Other spellings, nulls or bad types: replay the keys in order as Go
    # does, so that the last occurrence of a field wins.
    try:
        fields = _SCHEMA.fields_of(Pairs(top_level_pairs(data, keep_overflow=True)))
    except Mismatch as e:
        raise InvalidMessageJSONError(_mismatch_text(e)) from None
    return Message(**fields, received=(data, fields["payload"]))


def _mismatch_text(mismatch: Mismatch) -> str:
    if mismatch.text is not None:
        return mismatch.text
    return "field {!r} must be a string, not {}".format(
        mismatch.path[0], type(mismatch.value).__name__)


def open_message(cipher: "FrameCipher", frame: Buffer) -> Message:
    """
    The :class:`Message` a sealed frame carries: ``cipher`` (a
    ``lethean.smsg.FrameCipher``) opens the frame, the mesh decodes its body.

    Raises only lethean errors: those of the cipher, or
    :class:`InvalidMessageJSONError` when the body is not an envelope.
    """
    return decode_message(cipher.open_body(frame))


_SCHEMA = schema_of(Message)
_write = _SCHEMA.write
_read_collapsed = _SCHEMA.read_collapsed
_PAYLOAD = _SCHEMA.aliases.index("payload")


def _new_id() -> str:
    return uuid_v4_text(os.urandom(16))


def uuid_v4_text(random_bytes: bytes) -> str:
    """
    ``str(uuid.UUID(bytes=random_bytes, version=4))``, which is what
    ``uuid.uuid4()`` is, in a third of its time (every message has one).
    """
    raw = bytearray(random_bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return "-".join((text[:8], text[8:12], text[12:16], text[16:20], text[20:]))


def _now(clock: IReactorTime) -> Timestamp:
    return Timestamp.from_unix(clock.seconds())


def new_message(type: str, from_: str, to: str, payload: object = None, *,
                clock: IReactorTime, message_id: str | None = None) -> Message:
    """
    A new message stamped by ``clock`` (``IReactorTime``), in UTC.

    ``message_id`` defaults to a random UUID v4, as the reference uses.
    """
    return Message(id=message_id or _new_id(), type=type, from_=from_, to=to,
                   ts=_now(clock), payload=payload)


def reply(request: Message, type: str, payload: object = None, *, clock: IReactorTime,
          from_: str | None = None, message_id: str | None = None) -> Message:
    """
    A reply to ``request`` (envelope.md 1.2): ``to`` is the request's
    ``from`` and ``replyTo`` its ``id``.

    The reference puts the request's ``to`` in ``from``; pass your own node
    id as ``from_`` instead (recommended: no Go peer checks it, and it is
    then true).
    """
    return Message(id=message_id or _new_id(), type=type,
                   from_=request.to if from_ is None else from_,
                   to=request.from_, ts=_now(clock), payload=payload,
                   reply_to=request.id)


def error_reply(request: Message, message: str, *, from_: str | None, clock: IReactorTime,
                code: int = ERROR_OPERATION_FAILED, message_id: str | None = None) -> Message:
    """
    The ``error`` reply a worker sends when handling ``request`` failed:
    payload ``{"code":code,"message":message}``, ``from`` our own id.
    """
    return reply(request, ERROR, {"code": code, "message": message}, clock=clock,
                 from_=from_, message_id=message_id)
