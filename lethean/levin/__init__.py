"""
Levin: the CryptoNote binary protocol spoken by monerod and letheand.

A packet is a 33-byte :class:`Header` plus a payload, usually an epee
portable-storage :class:`Section` of typed values.  This package holds the
codecs (header, varint, storage), a sans-IO stream decoder, and a Twisted
:class:`LevinProtocol` / :class:`LevinFactory` pair.  See ``docs/levin.md``.
"""

from ._decoder import LevinDecoder
from ._errors import (
    BadSignatureError,
    BadVersionError,
    ConnectionLostError,
    InvokeTimeoutError,
    LevinError,
    LevinLimitError,
    LevinMalformedError,
    LevinTruncatedError,
    NameTooLongError,
    PayloadTooBigError,
    ReturnCodeError,
    UnknownTypeError,
    ValueOutOfRangeError,
)
from ._header import (
    COMMAND_GET_TXPOOL_COMPLEMENT,
    COMMAND_HANDSHAKE,
    COMMAND_NOTIFY_NEW_BLOCK,
    COMMAND_NOTIFY_NEW_FLUFFY_BLOCK,
    COMMAND_NOTIFY_NEW_TRANSACTIONS,
    COMMAND_PING,
    COMMAND_REQUEST_CHAIN,
    COMMAND_REQUEST_FLUFFY_MISSING_TX,
    COMMAND_REQUEST_GET_OBJECTS,
    COMMAND_REQUEST_SUPPORT_FLAGS,
    COMMAND_RESPONSE_CHAIN_ENTRY,
    COMMAND_RESPONSE_GET_OBJECTS,
    COMMAND_TIMED_SYNC,
    FLAG_FRAGMENT_BEGIN,
    FLAG_FRAGMENT_END,
    FLAG_REQUEST,
    FLAG_RESPONSE,
    HEADER_SIZE,
    LEVIN_SIGNATURE,
    MAX_PAYLOAD_SIZE,
    PROTOCOL_VERSION,
    RETURN_ERROR_CONNECTION,
    RETURN_ERROR_CONNECTION_DESTROYED,
    RETURN_ERROR_CONNECTION_NOT_FOUND,
    RETURN_ERROR_CONNECTION_TIMEDOUT,
    RETURN_ERROR_FORMAT,
    RETURN_ERROR_HANDLER_NOT_DEFINED,
    RETURN_ERROR_NO_DUPLEX_PROTOCOL,
    RETURN_ERROR_SIGNATURE,
    RETURN_OK,
    Header,
    decode_header,
    encode_header,
)
from ._json import from_typed_json, to_json_value, to_typed_json
from ._protocol import INVOKE_TIMEOUT_S, RETURN_SUCCESS, LevinFactory, LevinProtocol
from ._storage import (
    MAX_DEPTH,
    MAX_ITEMS,
    REFERENCE_ARRAY_TYPES,
    STORAGE_HEADER,
    decode_storage,
    encode_storage,
)
from ._values import (
    MAX_NAME_LENGTH,
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
from ._varint import VARINT_MAX, decode_varint, encode_varint

__all__ = [
    # header
    "Header", "encode_header", "decode_header",
    "LEVIN_SIGNATURE", "HEADER_SIZE", "MAX_PAYLOAD_SIZE", "PROTOCOL_VERSION",
    "FLAG_REQUEST", "FLAG_RESPONSE", "FLAG_FRAGMENT_BEGIN", "FLAG_FRAGMENT_END",
    "RETURN_OK", "RETURN_SUCCESS", "RETURN_ERROR_CONNECTION",
    "RETURN_ERROR_CONNECTION_NOT_FOUND", "RETURN_ERROR_CONNECTION_DESTROYED",
    "RETURN_ERROR_CONNECTION_TIMEDOUT", "RETURN_ERROR_NO_DUPLEX_PROTOCOL",
    "RETURN_ERROR_HANDLER_NOT_DEFINED", "RETURN_ERROR_FORMAT", "RETURN_ERROR_SIGNATURE",
    "COMMAND_HANDSHAKE", "COMMAND_TIMED_SYNC", "COMMAND_PING",
    "COMMAND_REQUEST_SUPPORT_FLAGS", "COMMAND_NOTIFY_NEW_BLOCK",
    "COMMAND_NOTIFY_NEW_TRANSACTIONS", "COMMAND_REQUEST_GET_OBJECTS",
    "COMMAND_RESPONSE_GET_OBJECTS", "COMMAND_REQUEST_CHAIN", "COMMAND_RESPONSE_CHAIN_ENTRY",
    "COMMAND_NOTIFY_NEW_FLUFFY_BLOCK", "COMMAND_REQUEST_FLUFFY_MISSING_TX",
    "COMMAND_GET_TXPOOL_COMPLEMENT",
    # varint
    "encode_varint", "decode_varint", "VARINT_MAX",
    # storage
    "Int64", "Int32", "Int16", "Int8", "Uint64", "Uint32", "Uint16", "Uint8",
    "Double", "String", "Bool", "Section", "Array", "MAX_NAME_LENGTH",
    "encode_storage", "decode_storage", "STORAGE_HEADER", "MAX_DEPTH", "MAX_ITEMS",
    "REFERENCE_ARRAY_TYPES",
    "to_json_value", "to_typed_json", "from_typed_json",
    # protocol
    "LevinDecoder", "LevinProtocol", "LevinFactory", "INVOKE_TIMEOUT_S",
    # errors
    "LevinError", "LevinMalformedError", "LevinTruncatedError", "BadSignatureError",
    "BadVersionError", "UnknownTypeError", "PayloadTooBigError", "NameTooLongError",
    "LevinLimitError", "ValueOutOfRangeError", "ReturnCodeError", "InvokeTimeoutError",
    "ConnectionLostError",
]
