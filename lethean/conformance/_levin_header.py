"""Conformance checks for ``levin_header.json`` (the 33-byte Levin header)."""

from typing import Any

from lethean.conformance._expect import Case, Cases, Check, equal, raises_kind
from lethean.levin import Header, decode_header, encode_header
from lethean.levin._header import (
    FLAG_REQUEST,
    FLAG_RESPONSE,
    HEADER_SIZE,
    LEVIN_SIGNATURE,
    MAX_PAYLOAD_SIZE,
    PROTOCOL_VERSION,
)

__all__ = ["cases", "header_from_fields", "fields_of"]


def header_from_fields(fields: dict[str, Any]) -> Header:
    """The :class:`Header` of a vectors ``fields`` object (signature checked)."""
    equal("signature", int(fields["signature"], 16), LEVIN_SIGNATURE)
    return Header(
        payload_size=fields["payload_size"],
        expect_response=fields["expect_response"],
        command=fields["command"],
        return_code=fields["return_code"],
        flags=fields["flags"],
        protocol_version=fields["protocol_version"],
    )


def fields_of(header: Header) -> dict[str, Any]:
    """The vectors ``fields`` object of a :class:`Header`."""
    return {
        "signature": "0x{:016x}".format(LEVIN_SIGNATURE),
        "payload_size": header.payload_size,
        "expect_response": header.expect_response,
        "command": header.command,
        "return_code": header.return_code,
        "flags": header.flags,
        "protocol_version": header.protocol_version,
    }


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of the document."""
    if "constants" in document:
        yield "constants", lambda: _check_constants(document["constants"])
    for case in document.get("encode", []):
        yield "encode/" + case["name"], _encode_check(case)
    for case in document.get("decode", []):
        yield "decode/" + case["name"], _decode_check(case)


def _check_constants(constants: dict[str, Any]) -> None:
    equal("header_size", HEADER_SIZE, constants["header_size"])
    equal("signature", LEVIN_SIGNATURE, int(constants["signature"], 16))
    equal("max_payload_size", MAX_PAYLOAD_SIZE, constants["max_payload_size"])
    equal("flag_request", FLAG_REQUEST, constants["flag_request"])
    equal("flag_response", FLAG_RESPONSE, constants["flag_response"])
    equal("protocol_version", PROTOCOL_VERSION, constants["protocol_version"])


def _encode_check(case: Case) -> Check:
    def check() -> None:
        header = header_from_fields(case["fields"])
        equal("encoded", encode_header(header).hex(), case["hex"])
        equal("decoded", fields_of(decode_header(bytes.fromhex(case["hex"]))), case["fields"])
    return check


def _decode_check(case: Case) -> Check:
    def check() -> None:
        data = bytes.fromhex(case["hex"])
        if case["expect"] == "ok":
            header = decode_header(data)
            equal("fields", fields_of(header), case["fields"])
            equal("re-encoded", encode_header(header).hex(), case["reencoded_hex"])
        else:
            raises_kind(case["error_kind"], decode_header, data)
    return check
