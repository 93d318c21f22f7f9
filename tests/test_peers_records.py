"""Peer records, the name rule, and peers.json byte for byte as Go writes and reads it."""

import datetime

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.peers import (
    InvalidPeerError,
    InvalidPeerNameError,
    Peer,
    sanitise_peer_name,
    validate_peer_name,
)
from lethean.peers._record import decode_peers, encode_peers
from lethean._gojson import go_float, go_string
from lethean.peers._record import decode_string_array

from tests._accel import PurePath
from tests.strategies import peer_records

UTC = datetime.timezone.utc

#: The element of peers.md 2.1, as a whole file.
SPEC_FILE = (
    b'[\n  {\n    "id": "bc841db8fea3efd84555a7f8eeb92503",\n    "name": "bravo",\n'
    b'    "publicKey": "ZLEBsdC+WocEvQePmJUAH8A+jp+VIvGI3RKNmEbUhGY=",\n'
    b'    "address": "10.0.0.2:9091",\n    "role": "worker",\n'
    b'    "addedAt": "2026-01-02T03:04:05.12Z",\n    "lastSeen": "0001-01-01T00:00:00Z",\n'
    b'    "pingMs": 0,\n    "hops": 0,\n    "geoKm": 0,\n    "score": 50\n  }\n]'
)
SPEC_PEER = Peer(
    id="bc841db8fea3efd84555a7f8eeb92503",
    name="bravo",
    public_key="ZLEBsdC+WocEvQePmJUAH8A+jp+VIvGI3RKNmEbUhGY=",
    address="10.0.0.2:9091",
    role="worker",
    added_at=datetime.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
    score=50,
)

finite = st.floats(allow_nan=False, allow_infinity=False)


