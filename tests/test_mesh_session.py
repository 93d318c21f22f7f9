"""v2 sessions: the keys, the streams, and the peer's upgrade (checked before any key)."""

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import SessionError, SessionPendingError
from lethean.mesh._session import (
    QUEUE_MESSAGES,
    REKEY_INTERVAL_S,
    REKEY_MESSAGES,
    Ephemeral,
    SessionCipher,
    SessionKeys,
    derive_keys,
    transcript_hash,
)
from tests._mesh_session import MAX_FRAME_BYTES, keyed_pair, session_pair


class KeyTests(SynchronousTestCase):
    """crypto_kx keys, bound to the static secret, the transcript and the static keys."""

    def test_directions_match_and_differ(self):
        """Each side's sending key is the other's receiving key; the two directions differ."""
        initiator, responder = keyed_pair()
        ikeys, rkeys = (end.cipher for end in (initiator, responder))
        self.assertEqual(initiator.bundle_secret, responder.bundle_secret)
        frame = ikeys.seal(b"to the responder")
        self.assertEqual(rkeys.open(frame), b"to the responder")
        frame = rkeys.seal(b"to the initiator")
        self.assertEqual(ikeys.open(frame), b"to the initiator")

    def _keys(self, **change):
        parts = dict(shared_secret=b"s" * 32, transcript=b"t" * 32, initiator_key=b"i" * 32,
                     responder_key=b"r" * 32)
        parts.update(change)
        return derive_keys(self.ephemeral_copy(), self.peer.public_key, initiator=True, **parts)

    def ephemeral_copy(self):
        copy = Ephemeral()
        copy.public_key, copy._secret = self.mine.public_key, self.mine_secret
        return copy

    def test_every_input_changes_every_key(self):
        """Another static secret, transcript or static key gives other keys in both directions."""
        self.mine, self.peer = Ephemeral(), Ephemeral()
        self.mine_secret = self.mine._secret
        base = self._keys()
        for change in ({"shared_secret": b"S" * 32}, {"transcript": b"T" * 32},
                       {"initiator_key": b"I" * 32}, {"responder_key": b"R" * 32}):
            other = self._keys(**change)
            self.assertNotEqual(other.send, base.send, change)
            self.assertNotEqual(other.receive, base.receive, change)
            self.assertNotEqual(other.bundle, base.bundle, change)
        self.assertEqual(len({base.send, base.receive, base.bundle}), 3)

    def test_ephemeral_secret_used_once(self):
        """Deriving forgets the ephemeral secret; it cannot be used again."""
        mine, peer = Ephemeral(), Ephemeral()
        derive_keys(mine, peer.public_key, initiator=True, shared_secret=b"s" * 32,
                    transcript=b"t" * 32, initiator_key=b"i" * 32, responder_key=b"r" * 32)
        self.assertIsNone(mine._secret)
        error = self.assertRaises(SessionError, derive_keys, mine, peer.public_key,
                                  initiator=True, shared_secret=b"s" * 32,
                                  transcript=b"t" * 32, initiator_key=b"i" * 32,
                                  responder_key=b"r" * 32)
        self.assertEqual(error.reason, "dropped_session_refused")

    def test_keys_not_in_repr(self):
        """Neither the keys nor the ephemeral secret appear in repr."""
        keys = SessionKeys(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
        self.assertNotIn("\\x01", repr(keys))
        ephemeral = Ephemeral()
        self.assertNotIn(repr(ephemeral._secret), repr(ephemeral))


class StreamTests(SynchronousTestCase):
    """Each direction is a secretstream: order, replay, reflection, truncation, rekeying."""

    def setUp(self):
        self.clock = task.Clock()
        self.initiator, self.responder = keyed_pair(self.clock)
        self.ours, self.theirs = self.initiator.cipher, self.responder.cipher

    def _refused(self, frame, cipher=None):
        error = self.assertRaises(SessionError, (cipher or self.theirs).open, frame)
        self.assertEqual(error.reason, "dropped_session_frame")
        return error

    def test_in_order(self):
        """Frames open in the order they were sealed."""
        frames = [self.ours.seal(b"m%d" % i) for i in range(5)]
        self.assertEqual([self.theirs.open(f) for f in frames], [b"m%d" % i for i in range(5)])

    def test_replayed(self):
        """A frame delivered twice is refused the second time."""
        frame = self.ours.seal(b"once")
        self.theirs.open(frame)
        self._refused(frame)

    def test_reordered(self):
        """A later frame before an earlier one is refused."""
        self.theirs.open(self.ours.seal(b"first"))
        self.ours.seal(b"second")
        self._refused(self.ours.seal(b"third"))

    def test_reflected(self):
        """A frame sent back to its sealer does not open."""
        self.ours.open(self.theirs.seal(b"warm up"))  # our receiving stream has started
        frame = self.ours.seal(b"to the responder")
        self._refused(frame, cipher=self.ours)

    def test_truncated(self):
        """A frame cut short does not open; one shorter than the header is refused early."""
        frame = self.ours.seal(b"whole message")
        self._refused(frame[:-1])
        fresh_send, fresh_receive = (end.cipher for end in keyed_pair(self.clock))
        error = self._refused(fresh_send.seal(b"x")[:10], cipher=fresh_receive)
        self.assertIn("header", str(error))

    def test_flipped_bit(self):
        """Any flipped bit is refused."""
        frame = bytearray(self.ours.seal(b"message"))
        frame[-3] ^= 1
        self._refused(bytes(frame))

    def test_nothing_after_the_final_frame(self):
        """After a final frame the stream is over, both ways of looking at it."""
        self.theirs.open(self.ours.seal(b"bye", final=True))
        self.assertRaises(SessionError, self.ours.seal, b"more")
        self._refused(b"\x00" * 40)

    def test_rekeys_by_count_and_by_time(self):
        """Streams move to new keys by message count and on the clock; frames keep opening."""
        for i in range(REKEY_MESSAGES + 3):
            self.assertEqual(self.theirs.open(self.ours.seal(b"%d" % i)), b"%d" % i)
        self.clock.advance(REKEY_INTERVAL_S)
        for i in range(3):
            self.assertEqual(self.theirs.open(self.ours.seal(b"late")), b"late")

    def test_rekey_moves_both_ends(self):
        """After a rekeying frame, a stale copy of the receiving state cannot open what follows."""
        import nacl.bindings as sodium

        frames = [self.ours.seal(b"%d" % i) for i in range(REKEY_MESSAGES + 2)]
        for frame in frames[:REKEY_MESSAGES]:
            self.theirs.open(frame)
        _, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
            self.theirs._pull, frames[REKEY_MESSAGES])
        self.assertEqual(tag, sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY)

    def test_size_limit(self):
        """A frame over the limit is refused before it is sealed or opened."""
        from lethean.mesh import MessageTooLargeError

        small = SessionCipher(SessionKeys(b"a" * 32, b"b" * 32, b"c" * 32), self.clock,
                              max_frame_bytes=100)
        self.assertRaises(MessageTooLargeError, small.seal, b"x" * 100)
        self._refused(b"x" * (MAX_FRAME_BYTES + 1))


