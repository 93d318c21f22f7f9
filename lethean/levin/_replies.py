"""
The daemons' replies read into small attrs records, and printed as JSON.

Daemons omit fields that hold their default, so every field is optional
(``None`` when absent); a field that is present with the wrong type or size
is refused with :class:`UnexpectedReplyError`, naming it.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from attrs import frozen

from ._errors import UnexpectedReplyError
from ._json import to_json_value
from ._networks import HASH_SIZE, NETWORK_ID_SIZE
from ._values import (
    Array,
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
)

__all__ = [
    "PING_OK_STATUS",
    "NodeData",
    "SyncData",
    "PeerEntry",
    "HandshakeReply",
    "TimedSyncReply",
    "PingReply",
    "SupportFlagsReply",
    "parse_node_data",
    "parse_sync_data",
    "parse_handshake_reply",
    "parse_timed_sync_reply",
    "parse_ping_reply",
    "parse_support_flags_reply",
    "reply_to_json",
]

#: The ``status`` of a successful ping reply.
PING_OK_STATUS = "OK"

#: One peer of Lethean's packed ``local_peerlist``: ip, port, id, last seen.
_LETHEAN_PEER_RECORD = struct.Struct("<IIQq")

_INTEGERS = (Int64, Int32, Int16, Int8, Uint64, Uint32, Uint16, Uint8)


def _field(section: Section, where: str, name: str, kinds: tuple[Any, ...],
           size: int | None = None) -> Any:
    """The plain value of an optional field, checked against ``kinds``."""
    value: Any = section.get(name)
    if value is None:
        return None
    if not isinstance(value, kinds):
        raise UnexpectedReplyError("{}.{} is {}, expected {}".format(
            where, name, type(value).__name__, "/".join(k.__name__ for k in kinds)))
    if isinstance(value, Section):
        return value
    if size is not None and len(value.value) != size:
        raise UnexpectedReplyError("{}.{} holds {} bytes, expected {}".format(
            where, name, len(value.value), size))
    return value.value


def _integer(section: Section, where: str, name: str) -> Any:
    return _field(section, where, name, _INTEGERS)


def _blob(section: Section, where: str, name: str, size: int | None = None) -> Any:
    return _field(section, where, name, (String,), size)


def _text(section: Section, where: str, name: str) -> str | None:
    raw = _blob(section, where, name)
    return None if raw is None else raw.decode("utf-8", "replace")


def _object(section: Section, where: str, name: str) -> Section:
    found = _field(section, where, name, (Section,))
    return Section() if found is None else found


@frozen
class NodeData:
    """A peer's ``node_data``; fields it did not send are ``None``."""

    network_id: bytes | None = None
    peer_id: int | None = None
    my_port: int | None = None
    rpc_port: int | None = None
    rpc_credits_per_hash: int | None = None
    support_flags: int | None = None
    #: Lethean only: the peer's clock, Unix seconds.
    local_time: int | None = None


@frozen
class SyncData:
    """A peer's ``payload_data`` (chain state); absent fields are ``None``."""

    current_height: int | None = None
    #: Monero: the full 128-bit cumulative difficulty.
    cumulative_difficulty: int | None = None
    top_id: bytes | None = None
    top_version: int | None = None
    pruning_seed: int | None = None
    #: Lethean only.
    last_checkpoint_height: int | None = None
    core_time: int | None = None
    client_version: str | None = None
    non_pruning_mode_enabled: bool | None = None


@frozen
class PeerEntry:
    """One peer from a reply's peer list."""

    peer_id: int | None
    #: Text form of the address for IPv4/IPv6, else ``None``.
    host: str | None
    port: int | None
    #: Address type (1 IPv4, 2 IPv6, 3 I2P, 4 Tor).
    address_type: int = 1
    last_seen: int | None = None
    pruning_seed: int | None = None
    rpc_port: int | None = None


@frozen
class HandshakeReply:
    """The answer to COMMAND_HANDSHAKE."""

    node_data: NodeData
    payload_data: SyncData
    peers: tuple[PeerEntry, ...] = ()


@frozen
class TimedSyncReply:
    """The answer to COMMAND_TIMED_SYNC."""

    payload_data: SyncData
    peers: tuple[PeerEntry, ...] = ()
    #: Lethean only.
    local_time: int | None = None


@frozen
class PingReply:
    """The answer to COMMAND_PING."""

    status: str | None
    peer_id: int | None

    @property
    def ok(self) -> bool:
        """True when the peer answered ``status`` ``"OK"``."""
        return self.status == PING_OK_STATUS


@frozen
class SupportFlagsReply:
    """The answer to COMMAND_REQUEST_SUPPORT_FLAGS."""

    support_flags: int | None


def parse_node_data(section: Section, where: str = "node_data") -> NodeData:
    """A :class:`NodeData` from a ``node_data`` section."""
    return NodeData(
        network_id=_blob(section, where, "network_id", NETWORK_ID_SIZE),
        peer_id=_integer(section, where, "peer_id"),
        my_port=_integer(section, where, "my_port"),
        rpc_port=_integer(section, where, "rpc_port"),
        rpc_credits_per_hash=_integer(section, where, "rpc_credits_per_hash"),
        support_flags=_integer(section, where, "support_flags"),
        local_time=_integer(section, where, "local_time"),
    )


