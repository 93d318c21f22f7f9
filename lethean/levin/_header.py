"""
The 33-byte Levin packet header.

All fields are little-endian: signature (u64), payload size (u64),
expect-response (u8), command (u32), return code (i32), flags (u32),
protocol version (u32).  The signature is a constant and is not a field of
:class:`Header`; decoding checks it first, then the payload size.
"""

import struct

from attrs import field, frozen

from ._errors import (
    BadSignatureError,
    LevinTruncatedError,
    PayloadTooBigError,
    ValueOutOfRangeError,
)

__all__ = [
    "Header",
    "encode_header",
    "decode_header",
    "LEVIN_SIGNATURE",
    "HEADER_SIZE",
    "MAX_PAYLOAD_SIZE",
    "FLAG_REQUEST",
    "FLAG_RESPONSE",
    "FLAG_FRAGMENT_BEGIN",
    "FLAG_FRAGMENT_END",
    "PROTOCOL_VERSION",
    "RETURN_OK",
    "RETURN_ERROR_CONNECTION",
    "RETURN_ERROR_CONNECTION_NOT_FOUND",
    "RETURN_ERROR_CONNECTION_DESTROYED",
    "RETURN_ERROR_CONNECTION_TIMEDOUT",
    "RETURN_ERROR_NO_DUPLEX_PROTOCOL",
    "RETURN_ERROR_HANDLER_NOT_DEFINED",
    "RETURN_ERROR_FORMAT",
    "RETURN_ERROR_SIGNATURE",
    "COMMAND_HANDSHAKE",
    "COMMAND_TIMED_SYNC",
    "COMMAND_PING",
    "COMMAND_REQUEST_SUPPORT_FLAGS",
    "COMMAND_NOTIFY_NEW_BLOCK",
    "COMMAND_NOTIFY_NEW_TRANSACTIONS",
    "COMMAND_REQUEST_GET_OBJECTS",
    "COMMAND_RESPONSE_GET_OBJECTS",
    "COMMAND_REQUEST_CHAIN",
    "COMMAND_RESPONSE_CHAIN_ENTRY",
    "COMMAND_NOTIFY_NEW_FLUFFY_BLOCK",
    "COMMAND_REQUEST_FLUFFY_MISSING_TX",
    "COMMAND_GET_TXPOOL_COMPLEMENT",
]

#: The u64 every Levin packet starts with (bytes ``01 21 01 01 01 01 01 01``).
LEVIN_SIGNATURE = 0x0101010101012101
#: Size of the packet header in bytes.
HEADER_SIZE = 33
#: Largest payload a packet may declare (100 MiB), as in the Go reference.
MAX_PAYLOAD_SIZE = 100 * 1024 * 1024

#: Flag bits: requests and notifications carry REQUEST, responses RESPONSE.
FLAG_REQUEST = 0x01
FLAG_RESPONSE = 0x02
#: Monero's fragmented/padded ("noise") traffic; not supported, only named.
FLAG_FRAGMENT_BEGIN = 0x04
FLAG_FRAGMENT_END = 0x08

#: The only protocol version written.
PROTOCOL_VERSION = 1

#: Return codes (epee ``levin_base.h``).  Monero daemons answer successful
#: invokes with 1; anything ``>= 0`` is success.
RETURN_OK = 0
RETURN_ERROR_CONNECTION = -1
RETURN_ERROR_CONNECTION_NOT_FOUND = -2
RETURN_ERROR_CONNECTION_DESTROYED = -3
RETURN_ERROR_CONNECTION_TIMEDOUT = -4
RETURN_ERROR_NO_DUPLEX_PROTOCOL = -5
RETURN_ERROR_HANDLER_NOT_DEFINED = -6
RETURN_ERROR_FORMAT = -7
#: Go reference invention; never send it to a daemon.
RETURN_ERROR_SIGNATURE = -13

