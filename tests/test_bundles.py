"""The bundle object: its JSON form, checksum and streams."""

import io
import json

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.bundles import (
    Bundle,
    BundleTooLargeError,
    ChecksumMismatchError,
    InvalidBundleError,
    UnknownBundleTypeError,
    read_bundle,
    write_bundle,
)
from lethean.bundles._bundle import checksum_of, is_plain_json
from lethean.bundles._bundle import reads_as_plain_json
from lethean.errors import IntegrityError, LetheanError
from tests import strategies
from tests._paths import VECTORS


def vectors():
    with (VECTORS / "bundles.json").open("rb") as f:
        return json.load(f)


def every_vector_bundle_json():
    document = vectors()
    cases = document["profile_bundles"] + document["plain_bundles"] + document["errors"]
    return [case["bundle_json"] for case in cases] + [document["miner_bundle"]["bundle_json"]]


class Trickle:
    """A binary stream whose reads return at most the next of ``sizes`` bytes."""

    def __init__(self, data, sizes):
        self.data = io.BytesIO(data)
        self.sizes = sizes
        self.reads = 0

    def read(self, n):
        size = self.sizes[self.reads % len(self.sizes)]
        self.reads += 1
        return self.data.read(min(n, size))


class BundleJSONTests(SynchronousTestCase):
    """``Bundle.to_json`` / ``from_json`` match the reference's stand-alone form."""

    def test_vectors_round_trip_byte_for_byte(self):
        """Every bundle_json of the vectors parses and serialises back identically."""
        for text in every_vector_bundle_json():
            self.assertEqual(Bundle.from_json(text.encode()).to_json(), text.encode())

    def test_key_order_and_newline(self):
        """Keys come out as type, name, data, checksum, then one newline."""
        bundle = Bundle.seal("profile", "p", b"{}")
        self.assertEqual(
            bundle.to_json(),
            b'{"type":"profile","name":"p","data":"e30=","checksum":"'
            + checksum_of(b"{}").encode() + b'"}\n')

    def test_html_characters_escaped_like_go(self):
        """<, >, &, U+2028 and U+2029 in the name use Go's \\u escapes."""
        bundle = Bundle.seal("miner", "<a&b>\u2028\u2029", b"")
        self.assertIn(b'"name":"\\u003ca\\u0026b\\u003e\\u2028\\u2029"', bundle.to_json())

    def test_control_characters_escaped(self):
        """Quotes, backslashes and control characters are escaped as Go does."""
        bundle = Bundle.seal("miner", '"\\\n\t\x01', b"")
        self.assertIn(b'"name":"\\"\\\\\\n\\t\\u0001"', bundle.to_json())

    def test_non_ascii_written_raw(self):
        """Other non-ASCII characters are written as UTF-8, not escaped."""
        bundle = Bundle.seal("profile", "пароль🔑", b"")
        self.assertIn('"name":"пароль🔑"'.encode(), bundle.to_json())

    def test_lone_surrogate_becomes_replacement_character(self):
        """A lone surrogate (no UTF-8 form) is written as U+FFFD, like Go."""
        bundle = Bundle.seal("profile", "a\ud800b", b"")
        self.assertIn('"name":"a\ufffdb"'.encode(), bundle.to_json())

    def test_data_null_is_empty(self):
        """``"data": null`` decodes to empty data, as Go's []byte does."""
        text = '{"type":"profile","name":"n","data":null,"checksum":"x"}'
        self.assertEqual(Bundle.from_json(text).data, b"")

    def test_base64_line_breaks_ignored(self):
        """CR and LF inside the base64 are skipped, as Go's decoder does."""
        text = '{"type":"profile","name":"n","data":"e3\\r\\n0=","checksum":"x"}'
        self.assertEqual(Bundle.from_json(text).data, b"{}")

    def test_unknown_keys_ignored(self):
        """Extra keys do not stop a bundle from parsing."""
        text = '{"type":"full","name":"n","data":"","checksum":"x","extra":[1]}'
        self.assertEqual(Bundle.from_json(text).type, "full")

    def test_invalid_utf8_is_replaced(self):
        """Invalid UTF-8 in a string decodes to U+FFFD, as in Go."""
        text = b'{"type":"profile","name":"a\xffb","data":"","checksum":"x"}'
        self.assertEqual(Bundle.from_json(text).name, "a\ufffdb")


