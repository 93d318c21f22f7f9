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
    return float(value)


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


def _parse(cls, value, fields):
    """
    Field values for ``cls`` from a parsed JSON payload.

    ``fields`` is ``((json_key, attribute, reader, raw_null), ...)``; a
    field whose ``raw_null`` is true keeps a JSON ``null`` (RawMessage).
    """
    if isinstance(value, cls):
        return value
    if type(value) is RawJSON:
        value = loads_strict(value.text)
    if value is None:
        return cls()
    if type(value) is not dict:
        raise InvalidPayloadError("json: cannot unmarshal {} into Go value of type {}".format(
            _type_name(value), cls.__name__))
    by_key = {fold_key(key): (key, name, reader, raw_null) for key, name, reader, raw_null in fields}
    found = {}
    for key, item in value.items():
        field = by_key.get(fold_key(key))
        if field is None:
            continue
        json_key, name, reader, raw_null = field
        if item is None and not raw_null:
            continue
        found[name] = reader(json_key, item)
    return cls(**found)


def _omit_empty(pairs):
    return {key: value for key, value in pairs if value}


# -- the payloads --------------------------------------------------------------

@attrs.frozen
class PingPayload:
    """``ping``: the sender's clock in Unix milliseconds."""

    sent_at: int = 0

    def to_json_value(self):
        return {"sentAt": self.sent_at}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("sentAt", "sent_at", _read_int, False),))


@attrs.frozen
class PongPayload:
    """``pong``: the ping's ``sentAt`` and the responder's clock, Unix ms."""

    sent_at: int = 0
    received_at: int = 0

    def to_json_value(self):
        return {"sentAt": self.sent_at, "receivedAt": self.received_at}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("sentAt", "sent_at", _read_int, False),
                                   ("receivedAt", "received_at", _read_int, False)))


@attrs.frozen
class DisconnectPayload:
    """``disconnect``: why the sender is closing the link."""

    reason: str = ""
    code: int = 0

    def to_json_value(self):
        return {"reason": self.reason, "code": self.code}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("reason", "reason", _read_str, False),
                                   ("code", "code", _read_int, False)))


@attrs.frozen
class StartMinerPayload:
    """
    ``start_miner``.  ``config`` is a :class:`~lethean._gojson.RawJSON`
    (``RawJSON("null")`` when the key was present with ``null``) or None
    when the key was absent: the worker then falls back to the profile.
    """

    miner_type: str = ""
    profile_id: str = ""
    config: object = None

    def to_json_value(self):
        value = {"minerType": self.miner_type}
        if self.profile_id:
            value["profileId"] = self.profile_id
        if self.config is not None:
            value["config"] = self.config
        return value

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("minerType", "miner_type", _read_str, False),
                                   ("profileId", "profile_id", _read_str, False),
                                   ("config", "config", _read_raw, True)))


@attrs.frozen
class StopMinerPayload:
    """``stop_miner``: the instance to stop."""

    miner_name: str = ""

    def to_json_value(self):
        return {"minerName": self.miner_name}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("minerName", "miner_name", _read_str, False),))


@attrs.frozen
class MinerAckPayload:
    """``miner_ack``: the outcome of a start or stop."""

    success: bool = False
    miner_name: str = ""
    error: str = ""

    def to_json_value(self):
        value = {"success": self.success}
        value.update(_omit_empty((("minerName", self.miner_name), ("error", self.error))))
        return value

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("success", "success", _read_bool, False),
                                   ("minerName", "miner_name", _read_str, False),
                                   ("error", "error", _read_str, False)))


@attrs.frozen
class MinerStatsItem:
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

    def to_json_value(self):
        value = {"name": self.name, "type": self.type, "hashrate": float(self.hashrate),
                 "shares": self.shares, "rejected": self.rejected, "uptime": self.uptime,
                 "pool": self.pool, "algorithm": self.algorithm}
        if self.cpu_threads:
            value["cpuThreads"] = self.cpu_threads
        return value

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("name", "name", _read_str, False),
                                   ("type", "type", _read_str, False),
                                   ("hashrate", "hashrate", _read_float, False),
                                   ("shares", "shares", _read_int, False),
                                   ("rejected", "rejected", _read_int, False),
                                   ("uptime", "uptime", _read_int, False),
                                   ("pool", "pool", _read_str, False),
                                   ("algorithm", "algorithm", _read_str, False),
                                   ("cpuThreads", "cpu_threads", _read_int, False)))


