"""v2 sessions: the offer, the keys, the streams, and links that upgrade (or refuse to)."""

import base64

import attrs
from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.identity import generate_challenge, sign_challenge
from lethean.mesh import (
    FEATURES,
    SESSION_V2,
    HandshakeError,
    MeshTransport,
    SessionError,
    SessionPendingError,
    TransportConfig,
    decode_message,
    new_message,
    open_message,
)
from lethean.mesh._capabilities import CAPABILITIES
from lethean.mesh._stacking import use_reactor_timers
from lethean.mesh._handshake import handshake_message, respond, verify_ack
from lethean.mesh._protocol import MeshClientProtocol, MeshServerProtocol
from lethean.mesh._session import (
    QUEUE_MESSAGES,
    REKEY_INTERVAL_S,
    REKEY_MESSAGES,
    SESSION_UPGRADE,
    Ephemeral,
    Session,
    SessionCipher,
    SessionKeys,
    accept_response,
    derive_keys,
    is_offer,
    offer_challenge,
    transcript_hash,
)
from lethean.smsg import FrameCipher
from tests._mesh import (
    ADDRESS,
    Inbox,
    client_factory_for,
    clock_pair,
    make_identity,
    make_registry,
    V1_FEATURES,
)

MAX = 1024 * 1024


def _session_pair(clock=None, transcripts=(b"t" * 32, b"t" * 32)):
    """Two keyed Sessions, initiator first, as two linked peers would have them."""
    clock = clock or task.Clock()
    alpha, bravo = make_identity("alpha"), make_identity("bravo")
    secret = alpha.shared_secret(bravo.identity.public_key)
    keys = (alpha.identity.raw_public_key, bravo.identity.raw_public_key)
    ends = [Session(clock, initiator=initiator, shared_secret=secret, initiator_key=keys[0],
                    responder_key=keys[1], transcript=transcript, max_frame_bytes=MAX)
            for initiator, transcript in zip((True, False), transcripts)]
    offers = [end.start() for end in ends]
    return ends, offers


def _keyed_pair(clock=None):
    ends, offers = _session_pair(clock)
    ends[0].upgrade(offers[1])
    ends[1].upgrade(offers[0])
    return ends


class OfferTests(SynchronousTestCase):
    """The v2 offer rides in the reference's 32-byte challenge."""

    def setUp(self):
        self.alpha, self.bravo = make_identity("alpha"), make_identity("bravo")
        self.key = self.alpha.identity.raw_public_key

    def test_shape(self):
        """An offer is 32 bytes, like the reference's challenge, and fresh every time."""
        offer = offer_challenge(self.key)
        self.assertEqual(len(offer), 32)
        self.assertNotEqual(offer, offer_challenge(self.key))
        self.assertTrue(is_offer(offer, self.key))

    def test_bound_to_the_initiator_key(self):
        """An offer is recognised only with the key of the initiator that made it."""
        self.assertFalse(is_offer(offer_challenge(self.key), self.bravo.identity.raw_public_key))

    @given(st.binary(min_size=0, max_size=64))
    def test_random_challenges_are_not_offers(self, challenge):
        """A Go initiator's random challenge is not taken for an offer."""
        self.assertFalse(is_offer(challenge, self.key))

    def test_acceptance_is_not_the_reference_mac(self):
        """The accepting response differs from the reference's HMAC of the same challenge."""
        secret = self.alpha.shared_secret(self.bravo.identity.public_key)
        offer = offer_challenge(self.key)
        self.assertEqual(len(accept_response(secret, offer)), 32)
        self.assertNotEqual(accept_response(secret, offer), sign_challenge(secret, offer))


