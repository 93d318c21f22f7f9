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

from __future__ import annotations

import attrs

from lethean._gojson import RawJSON
from lethean._types import Buffer
from lethean._gostruct import GoStruct, InvalidPayloadError, StructOf, go_field
from lethean._gotypes import BOOL, BYTES, FLOAT64, INT, INT64, RAW, STRING, SliceOf
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

    reason: str = go_field("reason", STRING)
    code: int = go_field("code", INT)


@attrs.frozen
class StartMinerPayload(GoStruct):
    """
    ``start_miner``.  ``config`` is a :class:`~lethean._gojson.RawJSON`
    (``RawJSON("null")`` when the key was present with ``null``) or None
    when the key was absent: the worker then falls back to the profile.
    """

    miner_type: str = go_field("minerType", STRING)
    profile_id: str = go_field("profileId", STRING, omitempty=True)
    config: RawJSON | None = go_field("config", RAW, omitempty=True)


@attrs.frozen
class StopMinerPayload(GoStruct):
    """``stop_miner``: the instance to stop."""

    miner_name: str = go_field("minerName", STRING)


@attrs.frozen
class MinerAckPayload(GoStruct):
    """``miner_ack``: the outcome of a start or stop."""

    success: bool = go_field("success", BOOL)
    miner_name: str = go_field("minerName", STRING, omitempty=True)
    error: str = go_field("error", STRING, omitempty=True)


@attrs.frozen
class MinerStatsItem(GoStruct):
    """One miner in a ``stats`` reply."""

    name: str = go_field("name", STRING)
    type: str = go_field("type", STRING)
    hashrate: float = go_field("hashrate", FLOAT64)
    shares: int = go_field("shares", INT)
    rejected: int = go_field("rejected", INT)
    uptime: int = go_field("uptime", INT)
    pool: str = go_field("pool", STRING)
    algorithm: str = go_field("algorithm", STRING)
    cpu_threads: int = go_field("cpuThreads", INT, omitempty=True)


@attrs.frozen
class StatsPayload(GoStruct):
    """``stats``: the worker's identity, uptime (s) and miners."""

    node_id: str = go_field("nodeId", STRING)
    node_name: str = go_field("nodeName", STRING)
    miners: tuple[MinerStatsItem, ...] = go_field("miners", SliceOf(StructOf(MinerStatsItem)), default=(),
                             converter=tuple)
    uptime: int = go_field("uptime", INT64)


@attrs.frozen
class GetLogsPayload(GoStruct):
    """``get_logs``: ``since`` is Unix **milliseconds**, 0 for no filter."""

    miner_name: str = go_field("minerName", STRING)
    lines: int = go_field("lines", INT)
    since: int = go_field("since", INT64, omitempty=True)


@attrs.frozen
class LogsPayload(GoStruct):
    """``logs``: ``lines`` is None when the miner returned nothing (JSON ``null``)."""

    miner_name: str = go_field("minerName", STRING)
    lines: tuple[str, ...] | None = go_field("lines", SliceOf(STRING),
                             converter=attrs.converters.optional(tuple))
    has_more: bool = go_field("hasMore", BOOL)


@attrs.frozen
class DeployPayload(GoStruct):
    """
    ``deploy``: a bundle on the wire (``data`` is raw bytes, sent as base64).

    ``type`` is not checked here: the worker answers an unknown type with
    the reference's own error text.
    """

    type: str = go_field("type", STRING)
    data: bytes = go_field("data", BYTES, repr=False)
    checksum: str = go_field("checksum", STRING)
    name: str = go_field("name", STRING)


@attrs.frozen
class DeployAckPayload(GoStruct):
    """``deploy_ack``: the outcome of a deploy."""

    success: bool = go_field("success", BOOL)
    name: str = go_field("name", STRING, omitempty=True)
    error: str = go_field("error", STRING, omitempty=True)


@attrs.frozen
class ErrorPayload(GoStruct):
    """``error``: a failed request; the reference only sends code 1004."""

    code: int = go_field("code", INT)
    message: str = go_field("message", STRING)
    details: str = go_field("details", STRING, omitempty=True)


@attrs.frozen
class DeployChunkPayload(GoStruct):
    """
    ``deploy_chunk`` (lethean only): part ``index`` of ``total`` of a bundle's
    data.  Every chunk repeats the bundle's type, name, checksum and total
    size, so the worker can check the upload against its limits from the
    first chunk on.
    """

    upload_id: str = go_field("uploadId", STRING)
    index: int = go_field("index", INT)
    total: int = go_field("total", INT)
    size: int = go_field("size", INT)
    type: str = go_field("type", STRING)
    name: str = go_field("name", STRING)
    checksum: str = go_field("checksum", STRING)
    #: Received: bytes; sent: any buffer (a view of the bundle's data).
    data: Buffer = go_field("data", BYTES, repr=False)


@attrs.frozen
class DeployChunkAckPayload(GoStruct):
    """``deploy_chunk_ack`` (lethean only): chunk ``index`` was stored."""

    upload_id: str = go_field("uploadId", STRING)
    index: int = go_field("index", INT)
