"""The peer registry's records, scores, connection state and auth decisions."""

import base64
import datetime
import hashlib

from hypothesis import given, settings, strategies as st
from twisted.internet import defer, task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import lethean.identity
from lethean.interfaces import IPeerRegistry
from lethean.peers import (
    PeerError,
    AuthMode,
    PeerIdMismatchError,
    InvalidPeerError,
    InvalidPeerNameError,
    InvalidPeerKeyError,
    KeyMismatchError,
    Peer,
    PeerExistsError,
    PeerNotAllowedError,
    PeerNotFoundError,
    PeerRegistry,
    node_id_for,
)
from lethean.peers._record import DEFAULT_SCORE

#: identity.md vectors A and B.
KEY_A = "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw="
ID_A = "aaa8fff703b50b2297f4f6e13508f724"
KEY_B = "ZLEBsdC+WocEvQePmJUAH8A+jp+VIvGI3RKNmEbUhGY="
ID_B = "bc841db8fea3efd84555a7f8eeb92503"

#: 2026-01-02T03:04:05Z
START_S = 1767323045.0


def key_for(n):
    """A distinct, well-formed public key for test peer ``n``."""
    return base64.b64encode(hashlib.sha256(b"key %d" % n).digest()).decode()


def peer_for(n, **fields):
    """A peer whose id is bound to its key."""
    key = key_for(n)
    return Peer(id=node_id_for(key), public_key=key, **fields)


class MemoryWriter:
    """A registry writer that keeps files in a dict and counts writes."""

    def __init__(self):
        self.files = {}
        self.writes = []

    def __call__(self, path, content):
        data = content()
        self.files[path] = data
        self.writes.append(path)


def events_of(testcase):
    """Capture log events for the duration of the test."""
    return EventLoggingObserver.createWithCleanup(testcase, globalLogPublisher)


def make_registry(testcase, **kwargs):
    """A registry on a task.Clock, writing into memory under a temp path."""
    clock = task.Clock()
    clock.advance(START_S)
    writer = MemoryWriter()
    registry = PeerRegistry(clock, testcase.mktemp(), writer=writer, **kwargs)
    return registry, clock, writer