class HandshakeNegotiationTests(SynchronousTestCase):
    """The responder's answer says, under the pair's key, whether the link is v2."""

    def setUp(self):
        self.clock = task.Clock()
        self.initiator, self.responder = make_identity("alpha"), make_identity("bravo")
        self.registry = make_registry(self)

    def _respond(self, challenge, sessions=True):
        hello = handshake_message(self.initiator, "", challenge, clock=self.clock)
        return respond(self.responder, self.registry, hello.to_bytes(), clock=self.clock,
                       sessions=sessions)

    def _verify(self, decision, challenge, offered=True):
        return verify_ack(self.initiator, decision.ack.to_bytes(), challenge, max_bytes=MAX,
                          offered=offered)

    def test_offer_accepted(self):
        """An offer to a v2 responder is accepted, and the initiator sees it."""
        offer = offer_challenge(self.initiator.identity.raw_public_key)
        decision = self._respond(offer)
        self.assertTrue(decision.session)
        self.assertTrue(self._verify(decision, offer).session)

    def test_go_initiator_gets_the_reference_answer(self):
        """A random challenge (a Go initiator) gets the reference's HMAC, as today."""
        challenge = generate_challenge()
        decision = self._respond(challenge)
        self.assertFalse(decision.session)
        response = base64.b64decode(decision.ack.payload["challengeResponse"])
        self.assertEqual(response, sign_challenge(decision.shared_secret, challenge))
        self.assertFalse(self._verify(decision, challenge, offered=False).session)

    def test_responder_without_sessions(self):
        """A responder that does not do v2 answers an offer as the reference does: v1."""
        offer = offer_challenge(self.initiator.identity.raw_public_key)
        decision = self._respond(offer, sessions=False)
        self.assertFalse(decision.session)
        self.assertFalse(self._verify(decision, offer).session)

    def test_stripped_offer_fails_the_handshake(self):
        """A man in the middle replacing the offer with random bytes breaks the handshake."""
        offer = offer_challenge(self.initiator.identity.raw_public_key)
        decision = self._respond(generate_challenge())
        error = self.assertRaises(HandshakeError, self._verify, decision, offer)
        self.assertIn("verification failed", str(error))

    def test_acceptance_not_taken_without_an_offer(self):
        """An initiator that did not offer v2 refuses an accepting answer."""
        offer = offer_challenge(self.initiator.identity.raw_public_key)
        decision = self._respond(offer)
        self.assertRaises(HandshakeError, self._verify, decision, offer, offered=False)


class KeyTests(SynchronousTestCase):
    """crypto_kx keys, bound to the static secret, the transcript and the static keys."""

    def test_directions_match_and_differ(self):
        """Each side's sending key is the other's receiving key; the two directions differ."""
        initiator, responder = _keyed_pair()
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
        self.initiator, self.responder = _keyed_pair(self.clock)
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
        fresh_send, fresh_receive = (end.cipher for end in _keyed_pair(self.clock))
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
        self._refused(b"x" * (MAX + 1))


class UpgradeTests(SynchronousTestCase):
    """The peer's session_upgrade: checked before any key is made."""

    def test_second_upgrade(self):
        """A second upgrade is refused."""
        ends, offers = _session_pair()
        ends[0].upgrade(offers[1])
        error = self.assertRaises(SessionError, ends[0].upgrade, offers[1])
        self.assertEqual(error.reason, "dropped_session_refused")

    def test_malformed(self):
        """Payloads that are not a key and a transcript are refused."""
        for payload in (None, [], {}, {"key": "AAAA", "transcript": "AAAA"},
                        {"key": 5, "transcript": "x"}, {"key": "!" * 44, "transcript": "!" * 44},
                        {"key": "A" * 4000, "transcript": "A" * 44}):
            ends, _ = _session_pair()
            error = self.assertRaises(SessionError, ends[0].upgrade, payload)
            self.assertEqual(error.reason, "dropped_session_refused", payload)

    def test_own_upgrade_reflected(self):
        """Our own upgrade sent back is refused."""
        ends, offers = _session_pair()
        error = self.assertRaises(SessionError, ends[0].upgrade, offers[0])
        self.assertIn("own upgrade", str(error))

    def test_transcript_mismatch(self):
        """Peers that saw different handshake frames (altered in transit) do not key."""
        ends, offers = _session_pair(transcripts=(b"a" * 32, b"b" * 32))
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
        ends, _ = _session_pair()
        for i in range(QUEUE_MESSAGES):
            ends[0].hold(b"%d" % i)
        self.assertRaises(SessionPendingError, ends[0].hold, b"one too many")
        self.assertEqual(ends[0].release(), [b"%d" % i for i in range(QUEUE_MESSAGES)])
        self.assertEqual(ends[0].release(), [])


# -- links -------------------------------------------------------------------------------


def _record(testcase, protocol_class, log):
    """Record every WebSocket message ``protocol_class`` receives, as ``(payload, binary)``."""
    original = protocol_class.onMessage

    def onMessage(self, payload, isBinary):
        log.append((bytes(payload), isBinary))
        original(self, payload, isBinary)

    testcase.patch(protocol_class, "onMessage", onMessage)


