"""PeerDialler keeps --peer links up, redialling with backoff on the clock."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from lethean._gotime import Timestamp
from lethean.identity import LocalIdentity, PrivateKey
from lethean.node._dialler import PeerDialler
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
        self.alpha.disconnect(bravo.identity.id)
        [again] = self.alpha.connections()
        self.assertIsNot(again, link)
        self.successResultOf(self.dialler.stopService())

    def test_stop_while_waiting(self):
        """Stopping during a backoff delay cancels it and leaves no timer behind."""
        self.dialler.startService()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.successResultOf(self.dialler.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])
