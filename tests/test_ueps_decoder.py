"""UEPSDecoder: back-to-back UEPS frames from a stream split anywhere."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.ueps import (
    UEPSFrameTooLargeError,
    Header,
    HMACMismatchError,
    MalformedFrameError,
    Packet,
    TooManyElementsError,
    UEPSDecoder,
    UEPSError,
    encode,
)
from tests._streams import feed_in_pieces
from tests.strategies import ueps_packets, ueps_secrets
from tests.test_ueps_codec import tlv
from tests._accel import PurePath

SECRET = b"s" * 32
PACKETS = [
    Packet(Header(1), b"hello"),
    Packet(Header(0x20, threat_score=100), b'{"job":"hash"}'),
    Packet(Header(0xFF), b""),
    Packet(Header(0x30, version=1), bytes(range(256)) * 20),
]
STREAM = b"".join(encode(p, SECRET) for p in PACKETS)


class FeedTests(SynchronousTestCase):
    """feed() returns each packet once its last byte arrives."""

    def test_whole(self):
        """The whole stream in one call gives every packet, in order."""
        decoder = UEPSDecoder(SECRET)
        self.assertEqual(decoder.feed(STREAM), PACKETS)
        self.assertEqual(decoder.buffered, 0)

    def test_byte_by_byte(self):
        """One byte at a time, each packet comes out with its frame's last byte."""
        decoder = UEPSDecoder(SECRET)
        ends = []
        got = []
        for i in range(len(STREAM)):
            out = decoder.feed(STREAM[i:i + 1])
            if out:
                ends.append(i + 1)
                got += out
        self.assertEqual(got, PACKETS)
        lengths = [len(encode(p, SECRET)) for p in PACKETS]
        self.assertEqual(ends, [sum(lengths[:n + 1]) for n in range(len(lengths))])

    def test_random_splits(self):
        """Splitting at random points changes nothing."""
        rng = random.Random(1234)
        for _ in range(50):
            cuts = rng.sample(range(1, len(STREAM)), rng.randint(1, 40))
            self.assertEqual(feed_in_pieces(UEPSDecoder(SECRET), STREAM, cuts), PACKETS)

    def test_empty_feed(self):
        """Feeding nothing returns nothing."""
        self.assertEqual(UEPSDecoder(SECRET).feed(b""), [])

    def test_end_of_stream_is_not_an_error(self):
        """A partial frame simply waits for more bytes."""
        decoder = UEPSDecoder(SECRET)
        self.assertEqual(decoder.feed(STREAM[:-1]), PACKETS[:-1])
        self.assertEqual(decoder.buffered, len(encode(PACKETS[-1], SECRET)) - 1)
        self.assertEqual(decoder.feed(STREAM[-1:]), PACKETS[-1:])

    def test_secret_not_in_repr(self):
        """The shared secret never shows in the decoder's repr."""
        self.assertNotIn(repr(SECRET), repr(UEPSDecoder(SECRET)))

    def test_bad_configuration(self):
        """A text secret or a limit below one is refused up front."""
        self.assertRaises(TypeError, UEPSDecoder, "secret")
        self.assertRaises(ValueError, UEPSDecoder, SECRET, max_frame_bytes=0)
        self.assertRaises(ValueError, UEPSDecoder, SECRET, max_elements=0)


class BadInputTests(SynchronousTestCase):
    """Bad bytes raise one typed error and break the stream for good."""

    def test_packets_before_bad_bytes_travel_with_the_error(self):
        """Packets verified earlier in the same call are on the error."""
        bad = encode(Packet(Header(1), b"x"), b"wrong secret")
        decoder = UEPSDecoder(SECRET)
        error = self.assertRaises(HMACMismatchError, decoder.feed, STREAM + bad)
        self.assertEqual(list(error.packets), PACKETS)

    def test_error_is_sticky(self):
        """After an error every feed raises it again and nothing is buffered."""
        decoder = UEPSDecoder(SECRET)
        first = self.assertRaises(MalformedFrameError, decoder.feed, tlv(1, b"") + b"more")
        self.assertEqual(decoder.buffered, 0)
        again = self.assertRaises(MalformedFrameError, decoder.feed, STREAM)
        self.assertIs(again, first)

    def test_oversized_declared_length_refused_at_once(self):
        """A declared length past the limit is refused before its bytes are awaited."""
        decoder = UEPSDecoder(SECRET, max_frame_bytes=1024)
        self.assertEqual(decoder.feed(b"\x07\x03"), [])
        self.assertRaises(UEPSFrameTooLargeError, decoder.feed, b"\xfe")

    def test_never_buffers_past_the_limit(self):
        """Byte by byte, the buffer stays under the limit until the frame is refused."""
        limit = 200
        flood = tlv(7, bytes(50)) * 10
        decoder = UEPSDecoder(SECRET, max_frame_bytes=limit)
        for i in range(len(flood)):
            try:
                decoder.feed(flood[i:i + 1])
            except UEPSFrameTooLargeError:
                break
            self.assertLess(decoder.buffered, limit)
        else:
            self.fail("the flood was never refused")
        self.assertLessEqual(i, limit)

    def test_element_flood_refused(self):
        """A last allowed element that is not the payload is refused once its head is in."""
        decoder = UEPSDecoder(SECRET, max_elements=10)
        self.assertEqual(decoder.feed(tlv(7, b"") * 9 + b"\x07\x00"), [])
        self.assertRaises(TooManyElementsError, decoder.feed, b"\x00")


class PropertyTests(SynchronousTestCase):
    """Chunking never matters, and hostile bytes raise only UEPSError."""

    @settings(max_examples=100, deadline=None)
    @given(st.lists(ueps_packets, min_size=1, max_size=5), ueps_secrets, st.data())
    def test_chunks_equal_whole(self, packets, secret, data):
        """Any split of a stream of frames yields the packets the whole stream does."""
        stream = b"".join(encode(p, secret) for p in packets)
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=30), label="cuts")
        self.assertEqual(feed_in_pieces(UEPSDecoder(secret), stream, cuts), packets)
        self.assertEqual(UEPSDecoder(secret).feed(stream), packets)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.binary(max_size=64), max_size=10), ueps_secrets)
    def test_random_chunks(self, chunks, secret):
        """Random bytes in random chunks give packets or a UEPSError, nothing else."""
        decoder = UEPSDecoder(secret, max_frame_bytes=300, max_elements=8)
        try:
            for chunk in chunks:
                decoder.feed(chunk)
                self.assertLess(decoder.buffered, 300)
        except UEPSError:
            pass


# The same tests on the pure-Python path (tests/_accel.py).


class PureFeedTests(PurePath, FeedTests):
    """FeedTests, on the pure-Python twins of the compiled functions."""


class PureBadInputTests(PurePath, BadInputTests):
    """BadInputTests, on the pure-Python twins of the compiled functions."""


class PurePropertyTests(PurePath, PropertyTests):
    """PropertyTests, on the pure-Python twins of the compiled functions."""
