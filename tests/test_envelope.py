"""The mesh message envelope (lethean.mesh._envelope) and Go-compatible JSON."""

import uuid

import attrs
from hypothesis import given, settings, strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.mesh._envelope import (
    ERROR_OPERATION_FAILED,
    Message,
    decode_base64,
    decode_message,
    encode_message,
    error_reply,
    new_message,
    reply,
    uuid_v4_text,
)
from lethean.mesh._errors import InvalidMessageJSONError
from lethean.smsg import Timestamp
from lethean._gojson import RawJSON
from lethean._gojson import fold_key, go_float, marshal
from tests._accel import PurePath
from tests.strategies import json_values, messages


A = "aaa8fff703b50b2297f4f6e13508f724"
B = "bc841db8fea3efd84555a7f8eeb92503"
TS = Timestamp.parse("2026-01-02T03:04:05.12Z")

# envelope.md section 1: a request without payload and a reply in +01:00.
GET_STATS = ('{"id":"44444444-5555-4666-8777-888888888888","type":"get_stats","from":"' + A
             + '","to":"' + B + '","ts":"2026-01-02T03:04:05.12Z","payload":null}')
PONG = ('{"id":"33333333-4444-4555-8666-777777777777","type":"pong","from":"' + B + '","to":"'
        + A + '","ts":"2026-01-02T03:04:06+01:00","payload":{"sentAt":1767323045120,'
        '"receivedAt":1767323045131},"replyTo":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}')


def message(**changes):
    fields = dict(id="m1", type="ping", from_=A, to=B, ts=TS, payload=None)
    fields.update(changes)
    return Message(**fields)


class EncodeTests(SynchronousTestCase):
    """Messages are written exactly as the Go mesh encoder writes them."""

    def test_spec_examples(self):
        """The two envelope.md examples round-trip byte for byte."""
        for text in (GET_STATS, PONG):
            self.assertEqual(encode_message(decode_message(text)), text)

    def test_field_order_and_null_payload(self):
        """Fields come in Go's order; a missing payload is null; replyTo is omitted."""
        self.assertEqual(
            message().to_json(),
            '{"id":"m1","type":"ping","from":"' + A + '","to":"' + B
            + '","ts":"2026-01-02T03:04:05.12Z","payload":null}')

    def test_reply_to_written_when_set(self):
        """A non-empty replyTo is the last field."""
        self.assertTrue(message(reply_to="r").to_json().endswith(',"payload":null,"replyTo":"r"}'))

    def test_payload_keeps_insertion_order(self):
        """Payload objects are written in insertion order (Go's struct order)."""
        text = message(payload={"sentAt": 1, "receivedAt": 2}).to_json()
        self.assertIn('"payload":{"sentAt":1,"receivedAt":2}', text)

    def test_no_html_escaping_but_line_separators_escaped(self):
        """The mesh encoder leaves <>& alone but always escapes U+2028/U+2029."""
        text = message(payload={"s": "<b>&\u2028\u2029"}).to_json()
        self.assertIn('"s":"<b>&\\u2028\\u2029"', text)

    def test_control_characters(self):
        """Short escapes for \\b \\f \\n \\r \\t, lowercase \\u00xx for the rest, raw UTF-8."""
        text = message(payload="\b\f\n\r\t\x01\x1f\x7f é☃🚀\"\\").to_json()
        self.assertIn('"payload":"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f é☃🚀\\"\\\\"', text)

    def test_lone_surrogate_becomes_replacement_character(self):
        """A lone surrogate (from a \\ud800 escape) is written as U+FFFD, as Go does."""
        self.assertIn('"payload":"a\ufffdb"'.encode(), message(payload="a\ud800b").to_bytes())

    def test_bytes_are_base64(self):
        """Bytes payload values are standard padded base64."""
        self.assertIn('"data":"AAEC/f7/U1RJTQ=="',
                      message(payload={"data": bytes.fromhex("000102fdfeff5354494d")}).to_json())

    def test_raw_json_is_compacted_verbatim(self):
        """RawJSON keeps its key order and numbers, minus whitespace."""
        raw = RawJSON('{ "threads": 4.0, "b" : [1, "x y"] }')
        self.assertIn('"payload":{"config":{"threads":4.0,"b":[1,"x y"]}}',
                      message(payload={"config": raw}).to_json())

    def test_raw_json_must_be_json(self):
        """RawJSON refuses text that is not JSON."""
        self.assertRaises(ValueError, RawJSON, "{nope")

    def test_objects_with_to_json_value(self):
        """Payload objects may provide to_json_value()."""
        class Ping:
            def to_json_value(self):
                return {"sentAt": 5}
        self.assertIn('"payload":{"sentAt":5}', message(payload=Ping()).to_json())

    def test_unencodable_payloads(self):
        """NaN, infinities, non-string keys and unknown objects are refused."""
        for payload in (float("nan"), float("inf"), {1: 2}, object()):
            self.assertRaises((TypeError, ValueError), encode_message, message(payload=payload))

    def test_ts_must_be_a_timestamp(self):
        """ts is a Timestamp, never a loose string."""
        self.assertRaises(TypeError, message, ts="2026-01-02T03:04:05Z")


