"""epee portable storage: the encoder and the hardened decoder."""

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Array,
    BadSignatureError,
    BadVersionError,
    Bool,
    Double,
    Int8,
    Int64,
    LevinError,
    LevinLimitError,
    LevinTruncatedError,
    NameTooLongError,
    Section,
    String,
    Uint8,
    Uint32,
    Uint64,
    UnknownTypeError,
    decode_storage,
    encode_storage,
)
from lethean import _accel
from lethean.levin import _storage
from lethean.levin._storage import MAX_DEPTH, MAX_ITEMS, STORAGE_HEADER
from tests._accel import PurePath, outcome, shortcuts_off
from tests._levin_storage import storage
from tests.strategies import levin_sections


#: Spec levin.md 2.8: arrays, a double and an int8.
ARRAYS_HEX = (
    "01110101010102010114"
    "0161860801000000" "02000000"
    "01628a040478"
    "01638c0404016b0807"
    "0164090000000000" "00f83f"
    "016504ff"
)
ARRAYS = Section({
    "a": Array(Uint32, [1, 2]),
    "b": Array(String, [b"x"]),
    "c": Array(Section, [{"k": Uint8(7)}]),
    "d": Double(1.5),
    "e": Int8(-1),
})

#: Spec levin.md 2.8: a Lethean-style handshake request (281 bytes).
HANDSHAKE_HEX = (
    "01110101010102010108096e6f64655f646174610c100a6c6f63616c5f74696d6501a53557690000"
    "0000076d795f706f7274064e9000000a6e6574776f726b5f69640a40101112131415161718191a1b"
    "1c1d1e1f07706565725f69640508070605040302010c7061796c6f61645f646174610c180e636c69"
    "656e745f76657273696f6e0a14362e302e3009636f72655f74696d6505a5355769000000000e6375"
    "7272656e745f686569676874056400000000000000166c6173745f636865636b706f696e745f6865"
    "69676874050000000000000000186e6f6e5f7072756e696e675f6d6f64655f656e61626c65640b01"
    "06746f705f69640a80" + "00" * 32
)
HANDSHAKE = Section({
    "node_data": {
        "local_time": Int64(1767323045),
        "my_port": Uint32(36942),
        "network_id": String(bytes(range(0x10, 0x20))),
        "peer_id": Uint64(0x0102030405060708),
    },
    "payload_data": {
        "client_version": String("6.0.0"),
        "core_time": Uint64(1767323045),
        "current_height": Uint64(100),
        "last_checkpoint_height": Uint64(0),
        "non_pruning_mode_enabled": Bool(True),
        "top_id": String(bytes(32)),
    },
})


def nested(levels):
    """A root section with ``levels`` objects nested one inside the other."""
    return storage(("04" "0161" "0c") * levels + "00")


