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
as Go's decoder fails the whole payload then, with Go's own error text
(the reading is :mod:`lethean._gostruct`'s).

``PingPayload`` and ``PongPayload`` are the mesh's own (the transport
answers pings) and are re-exported here.  Two extension payloads, :class:`DeployChunkPayload` and
:class:`DeployChunkAckPayload`, carry bundles too large for one mesh frame
between lethean nodes; a Go peer never receives them (see ``docs/embedding.md``).
"""

import attrs

from lethean._gostruct import (
    BOOL,
    BYTES,
    FLOAT64,
    INT,
    INT64,
    RAW,
    STRING,
    Field,
    GoStruct,
    InvalidPayloadError,
    SliceOf,
    StructOf,
)
from lethean.mesh._payloads import PingPayload, PongPayload

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


# -- the payloads --------------------------------------------------------------

@attrs.frozen
class DisconnectPayload(GoStruct):
    """``disconnect``: why the sender is closing the link."""

    reason: str = ""
    code: int = 0

    FIELDS = (
        Field("reason", "reason", STRING),
        Field("code", "code", INT),
    )


@attrs.frozen
class StartMinerPayload(GoStruct):
    """
    ``start_miner``.  ``config`` is a :class:`~lethean._gojson.RawJSON`
    (``RawJSON("null")`` when the key was present with ``null``) or None
    when the key was absent: the worker then falls back to the profile.
    """

    miner_type: str = ""
    profile_id: str = ""
    config: object = None

    FIELDS = (
        Field("minerType", "miner_type", STRING),
        Field("profileId", "profile_id", STRING, omitempty=True),
        Field("config", "config", RAW, omitempty=True, keep_null=True),
    )


@attrs.frozen
class StopMinerPayload(GoStruct):
    """``stop_miner``: the instance to stop."""

    miner_name: str = ""

    FIELDS = (
        Field("minerName", "miner_name", STRING),
    )


@attrs.frozen
class MinerAckPayload(GoStruct):
    """``miner_ack``: the outcome of a start or stop."""

    success: bool = False
    miner_name: str = ""
    error: str = ""

    FIELDS = (
        Field("success", "success", BOOL),
        Field("minerName", "miner_name", STRING, omitempty=True),
        Field("error", "error", STRING, omitempty=True),
    )


@attrs.frozen
class MinerStatsItem(GoStruct):
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

    FIELDS = (
        Field("name", "name", STRING),
        Field("type", "type", STRING),
        Field("hashrate", "hashrate", FLOAT64),
        Field("shares", "shares", INT),
        Field("rejected", "rejected", INT),
        Field("uptime", "uptime", INT),
        Field("pool", "pool", STRING),
        Field("algorithm", "algorithm", STRING),
        Field("cpuThreads", "cpu_threads", INT, omitempty=True),
    )


@attrs.frozen
class StatsPayload(GoStruct):
    """``stats``: the worker's identity, uptime (s) and miners."""

    node_id: str = ""
    node_name: str = ""
    miners: tuple = attrs.field(default=(), converter=tuple)
    uptime: int = 0

    FIELDS = (
        Field("nodeId", "node_id", STRING),
        Field("nodeName", "node_name", STRING),
        Field("miners", "miners", SliceOf(StructOf(MinerStatsItem))),
        Field("uptime", "uptime", INT64),
    )


@attrs.frozen
class GetLogsPayload(GoStruct):
    """``get_logs``: ``since`` is Unix **milliseconds**, 0 for no filter."""

    miner_name: str = ""
    lines: int = 0
    since: int = 0

    FIELDS = (
        Field("minerName", "miner_name", STRING),
        Field("lines", "lines", INT),
        Field("since", "since", INT64, omitempty=True),
    )


@attrs.frozen
class LogsPayload(GoStruct):
    """``logs``: ``lines`` is None when the miner returned nothing (JSON ``null``)."""

    miner_name: str = ""
    lines: object = attrs.field(
        default=None, converter=attrs.converters.optional(tuple))
    has_more: bool = False

    FIELDS = (
        Field("minerName", "miner_name", STRING),
        Field("lines", "lines", SliceOf(STRING)),
        Field("hasMore", "has_more", BOOL),
    )


@attrs.frozen
class DeployPayload(GoStruct):
    """
    ``deploy``: a bundle on the wire (``data`` is raw bytes, sent as base64).

    ``type`` is not checked here: the worker answers an unknown type with
    the reference's own error text.
    """

    type: str = ""
    data: bytes = attrs.field(default=b"", repr=False)
    checksum: str = ""
    name: str = ""

    FIELDS = (
        Field("type", "type", STRING),
        Field("data", "data", BYTES),
        Field("checksum", "checksum", STRING),
        Field("name", "name", STRING),
    )


@attrs.frozen
class DeployAckPayload(GoStruct):
    """``deploy_ack``: the outcome of a deploy."""

    success: bool = False
    name: str = ""
    error: str = ""

    FIELDS = (
        Field("success", "success", BOOL),
        Field("name", "name", STRING, omitempty=True),
        Field("error", "error", STRING, omitempty=True),
    )


@attrs.frozen
class ErrorPayload(GoStruct):
    """``error``: a failed request; the reference only sends code 1004."""

    code: int = 0
    message: str = ""
    details: str = ""

    FIELDS = (
        Field("code", "code", INT),
        Field("message", "message", STRING),
        Field("details", "details", STRING, omitempty=True),
    )


@attrs.frozen
class DeployChunkPayload(GoStruct):
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

    FIELDS = (
        Field("uploadId", "upload_id", STRING),
        Field("index", "index", INT),
        Field("total", "total", INT),
        Field("size", "size", INT),
        Field("type", "type", STRING),
        Field("name", "name", STRING),
        Field("checksum", "checksum", STRING),
        Field("data", "data", BYTES),
    )


@attrs.frozen
class DeployChunkAckPayload(GoStruct):
    """``deploy_chunk_ack`` (lethean only): chunk ``index`` was stored."""

    upload_id: str = ""
    index: int = 0

    FIELDS = (
        Field("uploadId", "upload_id", STRING),
        Field("index", "index", INT),
    )
