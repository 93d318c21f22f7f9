"""One-shot UEPS frames: encode, decode and read_frame."""

import copy
import hmac
import pickle
import struct

import attrs

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import IntegrityError, LetheanError, LimitExceededError
from lethean.ueps import (
    MAX_BUILT_FRAME_BYTES,
    UEPSFrameTooLargeError,
    FrameTruncatedError,
    Header,
    HMACMismatchError,
    MalformedFrameError,
    MissingHMACError,
    Packet,
    TooManyElementsError,
    UEPSError,
    ValueTooLargeError,
    decode,
    encode,
    read_frame,
)
from lethean._accel import speedups
from lethean.ueps import _codec, _packet
from lethean.ueps._codec import DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_FRAME_BYTES
from tests._accel import PurePath, outcome
from tests.strategies import ueps_packets, ueps_secrets

#: The worked example of the spec (ueps.md section 4).
SPEC_SECRET = b"0123456789abcdef0123456789abcdef"
SPEC_PACKET = Packet(Header(0x20, threat_score=0x1234), b"hello")
SPEC_FRAME = bytes.fromhex(
    "01000109" "02000105" "03000105" "04000120" "0500021234"
    "060020" "3ab0481e2c9c0f25e93dde0ec2100ce760d75d7b00ac7cb56b64d17333ccfbd4"
    "ff000568656c6c6f"
)
#: The builder's five header elements for ``Header(1)``.
HEADER_ELEMENTS = [(1, b"\x09"), (2, b"\x05"), (3, b"\x05"), (4, b"\x01"), (5, b"\x00\x00")]


def tlv(tag, value):
    """One TLV element."""
    return struct.pack(">BH", tag, len(value)) + value


def hand_frame(secret, elements, payload=b"", *, hmac_at=None):
    """
    A frame of arbitrary ``elements`` signed as the reference reader checks
    them: every element in stream order, then the payload value.  The HMAC
    element goes at index ``hmac_at`` (default: after all elements).
    """
    signed = b"".join(tlv(t, v) for t, v in elements)
    mac = tlv(6, hmac.digest(secret, signed + payload, "sha256"))
    parts = [tlv(t, v) for t, v in elements]
    parts.insert(len(parts) if hmac_at is None else hmac_at, mac)
    return b"".join(parts) + tlv(0xFF, payload)


class HeaderTests(SynchronousTestCase):
    """Header and Packet hold only values the wire can carry."""

    def test_builder_defaults(self):
        """Only the intent is required; the rest default to the reference builder's."""
        self.assertEqual(
            Header(7),
            Header(version=9, current_layer=5, target_layer=5, intent_id=7, threat_score=0),
        )

    def test_out_of_range_fields_refused(self):
        """A field wider than its wire slot is refused when the header is made."""
        for kwargs in ({"intent_id": 256}, {"intent_id": -1},
                       {"intent_id": 1, "version": 256},
                       {"intent_id": 1, "threat_score": 0x10000}):
            self.assertRaises(ValueError, Header, **kwargs)

    @given(st.tuples(*[st.one_of(st.integers(-2, 0x10001), st.booleans(), st.none(),
                                 st.floats(0, 2), st.text(max_size=2))] * 5))
    def test_same_checks_as_attrs(self, values):
        """Headers and packets accept and refuse what attrs' generated checks do."""
        version, current, target, intent, threat = values
        kwargs = dict(version=version, current_layer=current, target_layer=target,
                      threat_score=threat)
        self.assertEqual(_outcome(Header, intent, **kwargs),
                         _outcome(_AttrsHeader, intent, **kwargs))
        payload = b"x" if intent is None else intent
        self.assertEqual(_outcome(Packet, Header(1), payload),
                         _outcome(_AttrsPacket, Header(1), payload))
        self.assertEqual(_outcome(Packet, payload), _outcome(_AttrsPacket, payload))

    def test_payload_must_be_bytes(self):
        """A text payload is refused: the wire carries bytes."""
        self.assertRaises(TypeError, Packet, Header(1), "hello")

    def test_default_headers_are_shared(self):
        """Headers with the builder's defaults are one value per intent; others are new."""
        self.assertIs(Header(7), Header(intent_id=7, version=9, threat_score=0))
        self.assertIsNot(Header(7, threat_score=1), Header(7, threat_score=1))

    @given(st.integers(0, 255), st.sampled_from([{}, {"version": 9}, {"current_layer": 5},
                                                 {"target_layer": 5}, {"threat_score": 0}]))
    def test_default_header_fields(self, intent, defaults):
        """A shared header holds exactly the builder's defaults and its intent."""
        header = Header(intent_id=intent, **defaults)
        self.assertEqual(attrs.astuple(header), (9, 5, 5, intent, 0))
        self.assertIs(type(header.intent_id), int)

    def test_copy_and_pickle(self):
        """Headers and packets copy and pickle as the values they are."""
        for value in (Header(3), Header(3, threat_score=9), Packet(Header(3), b"x")):
            self.assertEqual(copy.deepcopy(value), value)
            self.assertEqual(pickle.loads(pickle.dumps(value)), value)


