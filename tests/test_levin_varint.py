"""The epee portable-storage varint."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.levin import LevinTruncatedError, ValueOutOfRangeError, decode_varint, encode_varint
from lethean.levin._varint import VARINT_MAX
from tests.strategies import levin_varint_values

#: The table of spec levin.md section 2.2.
SPEC = [
    (0, "00"), (5, "14"), (63, "fc"), (64, "0101"), (100, "9101"), (16383, "fdff"),
    (16384, "02000100"), (65536, "02000400"), (1073741823, "feffffff"),
    (1073741824, "0300000001000000"), (2000000000, "0350d6dc01000000"),
]


class VarintTests(SynchronousTestCase):
    """Encoding picks the smallest width; decoding accepts any width."""

    def test_spec_table(self):
        """Every value of the spec's table encodes and decodes as listed."""
        for value, hex_ in SPEC:
            self.assertEqual(encode_varint(value).hex(), hex_)
            self.assertEqual(decode_varint(bytes.fromhex(hex_)), (value, len(hex_) // 2))

    def test_non_minimal_widths(self):
        """A small value written in a wider form is accepted."""
        self.assertEqual(decode_varint(bytes.fromhex("16000000")), (5, 4))
        self.assertEqual(decode_varint(bytes.fromhex("ff00000000000000")), (63, 8))

    def test_offset_and_trailing_bytes(self):
        """Decoding starts at ``offset`` and leaves later bytes alone."""
        self.assertEqual(decode_varint(b"\xaa\x91\x01\xbb", 1), (100, 2))

    def test_truncated(self):
        """A varint cut short is truncated, whatever its width."""
        for data in (b"", b"\x01", b"\x02\x00\x00", b"\x03" + bytes(6)):
            self.assertRaises(LevinTruncatedError, decode_varint, data)
        self.assertRaises(LevinTruncatedError, decode_varint, b"\x00", 1)

    def test_out_of_range_refused(self):
        """2**62 and above, negatives and non-integers are refused, not truncated."""
        self.assertEqual(encode_varint(VARINT_MAX).hex(), "ff" * 8)
        for bad in (VARINT_MAX + 1, 2**64 - 1, -1, 1.0, True, "1"):
            self.assertRaises(ValueOutOfRangeError, encode_varint, bad)

    @settings(max_examples=300)
    @given(levin_varint_values)
    def test_round_trip(self, value):
        """Decoding an encoded value gives it back, consuming every byte."""
        encoded = encode_varint(value)
        self.assertEqual(decode_varint(encoded), (value, len(encoded)))

    @settings(max_examples=300)
    @given(st.binary(max_size=10))
    def test_random_bytes_raise_only_our_errors(self, data):
        """Any bytes decode to a value below 2**62 or raise a lethean error."""
        try:
            value, consumed = decode_varint(data)
        except LetheanError:
            return
        self.assertLessEqual(value, VARINT_MAX)
        self.assertLessEqual(consumed, len(data))