class EncodeTests(SynchronousTestCase):
    """The encoder writes the reference's bytes."""

    def test_spec_arrays_example(self):
        """Spec 2.8's arrays example."""
        self.assertEqual(encode_storage(ARRAYS, epee_arrays=False).hex(), ARRAYS_HEX)

    def test_spec_handshake(self):
        """Spec 2.8's Lethean handshake request, 281 bytes."""
        encoded = encode_storage(HANDSHAKE)
        self.assertEqual(encoded.hex(), HANDSHAKE_HEX)
        self.assertEqual(len(encoded), 281)

    def test_empty(self):
        """An empty root section is the header and a zero count."""
        self.assertEqual(encode_storage(Section()).hex(), "01110101010102010100")
        self.assertEqual(encode_storage({}), encode_storage(Section()))

    def test_names_sorted_by_bytes(self):
        """Order follows the names' bytes, not their code points."""
        # "\udc80" stands for the byte 0x80, which sorts before "é" (c3 a9).
        encoded = encode_storage(Section({"é": Uint8(1), "\udc80": Uint8(2), "B": Uint8(3)}))
        self.assertEqual(encoded, storage("0c" "0142" "0803" "0180" "0802" "02c3a9" "0801"))

    def test_empty_names(self):
        """An empty name is a zero length byte, sorted first, at any depth (Go's bytes)."""
        # levin.EncodeStorage(Section{"": Uint8Val(7), "a": ObjectVal(Section{"": StringVal("x")})})
        section = Section({"a": {"": String(b"x")}, "": Uint8(7)})
        encoded = encode_storage(section)
        self.assertEqual(encoded.hex(), "0111010101010201010800080701610c04000a0478")
        self.assertEqual(decode_storage(encoded), section)
        self.assertEqual(encode_storage({"": Array(Section, [{"": Bool(True)}])}),
                         storage("04" "00" "8c" "04" "04" "00" "0b01"))

    def test_name_length_checked_in_go_order(self):
        """Entries are checked in sorted order, each name before its value, as Go does."""
        refused_first = Section._trusted({"b" * 256: Uint8(1), "a": Array(Uint8, [1])})
        self.assertRaises(UnknownTypeError, encode_storage, refused_first)
        long_first = Section._trusted({"c": Array(Uint8, [1]), "b" * 256: Uint8(1)})
        self.assertRaises(NameTooLongError, encode_storage, long_first)
        self.assertEqual(len(encode_storage(Section({"n" * 255: Uint8(1)}))), 9 + 1 + 1 + 255 + 2)

    def test_epee_arrays_need_opting_in(self):
        """Arrays the Go reference cannot read are refused unless asked for."""
        section = Section({"a": Array(Uint8, [1, 2])})
        self.assertRaises(UnknownTypeError, encode_storage, section)
        self.assertEqual(encode_storage(section, epee_arrays=True),
                         storage("04" "0161" "88" "08" "0102"))
        inner = Section({"a": Array(Array, [Array(Uint64)])})
        self.assertRaises(UnknownTypeError, encode_storage, inner)
        nested_refused = Section({"a": Array(Array, [Array(Uint8)])})
        self.assertRaises(UnknownTypeError, encode_storage, nested_refused)

    def test_too_deep(self):
        """The encoder refuses what the decoder would refuse as too deep."""
        section = Section({"a": Uint8(1)})
        for _ in range(MAX_DEPTH):
            section = Section({"a": section})
        self.assertRaises(LevinLimitError, encode_storage, section)
        self.assertIsInstance(encode_storage(section, max_depth=MAX_DEPTH + 1), bytes)