def _outcome(cls, *args, **kwargs):
    """The fields ``cls`` was built with, or the error it raised."""
    try:
        built = cls(*args, **kwargs)
    except (TypeError, ValueError) as e:
        return type(e), e.args[0], e.args[2:]
    return attrs.astuple(built, recurse=False)


# Header and Packet as attrs would build them, with their own validators.
_AttrsHeader = attrs.make_class("Header", {
    field.name: attrs.field(default=field.default, validator=field.validator,
                            kw_only=field.kw_only)
    for field in attrs.fields(Header)}, frozen=True)
_AttrsPacket = attrs.make_class("Packet", {
    field.name: attrs.field(default=field.default, validator=field.validator)
    for field in attrs.fields(Packet)}, frozen=True)


class EncodeTests(SynchronousTestCase):
    """encode() writes the reference builder's bytes."""

    def test_spec_vector(self):
        """The worked example of the spec comes out byte for byte."""
        self.assertEqual(encode(SPEC_PACKET, SPEC_SECRET), SPEC_FRAME)

    def test_layout(self):
        """59 fixed bytes, the HMAC at offset 24, the payload length big-endian at 57."""
        frame = encode(Packet(Header(1), b"x" * 300), b"k")
        self.assertEqual(len(frame), 59 + 300)
        self.assertEqual(frame[21:24], b"\x06\x00\x20")
        self.assertEqual(frame[56:59], b"\xff\x01\x2c")
        self.assertEqual(
            frame[24:56], hmac.digest(b"k", frame[:21] + b"x" * 300, "sha256"))

    def test_largest_payload(self):
        """A 65535-byte payload is the largest the builder writes."""
        frame = encode(Packet(Header(1), bytes(65535)), b"k")
        self.assertEqual(len(frame), MAX_BUILT_FRAME_BYTES)

    def test_payload_too_large(self):
        """A 65536-byte payload is refused with kind value_too_large."""
        error = self.assertRaises(
            ValueTooLargeError, encode, Packet(Header(1), bytes(65536)), b"k")
        self.assertEqual(error.kind, "value_too_large")

    def test_empty_secret(self):
        """Any key length works for HMAC, including an empty one."""
        frame = encode(SPEC_PACKET, b"")
        self.assertEqual(decode(frame, b""), SPEC_PACKET)