class UpgradeTests(SynchronousTestCase):
    """The peer's session_upgrade: checked before any key is made."""

    def test_second_upgrade(self):
        """A second upgrade is refused."""
        ends, offers = session_pair()
        ends[0].upgrade(offers[1])
        error = self.assertRaises(SessionError, ends[0].upgrade, offers[1])
        self.assertEqual(error.reason, "dropped_session_refused")

    def test_malformed(self):
        """Payloads that are not a key and a transcript are refused."""
        for payload in (None, [], {}, {"key": "AAAA", "transcript": "AAAA"},
                        {"key": 5, "transcript": "x"}, {"key": "!" * 44, "transcript": "!" * 44},
                        {"key": "A" * 4000, "transcript": "A" * 44}):
            ends, _ = session_pair()
            error = self.assertRaises(SessionError, ends[0].upgrade, payload)
            self.assertEqual(error.reason, "dropped_session_refused", payload)

    def test_own_upgrade_reflected(self):
        """Our own upgrade sent back is refused."""
        ends, offers = session_pair()
        error = self.assertRaises(SessionError, ends[0].upgrade, offers[0])
        self.assertIn("own upgrade", str(error))

    def test_transcript_mismatch(self):
        """Peers that saw different handshake frames (altered in transit) do not key."""
        ends, offers = session_pair(transcripts=(b"a" * 32, b"b" * 32))
        error = self.assertRaises(SessionError, ends[0].upgrade, offers[1])
        self.assertEqual(error.reason, "dropped_session_transcript")

    def test_transcript_is_of_both_frames(self):
        """The transcript changes with either frame, and with where one ends."""
        base = transcript_hash(b"hello", b"ack")
        self.assertNotEqual(base, transcript_hash(b"hellp", b"ack"))
        self.assertNotEqual(base, transcript_hash(b"hello", b"acj"))
        self.assertNotEqual(base, transcript_hash(b"hell", b"oack"))

    def test_queue_is_bounded(self):
        """While upgrading, messages wait, up to a bound; then they come out in order."""
        ends, _ = session_pair()
        for i in range(QUEUE_MESSAGES):
            ends[0].hold(b"%d" % i)
        self.assertRaises(SessionPendingError, ends[0].hold, b"one too many")
        self.assertEqual(ends[0].release(), [b"%d" % i for i in range(QUEUE_MESSAGES)])
        self.assertEqual(ends[0].release(), [])