class RecordTests(SynchronousTestCase):
    """Adding, updating, removing and reading peers."""

    def setUp(self):
        self.registry, self.clock, self.writer = make_registry(self)

    def test_provides_interface(self):
        """PeerRegistry provides IPeerRegistry in full."""
        self.assertTrue(verifyObject(IPeerRegistry, self.registry))

    def test_add_fills_added_at_and_default_score(self):
        """A new peer gets addedAt = now (from the injected clock) and score 50."""
        stored = self.registry.add_peer(Peer(id=ID_B, name="bravo", public_key=KEY_B, score=0))
        self.assertEqual(str(stored.added_at), "2026-01-02T03:04:05Z")
        self.assertEqual(stored.score, DEFAULT_SCORE)
        self.assertEqual(self.registry.get_peer(ID_B), stored)
        self.assertEqual(len(self.registry), 1)

    def test_add_keeps_given_values(self):
        """An explicit addedAt and a non-zero score are kept."""
        when = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        stored = self.registry.add_peer(peer_for(1, added_at=when, score=7))
        self.assertEqual((stored.added_at.to_datetime(), stored.score), (when, 7.0))

    def test_add_rejects_empty_id(self):
        """A peer without an id is refused."""
        self.assertRaises(InvalidPeerError, self.registry.add_peer, Peer(id=""))

    def test_add_rejects_duplicate(self):
        """Adding a registered id again fails with the reference's text."""
        self.registry.add_peer(peer_for(1))
        e = self.assertRaises(PeerExistsError, self.registry.add_peer, peer_for(1))
        self.assertEqual(str(e), "peer {} already exists".format(peer_for(1).id))

    def test_add_validates_name(self):
        """add_peer applies the name rule."""
        self.assertRaises(InvalidPeerNameError, self.registry.add_peer, peer_for(1, name="host.example.com"))
        self.assertEqual(len(self.registry), 0)

    def test_add_rejects_id_not_bound_to_key(self):
        """A record whose id is not derived from its key could never authenticate."""
        self.assertRaises(InvalidPeerError, self.registry.add_peer, Peer(id=ID_A, public_key=KEY_B))

    def test_add_rejects_malformed_key(self):
        """A public key must be base64 of 32 bytes."""
        self.assertRaises(InvalidPeerKeyError, self.registry.add_peer, Peer(id="x", public_key="abc"))

    def test_malformed_key_is_also_the_identity_error(self):
        """The registry's key error is the identity layer's too, with the same kind."""
        with self.assertRaises(lethean.identity.InvalidPublicKeyError) as caught:
            self.registry.add_peer(Peer(id="x", public_key="abc"))
        self.assertIsInstance(caught.exception, InvalidPeerKeyError)
        self.assertEqual(caught.exception.kind, "invalid_public_key")

    def test_add_allows_keyless_placeholder(self):
        """A peer known only by id and address (no key yet) can be added."""
        self.registry.add_peer(Peer(id="placeholder", address="10.0.0.9:9091"))
        self.assertIsNone(self.registry.known_key("placeholder"))

    def test_update_replaces_record_without_name_check(self):
        """update_peer swaps the whole record and, like the reference, skips the name rule."""
        self.registry.add_peer(peer_for(1, name="one"))
        changed = peer_for(1, name="dotted.name", address="10.0.0.1:1")
        self.registry.update_peer(changed)
        self.assertEqual(self.registry.get_peer(changed.id), changed)

    def test_update_unknown(self):
        """Updating an unknown id fails with the reference's text."""
        e = self.assertRaises(PeerNotFoundError, self.registry.update_peer, peer_for(1))
        self.assertEqual(str(e), "peer {} not found".format(peer_for(1).id))

    def test_remove(self):
        """A removed peer is gone, and also no longer connected."""
        peer = self.registry.add_peer(peer_for(1))
        self.registry.set_connected(peer.id, True)
        self.registry.remove_peer(peer.id)
        self.assertIsNone(self.registry.get_peer(peer.id))
        self.assertFalse(self.registry.is_connected(peer.id))
        self.assertRaises(PeerNotFoundError, self.registry.remove_peer, peer.id)

    def test_list_is_a_copy(self):
        """Changing the returned list does not change the registry."""
        self.registry.add_peer(peer_for(1))
        self.registry.list_peers().clear()
        self.assertEqual(len(self.registry.list_peers()), 1)

    def test_update_metrics(self):
        """update_metrics sets ping, distance, hops and lastSeen."""
        peer = self.registry.add_peer(peer_for(1))
        self.clock.advance(10)
        self.registry.update_metrics(peer.id, ping_ms=12.5, geo_km=300, hops=2)
        got = self.registry.get_peer(peer.id)
        self.assertEqual((got.ping_ms, got.geo_km, got.hops), (12.5, 300.0, 2))
        self.assertEqual(got.last_seen.seconds, START_S + 10)

    def test_update_metrics_rejects_non_finite(self):
        """NaN or infinite metrics are refused (Go could not even save them)."""
        peer = self.registry.add_peer(peer_for(1))
        self.assertRaises(InvalidPeerError, self.registry.update_metrics, peer.id, float("nan"), 0, 0)
        self.assertRaises(InvalidPeerError, self.registry.update_metrics, peer.id, 1, float("inf"), 0)
        self.assertEqual(self.registry.get_peer(peer.id), peer)

    def test_update_metrics_unknown(self):
        """Metrics for an unknown id fail."""
        self.assertRaises(PeerNotFoundError, self.registry.update_metrics, "nope", 1, 1, 1)


