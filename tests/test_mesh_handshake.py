"""The sans-IO mesh handshake: exact frames, the responder's decisions, the ack checks."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import (
    LocalIdentity,
    NodeIdentity,
    PrivateKey,
    generate_challenge,
    sign_challenge,
)
from lethean.mesh import (
    HandshakeError,
    HandshakeRejectedError,
    PeerKeyMismatchError,
    decode_message,
)
from lethean.mesh._handshake import (
    Accept,
    Drop,
    Reject,
    ack_message,
    handshake_message,
    rejection_message,
    respond,
    verify_ack,
)
from lethean.peers import AuthMode, Peer
from tests._mesh import make_identity, make_registry
from tests._paths import VECTORS

MAX = 1024 * 1024


def _vectors():
    with open(VECTORS / "identity.json", "rb") as f:
        return json.load(f)["handshake_messages"]


class VectorTests(SynchronousTestCase):
    """The frames match the vectors byte for byte."""

    def setUp(self):
        self.doc = _vectors()
        self.messages = [decode_message(m["json"]) for m in self.doc["messages"]]
        self.texts = [m["json"] for m in self.doc["messages"]]
        first, second = self.messages[0], self.messages[1]
        self.initiator = LocalIdentity(
            NodeIdentity.from_json_value(first.payload["identity"]),
            PrivateKey(bytes.fromhex(self.doc["initiator_private_key_hex"])))
        self.responder = LocalIdentity(
            NodeIdentity.from_json_value(second.payload["identity"]),
            PrivateKey(bytes.fromhex(self.doc["responder_private_key_hex"])))
        self.challenge = bytes.fromhex(self.doc["challenge_hex"])

    def test_handshake_bytes(self):
        """The initiator's handshake is the vector's exact text."""
        m = self.messages[0]
        built = handshake_message(self.initiator, m.to, self.challenge, message_id=m.id, ts=m.ts)
        self.assertEqual(built.to_json(), self.texts[0])

    def test_accepting_ack_bytes(self):
        """The accepting ack, with the challenge MAC, is the vector's exact text."""
        m = self.messages[1]
        secret = self.responder.shared_secret(self.initiator.identity.public_key)
        self.assertEqual(secret.hex(), self.doc["shared_secret_hex"])
        response = sign_challenge(secret, self.challenge)
        self.assertEqual(response.hex(), self.doc["challenge_response_hex"])
        built = ack_message(self.responder, m.to, response, message_id=m.id, ts=m.ts)
        self.assertEqual(built.to_json(), self.texts[1])

    def test_rejecting_ack_bytes(self):
        """The rejection ack is the vector's exact text."""
        m = self.messages[2]
        built = rejection_message(self.responder, m.to, "peer not authorized",
                                  message_id=m.id, ts=m.ts)
        self.assertEqual(built.to_json(), self.texts[2])

    def test_initiator_accepts_vector_ack(self):
        """verify_ack accepts the vector's ack and derives the vector's secret."""
        acked = verify_ack(self.initiator, self.texts[1].encode(), self.challenge, max_bytes=MAX)
        self.assertEqual(acked.peer, self.responder.identity)
        self.assertEqual(acked.shared_secret.hex(), self.doc["shared_secret_hex"])
        self.assertFalse(acked.session)

    def test_responder_answers_vector_handshake(self):
        """The responder accepts the vector's handshake and MACs its challenge."""
        registry = make_registry(self)
        decision = respond(self.responder, registry, self.texts[0].encode(), clock=task.Clock())
        self.assertIsInstance(decision, Accept)
        self.assertEqual(decision.ack.payload["challengeResponse"],
                         json.loads(self.texts[1])["payload"]["challengeResponse"])
        self.assertEqual(decision.peer, self.initiator.identity)


