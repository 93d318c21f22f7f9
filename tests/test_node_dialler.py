"""PeerDialler keeps --peer links up, redialling with backoff on the clock."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from lethean._gotime import Timestamp
from lethean.identity import LocalIdentity, PrivateKey
from lethean.node._dialler import PeerDialler
from lethean.node._redial import STABLE_LINK_S
from lethean.testing import MemoryMesh


def identity(name):
    return LocalIdentity.create(PrivateKey.generate(), name, "dual", Timestamp.from_unix(0))


class PeerDiallerTests(SynchronousTestCase):
    """Dial at start, retry while refused, redial after a lost link, stop cleanly."""

    def setUp(self):
        self.clock = Clock()
        self.mesh = MemoryMesh(self.clock)
        self.alpha = self.mesh.add_node(identity("alpha"), "alpha:1")
        self.dialler = PeerDialler(self.clock, self.alpha, ["bravo:1"],
                                   retry_policy=lambda attempt: 10.0 * attempt)

    def test_retries_until_the_peer_appears_then_redials(self):
        """A refused dial is retried after the policy's delay; a lost link is redialled."""
        self.dialler.startService()
        self.assertEqual(self.alpha.connections(), [])
        bravo = self.mesh.add_node(identity("bravo"), "bravo:1")
        self.clock.advance(10)
        [link] = self.alpha.connections()
        self.assertEqual(link.peer_id, bravo.identity.id)
        self.clock.advance(STABLE_LINK_S)
        self.alpha.disconnect(bravo.identity.id)
        self.clock.advance(0)
        [again] = self.alpha.connections()
        self.assertIsNot(again, link)
        self.successResultOf(self.dialler.stopService())

    def test_a_link_closed_at_once_is_redialled_after_a_backoff(self):
        """A link the peer closes as soon as it is up (a duplicate, a refusal) is not redialled at once."""
        bravo = self.mesh.add_node(identity("bravo"), "bravo:1")
        self.dialler.startService()
        self.alpha.disconnect(bravo.identity.id, "duplicate connection")
        self.assertEqual(self.alpha.connections(), [])
        self.clock.advance(9)
        self.assertEqual(self.alpha.connections(), [])
        self.clock.advance(1)
        [link] = self.alpha.connections()
        # Closed at once again: the backoff grows (the policy's second delay).
        self.alpha.disconnect(bravo.identity.id, "duplicate connection")
        self.clock.advance(19)
        self.assertEqual(self.alpha.connections(), [])
        self.clock.advance(1)
        self.assertEqual(len(self.alpha.connections()), 1)
        self.successResultOf(self.dialler.stopService())

    def test_repeated_failures_are_summarised_in_the_log(self):
        """Many closes in a row write a few lines and a summary, not one line per attempt."""
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import formatEvent, globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        bravo = self.mesh.add_node(identity("bravo"), "bravo:1")
        dialler = PeerDialler(self.clock, self.alpha, ["bravo:1"],
                              retry_policy=lambda attempt: 5.0)
        dialler.startService()
        for _ in range(200):
            self.alpha.disconnect(bravo.identity.id, "duplicate connection")
            self.clock.advance(5)
        lines = [formatEvent(e) for e in events if "bravo:1" in formatEvent(e)]
        self.assertLess(len(lines), 10, lines)
        self.assertTrue(any("more" in line and "in the last" in line for line in lines), lines)
        self.successResultOf(dialler.stopService())

    def test_dialling_itself_stops_with_one_line(self):
        """A --peer that turns out to be this node itself is refused once and not redialled."""
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import formatEvent, globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        dialler = PeerDialler(self.clock, self.alpha, ["alpha:1"],
                              retry_policy=lambda attempt: 10.0)
        dialler.startService()
        self.clock.advance(100)
        lines = [formatEvent(e) for e in events if "alpha:1" in formatEvent(e)]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("this node itself", lines[0])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.successResultOf(dialler.stopService())

    def test_stop_while_waiting(self):
        """Stopping during a backoff delay cancels it and leaves no timer behind."""
        self.dialler.startService()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.successResultOf(self.dialler.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_names_are_looked_up_at_each_dial(self):
        """--peer NAME dials the registered address; an unknown name is logged once, not retried."""
        import os

        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import formatEvent, globalLogPublisher

        from lethean.node import NodeOperations
        from lethean.peers import Peer, PeerRegistry

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        bravo = self.mesh.add_node(identity("bravo"), "bravo:1")
        registry = PeerRegistry(self.clock, os.path.join(self.mktemp(), "peers.json"))
        registry.add_peer(Peer(id=bravo.identity.id, name="bravo", address="bravo:1",
                               public_key=bravo.identity.identity.public_key))
        operations = NodeOperations(self.clock, self.alpha, registry, None)
        dialler = PeerDialler(self.clock, self.alpha, ["bravo", "zulu"],
                              retry_policy=lambda attempt: 10.0, resolve=operations.resolve)
        dialler.startService()
        [link] = self.alpha.connections()
        self.assertEqual(link.peer_id, bravo.identity.id)
        refused = [formatEvent(e) for e in events if "cannot be dialled" in e["log_format"]]
        self.assertEqual(len(refused), 1, refused)
        self.assertIn("--peer zulu", refused[0])
        self.successResultOf(registry.close())
        self.assertEqual(self.clock.getDelayedCalls(), [])  # no retry of zulu pending
        self.successResultOf(dialler.stopService())


class PeerDiallerBehaviourTests(SynchronousTestCase):
    """The backoff, its log lines, bugs, and what stopping leaves."""

    def setUp(self):
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import globalLogPublisher

        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.clock = Clock()
        self.mesh = MemoryMesh(self.clock)
        self.alpha = self.mesh.add_node(identity("alpha"), "alpha:1")
        self.delays = []

        def policy(attempt):
            self.delays.append(attempt)
            return 10.0 * attempt
        self.dialler = PeerDialler(self.clock, self.alpha, ["bravo:1"], retry_policy=policy)

    def lines(self, text):
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.events if text in e["log_format"]]

    def test_backoff_grows_and_starts_again_after_a_link(self):
        """Failed dials back off 10, 20 s; after a link closes, the backoff starts again."""
        self.dialler.startService()
        self.clock.advance(10)
        self.clock.advance(20)
        self.assertEqual(self.delays, [1, 2, 3])
        self.assertIn("retrying in 10.0 s", self.lines("cannot reach")[-1])
        bravo = self.mesh.add_node(identity("bravo"), "bravo:1")
        self.clock.advance(30)
        self.assertEqual(len(self.alpha.connections()), 1)
        self.clock.advance(STABLE_LINK_S)
        from twisted.internet import defer, error

        self.alpha.connect = lambda address, **kw: defer.fail(error.ConnectionRefusedError())
        self.alpha.disconnect(bravo.identity.id)
        self.assertEqual(len(self.lines("redialling")), 1)
        self.clock.advance(0)
        self.assertEqual(self.delays, [1, 2, 3, 1])
        self.assertIn("retrying in 10.0 s", self.lines("cannot reach")[-1])
        self.assertIn("Connection was refused", self.lines("cannot reach")[-1])
        self.successResultOf(self.dialler.stopService())

    def test_a_bug_is_logged_and_retried(self):
        """A dial that fails with something unexpected is logged as a bug, then retried."""
        def broken(address, **kwargs):
            raise TypeError("bug in connect")
        self.alpha.connect = broken
        self.dialler.startService()
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.assertEqual(len(self.lines("bug dialling")), 1)
        self.clock.advance(10)
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.successResultOf(self.dialler.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopping_leaves_the_link_to_the_mesh(self):
        """Stopping the dialler stops redialling; the link stays open for the mesh to close."""
        bravo = self.mesh.add_node(identity("bravo"), "bravo:1")
        self.dialler.startService()
        [link] = self.alpha.connections()
        self.successResultOf(self.dialler.stopService())
        self.assertEqual(self.alpha.connections(), [link])
        self.alpha.disconnect(bravo.identity.id)
        self.clock.advance(100)
        self.assertEqual(self.alpha.connections(), [])
        self.assertEqual(self.lines("redialling"), [])
