"""Tests for lethean._gostruct: one declaration drives Go-exact writing and reading."""

import attrs
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean._gojson import Pairs, RawJSON, loads_pairs, loads_strict, marshal
from lethean._gostruct import (
    Collapsed,
    GoStruct,
    InvalidPayloadError,
    StructOf,
    go_field,
    schema_of,
)
from lethean._gotime import ZERO_TIME, Timestamp
from lethean._gotypes import (
    ANY,
    BOOL,
    BYTES,
    FLOAT64,
    INT,
    INT64,
    RAW,
    STRING,
    TIME,
    MapOf,
    Mismatch,
    SliceOf,
)
from tests._accel import PurePath
from tests.strategies import json_values, timestamps


@attrs.frozen
class Inner:
    """A nested struct."""

    GO_PACKAGE = "test"

    name: str = go_field("name", STRING)
    size: int = go_field("size", INT, omitempty=True)


@attrs.frozen
class Sample(GoStruct):
    """Every kind, with and without omitempty."""

    GO_PACKAGE = "test"

    text: str = go_field("text", STRING)
    flag: bool = go_field("flag", BOOL, omitempty=True)
    count: int = go_field("count", INT)
    big: int = go_field("big", INT64, omitempty=True)
    ratio: float = go_field("ratio", FLOAT64)
    data: bytes = go_field("data", BYTES, omitempty=True)
    raw: object = go_field("raw", RAW, omitempty=True)
    anything: object = go_field("anything", ANY)
    when: Timestamp = go_field("when", TIME)
    names: object = go_field("names", SliceOf(STRING),
                             converter=attrs.converters.optional(tuple))
    meta: object = go_field("meta", MapOf(STRING), omitempty=True)
    inner: Inner = go_field("inner", StructOf(Inner))
    items: object = go_field("items", SliceOf(StructOf(Inner)), default=(), converter=tuple)
    #: Not part of the JSON.
    note: str = attrs.field(default="", eq=False)


@attrs.frozen
class Sparse:
    """Only omitempty fields: the first written one opens the object."""

    GO_PACKAGE = "test"

    first: str = go_field("first", STRING, omitempty=True)
    second: int = go_field("second", INT, omitempty=True)


_int64s = st.integers(min_value=-2**63, max_value=2**63 - 1)
#: JSON data without floats: interface{} reads every number back as Go
#: writes it, so a float may come back an int of the same JSON text.
_exact_json = st.recursive(
    st.none() | st.booleans() | st.text(max_size=8) | _int64s,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_inners = st.builds(Inner, st.text(max_size=8), _int64s)
samples = st.builds(
    Sample,
    text=st.text(max_size=20),
    flag=st.booleans(),
    count=_int64s,
    big=_int64s,
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    data=st.binary(max_size=40),
    raw=st.none() | json_values.map(lambda v: RawJSON(marshal(v, html=False))),
    anything=_exact_json,
    when=timestamps,
    names=st.none() | st.lists(st.text(max_size=6), max_size=3),
    meta=st.none() | st.dictionaries(st.text(max_size=6), st.text(max_size=6), min_size=1,
                                     max_size=3),
    inner=_inners,
    items=st.lists(_inners, max_size=3),
)
_KEYS = ["text", "TEXT", "flag", "count", "Count", "big", "ratio", "data", "raw", "anything",
         "when", "names", "meta", "inner", "items", "other", "\u212aey"]
#: Objects shaped like a Sample (its keys in several spellings, any values).
sample_shaped = st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=6)
SCHEMA = schema_of(Sample)


class WritingTests(SynchronousTestCase):
    """The compiled writer writes what Go's json.Marshal writes."""

    def test_fields_in_order_omitempty_applied(self):
        """Declaration order, omitempty fields left out when empty, null for nil."""
        sample = Sample(when=Timestamp.parse("2026-01-02T03:04:05Z"))
        self.assertEqual(SCHEMA.write(sample, False), (
            '{"text":"","count":0,"ratio":0,"anything":null,"when":"2026-01-02T03:04:05Z",'
            '"names":null,"inner":{"name":""},"items":[]}'))

    def test_html_escaping(self):
        """html=True escapes <, > and & in strings, as json.Marshal does."""
        sample = Sample(text="<&>", meta={"b": "<", "a": ""})
        self.assertIn('"text":"\\u003c\\u0026\\u003e"', SCHEMA.write(sample, True))
        self.assertIn('"text":"<&>"', SCHEMA.write(sample, False))
        self.assertIn('"meta":{"a":"","b":"\\u003c"}', SCHEMA.write(sample, True))

    def test_only_omitempty_fields(self):
        """A struct whose fields are all omitempty writes {} or its first set field plainly."""
        schema = schema_of(Sparse)
        self.assertEqual(schema.write(Sparse(), False), "{}")
        self.assertEqual(schema.write(Sparse(second=2), False), '{"second":2}')
        self.assertEqual(schema.write(Sparse("a", 2), False), '{"first":"a","second":2}')

    def test_writer_of_some_fields(self):
        """writer() gives the text of an instance with only those fields set."""
        write = SCHEMA.writer("text", "big")
        self.assertEqual(write(False, "x", 7),
                         SCHEMA.write(Sample(text="x", big=7, inner=Inner()), False))

    def test_marshal_uses_the_schema(self):
        """marshal() writes a GoStruct as its schema does."""
        sample = Sample(text="a", names=["b"])
        self.assertEqual(marshal(sample), SCHEMA.write(sample, True))

    @settings(max_examples=150)
    @given(samples, st.booleans())
    def test_compiled_writer_matches_the_field_loop(self, sample, html):
        """The compiled writer and the plain loop over the fields write the same text."""
        self.assertEqual(SCHEMA.write(sample, html), SCHEMA.encode(sample, html, written={}))

    @settings(max_examples=150)
    @given(samples, st.booleans())
    def test_json_value_marshals_to_the_same_text(self, sample, html):
        """to_json_value is the same JSON as the text, as plain data."""
        self.assertEqual(marshal(sample.to_json_value(), html=html), SCHEMA.write(sample, html))