class FileFormatTests(SynchronousTestCase):
    """peers.json as the reference writes it."""

    def test_spec_example_encodes_exactly(self):
        """The spec's example element is reproduced byte for byte."""
        self.assertEqual(encode_peers([SPEC_PEER]), SPEC_FILE)

    def test_spec_example_decodes(self):
        """The spec's example reads back to the same record, with no problems."""
        self.assertEqual(decode_peers(SPEC_FILE), ([SPEC_PEER], []))

    def test_empty(self):
        """An empty registry is null; null, [] and whitespace around them read as empty."""
        self.assertEqual(encode_peers([]), b"null")
        for data in (b"null", b"[]", b" [ ] ", b"\nnull\n"):
            self.assertEqual(decode_peers(data), ([], []), data)

    def test_go_times_written_back_unchanged(self):
        """Nanoseconds and zone offsets of a Go-written file survive a load and save."""
        element = (b'[\n  {\n    "id": "a",\n    "name": "",\n    "publicKey": "",\n    "address": "",\n'
                   b'    "role": "",\n    "addedAt": "2026-01-02T04:04:05.123456789+01:00",\n'
                   b'    "lastSeen": "2026-01-02T03:04:05.5-07:30",\n    "pingMs": 0.25,\n    "hops": 0,\n'
                   b'    "geoKm": 1e-7,\n    "score": 99.5\n  }\n]')
        peers, problems = decode_peers(element)
        self.assertEqual(problems, [])
        self.assertEqual(peers[0].added_at.nanos, 123456789)
        self.assertEqual(encode_peers(peers), element)

    def test_zero_time_is_none(self):
        """Go's zero time, in any spelling, reads as None ("never")."""
        [peer], _ = decode_peers(b'[{"addedAt": "0001-01-01T00:00:00Z", "lastSeen": "0001-01-01T01:00:00+01:00"}]')
        self.assertEqual((peer.added_at, peer.last_seen), (None, None))

    def test_go_tolerances(self):
        """Keys match case-insensitively, unknown keys and nulls are ignored, last duplicate wins."""
        [peer], problems = decode_peers(
            b'[{"ID": "x", "id": "y", "NAME": "n", "extra": [1, {"a": 2}], "pingMs": null,'
            b' "score": 50.0, "hops": 2, "geokm": 1e3, "lastseen": "2026-01-02T03:04:05+01:00"}]')
        self.assertEqual(problems, [])
        self.assertEqual((peer.id, peer.name, peer.ping_ms, peer.score, peer.hops, peer.geo_km),
                         ("y", "n", 0.0, 50.0, 2, 1000.0))
        self.assertEqual(peer.last_seen.to_datetime(), datetime.datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC))

    def test_missing_fields_are_go_zero_values(self):
        """A bare object loads with Go's zero values (score 0, never seen)."""
        self.assertEqual(decode_peers(b'[{"id": "a"}]'), ([Peer(id="a", score=0)], []))

    def test_wrong_types_reject_the_element(self):
        """Types Go would refuse drop the element and are reported."""
        for element in (b'{"id": 5}', b'{"hops": 1.0}', b'{"hops": true}', b'{"score": "50"}',
                        b'{"pingMs": 1e400}', b'{"hops": 9223372036854775808}',
                        b'{"addedAt": "yesterday"}', b'{"addedAt": 5}', b'[]', b'"x"', b'null'):
            peers, problems = decode_peers(b"[" + element + b', {"id": "ok"}]')
            self.assertEqual([p.id for p in peers], ["ok"], element)
            self.assertEqual(len(problems), 1, element)

    def test_non_json_constants(self):
        """NaN and Infinity, which Python's json would accept, make the file unreadable there."""
        peers, problems = decode_peers(b'[{"id": "a"}, {"id": "b", "pingMs": NaN}]')
        self.assertEqual([p.id for p in peers], ["a"])
        self.assertTrue(problems)

    def test_trailing_data(self):
        """Data after the array is a problem, but the array's elements are kept."""
        peers, problems = decode_peers(b'[{"id": "a"}] x')
        self.assertEqual(([p.id for p in peers], len(problems)), (["a"], 1))

    def test_not_an_array(self):
        """An object or number at the top level is not a registry."""
        for data in (b'{"id": "a"}', b"5", b"", b"   "):
            peers, problems = decode_peers(data)
            self.assertEqual(peers, [], data)
            self.assertTrue(problems, data)

    @settings(max_examples=100)
    @given(st.lists(peer_records, max_size=5))
    def test_round_trip(self, records):
        """Whatever we write reads back to the same records, with no problems."""
        self.assertEqual(decode_peers(encode_peers(records)), (records, []))

    @settings(max_examples=200)
    @given(st.lists(peer_records, min_size=1, max_size=4), st.data())
    def test_any_truncation_keeps_a_prefix(self, records, data):
        """A file cut anywhere yields a prefix of its records and a reason, never an exception."""
        encoded = encode_peers(records)
        cut = data.draw(st.integers(0, len(encoded) - 1))
        got, problems = decode_peers(encoded[:cut])
        self.assertEqual(got, records[: len(got)])
        self.assertTrue(problems)

    @settings(max_examples=200)
    @given(st.binary(max_size=200))
    def test_random_bytes(self, data):
        """Arbitrary bytes never raise: they decode to records plus reasons."""
        peers, problems = decode_peers(data)
        self.assertIsInstance(peers, list)
        self.assertIsInstance(problems, list)

    def test_string_array(self):
        """The allowlist reader keeps strings, skips Go's null, reports other types."""
        self.assertEqual(decode_string_array(b'["a", null, "b"]'), (["a", "b"], []))
        strings, problems = decode_string_array(b'["a", 1]')
        self.assertEqual((strings, len(problems)), (["a"], 1))


class GoJsonTests(SynchronousTestCase):
    """Numbers, strings and times formatted as Go's encoding/json does."""

    def test_floats(self):
        """Shortest digits; plain notation from 1e-6 to 1e21, exponent form outside."""
        cases = [
            (50.0, "50"), (0.0, "0"), (-0.0, "-0"), (0.1, "0.1"), (12.25, "12.25"),
            (1e20, "100000000000000000000"), (1e21, "1e+21"), (1e-6, "0.000001"), (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-3.5, "-3.5"), (12345678901234567890.0, "12345678901234567000"),
        ]
        for value, text in cases:
            self.assertEqual(go_float(value), text, value)
        self.assertRaises(ValueError, go_float, float("nan"))

    @settings(max_examples=300)
    @given(finite)
    def test_floats_round_trip_in_go_notation(self, value):
        """Every float reads back exactly, in exponent notation only outside [1e-6, 1e21)."""
        text = go_float(value)
        self.assertEqual(float(text), value)
        self.assertEqual("e" in text, value != 0 and not 1e-6 <= abs(value) < 1e21)
        self.assertFalse(text.endswith(".0"))

    def test_strings(self):
        """HTML characters and U+2028/9 are escaped, other text is raw UTF-8, lone surrogates become U+FFFD."""
        self.assertEqual(go_string("a<b>&c"), '"a\\u003cb\\u003e\\u0026c"')
        self.assertEqual(go_string("\u2028\u2029"), '"\\u2028\\u2029"')
        self.assertEqual(go_string("é\x01\n\t\b\f\"\\"), '"é\\u0001\\n\\t\\b\\f\\"\\\\"')
        self.assertEqual(go_string("\ud800"), '"\ufffd"')