class ScoreTests(SynchronousTestCase):
    """Score bookkeeping, by hand and from request outcomes."""

    def setUp(self):
        self.registry, self.clock, self.writer = make_registry(self)
        self.peer = self.registry.add_peer(peer_for(1))

    def score(self):
        return self.registry.get_peer(self.peer.id).score

    def test_success_adds_one_and_marks_seen(self):
        """A success is +1 and sets lastSeen."""
        self.clock.advance(3)
        self.registry.record_success(self.peer.id)
        self.assertEqual(self.score(), 51)
        self.assertEqual(self.registry.get_peer(self.peer.id).last_seen.seconds, START_S + 3)

    def test_success_caps_at_100(self):
        """Successes never push the score past 100."""
        self.registry.update_score(self.peer.id, 99.5)
        self.registry.record_success(self.peer.id)
        self.registry.record_success(self.peer.id)
        self.assertEqual(self.score(), 100)

    def test_failure_and_timeout(self):
        """A failure is -5 and a timeout -3, floored at 0."""
        self.registry.record_failure(self.peer.id)
        self.assertEqual(self.score(), 45)
        self.registry.record_timeout(self.peer.id)
        self.assertEqual(self.score(), 42)
        self.registry.update_score(self.peer.id, 4)
        self.registry.record_failure(self.peer.id)
        self.assertEqual(self.score(), 0)

    def test_decrease_is_logged(self):
        """A decrease emits the reference's debug event with peer_id, new_score and reason."""
        events = events_of(self)
        self.registry.record_timeout(self.peer.id)
        [event] = [e for e in events if e.get("reason") == "timeout"]
        self.assertEqual(event["log_level"], LogLevel.debug)
        self.assertEqual((event["peer_id"], event["new_score"]), (self.peer.id, 47))

    def test_update_score_clamps(self):
        """A direct score is clamped to 0-100."""
        self.registry.update_score(self.peer.id, 250)
        self.assertEqual(self.score(), 100)
        self.registry.update_score(self.peer.id, -3)
        self.assertEqual(self.score(), 0)

    def test_unknown_ids_are_ignored(self):
        """Outcomes for unknown peers change nothing and raise nothing."""
        for record in (self.registry.record_success, self.registry.record_failure, self.registry.record_timeout):
            record("unknown")
        self.assertEqual(len(self.registry), 1)
        self.assertRaises(PeerNotFoundError, self.registry.update_score, "unknown", 1)

    def test_outcome_success(self):
        """record_outcome scores a success and passes the result on."""
        d = self.registry.record_outcome(self.peer.id, defer.succeed("reply"))
        self.assertEqual(self.successResultOf(d), "reply")
        self.assertEqual(self.score(), 51)

    def test_outcome_timeout(self):
        """A request that hits addTimeout on the clock counts as a timeout."""
        request = defer.Deferred().addTimeout(30, self.clock)
        d = self.registry.record_outcome(self.peer.id, request)
        self.clock.advance(30)
        self.failureResultOf(d, defer.TimeoutError)
        self.assertEqual(self.score(), 47)

    def test_outcome_failure(self):
        """Any other error counts as a failure and still reaches the caller."""
        d = self.registry.record_outcome(self.peer.id, defer.fail(ValueError("bad reply")))
        self.failureResultOf(d, ValueError)
        self.assertEqual(self.score(), 45)

    def test_outcome_local_cancel(self):
        """Cancelling a request ourselves is not the peer's fault."""
        request = defer.Deferred()
        d = self.registry.record_outcome(self.peer.id, request)
        request.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.score(), 50)

    def test_peers_by_score(self):
        """Highest score first; equal scores in node-id order."""
        others = [self.registry.add_peer(peer_for(n, score=s)) for n, s in ((2, 80), (3, 50), (4, 10))]
        expected = [others[0]] + sorted([self.peer, others[1]], key=lambda p: p.id) + [others[2]]
        self.assertEqual(self.registry.peers_by_score(), expected)


class ConnectionTests(SynchronousTestCase):
    """The runtime connected flag."""

    def setUp(self):
        self.registry, self.clock, self.writer = make_registry(self)
        self.peer = self.registry.add_peer(peer_for(1))
        self.successResultOf(self.registry.flush())

    def test_connect_marks_seen_without_starting_a_save(self):
        """Connecting sets lastSeen but schedules no write (peers.md 2.4)."""
        self.clock.advance(7)
        self.registry.set_connected(self.peer.id, True)
        self.assertTrue(self.registry.is_connected(self.peer.id))
        self.assertEqual(self.registry.connected_peers(), [self.registry.get_peer(self.peer.id)])
        self.assertEqual(self.registry.get_peer(self.peer.id).last_seen.seconds, START_S + 7)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connect_is_written_on_close(self):
        """The lastSeen of a connection is not lost at shutdown."""
        writes = len(self.writer.writes)
        self.registry.set_connected(self.peer.id, True)
        self.successResultOf(self.registry.close())
        self.assertEqual(len(self.writer.writes), writes + 1)

    def test_disconnect_and_unknown(self):
        """Disconnecting clears the flag; unknown ids are ignored."""
        self.registry.set_connected(self.peer.id, True)
        self.registry.set_connected(self.peer.id, False)
        self.registry.set_connected("unknown", True)
        self.assertEqual(self.registry.connected_peers(), [])
        self.assertFalse(self.registry.is_connected("unknown"))