class ReadFrameTests(SynchronousTestCase):
    """read_frame() and decode() follow the reference reader's rules."""

    def test_spec_vector(self):
        """The worked example reads back, all 64 bytes consumed."""
        self.assertEqual(read_frame(SPEC_FRAME, SPEC_SECRET), (SPEC_PACKET, 64))

    def test_trailing_bytes_left_unread(self):
        """The reader stops after the payload element; decode ignores what follows."""
        data = SPEC_FRAME + b"\xde\xad"
        self.assertEqual(read_frame(data, SPEC_SECRET), (SPEC_PACKET, 64))
        self.assertEqual(decode(data, SPEC_SECRET), SPEC_PACKET)

    def test_accepts_bytearray_and_memoryview(self):
        """Any bytes-like input reads the same, and the payload comes back as bytes."""
        for data in (bytearray(SPEC_FRAME), memoryview(SPEC_FRAME)):
            packet = decode(data, SPEC_SECRET)
            self.assertEqual(packet, SPEC_PACKET)
            self.assertIs(type(packet.payload), bytes)

    def test_every_prefix_is_truncated(self):
        """A frame cut anywhere before its end is truncated, never anything else."""
        for n in range(len(SPEC_FRAME)):
            error = self.assertRaises(
                FrameTruncatedError, read_frame, SPEC_FRAME[:n], SPEC_SECRET)
            self.assertEqual(error.kind, "truncated")

    def test_signed_in_stream_order(self):
        """Unknown, repeated and reordered elements verify when signed in stream order."""
        elements = [(7, b"future"), (4, b"\x02"), (1, b"\x09\xaa"), (5, b"\x01\x02\x03"),
                    (4, b"\x30")]
        frame = hand_frame(b"k", elements, b"body", hmac_at=2)
        self.assertEqual(
            decode(frame, b"k"),
            Packet(Header(0x30, version=9, current_layer=0, target_layer=0,
                          threat_score=0x0102), b"body"))

    def test_reordered_elements_do_not_verify_as_builder_order(self):
        """Moving an element after signing breaks the HMAC: order is signed."""
        frame = hand_frame(b"k", HEADER_ELEMENTS, b"body")
        moved = frame[4:8] + frame[:4] + frame[8:]
        self.assertRaises(HMACMismatchError, decode, moved, b"k")

    def test_later_hmac_replaces_earlier(self):
        """Of two HMAC elements the later one counts."""
        frame = hand_frame(b"k", HEADER_ELEMENTS, b"body")
        garbage = tlv(6, bytes(32))
        self.assertEqual(decode(garbage + frame, b"k").payload, b"body")
        self.assertRaises(
            HMACMismatchError, decode, frame[:56] + garbage + frame[56:], b"k")

    def test_zero_length_header_values_are_malformed(self):
        """An empty version, layer or intent value is malformed (the reference crashes)."""
        for tag in (1, 2, 3, 4):
            elements = [(t, b"" if t == tag else v) for t, v in HEADER_ELEMENTS]
            error = self.assertRaises(
                MalformedFrameError, decode, hand_frame(b"k", elements), b"k")
            self.assertEqual(error.kind, "malformed")

    def test_short_threat_values_are_malformed(self):
        """A threat score value of 0 or 1 bytes is malformed (the reference crashes)."""
        for value in (b"", b"\x01"):
            elements = HEADER_ELEMENTS[:4] + [(5, value)]
            self.assertRaises(MalformedFrameError, decode, hand_frame(b"k", elements), b"k")

    def test_malformed_before_hmac(self):
        """A short value is reported as malformed even when the HMAC is wrong too."""
        frame = tlv(1, b"") + tlv(6, bytes(32)) + tlv(0xFF, b"")
        self.assertRaises(MalformedFrameError, decode, frame, b"k")

    def test_missing_and_empty_hmac(self):
        """No HMAC element, or an empty one, is missing_hmac, an integrity error."""
        plain = b"".join(tlv(t, v) for t, v in HEADER_ELEMENTS) + tlv(0xFF, b"x")
        for frame in (plain, tlv(6, b"") + plain):
            error = self.assertRaises(MissingHMACError, decode, frame, b"k")
            self.assertIsInstance(error, IntegrityError)
            self.assertEqual(error.kind, "missing_hmac")

    def test_hmac_after_payload_is_never_seen(self):
        """The payload ends the frame, so an HMAC placed after it is missing."""
        frame = hand_frame(b"k", HEADER_ELEMENTS, b"x")
        self.assertRaises(MissingHMACError, decode, frame[:21] + frame[56:] + frame[21:56], b"k")

    def test_hmac_mismatch(self):
        """A wrong secret, an altered payload or a short signature fail verification."""
        tampered = SPEC_FRAME[:-1] + b"O"
        short = SPEC_FRAME[:21] + b"\x06\x00\x1f" + SPEC_FRAME[24:55] + SPEC_FRAME[56:]
        for data, secret in ((SPEC_FRAME, b"other"), (tampered, SPEC_SECRET),
                             (short, SPEC_SECRET)):
            error = self.assertRaises(HMACMismatchError, decode, data, secret)
            self.assertIsInstance(error, IntegrityError)
            self.assertEqual(error.kind, "hmac_mismatch")

    def test_compares_in_constant_time(self):
        """The signature is checked with hmac.compare_digest."""
        calls = []

        def compare(a, b):
            calls.append((a, b))
            return True

        self.patch(hmac, "compare_digest", compare)
        decode(SPEC_FRAME, SPEC_SECRET)
        self.assertEqual(calls, [(SPEC_FRAME[24:56], SPEC_FRAME[24:56])])