def _sealed(log):
    """The binary frames of a record."""
    return [payload for payload, binary in log if binary]


def _opens_with(cipher, frame):
    try:
        return open_message(cipher, frame)
    except LetheanError:
        return None


def _warnings(events, text):
    return [e for e in events if text in str(e.get("text", "")) + str(e.get("log_format", ""))
            + str(e.get("reason", ""))]


class LinkTests(SynchronousTestCase):
    """Two lethean transports upgrade their link (iosim, one Clock)."""

    def setUp(self):
        self.to_server, self.to_client = [], []
        _record(self, MeshServerProtocol, self.to_server)
        _record(self, MeshClientProtocol, self.to_client)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        (self.clock, self.server, self.client, self.server_protocol,
         self.client_protocol, self.pump) = clock_pair(self)
        self.link = self.client.connection(self.server.identity.id)
        self.inbound = self.server.connection(self.client.identity.id)
        self.inbox = Inbox()
        self.server.add_consumer(self.inbox)
        self.static = FrameCipher(self.link.shared_secret)

    def _message(self, type="x", **payload):
        return new_message(type, self.client.identity.id, self.server.identity.id, payload,
                           clock=self.clock)

    def _dropped(self, reason):
        self.assertEqual(self.server.counters[reason], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))
        self.assertTrue(self.inbound.closed)

    def test_both_ends_upgrade(self):
        """Both ends report v2, count it, log it, and share a bundle secret of their own."""
        for end, node in ((self.link, self.client), (self.inbound, self.server)):
            self.assertEqual(end.session, "v2")
            self.assertEqual(node.counters["sessions_v2"], 1)
            self.assertIn(SESSION_V2, end.features)
        self.assertEqual(self.link.bundle_secret, self.inbound.bundle_secret)
        self.assertNotEqual(self.link.bundle_secret, self.link.shared_secret)
        ups = [e for e in self.events if "link up" in str(e.get("text", ""))]
        self.assertEqual(len(ups), 2)
        self.assertTrue(all("session v2" in e["text"] for e in ups))

    def test_messages_flow(self):
        """Messages both ways are delivered, and keepalive keeps the link up."""
        self.link.send(self._message(n=1))
        self.pump.flush()
        self.assertEqual([m.payload for _, m in self.inbox.messages], [{"n": 1}])
        for _ in range(4):
            self.clock.advance(30)
            self.pump.flush()
        self.assertIs(self.server.connection(self.client.identity.id), self.inbound)
        self.assertIsNotNone(self.link.rtt_s)

    def test_only_the_upgrades_open_with_the_static_key(self):
        """Of every frame captured, only each side's upgrade opens with the static pair key."""
        self.link.send(self._message(text="attack at dawn"))
        self.pump.flush()
        for log in (self.to_server, self.to_client):
            frames = _sealed(log)
            self.assertGreater(len(frames), 2)
            opened = [_opens_with(self.static, frame) for frame in frames]
            self.assertEqual(opened[0].type, SESSION_UPGRADE)
            self.assertEqual(opened[1:], [None] * (len(frames) - 1))
        self.assertFalse(any(b"attack at dawn" in payload
                             for payload, _ in self.to_server + self.to_client))

    def _inject(self, frame):
        """Bytes sent to the server as a binary message, as a man in the middle would."""
        self.client_protocol.sendMessage(frame, isBinary=True)
        self.pump.flush()

    def _refused_once(self, text="v2 frame refused"):
        self._dropped("dropped_session_frame")
        self.assertEqual(len(_warnings(self.events, text)), 1)

    def test_replayed_frame(self):
        """A frame delivered again ends the link, with one log event and a counter."""
        self.link.send(self._message(n=1))
        self.pump.flush()
        self._inject(_sealed(self.to_server)[-1])
        self._refused_once()
        self.assertEqual(len(self.inbox.messages), 1)

    def test_reordered_frames(self):
        """A frame before the one sealed ahead of it ends the link."""
        self.link.seal(self._message(n=1))
        self._inject(self.link.seal(self._message(n=2)))
        self._refused_once()
        self.assertEqual(self.inbox.messages, [])

    def test_reflected_frame(self):
        """A frame the server sent, sent back to it, ends the link."""
        self._inject(_sealed(self.to_client)[-1])
        self._refused_once()

    def test_truncated_frame(self):
        """A frame cut short ends the link."""
        self._inject(self.link.seal(self._message(n=1))[:-4])
        self._refused_once()

    def test_malformed_frames(self):
        """Bytes that are no frame at all end the link; nothing raises."""
        for frame in (b"", b"\x00", b"\x00" * 40, bytes(range(256)) * 4):
            _, server, client, _, client_protocol, pump = clock_pair(self)
            client_protocol.sendMessage(frame, isBinary=True)
            pump.flush()
            self.assertEqual(server.counters["dropped_session_frame"], 1, frame)
            self.assertIsNone(server.connection(client.identity.id))

    def test_v1_frame_on_a_v2_link(self):
        """A frame sealed with the static key after the upgrade ends the link."""
        self._inject(self.static.seal(self._message(n=1), timestamp=int(self.clock.seconds())))
        self._refused_once()

    def test_second_upgrade(self):
        """An upgrade inside the session is refused: the link ends."""
        self.link.send(self._message(SESSION_UPGRADE, key="x"))
        self.pump.flush()
        self._dropped("dropped_session_refused")

    def test_goodbye_ends_the_stream(self):
        """A graceful close sends the disconnect as the stream's final frame."""
        self.client.stopService()
        self.pump.flush()
        disconnects = [m for _, m in self.inbox.messages if m.type == "disconnect"]
        self.assertEqual(len(disconnects), 1)
        self.assertEqual(self.server.counters["dropped_session_frame"], 0)


