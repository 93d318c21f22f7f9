"""
Build and read UEPS frames: TLV elements signed with HMAC-SHA256.

Both directions follow the Go reference byte for byte (``ueps/packet.go``,
``ueps/reader.go``).  The reader shares the reference's tolerance (unknown,
repeated and reordered elements are signed in stream order, the last HMAC
wins, the payload element ends the frame and later bytes are left alone) but
returns an error where the reference crashes, and bounds the frame's size and
element count, which the reference does not.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import operator
import struct
from typing import Any

from lethean._types import Buffer
from lethean._accel import pick, speedups
from lethean.ueps._errors import (
    UEPSFrameTooLargeError,
    FrameTruncatedError,
    HMACMismatchError,
    MalformedFrameError,
    MissingHMACError,
    TooManyElementsError,
    ValueTooLargeError,
)
from lethean.ueps._packet import Header, Packet

__all__ = [
    "encode",
    "decode",
    "read_frame",
    "MAX_VALUE_BYTES",
    "MAX_BUILT_FRAME_BYTES",
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_ELEMENTS",
]

TAG_VERSION = 0x01
TAG_CURRENT_LAYER = 0x02
TAG_TARGET_LAYER = 0x03
TAG_INTENT = 0x04
TAG_THREAT_SCORE = 0x05
TAG_HMAC = 0x06
TAG_PAYLOAD = 0xFF

#: The most a value's 2-byte length can declare.
MAX_VALUE_BYTES = 0xFFFF
_HMAC_BYTES = 32
#: Tag and 2-byte length in front of every value.
_TL_BYTES = 3
_TL = struct.Struct(">BH")
#: The five header elements exactly as the builder writes them (21 bytes).
_HEADER = struct.Struct(">BHB BHB BHB BHB BHH")
_HMAC_TL = _TL.pack(TAG_HMAC, _HMAC_BYTES)

#: What every builder (ours and Go's) writes before the payload value: the
#: five header elements, the HMAC element and the payload's tag and length.
_BUILT = struct.Struct(">BHB BHB BHB BHB BHH BH32s BH")
_BUILT_TLS = ((TAG_VERSION, 1), (TAG_CURRENT_LAYER, 1), (TAG_TARGET_LAYER, 1),
              (TAG_INTENT, 1), (TAG_THREAT_SCORE, 2), (TAG_HMAC, _HMAC_BYTES))
_BUILT_ELEMENTS = 7


_SHA256_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=64)
def _key_states(key: bytes) -> tuple[Any, Any]:
    """
    The SHA-256 states after ``key``'s inner and outer pad blocks: a link
    signs every frame with its one secret, so HMAC's key setup is done
    once per secret (the cache is bounded, like the compiled one).
    """
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return (hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD)))


def pure_hmac_sha256(key: bytes, *chunks: Buffer) -> bytes:
    """HMAC-SHA256 under ``key`` of the ``chunks`` joined."""
    if type(key) is not bytes:
        return hmac.digest(key, b"".join(chunks), "sha256")
    inner, outer = _key_states(key)
    inner = inner.copy()
    for chunk in chunks:
        inner.update(chunk)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.digest()


#: Whether the compiled HMAC is used: it runs on the CPU's SHA instructions;
#: without them OpenSSL's SHA-256 (the pure twin's) is the faster one.
COMPILED_HMAC = speedups is not None and "sha-ni" in speedups.BACKENDS

#: :func:`pure_hmac_sha256`, compiled where the CPU has SHA instructions.
hmac_sha256 = pick(pure_hmac_sha256, "hmac_sha256", COMPILED_HMAC)

#: A frame from the builder (ours or Go's) is never larger than this.
MAX_BUILT_FRAME_BYTES = _HEADER.size + _TL_BYTES + _HMAC_BYTES + _TL_BYTES + MAX_VALUE_BYTES
#: Default reader limit: any built frame, plus about 64 KiB of the unknown or
#: repeated elements a compatible reader must also accept.
DEFAULT_MAX_FRAME_BYTES = 128 * 1024
#: Default reader limit on elements per frame; the builder writes 7.
DEFAULT_MAX_ELEMENTS = 64


def pure_encode(packet: Packet, secret: bytes) -> bytes:
    """
    Build the signed frame of ``packet`` with the shared ``secret``.

    Raises :class:`ValueTooLargeError` for a payload over 65535 bytes, which
    the payload element's 2-byte length cannot declare.
    """
    payload = packet.payload
    if len(payload) > MAX_VALUE_BYTES:
        raise ValueTooLargeError(
            "payload of {} bytes; at most {}".format(len(payload), MAX_VALUE_BYTES))
    h = packet.header
    signed = _HEADER.pack(
        TAG_VERSION, 1, h.version,
        TAG_CURRENT_LAYER, 1, h.current_layer,
        TAG_TARGET_LAYER, 1, h.target_layer,
        TAG_INTENT, 1, h.intent_id,
        TAG_THREAT_SCORE, 2, h.threat_score,
    )
    mac = hmac_sha256(secret, signed, payload)
    return b"".join((signed, _HMAC_TL, mac, _TL.pack(TAG_PAYLOAD, len(payload)), payload))


if COMPILED_HMAC:
    speedups.ueps_register_encode(pure_encode)

#: :func:`pure_encode`, compiled where the HMAC is: the usual packet is
#: framed in one call, anything else goes to :func:`pure_encode`.
encode = pick(pure_encode, "ueps_encode", COMPILED_HMAC)


def read_frame(data: Buffer, secret: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
               max_elements: int = DEFAULT_MAX_ELEMENTS) -> tuple[Packet, int]:
    """
    Read and verify the frame at the start of ``data``.

    Returns ``(packet, consumed)``: the reader stops right after the payload
    element, so ``data[consumed:]`` is whatever follows the frame.  Raises a
    :class:`UEPSError` (:class:`FrameTruncatedError` if ``data`` ends first).
    """
    packet, end = parse_frame(data, 0, secret, max_frame_bytes, max_elements)
    if packet is None:
        raise FrameTruncatedError(
            "{} bytes; the frame needs at least {}".format(len(data), end))
    return packet, end


def decode(data: Buffer, secret: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
           max_elements: int = DEFAULT_MAX_ELEMENTS) -> Packet:
    """
    Read and verify the frame at the start of ``data``; returns its packet.

    Like the reference reader, bytes after the frame are ignored; use
    :func:`read_frame` to know where the frame ends.
    """
    packet, _ = read_frame(
        data, secret, max_frame_bytes=max_frame_bytes, max_elements=max_elements)
    return packet


def parse_frame(buf: Buffer, start: int, secret: bytes, max_frame_bytes: int,
                max_elements: int) -> tuple[Packet | None, int]:
    """
    Parse the frame at ``buf[start:]``, checking each declared length
    against ``max_frame_bytes`` before waiting for the bytes behind it.

    Returns ``(packet, end)`` for a whole, verified frame ending at
    ``buf[end]``, or ``(None, need)`` while ``buf`` is shorter than the
    ``need`` bytes the frame is known to reach.  Raises a :class:`UEPSError`.
    """
    limit = start + max_frame_bytes
    have = len(buf)
    if max_elements >= _BUILT_ELEMENTS and start + _BUILT.size <= min(have, limit):
        # What every builder writes: one struct read instead of an element
        # loop.  Same checks, in the same order, as the loop below.
        built = _BUILT.unpack_from(buf, start)
        if _built_tls(built) == _BUILT_TLS_FLAT:
            end = start + _BUILT.size + built[19]
            if end > limit:
                raise UEPSFrameTooLargeError(
                    "frame of at least {} bytes; limit {}".format(end - start, max_frame_bytes))
            if end > have:
                return None, end
            signed = bytes(buf[start:start + _HEADER.size])
            payload = bytes(buf[start + _BUILT.size:end])
            if not hmac.compare_digest(hmac_sha256(secret, signed, payload), built[17]):
                raise HMACMismatchError()
            header = _headers.get(signed)
            if header is None:
                header = _header(signed, built[2], built[5], built[8], built[11], built[14])
            return Packet(header, payload), end
    return _parse_elements(buf, start, secret, limit, max_frame_bytes, max_elements)


_built_tls = operator.itemgetter(0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18)
_BUILT_TLS_FLAT = sum(_BUILT_TLS, ()) + (TAG_PAYLOAD,)

# Decoded headers by their signed bytes: a peer repeats the same few, and
# a Header is immutable.  Bounded (cleared when full) against junk headers.
_headers: dict[bytes, Header] = {}
_MAX_CACHED_HEADERS = 256


def _header(signed: bytes, version: int, current: int, target: int, intent: int,
            threat: int) -> Header:
    header = Header(version=version, current_layer=current, target_layer=target,
                    intent_id=intent, threat_score=threat)
    if len(_headers) >= _MAX_CACHED_HEADERS:
        _headers.clear()
    _headers[signed] = header
    return header


def _parse_elements(buf: Any, start: int, secret: bytes, limit: int, max_frame_bytes: int,
                    max_elements: int) -> tuple[Packet | None, int]:
    """:func:`parse_frame` for any element layout the reference reader accepts."""
    have = len(buf)
    pos = start
    signed = []
    fields = [0, 0, 0, 0, 0]  # version, current, target, intent, threat
    signature = b""
    for _ in range(max_elements):
        end = pos + _TL_BYTES
        if end <= have:
            tag, length = _TL.unpack_from(buf, pos)
            end += length
        if end > limit:
            raise UEPSFrameTooLargeError(
                "frame of at least {} bytes; limit {}".format(end - start, max_frame_bytes))
        if end > have:
            return None, end
        if tag == TAG_PAYLOAD:
            payload = bytes(buf[pos + _TL_BYTES:end])
            break
        if tag == TAG_HMAC:
            signature = bytes(buf[pos + _TL_BYTES:end])
        else:
            if TAG_VERSION <= tag <= TAG_INTENT:
                if length < 1:
                    raise MalformedFrameError("element {:#04x} has no value".format(tag))
                fields[tag - 1] = buf[pos + _TL_BYTES]
            elif tag == TAG_THREAT_SCORE:
                if length < 2:
                    raise MalformedFrameError(
                        "threat score element has {} of 2 bytes".format(length))
                fields[4] = (buf[pos + _TL_BYTES] << 8) | buf[pos + _TL_BYTES + 1]
            signed.append(buf[pos:end])
        pos = end
    else:
        raise TooManyElementsError(
            "no payload within {} elements".format(max_elements))
    if not signature:
        raise MissingHMACError()
    signed.append(payload)
    expected = hmac_sha256(secret, *signed)
    if not hmac.compare_digest(expected, signature):
        raise HMACMismatchError()
    version, current, target, intent, threat = fields
    header = Header(
        version=version, current_layer=current, target_layer=target,
        intent_id=intent, threat_score=threat,
    )
    return Packet(header, payload), end
