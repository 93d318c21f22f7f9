"""LevinDecoder: framing a byte stream into packets, however it is split."""

import random

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    BadSignatureError,
    Header,
    LevinDecoder,
    LevinError,
    PayloadTooBigError,
    encode_header,
)
from lethean.levin._header import HEADER_SIZE
from tests._streams import feed_in_pieces
from tests.strategies import levin_headers

PACKETS = [
    (Header.request(1001, 5), b"hello"),
    (Header.response(1001, 0, 1), b""),
    (Header.notification(2002, 300), bytes(range(256)) + bytes(44)),
    (Header.request(1003, 1), b"\x01"),
]


def packet_bytes(header, payload):
    return encode_header(header) + payload


#: Whole packets with small payloads.
levin_packet_bytes = st.tuples(levin_headers, st.binary(max_size=80)).map(
    lambda hp: packet_bytes(attrs.evolve(hp[0], payload_size=len(hp[1])), hp[1]))

STREAM = b"".join(packet_bytes(h, p) for h, p in PACKETS)


class FramingTests(SynchronousTestCase):
    """Packets come out whole whatever the chunking."""

    def test_whole(self):
        """The whole stream at once gives every packet."""
        self.assertEqual(LevinDecoder().feed(STREAM), PACKETS)

    def test_byte_by_byte(self):
        """One byte at a time gives every packet, each as soon as it is complete."""
        decoder = LevinDecoder()
        packets = []
        for i in range(len(STREAM)):
            packets += decoder.feed(STREAM[i:i + 1])
        self.assertEqual(packets, PACKETS)
        self.assertEqual(decoder.buffered, 0)

    def test_random_splits(self):
        """Random cut points give every packet."""
        rng = random.Random(1001)
        for _ in range(50):
            cuts = rng.sample(range(1, len(STREAM)), rng.randint(1, 20))
            self.assertEqual(feed_in_pieces(LevinDecoder(), STREAM, cuts), PACKETS)

    def test_waits_for_the_payload(self):
        """A header without its payload yields nothing yet."""
        decoder = LevinDecoder()
        self.assertEqual(decoder.feed(STREAM[:HEADER_SIZE + 2]), [])
        self.assertEqual(decoder.feed(STREAM[HEADER_SIZE + 2:HEADER_SIZE + 5]), PACKETS[:1])

    @settings(max_examples=200)
    @given(st.lists(st.tuples(levin_headers, st.binary(max_size=64)), max_size=5),
           st.lists(st.integers(min_value=0), max_size=10))
    def test_split_anywhere_equals_whole(self, packets, cuts):
        """Any split of any packet stream gives the same packets as the whole."""
        packets = [(attrs.evolve(h, payload_size=len(p)), p) for h, p in packets]
        data = b"".join(packet_bytes(h, p) for h, p in packets)
        cuts = [c % (len(data) + 1) for c in cuts]
        self.assertEqual(feed_in_pieces(LevinDecoder(), data, cuts), packets)
        self.assertEqual(LevinDecoder().feed(data), packets)


class BadStreamTests(SynchronousTestCase):
    """Bad streams fail early, cheaply and for good."""

    def test_bad_signature_on_first_byte(self):
        """A stream that cannot be Levin fails on its first byte (TLS, HTTP...)."""
        self.assertRaises(BadSignatureError, LevinDecoder().feed, b"\x16")
        self.assertRaises(BadSignatureError, LevinDecoder().feed, b"GET / HTTP/1.1\r\n")

    def test_payload_limit_before_buffering(self):
        """A declared size over the limit fails on the header, before any payload."""
        decoder = LevinDecoder(max_payload_size=1024)
        header = encode_header(Header.request(1, 1025))
        self.assertRaises(PayloadTooBigError, decoder.feed, header)
        self.assertEqual(decoder.buffered, 0)

    def test_limit_can_change_between_packets(self):
        """Raising the limit (after a handshake, say) applies to the next header."""
        decoder = LevinDecoder(max_payload_size=4)
        small = packet_bytes(Header.request(1, 4), b"abcd")
        big = packet_bytes(Header.request(1, 5), b"abcde")
        self.assertEqual(len(decoder.feed(small)), 1)
        decoder.max_payload_size = 5
        self.assertEqual(len(decoder.feed(big)), 1)

    def test_packets_before_the_error_come_first(self):
        """Whole packets before bad bytes are returned; the error comes next call."""
        decoder = LevinDecoder()
        packets = decoder.feed(STREAM + b"\x00" * HEADER_SIZE)
        self.assertEqual(packets, PACKETS)
        self.assertRaises(BadSignatureError, decoder.feed, b"")

    def test_errors_stick(self):
        """After an error every feed fails the same way, and nothing is kept."""
        decoder = LevinDecoder()
        first = self.assertRaises(BadSignatureError, decoder.feed, b"\x00")
        again = self.assertRaises(BadSignatureError, decoder.feed, STREAM)
        self.assertIs(first, again)
        self.assertEqual(decoder.buffered, 0)

    @settings(max_examples=300)
    @given(st.lists(st.one_of(st.binary(max_size=40), levin_packet_bytes), max_size=4),
           st.lists(st.integers(min_value=0), max_size=5))
    def test_hostile_streams(self, parts, cuts):
        """Packets mixed with junk give the same packets and error for any split."""
        data = b"".join(parts)

        def run(cut_points):
            decoder = LevinDecoder(max_payload_size=64)
            packets = []
            start = 0
            try:
                for end in sorted(cut_points) + [len(data)]:
                    packets += decoder.feed(data[start:end])
                    start = end
                decoder.feed(b"")
            except LevinError as e:
                return packets, e.kind
            return packets, None

        self.assertEqual(run([c % (len(data) + 1) for c in cuts]), run([]))