class DeployPayloadTests(SynchronousTestCase):
    """The mesh ``deploy`` payload form of a bundle."""

    def test_key_order(self):
        """The payload keys are in the mesh order: type, data, checksum, name."""
        payload = Bundle.seal("miner", "m", b"STIM").to_deploy_payload()
        self.assertEqual(list(payload), ["type", "data", "checksum", "name"])
        self.assertEqual(payload["data"], "U1RJTQ==")

    def test_round_trip(self):
        """A parsed deploy payload gives back the same bundle."""
        bundle = Bundle.seal("full", "m", b"\x00\xff")
        self.assertEqual(Bundle.from_mapping(bundle.to_deploy_payload()), bundle)

    def test_not_a_mapping(self):
        """A payload that is not a JSON object is an invalid bundle."""
        self.assertRaises(InvalidBundleError, Bundle.from_mapping, ["type"])


class BundleRejectionTests(SynchronousTestCase):
    """Malformed bundle JSON raises our errors, never anything else."""

    def assertInvalid(self, text, error=InvalidBundleError):
        self.assertRaises(error, Bundle.from_json, text)

    def test_not_json(self):
        """Text that is not JSON is an invalid bundle."""
        self.assertInvalid(b"{not json")

    def test_not_an_object(self):
        """A JSON array or string is not a bundle."""
        self.assertInvalid(b"[]")
        self.assertInvalid(b'"bundle"')

    def test_missing_key(self):
        """Each of type, name, checksum and data is required."""
        full = {"type": "profile", "name": "n", "data": "", "checksum": "x"}
        for key in full:
            partial = dict(full)
            del partial[key]
            self.assertInvalid(json.dumps(partial))

    def test_wrong_types(self):
        """A non-string value for a string key is refused."""
        self.assertInvalid('{"type":"profile","name":1,"data":"","checksum":"x"}')
        self.assertInvalid('{"type":"profile","name":"n","data":[],"checksum":"x"}')

    def test_unknown_type(self):
        """A type other than profile, miner or full has its own error."""
        error = self.assertRaises(
            UnknownBundleTypeError, Bundle.from_json,
            '{"type":"rootkit","name":"n","data":"","checksum":"x"}')
        self.assertIn("rootkit", str(error))
        self.assertRaises(UnknownBundleTypeError, Bundle.seal, "rootkit", "n", b"")

    def test_bad_base64(self):
        """Data that is not base64 is refused."""
        self.assertInvalid('{"type":"profile","name":"n","data":"e30","checksum":"x"}')
        self.assertInvalid('{"type":"profile","name":"n","data":"!!!!","checksum":"x"}')

    def test_deep_nesting(self):
        """Deeply nested JSON is refused, not a RecursionError."""
        self.assertInvalid(b"[" * 100000 + b"]" * 100000)

    def test_data_over_limit(self):
        """Data larger than the cap is refused before it is decoded."""
        text = Bundle.seal("profile", "n", bytes(3000)).to_json()
        self.assertRaises(
            BundleTooLargeError, Bundle.from_json, text, max_data_bytes=2000)
        self.assertEqual(len(Bundle.from_json(text, max_data_bytes=3000).data), 3000)

    def test_text_over_limit(self):
        """JSON text longer than any bundle under the cap is refused unparsed."""
        text = b" " * (80 * 1024) + Bundle.seal("profile", "n", b"").to_json()
        self.assertRaises(BundleTooLargeError, Bundle.from_json, text, max_data_bytes=10)


class ChecksumTests(SynchronousTestCase):
    """Checksum verification is the reference's exact string comparison."""

    def test_correct_checksum(self):
        """A sealed bundle verifies."""
        Bundle.seal("profile", "n", b"data").verify()

    def test_uppercase_digest_fails(self):
        """The right digest in uppercase is a mismatch."""
        bundle = Bundle("profile", "n", b"data", checksum_of(b"data").upper())
        error = self.assertRaises(ChecksumMismatchError, bundle.verify)
        self.assertIsInstance(error, IntegrityError)
        self.assertEqual(error.kind, "checksum_mismatch")

    def test_changed_data_fails(self):
        """Data that no longer matches its checksum is a mismatch."""
        bundle = Bundle("profile", "n", b"datA", checksum_of(b"data"))
        error = self.assertRaises(ChecksumMismatchError, bundle.verify)
        # The reference's exact text, nothing appended (the name is a log field).
        self.assertEqual(str(error), "checksum mismatch - bundle may be corrupted")


class PlainJSONTests(SynchronousTestCase):
    """The reference's plain-profile test: trimmed data starts with { or [."""

    def test_object_and_array(self):
        """Objects and arrays are plain; STIM and other text are not."""
        self.assertTrue(is_plain_json(b'{"a":1}'))
        self.assertTrue(is_plain_json(b"[1]"))
        self.assertFalse(is_plain_json(b"STIM\x02"))
        self.assertFalse(is_plain_json(b'"text"'))
        self.assertFalse(is_plain_json(b""))

    def test_leading_white_space(self):
        """Leading ASCII and Unicode white space is skipped, as TrimSpace does."""
        self.assertTrue(is_plain_json(b" \t\r\n{}"))
        self.assertTrue(is_plain_json("\u00a0\u2003[1]".encode()))
        self.assertFalse(is_plain_json(b" \t\n"))

    def test_long_padding_is_cheap(self):
        """A megabyte of white space is scanned in one pass."""
        self.assertTrue(is_plain_json(b" " * (1 << 20) + b"{}"))


