"""
Levin: the CryptoNote binary protocol spoken by monerod and letheand.

A packet is a 33-byte :class:`Header` plus a payload, usually an epee
portable-storage :class:`Section` of typed values.  This package holds the
codecs (header, varint, storage), a sans-IO stream decoder, and a Twisted
:class:`LevinProtocol` / :class:`LevinFactory` pair, plus a client for a
daemon's P2P commands (handshake, timed sync, ping).  See ``docs/levin.md``.

Only entry points are exported here; limits, wire constants and helpers
live in the private modules.
"""

from ._client import close_peer, connect_peer, handshake_peer, ping_peer, polite_handlers
from ._decoder import LevinDecoder
from ._errors import (
    BadSignatureError,
    BadVersionError,
    ConnectionLostError,
    LevinHandshakeRejectedError,
    InvokeTimeoutError,
    LevinError,
    LevinLimitError,
    LevinMalformedError,
    LevinTruncatedError,
    NameTooLongError,
    NotLevinError,
    PayloadTooBigError,
    PeerUnreachableError,
    ReturnCodeError,
    UnexpectedReplyError,
    UnknownNetworkError,
    UnknownTypeError,
    ValueOutOfRangeError,
)
from ._header import Command, Header, decode_header, encode_header
from ._json import from_typed_json, to_json_value, to_typed_json
from ._networks import Network, resolve_network
from ._protocol import LevinFactory, LevinProtocol
from ._replies import parse_handshake_reply, parse_ping_reply, parse_timed_sync_reply, reply_to_json
from ._requests import handshake_request, monero_node_data, monero_sync_data
from ._storage import decode_storage, encode_storage
from ._values import (
    Array,
    Bool,
    Double,
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
from ._varint import decode_varint, encode_varint

__all__ = [
    # codecs
    "Header", "Command", "encode_header", "decode_header", "LevinDecoder",
    "encode_varint", "decode_varint", "encode_storage", "decode_storage",
    "to_json_value", "to_typed_json", "from_typed_json",
    # storage values
    "Section", "Array", "Int64", "Int32", "Int16", "Int8",
    "Uint64", "Uint32", "Uint16", "Uint8", "Double", "String", "Bool",
    # protocol
    "LevinProtocol", "LevinFactory",
    # daemon client
    "connect_peer", "close_peer", "ping_peer", "handshake_peer", "polite_handlers",
    "handshake_request", "monero_node_data", "monero_sync_data",
    "parse_handshake_reply", "parse_timed_sync_reply", "parse_ping_reply", "reply_to_json",
    "Network", "resolve_network",
    # errors
    "LevinError", "LevinMalformedError", "LevinTruncatedError", "BadSignatureError",
    "BadVersionError", "UnknownTypeError", "PayloadTooBigError", "NameTooLongError",
    "LevinLimitError", "ValueOutOfRangeError", "ReturnCodeError", "InvokeTimeoutError",
    "ConnectionLostError", "UnexpectedReplyError", "UnknownNetworkError",
    "PeerUnreachableError", "LevinHandshakeRejectedError", "NotLevinError",
]