class GoFloatTests(SynchronousTestCase):
    """Floats use Go's shortest notation."""

    def test_examples(self):
        """Plain decimal in [1e-6, 1e21), exponent form outside, no trailing .0."""
        cases = {1234.56: "1234.56", 1e-7: "1e-7", 1e21: "1e+21", 1.5e21: "1.5e+21",
                 50.0: "50", -0.0: "-0", 1e-6: "0.000001", 1e20: "100000000000000000000",
                 5e-324: "5e-324", 1.7976931348623157e308: "1.7976931348623157e+308",
                 -2.5e-8: "-2.5e-8", 0.1: "0.1"}
        for value, text in cases.items():
            self.assertEqual(go_float(value), text)

    @settings(max_examples=300)
    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_round_trips(self, value):
        """The text reads back as the same float."""
        self.assertEqual(float(go_float(value)), value)

    def test_marshal_html_and_sorting(self):
        """json.Marshal of a map: sorted keys, HTML escaped."""
        self.assertEqual(marshal({"b": "<", "a": [1.0, True, None]}, sort_keys=True),
                         '{"a":[1,true,null],"b":"\\u003c"}')


class Base64Tests(SynchronousTestCase):
    """[]byte fields are read as Go reads them."""

    def test_go_rules(self):
        """Padded standard base64 with CR/LF skipped; everything else refused."""
        self.assertEqual(decode_base64("AAEC/f7/\r\nU1RJTQ=="), bytes.fromhex("000102fdfeff5354494d"))
        self.assertEqual(decode_base64(""), b"")
        for bad in ("AAEC_f7-", "AAE", "AA E=", "AAEC/f7/U1RJTQ", None, b"AA=="):
            self.assertRaises(ValueError, decode_base64, bad)


