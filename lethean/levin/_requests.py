"""
Request bodies of the P2P commands (and our answers to a daemon's
requests), with the field names and types daemons expect: a ``uint32``
port is not an ``int64``.  Optional fields are written only when given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._errors import UnknownNetworkError
from ._values import Bool, Int64, Section, String, Uint8, Uint16, Uint32, Uint64

__all__ = [
    "P2P_SUPPORT_FLAG_FLUFFY_BLOCKS",
    "monero_node_data",
    "monero_sync_data",
    "lethean_node_data",
    "lethean_sync_data",
    "handshake_request",
    "timed_sync_request",
    "timed_sync_response",
    "ping_request",
    "support_flags_request",
    "support_flags_response",
]

#: Monero's only support flag: the node relays "fluffy" (compact) blocks.
P2P_SUPPORT_FLAG_FLUFFY_BLOCKS = 0x01


def _optional(entries: dict[str, Any], name: str, wrap: Callable[[Any], Any],
              value: Any) -> None:
    if value is not None:
        entries[name] = wrap(value)


def monero_node_data(network_id: bytes, peer_id: int, my_port: int = 0, *,
                     support_flags: int | None = None, rpc_port: int | None = None,
                     rpc_credits_per_hash: int | None = None) -> Section:
    """
    A Monero ``basic_node_data`` section (``node_data``).

    ``my_port`` 0 tells the daemon we do not listen; optional fields are
    written only when given (even as 0).
    """
    entries: dict[str, Any] = {
        "network_id": String(network_id),
        "peer_id": Uint64(peer_id),
        "my_port": Uint32(my_port),
    }
    _optional(entries, "support_flags", Uint32, support_flags)
    _optional(entries, "rpc_port", Uint16, rpc_port)
    _optional(entries, "rpc_credits_per_hash", Uint32, rpc_credits_per_hash)
    return Section(entries)


def monero_sync_data(top_id: bytes, current_height: int = 1, cumulative_difficulty: int = 1, *,
                     top_version: int = 1, pruning_seed: int | None = None) -> Section:
    """
    A Monero ``CORE_SYNC_DATA`` section (``payload_data``).

    ``cumulative_difficulty`` is the full 128-bit value; it is written as
    its low and high 64 bits, as daemons do.  The defaults (height 1,
    version 1) with a network's genesis hash describe a node holding only
    block 0, which daemons of that network accept and never sync from.
    """
    if not 0 <= cumulative_difficulty < (1 << 128):
        raise UnknownNetworkError("cumulative difficulty must fit 128 bits")
    entries: dict[str, Any] = {
        "current_height": Uint64(current_height),
        "cumulative_difficulty": Uint64(cumulative_difficulty & ((1 << 64) - 1)),
        "cumulative_difficulty_top64": Uint64(cumulative_difficulty >> 64),
        "top_id": String(top_id),
        "top_version": Uint8(top_version),
    }
    _optional(entries, "pruning_seed", Uint32, pruning_seed)
    return Section(entries)


def lethean_node_data(network_id: bytes, peer_id: int, local_time: int,
                      my_port: int = 0) -> Section:
    """A Lethean ``basic_node_data`` section (``local_time`` in Unix seconds)."""
    return Section({
        "network_id": String(network_id),
        "peer_id": Uint64(peer_id),
        "local_time": Int64(local_time),
        "my_port": Uint32(my_port),
    })


def lethean_sync_data(top_id: bytes, current_height: int, core_time: int, *,
                      last_checkpoint_height: int = 0, client_version: str | bytes = "",
                      non_pruning_mode_enabled: bool = True) -> Section:
    """A Lethean ``CORE_SYNC_DATA`` section (``current_height`` = top + 1)."""
    return Section({
        "current_height": Uint64(current_height),
        "top_id": String(top_id),
        "last_checkpoint_height": Uint64(last_checkpoint_height),
        "core_time": Uint64(core_time),
        "client_version": String(client_version),
        "non_pruning_mode_enabled": Bool(non_pruning_mode_enabled),
    })


def handshake_request(node_data: Section, payload_data: Section,
                      maintrs_entry: Mapping[str, Any] | None = None) -> Section:
    """The COMMAND_HANDSHAKE (1001) request body."""
    entries: dict[str, Any] = {"node_data": node_data, "payload_data": payload_data}
    _optional(entries, "maintrs_entry", Section, maintrs_entry)
    return Section(entries)


def timed_sync_request(payload_data: Section,
                       maintrs_entry: Mapping[str, Any] | None = None) -> Section:
    """The COMMAND_TIMED_SYNC (1002) request body."""
    entries: dict[str, Any] = {"payload_data": payload_data}
    _optional(entries, "maintrs_entry", Section, maintrs_entry)
    return Section(entries)


def timed_sync_response(payload_data: Section, local_time: int | None = None) -> Section:
    """
    Our answer to a daemon's timed sync: our ``payload_data`` (Lethean
    daemons also expect ``local_time``).
    """
    entries: dict[str, Any] = {"payload_data": payload_data}
    _optional(entries, "local_time", Int64, local_time)
    return Section(entries)


def ping_request() -> Section:
    """The COMMAND_PING (1003) request body: an empty section."""
    return Section()


def support_flags_request() -> Section:
    """The COMMAND_REQUEST_SUPPORT_FLAGS (1007) request body: empty."""
    return Section()


def support_flags_response(support_flags: int = 0) -> Section:
    """Our answer to a daemon's support-flags request."""
    return Section({"support_flags": Uint32(support_flags)})
