"""
Conformance checks for ``ueps.json``: building, size limits and reading.

Every ``read`` case runs twice: through the one-shot :func:`read_frame` and
through a :class:`UEPSDecoder` fed the whole stream, which must agree (a
stream that merely ends early is not an error for the decoder: it waits).
"""

import hashlib
from functools import partial

from lethean.conformance._errors import VectorMismatch
from lethean.conformance._expect import Case, Cases, equal, raises_kind
from lethean.ueps import Header, Packet, UEPSDecoder, decode, encode, read_frame

__all__ = ["cases"]


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of the UEPS vectors."""
    for case in document.get("build", ()):
        yield "build/" + case["name"], partial(_check_build, case)
    for case in document.get("build_limits", ()):
        yield "build_limits/" + case["name"], partial(_check_build_limit, case)
    for case in document.get("read", ()):
        yield "read/" + case["name"], partial(_check_read, case)
        yield "read/" + case["name"] + "/stream", partial(_check_read_stream, case)


def _packet(case: Case, payload: bytes) -> Packet:
    return Packet(Header(**case["header"]), payload)


def _check_build(case: Case) -> None:
    secret = bytes.fromhex(case["secret_hex"])
    packet = _packet(case, bytes.fromhex(case["payload_hex"]))
    frame = encode(packet, secret)
    equal("frame", frame.hex(), case["frame_hex"])
    equal("hmac", frame[24:56].hex(), case["hmac_hex"])
    equal("decoded packet", decode(bytes.fromhex(case["frame_hex"]), secret), packet)


def _check_build_limit(case: Case) -> None:
    secret = bytes.fromhex(case["secret_hex"])
    repeat = case["payload_repeat"]
    packet = _packet(case, bytes.fromhex(repeat["byte_hex"]) * repeat["length"])
    if case["error_kind"] is not None:
        raises_kind(case["error_kind"], encode, packet, secret)
        return
    frame = encode(packet, secret)
    equal("frame length", len(frame), case["frame_len"])
    equal("frame sha256", hashlib.sha256(frame).hexdigest(), case["frame_sha256_hex"])
    prefix = case["frame_prefix_hex"]
    equal("frame prefix", frame[:len(prefix) // 2].hex(), prefix)


def _expected_packet(case: Case) -> Packet:
    return _packet(case, bytes.fromhex(case["payload_hex"]))


def _check_read(case: Case) -> None:
    secret = bytes.fromhex(case["secret_hex"])
    stream = bytes.fromhex(case["stream_hex"])
    if case["expect"] == "ok":
        packet, consumed = read_frame(stream, secret)
        equal("packet", packet, _expected_packet(case))
        equal("bytes consumed", consumed, case["bytes_consumed"])
    else:
        raises_kind(case["error_kind"], read_frame, stream, secret)


def _check_read_stream(case: Case) -> None:
    secret = bytes.fromhex(case["secret_hex"])
    stream = bytes.fromhex(case["stream_hex"])
    decoder = UEPSDecoder(secret)
    if case["expect"] == "ok":
        packets = decoder.feed(stream)
        if not packets:
            raise VectorMismatch("decoder returned no packet")
        equal("first packet", packets[0], _expected_packet(case))
    elif case["error_kind"] == "truncated":
        equal("packets from a stream that ends early", decoder.feed(stream), [])
    else:
        raises_kind(case["error_kind"], decoder.feed, stream)