class DecodeTests(SynchronousTestCase):
    """Envelopes are read with the Go decoder's tolerance."""

    def test_bytes_and_text(self):
        """Both UTF-8 bytes and text are accepted."""
        self.assertEqual(decode_message(GET_STATS.encode()), decode_message(GET_STATS))

    def test_fields(self):
        """Every field lands where it belongs."""
        m = decode_message(PONG)
        self.assertEqual((m.id, m.type, m.from_, m.to, m.reply_to),
                         ("33333333-4444-4555-8666-777777777777", "pong", B, A,
                          "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"))
        self.assertEqual(m.payload, {"sentAt": 1767323045120, "receivedAt": 1767323045131})
        self.assertEqual(m.ts.offset, 3600)

    def test_keys_are_case_insensitive(self):
        """"ID", "Type", "REPLYTO" and friends fill the fields."""
        m = decode_message('{"ID":"x","Type":"ping","FROM":"f","tO":"t","Ts":"2026-01-01T00:00:00Z",'
                           '"PayLoad":1,"REPLYTO":"r"}')
        self.assertEqual(m, Message("x", "ping", "f", "t",
                                    Timestamp.parse("2026-01-01T00:00:00Z"), 1, "r"))

    def test_unicode_case_folds(self):
        """Go also folds the Kelvin sign and the long s onto ASCII letters."""
        m = decode_message('{"id":"x","t\u017f":"2026-01-01T00:00:00Z"}')
        self.assertEqual(str(m.ts), "2026-01-01T00:00:00Z")

    def test_last_duplicate_wins(self):
        """For repeated keys, in any spelling, the last one wins."""
        self.assertEqual(decode_message('{"id":"a","ID":"b","id":"c"}').id, "c")
        self.assertEqual(decode_message('{"id":"a","id":"b"}').id, "b")

    def test_null_leaves_field_unset(self):
        """A null string field keeps the value it had, as in Go."""
        self.assertEqual(decode_message('{"id":"a","id":null}').id, "a")
        self.assertEqual(decode_message('{"id":null}').id, "")

    def test_missing_fields_are_zero(self):
        """Absent fields are empty strings, the zero time and no payload."""
        m = decode_message("{}")
        self.assertEqual((m.id, m.type, m.payload, m.reply_to), ("", "", None, ""))
        self.assertEqual(str(m.ts), "0001-01-01T00:00:00Z")
        self.assertTrue(m.ts.is_zero())

    def test_unknown_keys_ignored(self):
        """Keys that match no field are ignored."""
        self.assertEqual(decode_message('{"id":"a","extra":{"deep":[1]}}').id, "a")

    def test_payload_null_or_missing(self):
        """payload null and no payload both read as None."""
        self.assertIsNone(decode_message('{"payload":null}').payload)
        self.assertIsNone(decode_message('{"id":"x"}').payload)

    def test_wrong_types_rejected(self):
        """A string field holding another JSON type fails the whole message."""
        for text in ('{"id":1}', '{"type":true}', '{"from":[]}', '{"to":{}}',
                     '{"replyTo":2}', '{"ts":0}', '{"ID":1.5}'):
            self.assertRaises(InvalidMessageJSONError, decode_message, text)

    def test_bad_timestamps_rejected(self):
        """ts must be RFC 3339 with a zone, as Go's time.Time requires."""
        for ts in ("2026-01-02 03:04:05Z", "2026-01-02T03:04:05", "2026-13-01T00:00:00Z",
                   "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z",
                   "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60",
                   "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00,5Z", "2026-01-01t00:00:00Z",
                   "2026-01-01T00:00:00z", "1767323045", "\uff12026-01-01T00:00:00Z"):
            self.assertRaises(InvalidMessageJSONError, decode_message, '{"ts":"' + ts + '"}')

    def test_not_an_object(self):
        """Anything but a JSON object is refused."""
        for text in ("", "null", "[]", '"x"', "1", "{", '{"id":"a"} x', "NaN", '{"p":Infinity}',
                     "[" * 50000 + "]" * 50000, "hello"):
            self.assertRaises(InvalidMessageJSONError, decode_message, text)

    def test_received_numbers_keep_their_text(self):
        """A received payload is written back exactly, as Go's RawMessage keeps it."""
        text = ('{"id":"a","type":"start_miner","from":"","to":"","ts":"2026-01-01T00:00:00Z",'
                '"payload":{"config":{"threads":4.0,"ratio":1E3,"tiny":1e-07,"neg":-0,"n":7}}}')
        message = decode_message(text)
        self.assertEqual(message.to_json(), text)
        self.assertEqual(message.payload["config"]["threads"], 4)
        self.assertEqual(message.payload["config"]["ratio"] * 2, 2000.0)
        self.assertEqual(go_float(message.payload["config"]["tiny"]), "1e-7")

    def test_invalid_utf8(self):
        """Invalid UTF-8 inside strings becomes U+FFFD; outside them it is an error."""
        self.assertEqual(decode_message(b'{"id":"a\xffb"}').id, "a\ufffdb")
        self.assertRaises(InvalidMessageJSONError, decode_message, b'{"id":"a"}\xff')

    def test_error_kind(self):
        """The error kind is the vectors' invalid_message_json."""
        error = self.assertRaises(LetheanError, decode_message, "nope")
        self.assertEqual(error.kind, "invalid_message_json")

    @settings(max_examples=200)
    @given(messages)
    def test_round_trip(self, m):
        """Encoding then decoding gives the same text again."""
        text = encode_message(m)
        again = decode_message(text)
        self.assertEqual(encode_message(again), text)
        self.assertEqual((again.id, again.type, again.from_, again.to, again.ts, again.reply_to),
                         (m.id, m.type, m.from_, m.to, m.ts, m.reply_to))

    @settings(max_examples=300)
    @given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
    def test_random_input_raises_only_our_error(self, data):
        """Random bytes either decode or raise InvalidMessageJSONError."""
        try:
            decode_message(data)
        except InvalidMessageJSONError:
            pass

    @settings(max_examples=200)
    @given(json_values)
    def test_any_json_document_raises_only_our_error(self, value):
        """Any JSON document either decodes or raises InvalidMessageJSONError."""
        try:
            decode_message(marshal(value))
        except InvalidMessageJSONError:
            pass