class RecordTests(SynchronousTestCase):
    """The Peer value itself."""

    def test_defaults(self):
        """A bare record has no times, zero metrics and the default score."""
        peer = Peer(id="a")
        self.assertEqual((peer.added_at, peer.last_seen, peer.ping_ms, peer.hops, peer.score),
                         (None, None, 0.0, 0, 50.0))

    def test_validation(self):
        """Wrong types, non-finite numbers and naive times are refused with our error."""
        for fields in ({"id": 5}, {"id": "a", "ping_ms": float("inf")}, {"id": "a", "hops": 1.5},
                       {"id": "a", "score": True}, {"id": "a", "added_at": datetime.datetime(2026, 1, 1)},
                       {"id": "a", "last_seen": "2026-01-01T00:00:00Z"},
                       {"id": "a", "hops": 2 ** 63}):
            self.assertRaises(InvalidPeerError, Peer, **fields)

    def test_datetimes_become_timestamps(self):
        """An aware datetime is accepted and stored as a Timestamp."""
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
        peer = Peer(id="a", added_at=when)
        self.assertEqual(str(peer.added_at), "2026-01-02T03:04:05.12Z")
        self.assertEqual(peer.added_at.to_datetime(), when)

    def test_frozen_and_evolve(self):
        """Records are immutable; evolve makes a validated copy."""
        peer = Peer(id="a")
        self.assertRaises(AttributeError, setattr, peer, "score", 1.0)
        self.assertEqual(peer.evolve(hops=3).hops, 3)
        self.assertRaises(InvalidPeerError, peer.evolve, ping_ms=float("nan"))


class NameTests(SynchronousTestCase):
    """The reference's peer-name rule (peers.md 5), exactly."""

    VALID = ["", "a", "Z", "7", "ab", "a-b", "a_b", "a b", "node-01", "A" * 64, "a" + "-_ " * 20 + "b"]
    TOO_LONG = ["a" * 65, "é" * 33]
    INVALID = ["-a", "a-", "_a", "a_", " a", "a ", "a.b", "host.example.com", "abc\n", "a\tb",
               "é", "naïve", "٣", "a\u00a0b", "-", " ", "a/b", "a\x00"]

    def test_valid(self):
        """Letters, digits, and inner hyphens, underscores and spaces pass, up to 64."""
        for name in self.VALID:
            validate_peer_name(name)

    def test_too_long(self):
        """More than 64 bytes (UTF-8) is too long, checked before the characters."""
        for name in self.TOO_LONG:
            e = self.assertRaises(InvalidPeerNameError, validate_peer_name, name)
            self.assertEqual(str(e), "peer name too long")

    def test_invalid(self):
        """Dots, edge punctuation, non-ASCII and a trailing newline are refused."""
        for name in self.INVALID:
            e = self.assertRaises(InvalidPeerNameError, validate_peer_name, name)
            self.assertEqual(
                str(e), "peer name contains invalid characters (use alphanumeric, hyphens, underscores, spaces)",
                repr(name))

    def test_sanitise_examples(self):
        """Host names and other foreign names become the nearest valid name."""
        cases = [("node.example.com", "node-example-com"), ("  -x-  ", "x"), ("a..b", "a-b"),
                 ("héllo wörld", "h-llo w-rld"), ("...", ""), ("", ""), ("ok name", "ok name"),
                 ("a" * 63 + ".b", "a" * 63)]
        for name, expected in cases:
            self.assertEqual(sanitise_peer_name(name), expected, name)

    @settings(max_examples=300)
    @given(st.text(max_size=100))
    def test_sanitised_names_are_valid(self, name):
        """Whatever goes in, a valid name comes out, and valid names are kept as they are."""
        clean = sanitise_peer_name(name)
        validate_peer_name(clean)
        try:
            validate_peer_name(name)
        except InvalidPeerNameError:
            return
        self.assertEqual(clean, name)


# The same tests on the pure-Python path (tests/_accel.py).


class PureGoJsonTests(PurePath, GoJsonTests):
    """GoJsonTests, on the pure-Python twins of the compiled functions."""


class PureFileFormatTests(PurePath, FileFormatTests):
    """FileFormatTests, on the pure-Python twins of the compiled functions."""