class RecordedTrafficTests(SynchronousTestCase):
    """What a recorder holding both static keys can open of a v2 link afterwards."""

    def test_recorded_v2_traffic_stays_closed(self):
        """
        With both private keys and every byte of the link, only the upgrades
        open; the same decoder with the ephemeral secrets (which the nodes
        dropped) opens everything, so the keys really are out of reach.
        """
        to_server, to_client, ephemerals = [], [], {}
        _record(self, MeshServerProtocol, to_server)
        _record(self, MeshClientProtocol, to_client)
        original = Ephemeral.__init__

        def remember(ephemeral):
            original(ephemeral)
            ephemerals[ephemeral.public_key] = ephemeral._secret

        self.patch(Ephemeral, "__init__", remember)
        clock, server, client, _, _, pump = clock_pair(self)
        link = client.connection(server.identity.id)
        link.send(new_message("x", client.identity.id, server.identity.id,
                              {"text": "the launch code"}, clock=clock))
        pump.flush()
        server.connection(client.identity.id).send(new_message(
            "y", server.identity.id, client.identity.id, {"text": "the other half"},
            clock=clock))
        pump.flush()
        client.stopService()
        pump.flush()

        # The thief: both static private keys, and the recorded bytes.
        initiator_key, responder_key = client.identity.private_key, server.identity.private_key
        secret = initiator_key.shared_secret(responder_key.public_key)
        static = FrameCipher(secret)
        transcript = transcript_hash(to_server[0][0], to_client[0][0])
        upgrades = [_opens_with(static, _sealed(log)[0]) for log in (to_server, to_client)]
        self.assertEqual([u.type for u in upgrades], [SESSION_UPGRADE] * 2)
        i_eph, r_eph = (base64.b64decode(u.payload["key"]) for u in upgrades)
        streams = (_sealed(to_server)[1:], _sealed(to_client)[1:])
        for frame in streams[0] + streams[1]:
            self.assertIsNone(_opens_with(static, frame))

        def read(i_secret):
            ephemeral = Ephemeral()
            ephemeral.public_key, ephemeral._secret = i_eph, i_secret
            keys = derive_keys(ephemeral, r_eph, initiator=True, shared_secret=secret,
                               transcript=transcript, initiator_key=initiator_key.public_key,
                               responder_key=responder_key.public_key)
            texts = []
            for receive, frames in ((keys.send, streams[0]), (keys.receive, streams[1])):
                cipher = SessionCipher(SessionKeys(b"\0" * 32, receive, b""), clock,
                                       max_frame_bytes=MAX)
                try:
                    texts.extend(cipher.open(frame) for frame in frames)
                except SessionError:
                    texts.append(None)
            return texts

        seen = read(ephemerals[i_eph])
        self.assertTrue(any(b"the launch code" in text for text in seen))
        self.assertTrue(any(b"the other half" in text for text in seen))
        for guess in (initiator_key.secret_bytes(), responder_key.secret_bytes(), secret):
            self.assertEqual(read(guess), [None, None])
        self.assertFalse(any(b"the launch code" in payload or b"the other half" in payload
                             for payload, _ in to_server + to_client))


