"""epee typed values: each keeps its wire type and refuses what does not fit."""

from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Array,
    Bool,
    Double,
    Int8,
    Int16,
    Int32,
    Int64,
    LevinMalformedError,
    NameTooLongError,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    ValueOutOfRangeError,
    encode_storage,
)
from tests._levin_storage import storage


class ValueTests(SynchronousTestCase):
    """Typed values keep their wire type and refuse what does not fit."""

    def test_types_are_distinct(self):
        """The same number in two types is two different values."""
        self.assertNotEqual(Int64(5), Uint64(5))
        self.assertNotEqual(Section({"x": Uint32(5)}), Section({"x": Uint64(5)}))

    def test_integer_ranges(self):
        """Each integer type refuses values outside its width, and bools."""
        for cls, low, high in ((Int8, -128, 127), (Int16, -2**15, 2**15 - 1),
                               (Int32, -2**31, 2**31 - 1), (Int64, -2**63, 2**63 - 1),
                               (Uint8, 0, 255), (Uint16, 0, 2**16 - 1),
                               (Uint32, 0, 2**32 - 1), (Uint64, 0, 2**64 - 1)):
            self.assertEqual(cls(low).value, low)
            self.assertEqual(cls(high).value, high)
            self.assertRaises(ValueOutOfRangeError, cls, low - 1)
            self.assertRaises(ValueOutOfRangeError, cls, high + 1)
            self.assertRaises(ValueOutOfRangeError, cls, True)
            self.assertRaises(ValueOutOfRangeError, cls, 1.0)

    def test_double_compares_bits(self):
        """Doubles are equal when their bits are: NaN equals itself, -0.0 is not 0.0."""
        nan = Double.from_bits(0x7FF8000000000001)
        self.assertEqual(nan, Double.from_bits(0x7FF8000000000001))
        self.assertNotEqual(nan, Double.from_bits(0x7FF8000000000002))
        self.assertNotEqual(Double(0.0), Double(-0.0))
        self.assertEqual(nan.bits, 0x7FF8000000000001)
        self.assertEqual(Double(2), Double(2.0))
        self.assertRaises(ValueOutOfRangeError, Double, "1.5")
        self.assertRaises(ValueOutOfRangeError, Double, 10**400)

    def test_string_and_bool(self):
        """Strings hold bytes (text becomes UTF-8); Bool holds only True or False."""
        self.assertEqual(String("é").value, b"\xc3\xa9")
        self.assertEqual(String(bytearray(b"ab")).value, b"ab")
        self.assertRaises(ValueOutOfRangeError, String, 5)
        self.assertRaises(ValueOutOfRangeError, Bool, 1)

    def test_section_needs_typed_values(self):
        """Plain dicts become sections; bare numbers are refused, never guessed."""
        section = Section({"inner": {"n": Uint8(1)}})
        self.assertIsInstance(section["inner"], Section)
        self.assertRaises(ValueOutOfRangeError, Section, {"n": 1})
        self.assertRaises(ValueOutOfRangeError, Section, {"n": "text"})

    def test_section_names(self):
        """Names are 0..255 bytes; bytes names are kept exactly."""
        self.assertEqual(Section({"": Uint8(1)})[""], Uint8(1))
        self.assertEqual(Section({b"": Uint8(1)}), Section({"": Uint8(1)}))
        self.assertEqual(len(Section({"n" * 255: Uint8(1)})), 1)
        self.assertRaises(NameTooLongError, Section, {"n" * 256: Uint8(1)})
        self.assertRaises(NameTooLongError, Section, {"é" * 128: Uint8(1)})
        self.assertRaises(LevinMalformedError, Section, {"\ud800": Uint8(1)})
        self.assertRaises(LevinMalformedError, Section, {5: Uint8(1)})
        section = Section({b"\xff\x00": Uint8(1)})
        self.assertEqual(list(section), ["\udcff\x00"])

    def test_one_spelling_per_wire_name(self):
        """Names that encode to the same bytes are one name, spelt as decoding spells it."""
        section = Section([("é", Uint8(1)), ("\udcc3\udca9", Uint8(2))])
        self.assertEqual(list(section), ["é"])
        self.assertEqual(section["é"], Uint8(2))
        self.assertEqual(encode_storage(section), storage("04" "02c3a9" "0802"))

    def test_section_is_an_immutable_mapping(self):
        """Sections compare like dicts, hash, and cannot be changed in place."""
        a = Section([("x", Uint8(1)), ("y", Bool(False))])
        b = Section({"y": Bool(False), "x": Uint8(1)})
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertEqual(list(a), ["x", "y"])
        self.assertEqual(a, {"x": Uint8(1), "y": Bool(False)})
        self.assertRaises(AttributeError, setattr, a, "_entries", {})
        with self.assertRaises(TypeError):
            a["x"] = Uint8(2)
        c = a.updated({"x": Uint8(2)}, z=String(""))
        self.assertEqual(c, {"x": Uint8(2), "y": Bool(False), "z": String(b"")})
        self.assertEqual(a["x"], Uint8(1))

    def test_array_wraps_items(self):
        """Plain items are wrapped in the element type; typed ones must match it."""
        self.assertEqual(Array(Uint32, [7]), Array(Uint32, (Uint32(7),)))
        self.assertEqual(Array(Section, [{}]).items, (Section(),))
        self.assertEqual(Array(Uint64).tag, 0x85)
        self.assertNotEqual(Array(Uint64), Array(Uint32))
        self.assertRaises(ValueOutOfRangeError, Array, Uint32, [Uint64(1)])
        self.assertRaises(ValueOutOfRangeError, Array, Uint32, [-1])
        self.assertRaises(ValueOutOfRangeError, Array, Array, [[1]])
        self.assertRaises(ValueOutOfRangeError, Array, int, [])