class ReceivedMessageTests(SynchronousTestCase):
    """
    A decoded message encodes as the reference's Message after
    json.Unmarshal: unknown keys dropped, the payload (a json.RawMessage)
    as it came.  Expected texts are the Go reference's output.
    """

    def test_unknown_keys_dropped(self):
        """Unknown keys go, other spellings and duplicates resolve as in Go."""
        text = ('{"Extra":true,"id":"m1","TYPE":"ping","from":"a","to":"b",'
                '"ts":"2026-01-02T03:04:05.12Z","payload":{"sentAt":1},"replyTo":"r",'
                '"more":{"deep":[1,{"x":null}]},"ID":"m2"}')
        self.assertEqual(
            decode_message(text).to_json(),
            '{"id":"m2","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
            '"payload":{"sentAt":1},"replyTo":"r"}')

    def test_payload_written_as_received(self):
        """Duplicate keys, escapes and number spellings of the payload are kept, compacted."""
        text = ('{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
                '"payload": { "b" : 1, "a" : [1.0, 1E+2, -0, 1e400], '
                '"b" : "\\u0041\\/\\ud800<>&\u2028 x" , "c":"\\t" } }')
        message = decode_message(text)
        self.assertEqual(message.payload["b"], "A/\ud800<>&\u2028 x")
        self.assertEqual(
            message.to_json(),
            '{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
            '"payload":{"b":1,"a":[1.0,1E+2,-0,1e400],"b":"\\u0041\\/\\ud800<>&\\u2028 x",'
            '"c":"\\t"}}')
        self.assertEqual(
            message.to_json(html=True),
            '{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
            '"payload":{"b":1,"a":[1.0,1E+2,-0,1e400],'
            '"b":"\\u0041\\/\\ud800\\u003c\\u003e\\u0026\\u2028 x","c":"\\t"}}')

    def test_last_payload_wins_even_null(self):
        """Of several payload keys (any case) the last is kept, null included."""
        text = ('{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
                '"payload":{"x":1},"Payload":[2],"pAyLoAd":null}')
        self.assertEqual(
            decode_message(text).to_json(),
            '{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
            '"payload":null}')
        self.assertEqual(decode_message(text.replace("null", ' [ 3 ] ')).to_json(),
                         text[:text.index(',"payload"')] + ',"payload":[3]}')

    def test_numbers_beyond_float64_where_go_does_not_read_them(self):
        """Go skips an unknown key's value and keeps the payload raw, however large the number."""
        message = decode_message('{"id":"m1","extra":1e400,"ts":"2026-01-02T03:04:05Z"}')
        self.assertEqual(
            message.to_json(),
            '{"id":"m1","type":"","from":"","to":"","ts":"2026-01-02T03:04:05Z","payload":null}')
        self.assertEqual(decode_message('{"payload":[-1e999]}').to_json()[-19:],
                         '"payload":[-1e999]}')
        for text in ('{"id":1e400}', '{"ts":1e400}', '{"replyTo":-1e400}'):
            self.assertRaises(InvalidMessageJSONError, decode_message, text)

    def test_replaced_payload_is_encoded(self):
        """A payload replaced after decoding is written from its value."""
        received = decode_message('{"id":"m1","payload":{"a" : 1,"a":2}}')
        changed = attrs.evolve(received, payload={"b": 1})
        self.assertIn('"payload":{"b":1}', changed.to_json())
        self.assertIn('"payload":{"a":1,"a":2}', attrs.evolve(received, id="m2").to_json())

    def test_payload_changed_in_place_is_encoded(self):
        """A received payload changed in place is not written from the stale text."""
        received = decode_message('{"id":"m1","payload":{"a":1.0}}')
        received.payload["a"] = 2
        self.assertIn('"payload":{"a":2}', received.to_json())

    def test_received_text_is_not_part_of_equality(self):
        """A decoded message equals one built with the same fields."""
        text = '{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z"}'
        built = Message("m1", "ping", "a", "b", Timestamp.parse("2026-01-02T03:04:05.12Z"))
        self.assertEqual(decode_message(text + " "), built)
        self.assertNotIn("received", repr(decode_message(text)))

    @settings(max_examples=200)
    @given(messages, st.lists(st.tuples(st.text(max_size=8), json_values), max_size=4),
           st.booleans())
    def test_unknown_keys_never_change_the_message(self, m, extras, html):
        """Unknown keys anywhere in the object are dropped and change nothing else."""
        known = {"id", "type", "from", "to", "ts", "payload", "replyto"}
        extras = [(key, value) for key, value in extras if fold_key(key) not in known]
        members = "".join(marshal(key) + ":" + marshal(value) + "," for key, value in extras)
        text = encode_message(m)
        decoded = decode_message("{" + members + text[1:-1] + "," + members[:-1] + "}"
                                 if members else text)
        self.assertEqual(decoded.to_json(html=html), encode_message(m, html=html))
        self.assertEqual(decoded, decode_message(text))