class StreamTests(SynchronousTestCase):
    """``write_bundle`` / ``read_bundle`` on file objects."""

    def test_round_trip(self):
        """What write_bundle writes, read_bundle reads back."""
        bundle = Bundle.seal("miner", "m", b"\x00\x01STIM")
        stream = io.BytesIO()
        write_bundle(bundle, stream)
        self.assertTrue(stream.getvalue().endswith(b"}\n"))
        stream.seek(0)
        self.assertEqual(read_bundle(stream), bundle)

    def test_byte_by_byte(self):
        """A stream that returns one byte per read is read to the end."""
        bundle = Bundle.seal("profile", "p", b"{}" * 100)
        self.assertEqual(read_bundle(Trickle(bundle.to_json(), [1])), bundle)

    @settings(max_examples=100)
    @given(strategies.bundles, st.lists(st.integers(1, 64), min_size=1, max_size=20))
    def test_split_reads(self, bundle, sizes):
        """However the stream splits its reads, the same bundle comes out."""
        self.assertEqual(read_bundle(Trickle(bundle.to_json(), sizes)), bundle)

    def test_oversized_stream(self):
        """A stream longer than the cap allows is refused after cap + 1 bytes."""
        stream = io.BytesIO(b" " * (200 * 1024))
        self.assertRaises(BundleTooLargeError, read_bundle, stream, max_data_bytes=1024)
        self.assertLess(stream.tell(), 80 * 1024)

    def test_text_stream_refused(self):
        """A text-mode stream is refused with our error."""
        self.assertRaises(InvalidBundleError, read_bundle, io.StringIO("{}"))

    def test_trailing_garbage(self):
        """Anything but white space after the object is refused."""
        text = Bundle.seal("profile", "p", b"{}").to_json() + b"{}"
        self.assertRaises(InvalidBundleError, read_bundle, io.BytesIO(text))


class BundleCodecPropertyTests(SynchronousTestCase):
    """Hypothesis: the codec round-trips and fails only with our errors."""

    @settings(max_examples=200)
    @given(strategies.bundles)
    def test_round_trip(self, bundle):
        """Any bundle survives to_json / from_json unchanged and still verifies."""
        again = Bundle.from_json(bundle.to_json())
        self.assertEqual(again.data, bundle.data)
        self.assertEqual(again.checksum, bundle.checksum)
        self.assertEqual(again.type, bundle.type)
        again.verify()
        self.assertEqual(again.to_json(), bundle.to_json())

    @settings(max_examples=200)
    @given(st.binary(max_size=300))
    def test_random_bytes(self, data):
        """Random bytes parse or raise a lethean error, nothing else."""
        try:
            Bundle.from_json(data)
        except LetheanError:
            pass

    @settings(max_examples=200)
    @given(strategies.bundles, st.data())
    def test_mutated_json(self, bundle, data):
        """A bundle's JSON with bytes changed parses or raises a lethean error."""
        text = bytearray(bundle.to_json())
        for _ in range(data.draw(st.integers(1, 4))):
            index = data.draw(st.integers(0, len(text) - 1))
            text[index] = data.draw(st.integers(0, 255))
        try:
            parsed = Bundle.from_json(bytes(text))
        except LetheanError:
            return
        try:
            parsed.verify()
        except ChecksumMismatchError:
            pass


def outcome(function, *args, **kwargs):
    """The value, or the error's type and text."""
    try:
        return "ok", function(*args, **kwargs)
    except Exception as e:
        return type(e), str(e)


#: Bytes that matter to the reader: JSON structure, escapes, padding,
#: base64 letters, white space, the start of a multi-byte character.
_EDIT_BYTES = st.sampled_from(list(b'{}[]:,"\\ \n\t=Aa+/0-9xdtu') + [0xE2, 0x80, 0xFF, 0x00])
_ODD_BUNDLES = [
    b'{"type":"miner","name":"x","checksum":"c","data":"AAAA","data":"QUJD"}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AAAA","data":null}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AAAAA"}',
    b'{"type":"miner","name":"x","checksum":"c","data":"QUJDRdA=="}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AAAA=="}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AA\\r\\nAA=="}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AA\\u0041A"}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AA\xe2\x80AA"}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AAAA" 7}',
    b'{"type":"miner","name":"x","checksum":"c","data":"' + b"A" * 5000 + b'"\n ,}',
    b'{"type":"miner","name":"x","checksum":"c","data":"AAAA',
    b'{"type":"miner","name":"x","checksum":"c","d\\u0061ta":"QUJD"}',
    b'{"type":"miner","name":"x","checksum":"c","x":{"data":"QUJD"}}',
    b'[{"type":"miner","name":"x","checksum":"c","data":"AAAA"}]',
    b'\xef\xbb\xbf{"type":"miner","name":"x","checksum":"c","data":"AAAA"}',
    b'{"type":"bogus","name":"x","checksum":"c","data":"AAAAA"}',
    b'{"type":"miner","name":"x","checksum":"c","data":"' + b"QUJD" * 1000 + b'"}',
]