class AuthTests(SynchronousTestCase):
    """Who may connect, with the identity checks the reference lacks."""

    def setUp(self):
        self.registry, self.clock, self.writer = make_registry(self)
        self.registry.add_peer(Peer(id=ID_B, name="bravo", public_key=KEY_B))

    def test_open_mode_is_default(self):
        """A fresh registry is in open mode and admits any well-bound identity."""
        self.assertEqual(self.registry.auth_mode, AuthMode.OPEN)
        self.assertTrue(self.registry.is_peer_allowed(ID_A, KEY_A))

    def test_claimed_id_must_match_key(self):
        """An id not derived from the key is refused in every mode (weakness 1)."""
        self.assertRaises(PeerIdMismatchError, self.registry.check_peer, ID_B, KEY_A)
        self.assertFalse(self.registry.is_peer_allowed(ID_B, KEY_A))

    def test_known_key(self):
        """known_key gives the stored key to pin, None for unknown or keyless records."""
        self.registry.add_peer(Peer(id="placeholder"))
        self.assertEqual(self.registry.known_key(ID_B), KEY_B)
        self.assertIsNone(self.registry.known_key(ID_A))
        self.assertIsNone(self.registry.known_key("placeholder"))

    def test_keyless_record_accepts_its_bound_key(self):
        """A record without a key admits the key its id is derived from (first use)."""
        self.registry.add_peer(Peer(id=ID_A))
        self.registry.set_auth_mode(AuthMode.ALLOWLIST)
        self.assertTrue(self.registry.is_peer_allowed(ID_A, KEY_A))

    def test_stored_key_mismatch(self):
        """A registered id presenting a key other than its stored one is refused."""
        path = self.mktemp()
        with open(path, "w") as f:  # loaded records are not validated, so this can exist
            f.write('[{"id": "%s", "publicKey": "%s"}]' % (ID_A, KEY_B))
        registry = PeerRegistry(self.clock, path, writer=MemoryWriter())
        self.assertRaises(KeyMismatchError, registry.check_peer, ID_A, KEY_A)
        self.assertFalse(registry.is_peer_allowed(ID_A, KEY_A))

    def test_allowlist_mode(self):
        """Allowlist mode admits registered ids and allowlisted keys only."""
        self.registry.set_auth_mode(AuthMode.ALLOWLIST)
        self.assertTrue(self.registry.is_peer_allowed(ID_B, KEY_B))
        self.assertRaises(PeerNotAllowedError, self.registry.check_peer, ID_A, KEY_A)
        self.registry.allow_public_key(KEY_A)
        self.assertTrue(self.registry.is_peer_allowed(ID_A, KEY_A))
        self.registry.revoke_public_key(KEY_A)
        self.assertFalse(self.registry.is_peer_allowed(ID_A, KEY_A))

    def test_allowlist_bypass_is_closed(self):
        """Claiming a registered id with another key no longer passes allowlist mode."""
        self.registry.set_auth_mode(AuthMode.ALLOWLIST)
        self.assertFalse(self.registry.is_peer_allowed(ID_B, KEY_A))

    def test_malformed_presented_key(self):
        """A key that is not 32 base64 bytes is refused, not crashed on."""
        self.assertRaises(InvalidPeerKeyError, self.registry.check_peer, ID_A, "not a key")
        self.assertFalse(self.registry.is_peer_allowed(ID_A, "AAAA"))

    def test_allowlist_compares_keys_not_spellings(self):
        """A non-canonical base64 spelling of an allowed key matches it."""
        raw = base64.b64decode(KEY_A)
        self.registry.allow_public_key(KEY_A)
        # The last character carries 2 unused bits; set them.
        spelled = KEY_A[:-2] + "x="
        self.assertEqual(base64.b64decode(spelled), raw)
        self.assertTrue(self.registry.is_public_key_allowed(spelled))
        self.assertEqual(self.registry.allowed_public_keys(), [KEY_A])

    def test_allow_rejects_garbage(self):
        """Only real keys can be allowlisted."""
        self.assertRaises(InvalidPeerKeyError, self.registry.allow_public_key, "short")

    def test_mode_change_logged(self):
        """Switching modes logs the reference's info event with the mode."""
        events = events_of(self)
        self.registry.set_auth_mode(AuthMode.ALLOWLIST)
        [event] = [e for e in events if "mode" in e]
        self.assertEqual((event["log_level"], event["mode"]), (LogLevel.info, "allowlist"))

    @settings(max_examples=200)
    @given(st.one_of(st.text(max_size=50), st.sampled_from([ID_A, ID_B])),
           st.one_of(st.text(max_size=60), st.sampled_from([KEY_A, KEY_B, KEY_A[:-2] + "x=", KEY_A + "="])),
           st.sampled_from(list(AuthMode)))
    def test_any_claim_is_answered(self, claimed_id, public_key, mode):
        """Whatever a peer claims, check_peer raises only PeerError and is_peer_allowed agrees."""
        self.registry.set_auth_mode(mode)
        try:
            self.registry.check_peer(claimed_id, public_key)
        except PeerError:
            self.assertFalse(self.registry.is_peer_allowed(claimed_id, public_key))
        else:
            self.assertTrue(self.registry.is_peer_allowed(claimed_id, public_key))
            self.assertEqual(claimed_id, node_id_for(public_key))