class DecodeTests(SynchronousTestCase):
    """The decoder reads what the reference reads and refuses the rest safely."""

    def test_spec_examples(self):
        """Spec 2.8's examples decode to their typed sections."""
        self.assertEqual(decode_storage(bytes.fromhex(ARRAYS_HEX)), ARRAYS)
        self.assertEqual(decode_storage(bytes.fromhex(HANDSHAKE_HEX)), HANDSHAKE)

    def test_reference_quirks(self):
        """Duplicates (last wins), any non-zero bool, trailing bytes, wide counts."""
        self.assertEqual(decode_storage(storage("08" "0178" "0801" "0178" "0a0461")),
                         {"x": String("a")})
        self.assertEqual(decode_storage(storage("04" "0162" "0b02")), {"b": Bool(True)})
        self.assertEqual(decode_storage(storage("00" "ffff")), Section())
        self.assertEqual(decode_storage(storage("06000000" "0178" "0809")), {"x": Uint8(9)})

    def test_header_errors(self):
        """Short, foreign or future-version data is refused with its kind."""
        self.assertRaises(LevinTruncatedError, decode_storage, STORAGE_HEADER[:8])
        self.assertRaises(BadSignatureError, decode_storage, b"\x00" * 10)
        self.assertRaises(BadVersionError, decode_storage, STORAGE_HEADER[:8] + b"\x02\x00")

    def test_empty_name_accepted(self):
        """A zero-length name is a valid entry, as in the Go reference (epee refuses it)."""
        self.assertEqual(decode_storage(storage("04" "00" "0801")), {"": Uint8(1)})
        self.assertEqual(decode_storage(storage("08" "00" "0801" "00" "0802")), {"": Uint8(2)})
        self.assertRaises(LevinTruncatedError, decode_storage, storage("04" "00"))

    def test_non_utf8_names_round_trip(self):
        """Names that are not UTF-8 decode, and encode back to the same bytes."""
        data = storage("04" "02ff00" "0801")
        section = decode_storage(data)
        self.assertEqual(list(section), ["\udcff\x00"])
        self.assertEqual(encode_storage(section), data)

    def test_unknown_types(self):
        """Tag 0, 13 and 14+ are unknown; so are non-reference arrays by default."""
        for tag in ("00", "0d", "0e", "7f"):
            self.assertRaises(UnknownTypeError, decode_storage, storage("04" "0161" + tag + "00"))
        for tag in ("81", "82", "83", "84", "87", "88", "89", "8b", "8d", "8e", "ff"):
            self.assertRaises(UnknownTypeError, decode_storage, storage("04" "0161" + tag + "00"))

    def test_lying_counts_are_cheap(self):
        """Counts of up to 2**62 with no data behind them fail at once, allocating nothing."""
        big = "ff" * 8
        inputs = [
            storage(big),
            storage("04" "0161" "85" + big),
            storage("04" "0161" "86" + big + "00000000"),
            storage("04" "0161" "8a" + big + "00"),
            storage("04" "0161" "8c" + big + "00"),
            storage("04" "0161" "0a" + big + "41"),
        ]
        for data in inputs:
            tracemalloc.start()
            try:
                self.assertRaises(LevinTruncatedError, decode_storage, data)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # Nothing sized by the claimed count: a few KiB of bookkeeping at most.
            self.assertLess(peak, 64 * 1024, data.hex())

    def test_depth_limit(self):
        """100 levels of nesting are read; 101 are refused."""
        self.assertIsInstance(decode_storage(nested(MAX_DEPTH - 1)), Section)
        self.assertRaises(LevinLimitError, decode_storage, nested(MAX_DEPTH))
        self.assertRaises(LevinLimitError, decode_storage, nested(3), max_depth=3)
        # Each level is an array of objects holding one object: two levels.
        deep_arrays = storage("04" + ("0161" "8c04" "04") * 29 + "0161" "8c04" "00")
        self.assertIsInstance(decode_storage(deep_arrays, max_depth=61), Section)
        self.assertRaises(LevinLimitError, decode_storage, deep_arrays, max_depth=60)

    def test_python_recursion_limit(self):
        """Nesting past what Python can recurse is a limit error, whatever max_depth says."""
        self.assertRaises(LevinLimitError, decode_storage, nested(5000), max_depth=10**6)
        section = Section({"a": Uint8(1)})
        for _ in range(5000):
            section = Section({"a": section})
        self.assertRaises(LevinLimitError, encode_storage, section, max_depth=10**6)

    def test_item_limit(self):
        """Entries and array elements count against ``max_items``."""
        four = storage("10" + "0161080101620801" "0163080101640801")
        self.assertEqual(len(decode_storage(four, max_items=4)), 4)
        self.assertRaises(LevinLimitError, decode_storage, four, max_items=3)
        array = storage("04" "0161" "86" "10" + "01000000" * 4)
        self.assertEqual(len(decode_storage(array, max_items=5)["a"]), 4)
        self.assertRaises(LevinLimitError, decode_storage, array, max_items=4)

    def test_epee_arrays(self):
        """With ``epee_arrays`` every epee array type reads, arrays of arrays too."""
        uint8s = storage("04" "0161" "88" "08" "0902")
        self.assertRaises(UnknownTypeError, decode_storage, uint8s)
        self.assertEqual(decode_storage(uint8s, epee_arrays=True),
                         {"a": Array(Uint8, [9, 2])})
        bools = storage("04" "0162" "8b" "0c" "000102")
        self.assertEqual(decode_storage(bools, epee_arrays=True)["b"],
                         Array(Bool, [False, True, True]))
        doubles = storage("04" "0164" "89" "04" "000000000000f83f")
        self.assertEqual(decode_storage(doubles, epee_arrays=True)["d"],
                         Array(Double, [1.5]))
        arrays = storage("04" "0161" "8d" "08" "8804" "07" "8a04" "0478")
        self.assertEqual(decode_storage(arrays, epee_arrays=True)["a"],
                         Array(Array, [Array(Uint8, [7]), Array(String, [b"x"])]))
        self.assertRaises(UnknownTypeError, decode_storage,
                          storage("04" "0161" "8d" "04" "0807"), epee_arrays=True)

    def test_bare_array_tag_with_epee_arrays(self):
        """epee's tag 13 entry (a type byte, then an array) reads with ``epee_arrays``."""
        data = storage("04" "0161" "0d" "85" "04" + "01" + "00" * 7)
        self.assertRaises(UnknownTypeError, decode_storage, data)
        self.assertEqual(decode_storage(data, epee_arrays=True), {"a": Array(Uint64, [1])})
        self.assertRaises(UnknownTypeError, decode_storage,
                          storage("04" "0178" "0d" "09"), epee_arrays=True)

    def test_nan_payload_survives(self):
        """A NaN's exact bits come back out of a round trip."""
        data = storage("04" "016e" "09" "010000000000f87f")
        self.assertEqual(encode_storage(decode_storage(data)), data)