class _ScriptedInitiator(WebSocketClientProtocol):
    """A hand-written initiator: its handshake, then the script's frames once acked."""

    def onOpen(self):
        script = self.factory.script
        self.sendMessage(handshake_message(script.identity, "", script.challenge,
                                           clock=script.clock).to_bytes(), isBinary=False)

    def onMessage(self, payload, isBinary):
        script = self.factory.script
        script.received.append((payload, isBinary))
        if isBinary or script.cipher is not None:
            return
        ack = decode_message(payload)
        script.cipher = FrameCipher(script.identity.shared_secret(
            ack.payload["identity"]["publicKey"]))
        for message in script.after_ack(script, ack.from_):
            self.sendMessage(script.cipher.seal(message, timestamp=int(script.clock.seconds())),
                             isBinary=True)


class _Script:
    def __init__(self, clock, challenge, after_ack):
        self.clock = clock
        self.identity = make_identity("alpha")
        self.challenge = challenge(self.identity)
        self.after_ack = after_ack
        self.cipher = None
        self.received = []

    def message(self, type, to, payload):
        return new_message(type, self.identity.id, to, payload, clock=self.clock)


def _go_like(identity):
    return generate_challenge()


def _offer(identity):
    return offer_challenge(identity.identity.raw_public_key)


def _scripted_initiator(testcase, challenge, after_ack=lambda script, server_id: ()):
    """A MeshTransport and a hand-written initiator on iosim: ``(clock, server, script, pump)``."""
    clock = task.Clock()
    clock.advance(1_700_000_000)
    server = MeshTransport(clock, make_identity("bravo"), make_registry(testcase),
                           TransportConfig(listen=None))
    factory = WebSocketClientFactory("ws://127.0.0.1:9091/ws", reactor=clock)
    factory.protocol = _ScriptedInitiator
    factory.script = _Script(clock, challenge, after_ack)
    use_reactor_timers(factory, clock)
    factory.setProtocolOptions(autoPingInterval=0)
    _, _, pump = connectedServerAndClient(
        lambda: server.server_factory().buildProtocol(ADDRESS),
        lambda: factory.buildProtocol(ADDRESS), clock=clock)
    pump.flush()
    return clock, server, factory.script, pump


class _AcceptOnly(WebSocketServerProtocol):
    """A responder that accepts a v2 offer and then never sends its upgrade."""

    def onMessage(self, payload, isBinary):
        factory = self.factory
        factory.received.append((payload, isBinary))
        if not isBinary:
            decision = respond(factory.identity, factory.registry, payload, clock=factory.clock,
                               sessions=True)
            self.sendMessage(decision.ack.to_bytes(), isBinary=False)


