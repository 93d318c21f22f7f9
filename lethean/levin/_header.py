"""
The 33-byte Levin packet header.

All fields are little-endian: signature (u64), payload size (u64),
expect-response (u8), command (u32), return code (i32), flags (u32),
protocol version (u32).  The signature is a constant and is not a field of
:class:`Header`; decoding checks it first, then the payload size.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum

from attrs import Attribute, field, frozen

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
    "Command",
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


class Command(IntEnum):
    """
    Levin command ids: the P2P pool (1000) and the CryptoNote protocol pool
    (2000), spec/levin.md section 1.3.  Any ``int`` is a command id; these
    name the known ones.
    """

    HANDSHAKE = 1001
    TIMED_SYNC = 1002
    PING = 1003
    #: Debug builds only.
    REQUEST_STAT_INFO = 1004
    REQUEST_NETWORK_STATE = 1005
    REQUEST_PEER_ID = 1006
    #: Monero only.
    REQUEST_SUPPORT_FLAGS = 1007
    NOTIFY_NEW_BLOCK = 2001
    NOTIFY_NEW_TRANSACTIONS = 2002
    REQUEST_GET_OBJECTS = 2003
    RESPONSE_GET_OBJECTS = 2004
    REQUEST_CHAIN = 2006
    RESPONSE_CHAIN_ENTRY = 2007
    NOTIFY_NEW_FLUFFY_BLOCK = 2008
    REQUEST_FLUFFY_MISSING_TX = 2009
    GET_TXPOOL_COMPLEMENT = 2010


_STRUCT = struct.Struct("<QQBIiII")
_SIGNATURE_BYTES = LEVIN_SIGNATURE.to_bytes(8, "little")


def _unsigned(bits: int) -> Callable[[object, Attribute[int], object], None]:
    top = (1 << bits) - 1

    def check(instance: object, attribute: Attribute[int], value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
            raise ValueOutOfRangeError(
                "Levin header {} must be a u{}, not {!r}".format(attribute.name, bits, value))
    return check


def _signed32(instance: object, attribute: Attribute[int], value: object) -> None:
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
    def request(cls, command: int, payload_size: int) -> Header:
        """The header of an invoke: the sender waits for a response."""
        return cls(payload_size, True, command, RETURN_OK, FLAG_REQUEST)

    @classmethod
    def notification(cls, command: int, payload_size: int) -> Header:
        """The header of a notification: no response is expected."""
        return cls(payload_size, False, command, RETURN_OK, FLAG_REQUEST)

    @classmethod
    def response(cls, command: int, payload_size: int, return_code: int = RETURN_OK) -> Header:
        """The header of a response to an invoke of ``command``."""
        return cls(payload_size, False, command, return_code, FLAG_RESPONSE)

    @property
    def is_response(self) -> bool:
        """True for a response to an invoke (RESPONSE flag, no response expected)."""
        return not self.expect_response and bool(self.flags & FLAG_RESPONSE)


def encode_header(header: Header) -> bytes:
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


def check_signature_prefix(data: bytes | bytearray | memoryview) -> None:
    """
    Raise :class:`BadSignatureError` if ``data`` cannot start a Levin packet.

    Works on any prefix, so a stream can be rejected from its first byte.
    """
    prefix = bytes(data[:8])
    if prefix != _SIGNATURE_BYTES[:len(prefix)]:
        raise BadSignatureError("bad Levin signature {}".format(prefix.hex()))


def decode_header(data: bytes | bytearray | memoryview,
                  max_payload_size: int = MAX_PAYLOAD_SIZE) -> Header:
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