class ConstructionTests(SynchronousTestCase):
    """new_message, reply and error_reply."""

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1767323045.12)

    def test_new_message(self):
        """A new message gets a UUID v4, the clock's time in UTC and no replyTo."""
        m = new_message("ping", A, B, {"sentAt": 1}, clock=self.clock)
        self.assertEqual(str(m.ts), "2026-01-02T03:04:05.12Z")
        self.assertRegex(m.id, r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
        self.assertEqual((m.type, m.from_, m.to, m.payload, m.reply_to), ("ping", A, B, {"sentAt": 1}, ""))
        self.assertNotEqual(new_message("ping", A, B, clock=self.clock).id, m.id)

    @given(st.binary(min_size=16, max_size=16))
    def test_message_ids_are_uuid4_text(self, raw):
        """Message ids are written exactly as Python's uuid module writes a v4 UUID."""
        self.assertEqual(uuid_v4_text(raw), str(uuid.UUID(bytes=raw, version=4)))

    def test_reply_follows_the_reference(self):
        """By default a reply swaps from/to of the request and points replyTo at its id."""
        request = new_message("ping", A, B, clock=self.clock, message_id="req")
        self.clock.advance(1)
        answer = reply(request, "pong", {"sentAt": 1}, clock=self.clock)
        self.assertEqual((answer.from_, answer.to, answer.reply_to, answer.type),
                         (B, A, "req", "pong"))
        self.assertEqual(str(answer.ts), "2026-01-02T03:04:06.12Z")

    def test_reply_with_own_id(self):
        """Passing from_ puts our own id in the reply (recommended)."""
        request = new_message("ping", A, "", clock=self.clock)
        self.assertEqual(reply(request, "pong", clock=self.clock, from_=B).from_, B)
        self.assertEqual(reply(request, "pong", clock=self.clock).from_, "")

    def test_error_reply(self):
        """An error reply carries code 1004 and the message, from our own id."""
        request = new_message("get_logs", A, B, clock=self.clock, message_id="req")
        answer = error_reply(request, "miner not found", from_=B, clock=self.clock)
        self.assertEqual(answer.payload, {"code": ERROR_OPERATION_FAILED, "message": "miner not found"})
        self.assertEqual((answer.type, answer.from_, answer.to, answer.reply_to), ("error", B, A, "req"))
        self.assertIn('"payload":{"code":1004,"message":"miner not found"},"replyTo":"req"}',
                      answer.to_json())


# The same tests on the pure-Python path (tests/_accel.py).


class PureEncodeTests(PurePath, EncodeTests):
    """EncodeTests, on the pure-Python twins of the compiled functions."""


class PureDecodeTests(PurePath, DecodeTests):
    """DecodeTests, on the pure-Python twins of the compiled functions."""
