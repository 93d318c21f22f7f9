"""Conformance checks for ``levin_varint.json`` (epee portable-storage varints)."""

from lethean.conformance._expect import Case, Cases, Check, equal, raises_kind
from lethean.levin import decode_varint, encode_varint

__all__ = ["cases"]


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of the document."""
    for case in document.get("encode", []):
        yield "encode/{}".format(case["value"]), _encode_check(case)
    for case in document.get("decode", []):
        yield "decode/" + case["name"], _decode_check(case)
    for case in document.get("encode_out_of_range", []):
        yield "encode_out_of_range/{}".format(case["value"]), _out_of_range_check(case)


def _encode_check(case: Case) -> Check:
    def check() -> None:
        encoded = encode_varint(case["value"])
        equal("encoded", encoded.hex(), case["hex"])
        equal("decoded", decode_varint(encoded), (case["value"], len(encoded)))
    return check


def _decode_check(case: Case) -> Check:
    def check() -> None:
        data = bytes.fromhex(case["hex"])
        if case["expect"] == "ok":
            equal("decoded", decode_varint(data), (case["value"], case["consumed"]))
        else:
            raises_kind(case["error_kind"], decode_varint, data)
    return check


def _out_of_range_check(case: Case) -> Check:
    def check() -> None:
        # The reference silently truncates; we refuse.  Its output still
        # decodes to what it says.
        raises_kind("out_of_range", encode_varint, case["value"])
        reference = bytes.fromhex(case["reference_hex"])
        equal("reference output decodes to", decode_varint(reference),
              (case["decodes_back_to"], len(reference)))
    return check