class StreamedReadTests(SynchronousTestCase):
    """read_bundle decodes as it reads, with from_json's results and errors."""

    def assertSameAsWhole(self, text, sizes=(1 << 20,), max_data_bytes=3000):
        self.assertEqual(
            outcome(read_bundle, Trickle(text, list(sizes)), max_data_bytes=max_data_bytes),
            outcome(Bundle.from_json, text, max_data_bytes=max_data_bytes), text[:200])

    def test_odd_bundles(self):
        """Duplicate keys, padding, escapes, bad base64, bad JSON: as from_json says."""
        for text in _ODD_BUNDLES:
            for sizes in ((1,), (2, 3), (7,), (1 << 20,)):
                self.assertSameAsWhole(text, sizes)

    def test_json_error_positions(self):
        """A JSON error after the data names the position in the stream."""
        text = Bundle.seal("miner", "m", bytes(3000)).to_json().replace(b',"checksum"', b',checksum')
        kind, message = outcome(read_bundle, io.BytesIO(text))
        self.assertEqual((kind, message), outcome(Bundle.from_json, text))
        self.assertIn("(char {})".format(text.index(b",checksum") + 1), message)

    @settings(max_examples=300)
    @given(strategies.bundles, st.lists(st.tuples(st.integers(0, 10 ** 6), _EDIT_BYTES,
                                                  st.sampled_from("ird")), min_size=1, max_size=4),
           st.lists(st.integers(1, 64), min_size=1, max_size=5))
    def test_edited_bundles(self, bundle, edits, sizes):
        """Any bundle JSON with bytes inserted, replaced or deleted reads as from_json."""
        text = bytearray(bundle.to_json())
        for where, byte, how in edits:
            where %= len(text) + 1
            if how == "i" or where == len(text):
                text[where:where] = bytes([byte])
            elif how == "r":
                text[where] = byte
            else:
                del text[where]
        self.assertSameAsWhole(bytes(text), sizes, max_data_bytes=2 ** 20)

    def test_much_json_besides_the_data(self):
        """Past the scan limit the rest is kept as text: same outcome, any shape."""
        for padding in (b"[" + b"1," * 100000 + b"1]", b"[" * 100000, b"," * 100000):
            text = (b'{"type":"miner","name":"x","checksum":"c","pad":' + padding
                    + b',"data":"QUJD"}')
            self.assertSameAsWhole(text, (1 << 20, 7), max_data_bytes=2 ** 20)

    def test_over_the_data_cap(self):
        """Data over the cap is refused with from_json's error, before it is kept."""
        text = Bundle.seal("miner", "m", bytes(4000)).to_json()
        self.assertSameAsWhole(text, max_data_bytes=3000)
        self.assertEqual(outcome(read_bundle, io.BytesIO(text), max_data_bytes=3000)[0],
                         BundleTooLargeError)


class PlainJSONPrefixTests(SynchronousTestCase):
    """reads_as_plain_json reads only the start, and agrees with is_plain_json."""

    @given(st.lists(st.sampled_from([b" ", b"\t", b"\n", b"\xc2\xa0", b"\xe2\x80\x80",
                                     b"\xe3\x80\x80", b"\xe2", b"\xe2\x80", b"{", b"[", b"x",
                                     b"\xff"]), max_size=20),
           st.lists(st.integers(1, 5), min_size=1, max_size=5))
    def test_agrees(self, parts, sizes):
        """Any white space, split anywhere, gives is_plain_json's answer."""
        data = b"".join(parts)
        stream = Trickle(data, sizes)
        self.assertEqual(reads_as_plain_json(stream.read, len(data)), is_plain_json(data))

    def test_reads_only_the_start(self):
        """A large file is decided on its first bytes."""
        stream = io.BytesIO(b"  {" + bytes(10 ** 6))
        self.assertTrue(reads_as_plain_json(stream.read, 10 ** 6 + 3))
        self.assertLess(stream.tell(), 100 * 1024)
