"""
The payloads of the controller/worker messages (envelope.md 4.4-4.16).

Each payload is a frozen attrs class.  ``to_json_value()`` returns a dict
in the Go struct's field order with Go's ``omitempty`` rules applied, so
:func:`lethean._gojson.marshal` (and therefore ``Message.to_json``) writes
exactly the bytes the reference writes.  ``from_json_value(value)`` reads
the parsed JSON of a received payload with the Go decoder's tolerance
(keys matched case-insensitively, unknown keys ignored, ``null`` leaves a
field at its zero value, a ``null``/absent payload gives all zero values)
and raises :class:`InvalidPayloadError` for a value of the wrong JSON type,
as Go's decoder fails the whole payload then.

Two extension payloads, :class:`DeployChunkPayload` and
:class:`DeployChunkAckPayload`, carry bundles too large for one mesh frame
between lethean nodes; a Go peer never receives them (see ``docs/embedding.md``).
"""

import attrs

from lethean.errors import MalformedError
from lethean._gojson import RawJSON, ReadFloat, decode_base64, fold_key, loads_strict, marshal

__all__ = [
    "InvalidPayloadError",
    "PingPayload",
    "PongPayload",
    "DisconnectPayload",
    "StartMinerPayload",
    "StopMinerPayload",
    "MinerAckPayload",
    "MinerStatsItem",
    "StatsPayload",
    "GetLogsPayload",
    "LogsPayload",
    "DeployPayload",
    "DeployAckPayload",
    "ErrorPayload",
    "DeployChunkPayload",
    "DeployChunkAckPayload",
    "DEPLOY_CHUNK",
    "DEPLOY_CHUNK_ACK",
]

#: lethean-only message types for chunked deploys (never sent to a Go peer
#: unless the bundle is too large for one frame, which Go cannot receive).
DEPLOY_CHUNK = "deploy_chunk"
DEPLOY_CHUNK_ACK = "deploy_chunk_ack"

_INF = float("inf")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class InvalidPayloadError(MalformedError):
    """The message payload does not have the expected JSON shape."""

    kind = "invalid_payload"


# -- readers for one JSON value, as Go's decoder reads it into a Go type ------