#: Command ids: P2P pool (1000) and CryptoNote protocol pool (2000).
COMMAND_HANDSHAKE = 1001
COMMAND_TIMED_SYNC = 1002
COMMAND_PING = 1003
COMMAND_REQUEST_SUPPORT_FLAGS = 1007
COMMAND_NOTIFY_NEW_BLOCK = 2001
COMMAND_NOTIFY_NEW_TRANSACTIONS = 2002
COMMAND_REQUEST_GET_OBJECTS = 2003
COMMAND_RESPONSE_GET_OBJECTS = 2004
COMMAND_REQUEST_CHAIN = 2006
COMMAND_RESPONSE_CHAIN_ENTRY = 2007
COMMAND_NOTIFY_NEW_FLUFFY_BLOCK = 2008
COMMAND_REQUEST_FLUFFY_MISSING_TX = 2009
COMMAND_GET_TXPOOL_COMPLEMENT = 2010

_STRUCT = struct.Struct("<QQBIiII")
_SIGNATURE_BYTES = LEVIN_SIGNATURE.to_bytes(8, "little")


def _unsigned(bits):
    top = (1 << bits) - 1

    def check(instance, attribute, value):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
            raise ValueOutOfRangeError(
                "Levin header {} must be a u{}, not {!r}".format(attribute.name, bits, value))
    return check


def _signed32(instance, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or not -(1 << 31) <= value < (1 << 31):
        raise ValueOutOfRangeError(
            "Levin header {} must be an i32, not {!r}".format(attribute.name, value))


@frozen
class Header:
    """
    One Levin packet header (the signature is implied).

    ``expect_response`` is true for an invoke; a response or a notification
    has it false and is told apart by ``flags``.
    """

    payload_size: int = field(validator=_unsigned(64))
    expect_response: bool = field(converter=bool)
    command: int = field(validator=_unsigned(32))
    return_code: int = field(default=RETURN_OK, validator=_signed32)
    flags: int = field(default=FLAG_REQUEST, validator=_unsigned(32))
    protocol_version: int = field(default=PROTOCOL_VERSION, validator=_unsigned(32))

    @classmethod
    def request(cls, command, payload_size):
        """The header of an invoke: the sender waits for a response."""
        return cls(payload_size, True, command, RETURN_OK, FLAG_REQUEST)

    @classmethod
    def notification(cls, command, payload_size):
        """The header of a notification: no response is expected."""
        return cls(payload_size, False, command, RETURN_OK, FLAG_REQUEST)

    @classmethod
    def response(cls, command, payload_size, return_code=RETURN_OK):
        """The header of a response to an invoke of ``command``."""
        return cls(payload_size, False, command, return_code, FLAG_RESPONSE)

    @property
    def is_response(self):
        """True for a response to an invoke (RESPONSE flag, no response expected)."""
        return not self.expect_response and bool(self.flags & FLAG_RESPONSE)


def encode_header(header):
    """The 33 bytes of ``header``, signature first."""
    return _STRUCT.pack(
        LEVIN_SIGNATURE,
        header.payload_size,
        1 if header.expect_response else 0,
        header.command,
        header.return_code,
        header.flags,
        header.protocol_version,
    )


def check_signature_prefix(data):
    """
    Raise :class:`BadSignatureError` if ``data`` cannot start a Levin packet.

    Works on any prefix, so a stream can be rejected from its first byte.
    """
    prefix = bytes(data[:8])
    if prefix != _SIGNATURE_BYTES[:len(prefix)]:
        raise BadSignatureError("bad Levin signature {}".format(prefix.hex()))


def decode_header(data, max_payload_size=MAX_PAYLOAD_SIZE):
    """
    Decode the header at the start of ``data`` (later bytes are ignored).

    Checks, in this order: the signature (:class:`BadSignatureError`), that
    33 bytes are present (:class:`LevinTruncatedError`), and that the payload
    size is at most ``max_payload_size`` (:class:`PayloadTooBigError`).
    ``expect_response`` is true only when its byte is exactly 1.
    """
    check_signature_prefix(data)
    if len(data) < HEADER_SIZE:
        raise LevinTruncatedError(
            "truncated Levin header: {} of {} bytes".format(len(data), HEADER_SIZE))
    (_, size, expect, command, return_code, flags, version) = _STRUCT.unpack_from(data)
    if size > max_payload_size:
        raise PayloadTooBigError(
            "payload of {} bytes exceeds the limit of {}".format(size, max_payload_size))
    return Header(size, expect == 1, command, return_code, flags, version)
