"""Sections as plain JSON for people, and as lossless typed JSON."""

import json

from hypothesis import given, settings
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Array,
    Bool,
    Double,
    Int8,
    LevinMalformedError,
    Section,
    String,
    Uint8,
    Uint32,
    Uint64,
    from_typed_json,
    to_json_value,
    to_typed_json,
)
from tests.strategies import levin_sections

SECTION = Section({
    "status": String("OK"),
    "top_id": String(bytes(range(4))),
    "peer_id": Uint64(2**64 - 1),
    "flag": Bool(True),
    "ratio": Double(0.5),
    "bad": Double(float("nan")),
    "offset": Int8(-3),
    "ports": Array(Uint32, [1, 2]),
    "peers": Array(Section, [{"id": Uint64(7)}]),
    "names": Array(String, ["a"]),
})


class PlainJsonTests(SynchronousTestCase):
    """to_json_value gives what ``json.dumps`` can print."""

    def test_auto(self):
        """Text stays text, binary becomes hex, numbers stay numbers."""
        self.assertEqual(to_json_value(SECTION), {
            "status": "OK", "top_id": "00010203", "peer_id": 2**64 - 1, "flag": True,
            "ratio": 0.5, "bad": "nan", "offset": -3, "ports": [1, 2],
            "peers": [{"id": 7}], "names": ["a"],
        })
        json.dumps(to_json_value(SECTION), allow_nan=False)

    def test_auto_hexes_control_characters(self):
        """Text with control characters or invalid UTF-8 shows as hex."""
        self.assertEqual(to_json_value(String(b"a\x02")), "6102")
        self.assertEqual(to_json_value(String(b"\xff")), "ff")
        self.assertEqual(to_json_value(String("tab\there\n")), "tab\there\n")
        self.assertEqual(to_json_value(String("")), "")

    def test_names_always_printable(self):
        """Name bytes that are not UTF-8 show as escapes, so the JSON encodes as UTF-8."""
        plain = to_json_value(Section({b"a\xff": Uint8(1)}))
        self.assertEqual(plain, {"a\\xff": 1})
        json.dumps(plain, ensure_ascii=False).encode("utf-8")

    def test_modes(self):
        """``hex`` and ``utf8`` force one form for every string."""
        self.assertEqual(to_json_value(String("OK"), strings="hex"), "4f4b")
        self.assertEqual(to_json_value(String(b"\xffa"), strings="utf8"), "\ufffda")
        self.assertRaises(ValueError, to_json_value, SECTION, strings="base64")

    def test_infinities(self):
        """Infinite doubles are named, since JSON has no number for them."""
        self.assertEqual(to_json_value(Double(float("inf"))), "inf")
        self.assertEqual(to_json_value(Double(float("-inf"))), "-inf")


class TypedJsonTests(SynchronousTestCase):
    """to_typed_json is the vectors' schema and loses nothing."""

    def test_schema(self):
        """Each value carries its type name and tag."""
        typed = to_typed_json(SECTION)
        self.assertEqual(typed["peer_id"], {"type": "uint64", "tag": 5, "value": 2**64 - 1})
        self.assertEqual(typed["status"], {"type": "string", "tag": 10, "hex": "4f4b",
                                           "utf8": "OK"})
        self.assertEqual(typed["bad"], {"type": "double", "tag": 9,
                                        "bits_hex": "7ff8000000000000"})
        self.assertEqual(typed["peers"], {"type": "array_object", "tag": 140,
                                          "value": [{"id": {"type": "uint64", "tag": 5,
                                                            "value": 7}}]})

    def test_unreadable(self):
        """A description that is not the schema is a malformed error."""
        for bad in ({"a": {"type": "uint128", "value": 1}}, {"a": {"type": "uint8"}},
                    {"a": 5}, {"a": {"type": "string", "hex": "zz"}}):
            self.assertRaises(LevinMalformedError, from_typed_json, bad)

    @settings(max_examples=200, deadline=None)
    @given(levin_sections(epee_arrays=True))
    def test_round_trip(self, section):
        """Typed JSON, even through ``json.dumps``, gives back the same section."""
        text = json.dumps(to_typed_json(section))
        self.assertEqual(from_typed_json(json.loads(text)), section)