def _damage(case):
    section, (how, where, byte) = case
    data = bytearray(encode_storage(section))
    where %= len(data) + 1
    if how == "flip" and where < len(data):
        data[where] = byte
    elif how == "cut":
        del data[where:]
    else:
        data.insert(where, byte)
    return section, bytes(data)


def mutations():
    """(section, a damaged encoding of it) pairs."""
    damage = st.one_of(
        st.tuples(st.just("flip"), st.integers(min_value=0), st.integers(0, 255)),
        st.tuples(st.just("cut"), st.integers(min_value=0), st.just(0)),
        st.tuples(st.just("insert"), st.integers(min_value=0), st.integers(0, 255)),
    )
    return st.tuples(levin_sections(), damage).map(_damage)


class PropertyTests(SynchronousTestCase):
    """Round trips hold and hostile bytes raise nothing but our errors."""

    @settings(max_examples=200, deadline=None)
    @given(levin_sections())
    def test_round_trip(self, section):
        """Decoding an encoded section gives back the same typed values."""
        self.assertEqual(decode_storage(encode_storage(section)), section)

    @settings(max_examples=200, deadline=None)
    @given(levin_sections(epee_arrays=True))
    def test_round_trip_every_epee_type(self, section):
        """With ``epee_arrays`` every array type round-trips too."""
        encoded = encode_storage(section, epee_arrays=True)
        self.assertEqual(decode_storage(encoded, epee_arrays=True), section)

    @settings(max_examples=300)
    @given(st.binary(max_size=200), st.booleans())
    def test_random_bytes(self, body, epee_arrays):
        """Random bodies behind a valid header decode or raise a Levin error."""
        try:
            decode_storage(STORAGE_HEADER + body, epee_arrays=epee_arrays)
        except LevinError:
            pass

    @settings(max_examples=300, deadline=None)
    @given(mutations())
    def test_mutated_encodings(self, case):
        """A damaged encoding raises a Levin error or decodes to a re-encodable section."""
        section, data = case
        try:
            decoded = decode_storage(data)
        except LevinError:
            return
        self.assertEqual(decode_storage(encode_storage(decoded)), decoded)


def outcome_in_order(function, *args, **kwargs):
    """:func:`~tests._accel.outcome`, plus the order of a section's entries."""
    result = outcome(function, *args, **kwargs)
    return result + (_order(result[1]),) if result[0] == "value" else result


def _order(value):
    if isinstance(value, Section):
        return [(name, _order(item)) for name, item in value.items()]
    return None


