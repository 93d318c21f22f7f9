"""
Conformance checks for ``levin_storage.json`` (epee portable storage).

Sections are read with :func:`lethean.levin.from_typed_json`, whose JSON form
is the vectors' ``value_schema``; decoded sections are compared both as typed
values and back in that JSON form.
"""

import re
from typing import Any

from lethean.conformance._errors import VectorMismatch
from lethean.conformance._expect import Case, Cases, Check, equal, raises_kind
from lethean.conformance._levin_header import fields_of, header_from_fields
from lethean.levin import (
    Bool,
    LevinDecoder,
    Section,
    decode_storage,
    encode_header,
    encode_storage,
    from_typed_json,
    to_typed_json,
)

__all__ = ["cases", "section_from_description"]


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of the document."""
    for case in document.get("encode", []):
        yield "encode/" + case["name"], _encode_check(case)
    if "handshake_packet" in document:
        yield "handshake_packet", lambda: _check_packet(document["handshake_packet"])
    for case in document.get("encode_errors", []):
        yield "encode_errors/" + case["name"], _encode_error_check(case)
    for case in document.get("decode", []):
        yield "decode/" + case["name"], _decode_check(case)


def _check_decoded(data: bytes, expected_json: Any) -> None:
    decoded = decode_storage(data)
    equal("decoded section", decoded, from_typed_json(expected_json))
    equal("decoded section as JSON", to_typed_json(decoded), expected_json)


def _encode_check(case: Case) -> Check:
    def check() -> None:
        section = from_typed_json(case["section"])
        equal("encoded", encode_storage(section).hex(), case["hex"])
        _check_decoded(bytes.fromhex(case["hex"]), case["section"])
    return check


def _check_packet(packet: Case) -> None:
    header = header_from_fields(packet["header"])
    body = bytes.fromhex(packet["body_hex"])
    equal("payload_size", header.payload_size, len(body))
    equal("packet", (encode_header(header) + body).hex(), packet["packet_hex"])
    equal("body re-encoded", encode_storage(decode_storage(body)).hex(), packet["body_hex"])
    decoder = LevinDecoder()
    packets = decoder.feed(bytes.fromhex(packet["packet_hex"]))
    equal("packets framed", len(packets), 1)
    got_header, got_body = packets[0]
    equal("framed header", fields_of(got_header), packet["header"])
    equal("framed body", got_body.hex(), packet["body_hex"])
    equal("bytes left over", decoder.buffered, 0)


_QUOTED_CHARACTER = re.compile(r"'(.)'")


def section_from_description(description: str) -> Section:
    """
    Build the section an ``encode_errors`` case describes in words.

    The cases describe one entry with an over-long name ("one bool entry
    (true) whose name is 256 bytes of 'n'"): the name is the largest number
    in the text times the quoted character (``n`` if none is quoted).
    """
    numbers = [int(n) for n in re.findall(r"\d+", description)]
    if not numbers:
        raise VectorMismatch("cannot read section description {!r}".format(description))
    quoted = _QUOTED_CHARACTER.search(description)
    name = (quoted.group(1) if quoted else "n") * max(numbers)
    # Built without Section's own checks, so that the encoder is what refuses it.
    return Section._trusted({name: Bool("(false)" not in description)})


def _encode_error_check(case: Case) -> Check:
    def check() -> None:
        section = section_from_description(case["section_desc"])
        raises_kind(case["error_kind"], encode_storage, section)
    return check


def _decode_check(case: Case) -> Check:
    def check() -> None:
        data = bytes.fromhex(case["hex"])
        if case["expect"] == "ok":
            _check_decoded(data, case["section"])
        else:
            raises_kind(case["error_kind"], decode_storage, data)
    return check
