"""from, to and ts of every message, checked on v1 and v2 links alike."""

import attrs
from twisted.internet import task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import FEATURES, new_message
from tests._mesh import Inbox, clock_pair, V1_FEATURES
from tests._mesh_session import warnings


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
        self.assertEqual(len(warnings(self.events, "dropped message")), len(refused))
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
