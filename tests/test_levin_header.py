"""The 33-byte Levin header codec."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.levin import (
    BadSignatureError,
    Header,
    LevinTruncatedError,
    PayloadTooBigError,
    ValueOutOfRangeError,
    decode_header,
    encode_header,
)
from lethean.levin._header import FLAG_REQUEST, FLAG_RESPONSE, HEADER_SIZE, MAX_PAYLOAD_SIZE
from tests.strategies import levin_headers

#: The two headers of spec levin.md section 1.
REQUEST_HEX = "0121010101010101" "0a00000000000000" "01" "e9030000" "00000000" "01000000" "01000000"
RESPONSE_HEX = "0121010101010101" "0000000000000000" "00" "eb030000" "f9ffffff" "02000000" "01000000"


class EncodeTests(SynchronousTestCase):
    """Headers encode to the reference's bytes."""

    def test_request(self):
        """An invoke of command 1001 with a 10-byte payload."""
        self.assertEqual(encode_header(Header.request(1001, 10)).hex(), REQUEST_HEX)

    def test_response_with_error_code(self):
        """A response of command 1003 with return code -7."""
        self.assertEqual(encode_header(Header.response(1003, 0, -7)).hex(), RESPONSE_HEX)

    def test_notification(self):
        """A notification expects no response and carries the request flag."""
        header = Header.notification(2002, 5)
        self.assertEqual((header.expect_response, header.flags), (False, FLAG_REQUEST))
        self.assertFalse(header.is_response)

    def test_size(self):
        """Every header is 33 bytes."""
        self.assertEqual(len(encode_header(Header.request(1, 0))), HEADER_SIZE)

    def test_out_of_range_fields_refused(self):
        """Fields outside their wire width are refused when the header is built."""
        for bad in (dict(command=-1), dict(command=2**32), dict(return_code=2**31),
                    dict(flags=2**32), dict(payload_size=2**64), dict(command=True)):
            fields = dict(payload_size=0, expect_response=False, command=1)
            fields.update(bad)
            self.assertRaises(ValueOutOfRangeError, Header, **fields)


class DecodeTests(SynchronousTestCase):
    """Headers decode as the reference reads them, with our errors."""

    def test_request(self):
        """The spec's request decodes to its fields."""
        self.assertEqual(decode_header(bytes.fromhex(REQUEST_HEX)), Header.request(1001, 10))

    def test_response(self):
        """The spec's response decodes, negative return code included."""
        header = decode_header(bytes.fromhex(RESPONSE_HEX))
        self.assertEqual(header, Header.response(1003, 0, -7))
        self.assertTrue(header.is_response)
        self.assertEqual(header.flags, FLAG_RESPONSE)

    def test_expect_response_only_when_exactly_one(self):
        """Byte 16 other than 0x01 decodes as false (and re-encodes as 0x00)."""
        data = bytearray.fromhex(REQUEST_HEX)
        data[16] = 2
        header = decode_header(bytes(data))
        self.assertFalse(header.expect_response)
        self.assertEqual(encode_header(header)[16], 0)

    def test_later_bytes_ignored(self):
        """Only the first 33 bytes are read."""
        data = bytes.fromhex(REQUEST_HEX) + b"payload..."
        self.assertEqual(decode_header(data), Header.request(1001, 10))

    def test_bad_signature_from_first_byte(self):
        """A wrong first byte is a bad signature even with nothing after it."""
        self.assertRaises(BadSignatureError, decode_header, b"\x16")

    def test_short_good_prefix_is_truncated(self):
        """A correct but short prefix is truncated."""
        for n in (0, 1, 8, 32):
            self.assertRaises(LevinTruncatedError, decode_header, bytes.fromhex(REQUEST_HEX)[:n])

    def test_signature_checked_before_size(self):
        """A bad signature wins over an oversized payload."""
        data = bytearray(encode_header(Header.request(1, MAX_PAYLOAD_SIZE)))
        data[8:16] = (2**64 - 1).to_bytes(8, "little")
        data[0] = 0
        self.assertRaises(BadSignatureError, decode_header, bytes(data))

    def test_payload_limit(self):
        """Sizes up to the limit pass; one more is refused; the limit can be lowered."""
        at_max = encode_header(Header.request(1, MAX_PAYLOAD_SIZE))
        self.assertEqual(decode_header(at_max).payload_size, MAX_PAYLOAD_SIZE)
        over = encode_header(Header.request(1, MAX_PAYLOAD_SIZE + 1))
        self.assertRaises(PayloadTooBigError, decode_header, over)
        small = encode_header(Header.request(1, 1025))
        self.assertRaises(PayloadTooBigError, decode_header, small, 1024)

    @settings(max_examples=200)
    @given(levin_headers)
    def test_round_trip(self, header):
        """Decoding an encoded header gives it back."""
        self.assertEqual(decode_header(encode_header(header)), header)

    @settings(max_examples=300)
    @given(st.binary(max_size=40))
    def test_random_bytes_raise_only_our_errors(self, data):
        """Any bytes decode or raise a lethean error."""
        try:
            decode_header(data)
        except LetheanError:
            pass

    @settings(max_examples=200)
    @given(levin_headers, st.integers(min_value=0, max_value=32), st.integers(0, 255))
    def test_mutated_header(self, header, index, byte):
        """A header with one byte changed decodes or raises a lethean error."""
        data = bytearray(encode_header(header))
        data[index] = byte
        try:
            decoded = decode_header(bytes(data))
        except LetheanError:
            self.assertLess(index, 16)
        else:
            self.assertIsInstance(decoded, Header)