class LimitTests(SynchronousTestCase):
    """The reader bounds the frame size and element count the reference leaves open."""

    def test_frame_size_limit_is_inclusive(self):
        """A frame of exactly max_frame_bytes reads; one byte more is refused."""
        frame = SPEC_FRAME
        self.assertEqual(
            read_frame(frame, SPEC_SECRET, max_frame_bytes=len(frame)), (SPEC_PACKET, 64))
        error = self.assertRaises(
            UEPSFrameTooLargeError, read_frame, frame, SPEC_SECRET, max_frame_bytes=len(frame) - 1)
        self.assertIsInstance(error, LimitExceededError)
        self.assertEqual(error.kind, "frame_too_large")

    def test_declared_length_checked_before_the_bytes(self):
        """An element declaring more than the limit is refused from its 3-byte head alone."""
        self.assertRaises(
            UEPSFrameTooLargeError, read_frame, b"\x07\xff\xff", b"k", max_frame_bytes=1000)

    def test_element_limit_is_inclusive(self):
        """A frame of exactly max_elements elements reads; one more is refused."""
        frame = hand_frame(b"k", HEADER_ELEMENTS, b"x")
        self.assertEqual(decode(frame, b"k", max_elements=7).payload, b"x")
        error = self.assertRaises(
            TooManyElementsError, decode, frame, b"k", max_elements=6)
        self.assertIsInstance(error, LimitExceededError)

    def test_endless_unknown_elements_refused(self):
        """A run of empty unknown elements stops at the default element limit."""
        flood = tlv(7, b"") * (DEFAULT_MAX_ELEMENTS + 1)
        self.assertRaises(TooManyElementsError, decode, flood, b"k")

    def test_defaults_accept_largest_built_frame_with_extras(self):
        """The default limits take a maximal built frame plus extra elements."""
        elements = HEADER_ELEMENTS + [(0x42, bytes(1000))] * 50
        frame = hand_frame(b"k", elements, bytes(65535))
        self.assertLess(len(frame), DEFAULT_MAX_FRAME_BYTES)
        self.assertEqual(len(decode(frame, b"k").payload), 65535)


class PropertyTests(SynchronousTestCase):
    """Round trips hold and hostile bytes raise only lethean errors."""

    @settings(max_examples=200, deadline=None)
    @given(ueps_packets, ueps_secrets)
    def test_round_trip(self, packet, secret):
        """Reading an encoded packet gives it back and consumes the whole frame."""
        frame = encode(packet, secret)
        self.assertEqual(read_frame(frame, secret), (packet, len(frame)))

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=512), ueps_secrets)
    def test_random_bytes(self, data, secret):
        """Arbitrary bytes give a packet or a UEPSError, nothing else."""
        try:
            read_frame(data, secret, max_frame_bytes=256, max_elements=8)
        except UEPSError:
            pass

    @settings(max_examples=300, deadline=None)
    @given(ueps_packets, ueps_secrets, st.data())
    def test_mutated_frames(self, packet, secret, data):
        """An edited frame is refused with a UEPSError, or reads as the original packet."""
        frame = bytearray(encode(packet, secret))
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            at = data.draw(st.integers(0, len(frame)), label="at")
            edit = data.draw(st.sampled_from(["flip", "cut", "insert"]), label="edit")
            if edit == "insert":
                frame[at:at] = data.draw(st.binary(min_size=1, max_size=3), label="bytes")
            elif at < len(frame):
                if edit == "cut":
                    del frame[at]
                else:
                    frame[at] ^= data.draw(st.integers(1, 255), label="mask")
        try:
            got, _ = read_frame(bytes(frame), secret)
        except LetheanError as e:
            self.assertIsInstance(e, UEPSError)
        else:
            self.assertEqual(got.payload, packet.payload)
            self.assertEqual(got.header, packet.header)