def _type_name(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _mismatch(key, want, value):
    return InvalidPayloadError("json: cannot unmarshal {} into field {} of type {}".format(
        _type_name(value), key, want))


def _read_str(key, value):
    if type(value) is not str:
        raise _mismatch(key, "string", value)
    return value


def _read_bool(key, value):
    if type(value) is not bool:
        raise _mismatch(key, "bool", value)
    return value


def _read_int(key, value):
    # Go rejects 1.5 and 1e3 for integer fields; "-0" is read as a float here.
    if type(value) is ReadFloat and value.text == "-0":
        return 0
    if type(value) is not int:
        raise _mismatch(key, "int64", value)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidPayloadError("json: number {} overflows field {}".format(value, key))
    return value


def _read_float(key, value):
    if type(value) is bool or not isinstance(value, (int, float)):
        raise _mismatch(key, "float64", value)
    number = float(value)
    if number in (_INF, -_INF):
        # A number beyond float64 reaches us in a received payload (kept as
        # text, as Go's RawMessage keeps it); Go's decoder refuses it here.
        raise InvalidPayloadError("json: cannot unmarshal number {} into field {} of type "
                                  "float64".format(getattr(value, "text", value), key))
    return number


def _read_bytes(key, value):
    if type(value) is not str:
        raise _mismatch(key, "[]byte", value)
    try:
        return decode_base64(value)
    except ValueError as e:
        raise InvalidPayloadError("field {}: {}".format(key, e)) from None


def _read_raw(key, value):
    # json.RawMessage: present (even null) means the JSON text of the value.
    return RawJSON(marshal(value, html=False))


def _read_str_list(key, value):
    if type(value) is not list:
        raise _mismatch(key, "[]string", value)
    for item in value:
        if item is not None and type(item) is not str:
            raise _mismatch(key, "string", item)
    return tuple("" if item is None else item for item in value)


def _read_miners(key, value):
    if type(value) is not list:
        raise _mismatch(key, "[]MinerStatsItem", value)
    return tuple(MinerStatsItem.from_json_value(item) for item in value)


@attrs.frozen
class _Field:
    """One payload field: its JSON key, attribute, reader and Go tags."""

    key: str
    attribute: str
    read: object
    #: Go ``omitempty``: left out when empty (``""``, 0, false, nil).
    omitempty: bool = False
    #: A ``json.RawMessage``: a JSON ``null`` is kept as the text ``null``.
    keep_null: bool = False


class _Payload:
    """
    ``to_json_value``/``from_json_value`` driven by the class's ``_FIELDS``
    (in Go declaration order).
    """

    _FIELDS = ()

    def to_json_value(self):
        """The payload as a dict in Go field order, ``omitempty`` applied."""
        value = {}
        for field in self._FIELDS:
            item = getattr(self, field.attribute)
            if field.omitempty and (item is None or (not item and not isinstance(item, RawJSON))):
                continue
            value[field.key] = item
        return value

    @classmethod
    def from_json_value(cls, value):
        """
        Read a received payload (parsed JSON, ``RawJSON`` or an instance)
        as Go's decoder does; raises :class:`InvalidPayloadError`.
        """
        if isinstance(value, cls):
            return value
        if type(value) is RawJSON:
            value = loads_strict(value.text, keep_overflow=True)
        if value is None:
            return cls()
        if type(value) is not dict:
            raise InvalidPayloadError("json: cannot unmarshal {} into Go value of type {}".format(
                _type_name(value), cls.__name__))
        by_key = cls._by_key()
        found = {}
        for key, item in value.items():
            field = by_key.get(fold_key(key))
            if field is None or (item is None and not field.keep_null):
                continue
            found[field.attribute] = field.read(field.key, item)
        return cls(**found)

    @classmethod
    def _by_key(cls):
        table = cls.__dict__.get("_BY_KEY")
        if table is None:
            table = {fold_key(field.key): field for field in cls._FIELDS}
            cls._BY_KEY = table
        return table


# -- the payloads --------------------------------------------------------------

@attrs.frozen
class PingPayload(_Payload):
    """``ping``: the sender's clock in Unix milliseconds."""

    sent_at: int = 0

    _FIELDS = (
        _Field("sentAt", "sent_at", _read_int),
    )


@attrs.frozen
class PongPayload(_Payload):
    """``pong``: the ping's ``sentAt`` and the responder's clock, Unix ms."""

    sent_at: int = 0
    received_at: int = 0

    _FIELDS = (
        _Field("sentAt", "sent_at", _read_int),
        _Field("receivedAt", "received_at", _read_int),
    )


@attrs.frozen
class DisconnectPayload(_Payload):
    """``disconnect``: why the sender is closing the link."""

    reason: str = ""
    code: int = 0

    _FIELDS = (
        _Field("reason", "reason", _read_str),
        _Field("code", "code", _read_int),
    )


@attrs.frozen
class StartMinerPayload(_Payload):
    """
    ``start_miner``.  ``config`` is a :class:`~lethean._gojson.RawJSON`
    (``RawJSON("null")`` when the key was present with ``null``) or None
    when the key was absent: the worker then falls back to the profile.
    """

    miner_type: str = ""
    profile_id: str = ""
    config: object = None

    _FIELDS = (
        _Field("minerType", "miner_type", _read_str),
        _Field("profileId", "profile_id", _read_str, omitempty=True),
        _Field("config", "config", _read_raw, omitempty=True, keep_null=True),
    )


@attrs.frozen
class StopMinerPayload(_Payload):
    """``stop_miner``: the instance to stop."""

    miner_name: str = ""

    _FIELDS = (
        _Field("minerName", "miner_name", _read_str),
    )


@attrs.frozen
class MinerAckPayload(_Payload):
    """``miner_ack``: the outcome of a start or stop."""

    success: bool = False
    miner_name: str = ""
    error: str = ""

    _FIELDS = (
        _Field("success", "success", _read_bool),
        _Field("minerName", "miner_name", _read_str, omitempty=True),
        _Field("error", "error", _read_str, omitempty=True),
    )


@attrs.frozen
class MinerStatsItem(_Payload):
    """One miner in a ``stats`` reply."""

    name: str = ""
    type: str = ""
    hashrate: float = 0.0
    shares: int = 0
    rejected: int = 0
    uptime: int = 0
    pool: str = ""
    algorithm: str = ""
    cpu_threads: int = 0

    _FIELDS = (
        _Field("name", "name", _read_str),
        _Field("type", "type", _read_str),
        _Field("hashrate", "hashrate", _read_float),
        _Field("shares", "shares", _read_int),
        _Field("rejected", "rejected", _read_int),
        _Field("uptime", "uptime", _read_int),
        _Field("pool", "pool", _read_str),
        _Field("algorithm", "algorithm", _read_str),
        _Field("cpuThreads", "cpu_threads", _read_int, omitempty=True),
    )


@attrs.frozen
class StatsPayload(_Payload):
    """``stats``: the worker's identity, uptime (s) and miners."""

    node_id: str = ""
    node_name: str = ""
    miners: tuple = attrs.field(default=(), converter=tuple)
    uptime: int = 0

    _FIELDS = (
        _Field("nodeId", "node_id", _read_str),
        _Field("nodeName", "node_name", _read_str),
        _Field("miners", "miners", _read_miners),
        _Field("uptime", "uptime", _read_int),
    )


@attrs.frozen
class GetLogsPayload(_Payload):
    """``get_logs``: ``since`` is Unix **milliseconds**, 0 for no filter."""

    miner_name: str = ""
    lines: int = 0
    since: int = 0

    _FIELDS = (
        _Field("minerName", "miner_name", _read_str),
        _Field("lines", "lines", _read_int),
        _Field("since", "since", _read_int, omitempty=True),
    )


@attrs.frozen
class LogsPayload(_Payload):
    """``logs``: ``lines`` is None when the miner returned nothing (JSON ``null``)."""

    miner_name: str = ""
    lines: object = attrs.field(
        default=None, converter=attrs.converters.optional(tuple))
    has_more: bool = False

    _FIELDS = (
        _Field("minerName", "miner_name", _read_str),
        _Field("lines", "lines", _read_str_list),
        _Field("hasMore", "has_more", _read_bool),
    )


@attrs.frozen
class DeployPayload(_Payload):
    """
    ``deploy``: a bundle on the wire (``data`` is raw bytes, sent as base64).

    ``type`` is not checked here: the worker answers an unknown type with
    the reference's own error text.
    """

    type: str = ""
    data: bytes = attrs.field(default=b"", repr=False)
    checksum: str = ""
    name: str = ""

    _FIELDS = (
        _Field("type", "type", _read_str),
        _Field("data", "data", _read_bytes),
        _Field("checksum", "checksum", _read_str),
        _Field("name", "name", _read_str),
    )


@attrs.frozen
class DeployAckPayload(_Payload):
    """``deploy_ack``: the outcome of a deploy."""

    success: bool = False
    name: str = ""
    error: str = ""

    _FIELDS = (
        _Field("success", "success", _read_bool),
        _Field("name", "name", _read_str, omitempty=True),
        _Field("error", "error", _read_str, omitempty=True),
    )


@attrs.frozen
class ErrorPayload(_Payload):
    """``error``: a failed request; the reference only sends code 1004."""

    code: int = 0
    message: str = ""
    details: str = ""

    _FIELDS = (
        _Field("code", "code", _read_int),
        _Field("message", "message", _read_str),
        _Field("details", "details", _read_str, omitempty=True),
    )


@attrs.frozen
class DeployChunkPayload(_Payload):
    """
    ``deploy_chunk`` (lethean only): part ``index`` of ``total`` of a bundle's
    data.  Every chunk repeats the bundle's type, name, checksum and total
    size, so the worker can check the upload against its limits from the
    first chunk on.
    """

    upload_id: str = ""
    index: int = 0
    total: int = 0
    size: int = 0
    type: str = ""
    name: str = ""
    checksum: str = ""
    data: bytes = attrs.field(default=b"", repr=False)

    _FIELDS = (
        _Field("uploadId", "upload_id", _read_str),
        _Field("index", "index", _read_int),
        _Field("total", "total", _read_int),
        _Field("size", "size", _read_int),
        _Field("type", "type", _read_str),
        _Field("name", "name", _read_str),
        _Field("checksum", "checksum", _read_str),
        _Field("data", "data", _read_bytes),
    )


@attrs.frozen
class DeployChunkAckPayload(_Payload):
    """``deploy_chunk_ack`` (lethean only): chunk ``index`` was stored."""

    upload_id: str = ""
    index: int = 0

    _FIELDS = (
        _Field("uploadId", "upload_id", _read_str),
        _Field("index", "index", _read_int),
    )