class ResponderTests(SynchronousTestCase):
    """The responder's checks, in the reference's order."""

    def setUp(self):
        self.clock = task.Clock()
        self.local = make_identity("bravo", "worker")
        self.peer = make_identity("alpha", "controller")
        self.registry = make_registry(self)

    def _respond(self, message):
        data = message if isinstance(message, bytes) else message.to_bytes()
        return respond(self.local, self.registry, data, clock=self.clock)

    def _hello(self, identity=None, **kwargs):
        identity = identity or self.peer
        return handshake_message(identity, self.local.id, generate_challenge(),
                                 clock=self.clock, **kwargs)

    def test_accept(self):
        """A good handshake is accepted with a verifiable challenge response."""
        challenge = generate_challenge()
        decision = self._respond(handshake_message(self.peer, "", challenge, clock=self.clock))
        self.assertIsInstance(decision, Accept)
        acked = verify_ack(self.peer, decision.ack.to_bytes(), challenge, max_bytes=MAX)
        self.assertEqual(acked.peer, self.local.identity)
        self.assertEqual(acked.shared_secret, decision.shared_secret)
        self.assertEqual(decision.ack.to, self.peer.id)
        self.assertIsNone(self.registry.get_peer(self.peer.id))

    def test_wrong_version(self):
        """An unsupported version gets the reference's exact rejection text."""
        decision = self._respond(self._hello(version="2.0"))
        self.assertIsInstance(decision, Reject)
        self.assertEqual(decision.ack.payload, {
            "identity": self.local.identity.to_json_value(), "accepted": False,
            "reason": "incompatible protocol version 2.0, supported: [1.0]"})
        self.assertEqual(decision.ack.to, self.peer.id)
        self.assertEqual(decision.ack.reply_to, "")

    def test_version_checked_before_key(self):
        """A bad version is reported even when the key is garbage."""
        message = self._hello(version="9")
        message.payload["identity"]["publicKey"] = "garbage"
        self.assertIsInstance(self._respond(message), Reject)

    def test_bad_key_dropped(self):
        """An undecodable key closes without a reply."""
        message = self._hello()
        message.payload["identity"]["publicKey"] = "AAAA"
        self.assertIsInstance(self._respond(message), Drop)

    def test_low_order_key_dropped(self):
        """A low-order point closes without a reply."""
        message = self._hello()
        message.payload["identity"]["publicKey"] = "A" * 43 + "="
        self.assertIsInstance(self._respond(message), Drop)

    def test_claimed_id_must_match_key(self):
        """An id that is not the key's is refused with a reason (the reference accepts any id)."""
        message = self._hello()
        message.payload["identity"]["id"] = "0" * 32
        decision = self._respond(message)
        self.assertIsInstance(decision, Reject)
        self.assertEqual((decision.kind, decision.peer_id), ("id_mismatch", "0" * 32))
        self.assertEqual(decision.ack.to, "0" * 32)
        self.assertEqual(decision.ack.payload["reason"], "node id does not match public key")

    def test_known_id_must_present_stored_key(self):
        """A registered id presenting a key other than the stored one is refused."""
        other = make_identity("other")
        # A record written by an older node: the stored key is not the id's.
        self.registry._peers[self.peer.id] = Peer(id=self.peer.id, name="alpha",
                                                  public_key=other.identity.public_key)
        decision = self._respond(self._hello())
        self.assertIsInstance(decision, Reject)
        self.assertEqual(decision.ack.payload["reason"], "peer not authorized")

    def test_allowlist_refusal(self):
        """In allowlist mode an unknown key is refused with "peer not authorized"."""
        self.registry.set_auth_mode(AuthMode.ALLOWLIST)
        decision = self._respond(self._hello())
        self.assertIsInstance(decision, Reject)
        self.assertEqual(decision.ack.payload["reason"], "peer not authorized")
        self.assertNotIn("challengeResponse", decision.ack.payload)

    def test_allowlisted_key_accepted(self):
        """In allowlist mode an allowlisted key is accepted."""
        self.registry.set_auth_mode(AuthMode.ALLOWLIST)
        self.registry.allow_public_key(self.peer.identity.public_key)
        self.assertIsInstance(self._respond(self._hello()), Accept)

    def test_garbage_dropped(self):
        """A first frame that is not JSON is dropped without a reply."""
        self.assertIsInstance(self._respond(b"\x00garbage"), Drop)

    def test_other_type_dropped(self):
        """A first message that is not a handshake is dropped."""
        message = self._hello()
        self.assertIsInstance(self._respond(message.to_bytes().replace(
            b'"handshake"', b'"ping"')), Drop)

    def test_empty_challenge(self):
        """Without a challenge the ack omits challengeResponse, as the reference."""
        decision = self._respond(handshake_message(self.peer, "", b"", clock=self.clock))
        self.assertIsInstance(decision, Accept)
        self.assertNotIn("challengeResponse", decision.ack.payload)

    @settings(max_examples=200)
    @given(st.binary(max_size=300))
    def test_random_bytes_never_raise(self, data):
        """Random first frames produce a decision, never an exception."""
        decision = respond(self.local, self.registry, data, clock=self.clock)
        self.assertIsInstance(decision, (Accept, Reject, Drop))