class CompiledValuesTests(SynchronousTestCase):
    """The compiled encode and constructors give what their Python twins give."""

    def setUp(self):
        if speedups is None:
            self.skipTest("accelerator not built")

    @given(st.lists(st.one_of(st.integers(-2, 0x10001), st.booleans(), st.none(),
                              st.just(9.0), st.text(max_size=2)), max_size=3),
           st.dictionaries(st.sampled_from(["version", "current_layer", "target_layer",
                                            "intent_id", "threat_score", "other"]),
                           st.one_of(st.integers(-1, 300), st.sampled_from([9, 5, 0]),
                                     st.booleans(), st.just(5.0)), max_size=5))
    def test_header_new(self, args, kwargs):
        """Any call of Header gives the same header, or the same error."""
        self.assertEqual(_made(speedups.ueps_header_new, Header, *args, **kwargs),
                         _made(_packet.pure_header_new, Header, *args, **kwargs))

    @given(st.lists(st.one_of(st.sampled_from([Header(1), Header(2, threat_score=3)]),
                              st.binary(max_size=4), st.text(max_size=2), st.none()),
                    max_size=3))
    def test_packet_new(self, args):
        """Any call of Packet gives the same packet, or the same error."""
        self.assertEqual(_made(speedups.ueps_packet_new, Packet, *args),
                         _made(_packet.pure_packet_new, Packet, *args))

    def test_subclasses_are_made_in_python(self):
        """A subclass of Header or Packet gets its own objects, of its own class."""
        class Mine(Header):
            pass

        header = Mine(1)
        self.assertIs(type(header), Mine)
        self.assertIsNot(header, Mine(1))

    def test_failed_registration_keeps_the_last(self):
        """A registration that fails part way leaves the one before it whole."""
        class NotHeader:
            pass

        with self.assertRaises(AttributeError):
            speedups.ueps_register_values(Packet, NotHeader, _packet.pure_packet_new,
                                          _packet.pure_header_new, _packet._DEFAULT_HEADERS)
        packet = speedups.ueps_packet_new(Packet, speedups.ueps_header_new(Header, 1), b"x")
        self.assertEqual(speedups.ueps_encode(packet, b"k"), _codec.pure_encode(packet, b"k"))

    @settings(max_examples=300)
    @given(ueps_packets, st.one_of(ueps_secrets, st.builds(bytearray, ueps_secrets)))
    def test_encode(self, packet, secret):
        """Each SHA-256 backend frames a packet as the Python encode does."""
        if not _codec.COMPILED_HMAC:
            self.skipTest("the compiled HMAC is not used on this CPU")
        before = speedups.get_backend()
        self.addCleanup(speedups.set_backend, before)
        expected = _codec.pure_encode(packet, secret)
        for backend in speedups.BACKENDS:
            speedups.set_backend(backend)
            self.assertEqual(speedups.ueps_encode(packet, secret), expected)

    def test_encode_leaves_the_unusual_to_python(self):
        """Odd packets, secrets and calls give what the Python encode gives."""
        if not _codec.COMPILED_HMAC:
            self.skipTest("the compiled HMAC is not used on this CPU")
        usual = Packet(Header(1), b"x")
        odd = Header(1, threat_score=1)  # a header of its own, not the shared Header(1)
        object.__setattr__(odd, "threat_score", 0x10000)
        for args, kwargs in (((usual, "text"), {}), ((usual,), {}), ((usual, b"k", 1), {}),
                             ((usual,), {"secret": b"k"}), ((Packet(Header(1), bytes(65536)), b"k"), {}),
                             ((Packet(odd, b""), b"k"), {}), ((None, b"k"), {})):
            self.assertEqual(outcome(speedups.ueps_encode, *args, **kwargs),
                             outcome(_codec.pure_encode, *args, **kwargs))


def _made(new, cls, *args, **kwargs):
    """What ``new(cls, ...)`` gives: the fields made, or the error's type and message."""
    try:
        value = new(cls, *args, **kwargs)
    except Exception as e:
        return type(e), str(e)
    return type(value), attrs.astuple(value, recurse=False)


# The same tests on the pure-Python path (tests/_accel.py).


class PureValues(PurePath):
    """PurePath, with Header and Packet made by their Python __new__."""

    def setUp(self):
        self.patch(Header, "__new__", staticmethod(_packet.pure_header_new))
        self.patch(Packet, "__new__", staticmethod(_packet.pure_packet_new))
        super().setUp()


class PureHeaderTests(PureValues, HeaderTests):
    """HeaderTests, with Header and Packet made in Python."""


class PureEncodeTests(PureValues, EncodeTests):
    """EncodeTests, on the pure-Python twins of the compiled functions."""


class PureReadFrameTests(PureValues, ReadFrameTests):
    """ReadFrameTests, on the pure-Python twins of the compiled functions."""


class PureLimitTests(PureValues, LimitTests):
    """LimitTests, on the pure-Python twins of the compiled functions."""


class PurePropertyTests(PureValues, PropertyTests):
    """PropertyTests, on the pure-Python twins of the compiled functions."""