class ReadingTests(SynchronousTestCase):
    """Reading follows Go's decoder."""

    def test_last_duplicate_wins_and_null_leaves_the_field(self):
        """Every occurrence is read in order; null keeps what was there."""
        fields = SCHEMA.fields_of(loads_pairs('{"text":"a","TEXT":"b","text":null}'))
        self.assertEqual(fields["text"], "b")

    def test_null_is_read_by_raw_and_any(self):
        """json.RawMessage keeps null as text; interface{} becomes None."""
        fields = SCHEMA.fields_of(loads_pairs('{"raw":null,"anything":1,"anything":null}'))
        self.assertEqual((fields["raw"], fields["anything"]), (RawJSON("null"), None))

    def test_absent_fields_are_zero(self):
        """Fields not in the object take their zero values."""
        self.assertEqual(Sample.from_json_value({}), Sample())
        self.assertEqual(SCHEMA.fields_of({})["when"], ZERO_TIME)

    def test_errors_carry_the_path(self):
        """A wrong type deep down is worded with the path as received."""
        error = self.assertRaises(InvalidPayloadError, Sample.from_json_value,
                                  {"Items": [{}, {"NAME": 5}]})
        self.assertEqual(str(error), "json: cannot unmarshal number into Go struct field "
                                     "Sample.Items.1.NAME of type string")
        error = self.assertRaises(InvalidPayloadError, Sample.from_json_value,
                                  {"meta": {"k": 1}})
        self.assertEqual(str(error), "json: cannot unmarshal number into Go struct field "
                                     "Sample.meta.k of type string")
        error = self.assertRaises(InvalidPayloadError, Sample.from_json_value,
                                  {"when": "yesterday"})
        self.assertIn("yesterday", str(error))

    def test_first_wrong_type_in_document_order_fails(self):
        """Go fails on the first wrong value it visits, even if a later one is right."""
        pairs = loads_pairs('{"count":"x","count":1,"text":2}')
        error = self.assertRaises(Mismatch, SCHEMA.fields_of, pairs)
        self.assertEqual(error.path, ("count",))

    def test_collapsed_defers_to_the_pairs(self):
        """A parsed dict raises Collapsed where its hidden duplicates could matter."""
        for text in ('{"TEXT":"a"}', '{"text":null}', '{"count":"x"}'):
            self.assertRaises(Collapsed, SCHEMA.fields_of, loads_strict(text), collapsed=True)
        fields = SCHEMA.fields_of(loads_strict('{"text":"a","other":{"TEXT":1}}'),
                                  collapsed=True)
        self.assertEqual(fields["text"], "a")

    @settings(max_examples=150)
    @given(samples, st.booleans())
    def test_round_trip(self, sample, html):
        """Writing then reading (as a dict or as pairs) gives the same struct back."""
        text = SCHEMA.write(sample, html)
        self.assertEqual(Sample.from_json_value(loads_strict(text, keep_overflow=True)), sample)
        self.assertEqual(SCHEMA.read(loads_pairs(text)), sample)
        try:
            fields = SCHEMA.fields_of(loads_strict(text, keep_overflow=True), collapsed=True)
        except Collapsed:
            return  # a null field: only the pairs can tell, read above
        self.assertEqual(Sample(**fields), sample)

    @settings(max_examples=150)
    @given(json_values | sample_shaped)
    def test_reading_raises_only_our_error(self, value):
        """Any JSON value reads as a Sample or raises InvalidPayloadError."""
        for form in (value, loads_pairs(marshal(value))):
            try:
                Sample.from_json_value(form)
            except InvalidPayloadError:
                pass

    @settings(max_examples=150)
    @given(sample_shaped)
    def test_collapsed_agrees_with_the_pairs(self, value):
        """The one-parse reading either defers or gives what reading every pair gives."""
        text = marshal(value)
        try:
            expected = SCHEMA.fields_of(loads_pairs(text))
        except Mismatch:
            expected = None
        try:
            fields = SCHEMA.fields_of(loads_strict(text, keep_overflow=True), collapsed=True)
        except Collapsed:
            return
        self.assertEqual(fields, expected)


class PureWritingTests(PurePath, WritingTests):
    """WritingTests, on the pure-Python twins of the compiled functions."""


class PureReadingTests(PurePath, ReadingTests):
    """ReadingTests, on the pure-Python twins of the compiled functions."""


class PairsTests(SynchronousTestCase):
    """Pairs: a JSON object with its repeated keys."""

    def test_written_with_every_pair(self):
        """marshal() writes Pairs as an object, duplicates kept."""
        self.assertEqual(marshal(Pairs([("a", 1), ("a", Pairs([("b", None)]))])),
                         '{"a":1,"a":{"b":null}}')
        self.assertEqual(marshal(Pairs()), "{}")