class UpgradeRefusalTests(SynchronousTestCase):
    """Peers that upgrade wrongly, or not at all, are dropped: one event, one counter."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def _upgrade_payload(self, transcript=b"\x00" * 32):
        return {"key": base64.b64encode(Ephemeral().public_key).decode(),
                "transcript": base64.b64encode(transcript).decode()}

    def test_upgrade_without_negotiation(self):
        """A session_upgrade on a link that negotiated none (v1) is refused."""
        clock, server, script, pump = _scripted_initiator(
            self, _go_like, lambda script, to: [script.message(SESSION_UPGRADE, to,
                                                               self._upgrade_payload())])
        self.assertEqual(server.counters["dropped_session_refused"], 1)
        self.assertEqual(len(_warnings(self.events, "did not negotiate v2")), 1)
        self.assertEqual(server.connections(), [])

    def test_initiator_stops_mid_upgrade(self):
        """An initiator that offered v2 and sends nothing more is dropped at the deadline."""
        clock, server, script, pump = _scripted_initiator(self, _offer)
        self.assertEqual([binary for _, binary in script.received], [False, True])
        self.assertEqual(server.pending, 1)
        clock.advance(TransportConfig().session_timeout_s - 0.5)
        self.assertEqual(server.counters["dropped_session_timeout"], 0)
        clock.advance(1)
        pump.flush()
        self.assertEqual(server.counters["dropped_session_timeout"], 1)
        self.assertEqual(server.pending, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_another_frame_instead_of_the_upgrade(self):
        """After negotiating v2, a first frame other than the upgrade is refused."""
        clock, server, script, pump = _scripted_initiator(
            self, _offer, lambda script, to: [script.message(CAPABILITIES, to, {})])
        self.assertEqual(server.counters["dropped_session_refused"], 1)
        self.assertEqual(len(_warnings(self.events, "expected the session upgrade")), 1)

    def test_altered_handshake(self):
        """An upgrade naming other handshake frames than the responder's is refused."""
        clock, server, script, pump = _scripted_initiator(
            self, _offer, lambda script, to: [script.message(SESSION_UPGRADE, to,
                                                             self._upgrade_payload())])
        self.assertEqual(server.counters["dropped_session_transcript"], 1)
        self.assertEqual(len(_warnings(self.events, "altered in transit")), 1)

    def test_downgrade_detected_by_capabilities(self):
        """A peer announcing v2 on a link whose handshake negotiated none is dropped."""
        clock, server, script, pump = _scripted_initiator(
            self, _go_like, lambda script, to: [script.message(
                CAPABILITIES, to, {"features": sorted(FEATURES), "version": "x"})])
        self.assertEqual(server.counters["dropped_session_downgrade"], 1)
        self.assertEqual(server.connections(), [])

    def test_go_like_initiator_stays_v1(self):
        """An initiator that offers nothing and announces nothing gets a v1 link, as today."""
        clock, server, script, pump = _scripted_initiator(
            self, _go_like, lambda script, to: [script.message("ping", to, {"sentAt": 1})])
        [link] = server.connections()
        self.assertEqual(link.session, "v1")
        frames = [payload for payload, binary in script.received if binary]
        self.assertEqual([open_message(script.cipher, f).type for f in frames],
                         [CAPABILITIES, "pong"])

    def test_responder_stops_mid_upgrade(self):
        """A responder that accepted v2 and never upgrades is dropped by the initiator."""
        clock = task.Clock()
        clock.advance(1_700_000_000)
        client = MeshTransport(clock, make_identity("alpha"), make_registry(self),
                               TransportConfig(listen=None))
        responder = WebSocketServerFactory("ws://localhost/ws")
        responder.protocol = _AcceptOnly
        responder.identity, responder.registry = make_identity("bravo"), make_registry(self)
        responder.clock, responder.received = clock, []
        use_reactor_timers(responder, clock)
        wire = client_factory_for(client)
        _, _, pump = connectedServerAndClient(lambda: responder.buildProtocol(ADDRESS),
                                              lambda: wire.buildProtocol(ADDRESS), clock=clock)
        pump.flush()
        link = self.successResultOf(wire.result)
        self.assertIsNone(client.connection(responder.identity.id))
        announced = link.when_announced()
        # Messages wait (bounded); nothing but the upgrade was sealed with the static key.
        for i in range(QUEUE_MESSAGES):
            link.send(new_message("x", client.identity.id, link.peer_id, {"n": i}, clock=clock))
        self.assertRaises(SessionPendingError, link.send, new_message(
            "x", client.identity.id, link.peer_id, {}, clock=clock))
        pump.flush()
        frames = [payload for payload, binary in responder.received if binary]
        self.assertEqual(len(frames), 1)
        static = FrameCipher(link.shared_secret)
        self.assertEqual(open_message(static, frames[0]).type, SESSION_UPGRADE)
        clock.advance(TransportConfig().session_timeout_s)
        pump.flush()
        self.assertEqual(client.counters["dropped_session_timeout"], 1)
        self.assertTrue(link.closed)
        self.successResultOf(announced)
        self.assertEqual(len(_warnings(self.events, "no v2 session")), 1)


class QueueTests(SynchronousTestCase):
    """Messages sent while the upgrade is under way wait, then go as v2 frames."""

    def test_queued_then_sent_in_the_session(self):
        """The responder's messages sent before the upgrade completes arrive, in order."""
        to_client = []
        _record(self, MeshClientProtocol, to_client)
        clock = task.Clock()
        clock.advance(1_700_000_000)
        server, client = (MeshTransport(clock, make_identity(name), make_registry(self),
                                        TransportConfig(listen=None))
                          for name in ("bravo", "alpha"))
        inbox = Inbox()
        client.add_consumer(inbox)
        wire, gate, pump = connectedServerAndClient(
            lambda: server.server_factory().buildProtocol(ADDRESS),
            lambda: client_factory_for(client).buildProtocol(ADDRESS), greet=False, clock=clock)
        for _ in range(20):
            pump.pump()
            protocol = getattr(gate, "wrappedProtocol", None)
            link = getattr(protocol, "link", None)
            if link is not None and link._session is not None:
                break
        self.assertEqual(link.session, "v1")
        for i in range(3):
            link.send(new_message("early", server.identity.id, client.identity.id, {"n": i},
                                  clock=clock))
        pump.flush()
        self.assertEqual(link.session, "v2")
        self.assertEqual([m.payload["n"] for _, m in inbox.messages], [0, 1, 2])
        static = FrameCipher(link.shared_secret)
        opened = [_opens_with(static, frame) for frame in _sealed(to_client)]
        self.assertEqual(opened[0].type, SESSION_UPGRADE)
        self.assertEqual(opened[1:], [None] * (len(opened) - 1))


