"""
Enchantrix "Trix" containers: ``magic(4) | version(1) | H (u32 BE) |
header JSON (H bytes) | payload``.

SMSG frames (magic ``SMSG``) and STIM deploy bundles (magic ``STIM``) both
use it.  The header is a JSON object written the way Go marshals a map
(sorted keys, compact, HTML-escaped); the payload runs to the end of the
data.  Reading checks every declared length against the bytes present and
the limits before slicing, and raises only :class:`ContainerError`
subclasses.
"""

from __future__ import annotations

from typing import Any

import hashlib
import hmac
import struct

from lethean._types import Buffer
from lethean.smsg._errors import (
    BadHeaderJSONError,
    BadMagicError,
    ContainerVersionError,
    ContainerChecksumError,
    HeaderTooLargeError,
    PayloadTooLargeError,
    TruncatedContainerError,
)
from lethean._gojson import loads_strict, marshal, utf8

__all__ = [
    "TRIX_VERSION",
    "MAX_HEADER_BYTES",
    "PREFIX_BYTES",
    "pack_trix",
    "unpack_trix",
    "trix_checksum",
    "check_checksum",
]

#: The only container version Enchantrix reads and writes.
TRIX_VERSION = 2
#: Go's header size limit (16 MiB).
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: magic + version + header length.
PREFIX_BYTES = 9

_U32 = struct.Struct(">I")


def _lthn_hash(payload: bytes) -> str:
    """Enchantrix's ``lthn`` hash: SHA-256(text + reversed, substituted text)."""
    # Go converts the bytes to runes (each invalid byte becomes U+FFFD),
    # reverses them through a fixed character map and appends the result.
    # Linear and in C: a peer chooses this algorithm before anything is
    # decrypted.
    salt = _go_runes(payload)[::-1].translate(_LTHN_TABLE)
    return hashlib.sha256(payload + salt.encode("utf-8")).hexdigest()


_LTHN_MAP = {"o": "0", "l": "1", "e": "3", "a": "4", "s": "z", "t": "7",
             "0": "o", "1": "l", "3": "e", "4": "a", "7": "t"}
#: The map, plus every lone surrogate (an invalid byte) to U+FFFD.
_LTHN_TABLE = str.maketrans({**_LTHN_MAP, **{chr(0xDC80 + i): "\ufffd" for i in range(128)}})


def _go_runes(data: bytes) -> str:
    """
    ``[]rune(string(data))`` in Go, as text: every invalid UTF-8 byte is one
    U+FFFD (``surrogateescape`` gives one lone surrogate per invalid byte,
    exactly where Go gives a rune error).
    """
    return data.decode("utf-8", "surrogateescape")


_HASHES = {
    "sha256": lambda b: hashlib.sha256(b).hexdigest(),
    "sha512": lambda b: hashlib.sha512(b).hexdigest(),
    "sha1": lambda b: hashlib.sha1(b).hexdigest(),
    "md5": lambda b: hashlib.md5(b).hexdigest(),
    "lthn": _lthn_hash,
}


def trix_checksum(algorithm: str, payload: Buffer) -> str:
    """Hex digest Enchantrix writes for ``checksum_algo`` (unknown = sha256)."""
    return _HASHES.get(algorithm, _HASHES["sha256"])(bytes(payload))


def pack_trix(magic: bytes, header: dict[str, Any], payload: bytes,
              version: int = TRIX_VERSION) -> bytes:
    """
    One container: ``header`` (a dict) is written as Go marshals a map.

    ``version`` is only for tests that need a wrong one.
    """
    if len(magic) != 4:
        raise ValueError("a Trix magic is exactly 4 bytes")
    header_bytes = utf8(marshal(header, html=True, sort_keys=True))
    return b"".join((bytes(magic), bytes((version,)), _U32.pack(len(header_bytes)),
                     header_bytes, payload))


def unpack_trix(data: Buffer, magic: bytes, *, max_header_bytes: int = MAX_HEADER_BYTES,
                max_payload_bytes: int | None = None, verify_checksum: bool = True,
                view: bool = False) -> tuple[dict[str, Any], bytes | memoryview]:
    """
    ``(header, payload)`` of a container, checked in Go's order.

    The header is a ``dict`` (``null`` reads as ``{}``, as Go's nil map); a
    string ``checksum`` is verified with ``checksum_algo`` (unless
    ``verify_checksum`` is false: the caller then calls
    :func:`verify_checksum` itself).  ``payload`` is a ``bytes`` object
    (the rest of ``data``), or with ``view=True`` a read-only
    ``memoryview`` into ``data`` (no copy: for large containers).  Raises a
    :class:`~lethean.smsg.ContainerError` subclass and nothing else.
    """
    size = len(data)
    if size < 4:
        raise TruncatedContainerError("{} bytes, no room for the magic".format(size))
    if data[:4] != magic:
        raise BadMagicError("expected {!r}, got {!r}".format(bytes(magic), bytes(data[:4])))
    if size < 5:
        raise TruncatedContainerError("no version byte")
    if data[4] != TRIX_VERSION:
        raise ContainerVersionError("version {}".format(data[4]))
    if size < PREFIX_BYTES:
        raise TruncatedContainerError("no header length")
    (header_length,) = _U32.unpack_from(data, 5)
    if header_length > max_header_bytes:
        raise HeaderTooLargeError("header of {} bytes, limit {}".format(
            header_length, max_header_bytes))
    end = PREFIX_BYTES + header_length
    if end > size:
        raise TruncatedContainerError("header of {} bytes, {} present".format(
            header_length, size - PREFIX_BYTES))
    if max_payload_bytes is not None and size - end > max_payload_bytes:
        raise PayloadTooLargeError("payload of {} bytes, limit {}".format(
            size - end, max_payload_bytes))
    header = _parse_header(bytes(data[PREFIX_BYTES:end]))
    payload: bytes | memoryview = (memoryview(data)[end:].toreadonly() if view
                                   else bytes(data[end:]))
    if verify_checksum:
        check_checksum(header, payload)
    return header, payload


def check_checksum(header: dict[str, Any], payload: Buffer) -> None:
    """Verify the header's ``checksum`` of ``payload``, if it has one (ContainerChecksumError)."""
    checksum = header.get("checksum")
    if isinstance(checksum, str):
        algorithm = header.get("checksum_algo")
        if not isinstance(algorithm, str):
            raise ContainerChecksumError("checksum without checksum_algo")
        if not hmac.compare_digest(utf8(trix_checksum(algorithm, payload)), utf8(checksum)):
            raise ContainerChecksumError("payload does not match its {} checksum".format(algorithm))


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        # Go decodes the header with invalid UTF-8 inside strings replaced.
        header = loads_strict(raw.decode("utf-8", "replace"))
    except ValueError as e:
        raise BadHeaderJSONError(str(e)) from None
    if header is None:
        return {}
    if not isinstance(header, dict):
        raise BadHeaderJSONError("header is a JSON {}, not an object".format(
            type(header).__name__))
    return header