@attrs.frozen
class StatsPayload:
    """``stats``: the worker's identity, uptime (s) and miners."""

    node_id: str = ""
    node_name: str = ""
    miners: tuple = attrs.field(default=(), converter=tuple)
    uptime: int = 0

    def to_json_value(self):
        return {"nodeId": self.node_id, "nodeName": self.node_name,
                "miners": list(self.miners), "uptime": self.uptime}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("nodeId", "node_id", _read_str, False),
                                   ("nodeName", "node_name", _read_str, False),
                                   ("miners", "miners", _read_miners, False),
                                   ("uptime", "uptime", _read_int, False)))


@attrs.frozen
class GetLogsPayload:
    """``get_logs``: ``since`` is Unix **milliseconds**, 0 for no filter."""

    miner_name: str = ""
    lines: int = 0
    since: int = 0

    def to_json_value(self):
        value = {"minerName": self.miner_name, "lines": self.lines}
        if self.since:
            value["since"] = self.since
        return value

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("minerName", "miner_name", _read_str, False),
                                   ("lines", "lines", _read_int, False),
                                   ("since", "since", _read_int, False)))


@attrs.frozen
class LogsPayload:
    """``logs``: ``lines`` is None when the miner returned nothing (JSON ``null``)."""

    miner_name: str = ""
    lines: object = attrs.field(
        default=None, converter=attrs.converters.optional(tuple))
    has_more: bool = False

    def to_json_value(self):
        return {"minerName": self.miner_name,
                "lines": None if self.lines is None else list(self.lines),
                "hasMore": self.has_more}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("minerName", "miner_name", _read_str, False),
                                   ("lines", "lines", _read_str_list, False),
                                   ("hasMore", "has_more", _read_bool, False)))


@attrs.frozen
class DeployPayload:
    """
    ``deploy``: a bundle on the wire (``data`` is raw bytes, sent as base64).

    ``type`` is not checked here: the worker answers an unknown type with
    the reference's own error text.
    """

    type: str = ""
    data: bytes = attrs.field(default=b"", repr=False)
    checksum: str = ""
    name: str = ""

    def to_json_value(self):
        return {"type": self.type, "data": bytes(self.data), "checksum": self.checksum,
                "name": self.name}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("type", "type", _read_str, False),
                                   ("data", "data", _read_bytes, False),
                                   ("checksum", "checksum", _read_str, False),
                                   ("name", "name", _read_str, False)))


@attrs.frozen
class DeployAckPayload:
    """``deploy_ack``: the outcome of a deploy."""

    success: bool = False
    name: str = ""
    error: str = ""

    def to_json_value(self):
        value = {"success": self.success}
        value.update(_omit_empty((("name", self.name), ("error", self.error))))
        return value

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("success", "success", _read_bool, False),
                                   ("name", "name", _read_str, False),
                                   ("error", "error", _read_str, False)))


@attrs.frozen
class ErrorPayload:
    """``error``: a failed request; the reference only sends code 1004."""

    code: int = 0
    message: str = ""
    details: str = ""

    def to_json_value(self):
        value = {"code": self.code, "message": self.message}
        if self.details:
            value["details"] = self.details
        return value

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("code", "code", _read_int, False),
                                   ("message", "message", _read_str, False),
                                   ("details", "details", _read_str, False)))


@attrs.frozen
class DeployChunkPayload:
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

    def to_json_value(self):
        return {"uploadId": self.upload_id, "index": self.index, "total": self.total,
                "size": self.size, "type": self.type, "name": self.name,
                "checksum": self.checksum, "data": bytes(self.data)}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("uploadId", "upload_id", _read_str, False),
                                   ("index", "index", _read_int, False),
                                   ("total", "total", _read_int, False),
                                   ("size", "size", _read_int, False),
                                   ("type", "type", _read_str, False),
                                   ("name", "name", _read_str, False),
                                   ("checksum", "checksum", _read_str, False),
                                   ("data", "data", _read_bytes, False)))


@attrs.frozen
class DeployChunkAckPayload:
    """``deploy_chunk_ack`` (lethean only): chunk ``index`` was stored."""

    upload_id: str = ""
    index: int = 0

    def to_json_value(self):
        return {"uploadId": self.upload_id, "index": self.index}

    @classmethod
    def from_json_value(cls, value):
        return _parse(cls, value, (("uploadId", "upload_id", _read_str, False),
                                   ("index", "index", _read_int, False)))