class InitiatorTests(SynchronousTestCase):
    """The initiator's checks on the ack."""

    def setUp(self):
        self.clock = task.Clock()
        self.local = make_identity("alpha")
        self.responder = make_identity("bravo")
        self.challenge = generate_challenge()
        secret = self.responder.shared_secret(self.local.identity.public_key)
        self.good = ack_message(self.responder, self.local.id,
                                sign_challenge(secret, self.challenge), clock=self.clock)

    def _verify(self, data, **kwargs):
        return verify_ack(self.local, data, self.challenge, max_bytes=kwargs.pop("max_bytes", MAX),
                          **kwargs)

    def test_rejection_surfaces_reason(self):
        """accepted:false raises HandshakeRejectedError with the reason."""
        ack = rejection_message(self.responder, self.local.id, "peer not authorized",
                                clock=self.clock)
        error = self.assertRaises(HandshakeRejectedError, self._verify, ack.to_bytes())
        self.assertEqual(error.reason, "peer not authorized")
        self.assertEqual(str(error), "handshake rejected: peer not authorized")

    def test_size_limit(self):
        """An ack over the size limit is refused before parsing."""
        self.assertRaises(HandshakeError, self._verify, self.good.to_bytes(), max_bytes=100)

    def test_bad_mac(self):
        """A wrong challenge response is refused."""
        ack = ack_message(self.responder, self.local.id, b"\x00" * 32, clock=self.clock)
        error = self.assertRaises(HandshakeError, self._verify, ack.to_bytes())
        self.assertIn("verification failed", str(error))

    def test_missing_response(self):
        """An ack without a challenge response is refused."""
        ack = ack_message(self.responder, self.local.id, b"", clock=self.clock)
        self.assertRaises(HandshakeError, self._verify, ack.to_bytes())

    def test_pinned_key(self):
        """A responder presenting a key other than the pinned one is refused."""
        other = make_identity("mallory")
        self.assertRaises(PeerKeyMismatchError, self._verify, self.good.to_bytes(),
                          expected_key=other.identity.public_key)
        acked = self._verify(self.good.to_bytes(), expected_key=self.responder.identity.public_key)
        self.assertEqual(acked.peer.id, self.responder.id)

    def test_expected_id(self):
        """A responder answering with an id other than the dialled one is refused."""
        self.assertRaises(PeerKeyMismatchError, self._verify, self.good.to_bytes(),
                          expected_id="ab" * 16)
        acked = self._verify(self.good.to_bytes(), expected_id=self.responder.id)
        self.assertEqual(acked.peer.id, self.responder.id)

    def test_wrong_type(self):
        """A message that is not a handshake_ack is refused."""
        error = self.assertRaises(HandshakeError, self._verify,
                                  self.good.to_bytes().replace(b"handshake_ack", b"pong"))
        self.assertIn("expected handshake_ack, got pong", str(error))

    @settings(max_examples=200)
    @given(st.binary(max_size=300))
    def test_random_bytes_raise_handshake_error(self, data):
        """Random acks raise HandshakeError and nothing else."""
        self.assertRaises(HandshakeError, self._verify, data)
