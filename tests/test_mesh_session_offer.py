"""The v2 offer in the reference's challenge, and the handshake answer that accepts it."""

import base64

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import generate_challenge, sign_challenge
from lethean.mesh import HandshakeError
from lethean.mesh._handshake import handshake_message, respond, verify_ack
from lethean.mesh._session import accept_response, is_offer, offer_challenge
from tests._mesh import make_identity, make_registry
from tests._mesh_session import MAX_FRAME_BYTES


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
        return verify_ack(self.initiator, decision.ack.to_bytes(), challenge, max_bytes=MAX_FRAME_BYTES,
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