def parse_sync_data(section: Section, where: str = "payload_data") -> SyncData:
    """A :class:`SyncData` from a ``payload_data`` section."""
    low = _integer(section, where, "cumulative_difficulty")
    high = _integer(section, where, "cumulative_difficulty_top64")
    difficulty = None
    if low is not None or high is not None:
        difficulty = ((high or 0) << 64) | (low or 0)
    return SyncData(
        current_height=_integer(section, where, "current_height"),
        cumulative_difficulty=difficulty,
        top_id=_blob(section, where, "top_id", HASH_SIZE),
        top_version=_integer(section, where, "top_version"),
        pruning_seed=_integer(section, where, "pruning_seed"),
        last_checkpoint_height=_integer(section, where, "last_checkpoint_height"),
        core_time=_integer(section, where, "core_time"),
        client_version=_text(section, where, "client_version"),
        non_pruning_mode_enabled=_field(section, where, "non_pruning_mode_enabled", (Bool,)),
    )


def _ipv4(m_ip: int) -> str:
    return str(ipaddress.IPv4Address(m_ip.to_bytes(4, "little")))


def _monero_peer(entry: object, where: str) -> PeerEntry:
    if not isinstance(entry, Section):
        raise UnexpectedReplyError("{} holds {}, expected objects".format(
            where, type(entry).__name__))
    address = _object(entry, where, "adr")
    address_type = _integer(address, where + ".adr", "type")
    inner = _object(address, where + ".adr", "addr")
    host = None
    if address_type == 1:
        m_ip = _integer(inner, where + ".adr.addr", "m_ip")
        host = None if m_ip is None else _ipv4(m_ip & 0xFFFFFFFF)
    elif address_type == 2:
        raw = _blob(inner, where + ".adr.addr", "addr", 16)
        host = None if raw is None else str(ipaddress.IPv6Address(raw))
    return PeerEntry(
        peer_id=_integer(entry, where, "id"),
        host=host,
        port=_integer(inner, where + ".adr.addr", "m_port"),
        address_type=address_type if address_type is not None else 0,
        last_seen=_integer(entry, where, "last_seen"),
        pruning_seed=_integer(entry, where, "pruning_seed"),
        rpc_port=_integer(entry, where, "rpc_port"),
    )


def _lethean_peers(blob: bytes) -> tuple[PeerEntry, ...]:
    if len(blob) % _LETHEAN_PEER_RECORD.size:
        raise UnexpectedReplyError(
            "local_peerlist holds {} bytes, not a multiple of {}".format(
                len(blob), _LETHEAN_PEER_RECORD.size))
    return tuple(
        PeerEntry(peer_id=peer_id, host=_ipv4(ip), port=port, last_seen=last_seen)
        for ip, port, peer_id, last_seen in _LETHEAN_PEER_RECORD.iter_unpack(blob))


def _peers(section: Section) -> tuple[PeerEntry, ...]:
    peers: tuple[PeerEntry, ...] = ()
    listed = section.get("local_peerlist_new")
    if listed is not None:
        if not isinstance(listed, Array):
            raise UnexpectedReplyError("local_peerlist_new is {}, expected an array".format(
                type(listed).__name__))
        peers += tuple(_monero_peer(entry, "local_peerlist_new[]") for entry in listed)
    blob = _blob(section, "reply", "local_peerlist")
    if blob is not None:
        peers += _lethean_peers(blob)
    return peers


def parse_handshake_reply(section: Section) -> HandshakeReply:
    """A :class:`HandshakeReply` from the daemon's handshake answer."""
    return HandshakeReply(
        node_data=parse_node_data(_object(section, "reply", "node_data")),
        payload_data=parse_sync_data(_object(section, "reply", "payload_data")),
        peers=_peers(section),
    )


def parse_timed_sync_reply(section: Section) -> TimedSyncReply:
    """A :class:`TimedSyncReply` from the daemon's timed-sync answer."""
    return TimedSyncReply(
        payload_data=parse_sync_data(_object(section, "reply", "payload_data")),
        peers=_peers(section),
        local_time=_integer(section, "reply", "local_time"),
    )


def parse_ping_reply(section: Section) -> PingReply:
    """A :class:`PingReply` from the daemon's ping answer."""
    return PingReply(
        status=_text(section, "reply", "status"),
        peer_id=_integer(section, "reply", "peer_id"),
    )


def parse_support_flags_reply(section: Section) -> SupportFlagsReply:
    """A :class:`SupportFlagsReply` from a support-flags answer."""
    return SupportFlagsReply(_integer(section, "reply", "support_flags"))


#: String fields that hold text; every other string is a hash, id or blob.
_TEXT_FIELDS = frozenset({"status", "client_version", "maintainers_info_buff"})


def reply_to_json(section: Section) -> dict[str, Any]:
    """
    JSON-able Python for a reply section, for people.

    Like :func:`to_json_value` but led by the schema: text fields are text,
    every other string is lowercase hex (a hash that happens to be printable
    stays hex), and Lethean's packed ``local_peerlist`` blob is unpacked into
    records.
    """
    return _json_section(section)


def _json_section(section: Section) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in section.items():
        if name == "local_peerlist" and isinstance(value, String) \
                and len(value.value) % _LETHEAN_PEER_RECORD.size == 0:
            out[name] = [
                {"ip": peer.host, "port": peer.port, "id": peer.peer_id,
                 "last_seen": peer.last_seen}
                for peer in _lethean_peers(value.value)]
        else:
            out[name] = _json_value(name, value)
    return out


def _json_value(name: str, value: object) -> Any:
    if isinstance(value, Section):
        return _json_section(value)
    if isinstance(value, Array):
        return [_json_value(name, item) for item in value.items]
    if isinstance(value, String):
        if name in _TEXT_FIELDS:
            return value.value.decode("utf-8", "replace")
        return value.value.hex()
    return to_json_value(value)