class CompiledShortcutTests(SynchronousTestCase):
    """The compiled common case gives what the Python codec gives, or leaves it to Python."""

    def setUp(self):
        if _accel.speedups is None:
            self.skipTest("accelerator not built: {}".format(_accel.unavailable_reason))

    def pure(self, function, *args, **kwargs):
        """:func:`outcome` with the compiled shortcuts off."""
        with shortcuts_off(_storage, "_decode_common", "_encode_common"):
            return outcome_in_order(function, *args, **kwargs)

    def same(self, function, *args, **kwargs):
        """The call gives the same outcome on both paths."""
        self.assertEqual(outcome_in_order(function, *args, **kwargs),
                         self.pure(function, *args, **kwargs))

    @settings(max_examples=300, deadline=None)
    @given(levin_sections(arrays=False))
    def test_common_case_is_compiled(self, section):
        """Sections of numbers, strings and sections are encoded and decoded in C, identically."""
        encoded = _accel.speedups.levin_encode(section, MAX_DEPTH)
        self.assertEqual(encoded, self.pure(encode_storage, section)[1])
        decoded = _accel.speedups.levin_decode(encoded, len(STORAGE_HEADER), MAX_DEPTH, MAX_ITEMS)
        self.assertEqual(outcome_in_order(lambda: decoded), self.pure(decode_storage, encoded))

    @settings(max_examples=200, deadline=None)
    @given(levin_sections(epee_arrays=True), st.booleans())
    def test_any_section(self, section, epee_arrays):
        """With arrays of every kind, both paths encode and decode alike."""
        self.same(encode_storage, section, epee_arrays=epee_arrays)
        encoded = encode_storage(section, epee_arrays=True)
        self.same(decode_storage, encoded, epee_arrays=epee_arrays)

    @settings(max_examples=300, deadline=None)
    @given(mutations(), st.integers(1, 4), st.integers(0, 40))
    def test_damage_and_limits(self, case, max_depth, max_items):
        """Damaged bytes and tight limits give the same section or the same error."""
        section, data = case
        self.same(decode_storage, data)
        self.same(decode_storage, data, max_depth=max_depth, max_items=max_items)
        self.same(encode_storage, section, max_depth=max_depth)

    @settings(max_examples=300)
    @given(st.binary(max_size=200))
    def test_random_bytes(self, body):
        """Random bodies behind a valid header give the same section or the same error."""
        self.same(decode_storage, STORAGE_HEADER + body)

    def test_rarities_are_left_to_python(self):
        """Arrays, deep nesting, truncation and odd values make the shortcut give up."""
        speedups = _accel.speedups
        for data in (storage("04" "0161" "85" "04" + "01" + "00" * 7),  # an array
                     storage("04" "0161" "0c" "00")[:-1]):  # truncated
            self.assertIsNone(speedups.levin_decode(data, len(STORAGE_HEADER), MAX_DEPTH, MAX_ITEMS))
        deep = {"a": Uint8(1)}
        for _ in range(120):
            deep = {"a": deep}
        self.assertIsNone(speedups.levin_encode(Section(deep), 10**6))
        self.assertIsNone(speedups.levin_encode(Section({"a": Array(Uint32, [1])}), MAX_DEPTH))
        odd = Uint8(1)
        object.__setattr__(odd, "value", True)  # bypassing the validator
        self.assertIsNone(speedups.levin_encode(Section({"a": odd}), MAX_DEPTH))
        self.same(encode_storage, Section({"a": odd}))
        self.same(decode_storage, encode_storage(Section(deep), max_depth=10**6), max_depth=10**6)


# The same tests on the pure-Python path (tests/_accel.py).


class PureEncodeTests(PurePath, EncodeTests):
    """EncodeTests, on the pure-Python twins of the compiled functions."""


class PureDecodeTests(PurePath, DecodeTests):
    """DecodeTests, on the pure-Python twins of the compiled functions."""


class PurePropertyTests(PurePath, PropertyTests):
    """PropertyTests, on the pure-Python twins of the compiled functions."""