class EnvelopeTests(SynchronousTestCase):
    """from, to and ts are checked on every link, v1 and v2."""

    def _pair(self, features):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        clock, server, client, _, _, pump = clock_pair(self, features=features)
        inbox = Inbox()
        server.add_consumer(inbox)
        return clock, server, client, pump, inbox, client.connection(server.identity.id)

    def _check(self, features):
        clock, server, client, pump, inbox, link = self._pair(features)
        me, you = client.identity.id, server.identity.id
        skewed = task.Clock()

        def at(offset, type="x", from_=me, to=you, reply_to=""):
            skewed.advance(clock.seconds() + offset - skewed.seconds())
            message = new_message(type, from_, to, {"offset": offset}, clock=skewed)
            return message if not reply_to else attrs.evolve(message, reply_to=reply_to)

        refused = [("envelope_wrong_from", at(0, from_="f" * 32)),
                   ("envelope_wrong_from", at(0, from_="")),
                   ("envelope_wrong_to", at(0, to="e" * 32)),
                   ("envelope_stale_ts", at(-301)),
                   ("envelope_stale_ts", at(301))]
        accepted = [at(0), at(0, to=""), at(-299), at(299), at(0, from_="", reply_to="r")]
        for _, message in refused:
            link.send(message)
        for message in accepted:
            link.send(message)
        pump.flush()
        for reason in ("envelope_wrong_from", "envelope_wrong_to", "envelope_stale_ts"):
            self.assertEqual(server.counters[reason], 2 if reason != "envelope_wrong_to" else 1)
        self.assertEqual([m.id for _, m in inbox.messages], [m.id for m in accepted])
        self.assertEqual(len(_warnings(self.events, "dropped message")), len(refused))
        self.assertIs(server.connection(me).session, link.session)

    def test_v2(self):
        """On a v2 link, wrong from, wrong to and stale ts are dropped, the link stays."""
        self._check(FEATURES)

    def test_v1(self):
        """On a v1 link too."""
        self._check(V1_FEATURES)

    def test_window_is_configurable(self):
        """max_clock_skew_s=None turns the time check off."""
        clock, server, client, _, _, pump = clock_pair(self, max_clock_skew_s=None)
        inbox = Inbox()
        server.add_consumer(inbox)
        link = client.connection(server.identity.id)
        link.send(new_message("x", client.identity.id, server.identity.id, {},
                              clock=task.Clock()))
        pump.flush()
        self.assertEqual(len(inbox.messages), 1)


class SessionRateLimitTests(SynchronousTestCase):
    """A session frame cannot be skipped unread: past the rate, reading pauses instead."""

    def test_messages_past_the_rate_wait(self):
        """Past the burst every message still arrives, in order, and reading pauses for it."""
        clock, server, client, server_protocol, _, pump = clock_pair(
            self, rate_bytes_burst=4096, rate_bytes_per_s=4096)
        reading = []
        raw = server_protocol.transport.transport
        raw.pauseProducing = lambda: reading.append("paused")
        raw.resumeProducing = lambda: reading.append("resumed")
        inbox = Inbox()
        server.add_consumer(inbox)
        link = client.connection(server.identity.id)
        for i in range(150):
            link.send(new_message("x", client.identity.id, server.identity.id, {"n": i},
                                  clock=clock))
        pump.flush()
        self.assertEqual([m.payload["n"] for _, m in inbox.messages], list(range(150)))
        self.assertGreater(server.counters["rate_limited"], 0)
        self.assertEqual(server.counters["dropped_session_frame"], 0)
        self.assertIs(server.connection(client.identity.id).session, "v2")
        self.assertEqual(reading, ["paused"])
        clock.advance(10)
        self.assertEqual(reading, ["paused", "resumed"])
