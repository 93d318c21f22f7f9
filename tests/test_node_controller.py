"""Tests for lethean.node._controller: requests, their replies, timeouts and failures."""

from hypothesis import given, settings, strategies as st
from twisted.internet import defer
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from zope.interface.verify import verifyObject

from lethean.identity import NoIdentityError
from lethean.interfaces import IMeshTransport, IMessageConsumer
from lethean.mesh import NotConnectedError, new_message, reply
from lethean.node._errors import (
    ConnectFailedError,
    ControllerError,
    RemoteError,
    RequestAbortedError,
    RequestTimeoutError,
    SendFailedError,
    UnexpectedResponseError,
    UnknownPeerError,
)
from lethean.node._payloads import StatsPayload
from tests._node_controller import ControllerHarness, Silent
from tests.strategies import json_values


class RequestTests(ControllerHarness):
    """Correlation, auto-connect and failures."""

    def test_interfaces(self):
        """The controller is a message consumer and the fake mesh a transport."""
        self.assertTrue(verifyObject(IMessageConsumer, self.controller))
        self.assertTrue(verifyObject(IMeshTransport, self.home))

    def test_stats_auto_connects(self):
        """A request to a registered, unconnected peer dials its address first."""
        stats = self.successResultOf(self.controller.get_remote_stats(self.far_id))
        self.assertIsInstance(stats, StatsPayload)
        self.assertEqual((stats.node_id, stats.node_name), (self.far_id, "bravo"))
        self.assertEqual(stats.miners[0].hashrate, 5.0)
        self.assertIsNotNone(self.home.connection(self.far_id))
        self.assertEqual(self.registry.get_peer(self.far_id).score, 51)

    def test_unknown_peer(self):
        """A peer neither connected nor registered fails with the reference's text."""
        failure = self.failureResultOf(self.controller.get_remote_stats("f" * 32), UnknownPeerError)
        self.assertEqual(str(failure.value), "peer not found: " + "f" * 32)

    def test_connect_failure(self):
        """A registered peer that cannot be dialled fails the request."""
        peer = self.registry.get_peer(self.far_id)
        self.registry.update_peer(peer.evolve(address="memory:nowhere"))
        self.failureResultOf(self.controller.get_remote_stats(self.far_id), ConnectFailedError)

    def test_timeout(self):
        """No reply within 10 s fails with a timeout and scores the peer down."""
        self.far.remove_consumer(self.worker)
        self.far.add_consumer(Silent())
        d = self.controller.get_remote_stats(self.far_id)
        self.clock.advance(9.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.failureResultOf(d, RequestTimeoutError)
        self.assertEqual(self.registry.get_peer(self.far_id).score, 47)
        self.assertEqual(self.controller._pending, {})

    def test_remote_error(self):
        """An error reply becomes RemoteError with its code and text."""
        failure = self.failureResultOf(self.controller.get_remote_logs(self.far_id, "nope", 5),
                                       RemoteError)
        self.assertEqual(failure.value.code, 1004)
        self.assertEqual(str(failure.value),
                         "remote error (1004): Worker.handleGetLogs: miner not found: nope")

    def test_unparsable_error(self):
        """An error reply with a bad payload is code 1000."""
        self.answer_with("error", ["nonsense"])
        failure = self.failureResultOf(self.controller.get_remote_stats(self.far_id), RemoteError)
        self.assertEqual(str(failure.value), "remote error (1000): unable to parse error response")

    def test_unexpected_type(self):
        """A reply of another type fails the request."""
        self.answer_with("pong", {})
        failure = self.failureResultOf(self.controller.get_remote_stats(self.far_id),
                                       UnexpectedResponseError)
        self.assertEqual(str(failure.value), "unexpected response type: expected stats, got pong")

    def test_bad_reply_payload(self):
        """A reply whose payload has the wrong shape fails the request."""
        self.answer_with("stats", {"uptime": "long"})
        self.failureResultOf(self.controller.get_remote_stats(self.far_id), UnexpectedResponseError)

    def test_stray_reply_logged_and_dropped(self):
        """A reply nobody asked for is logged with the peer id and dropped."""
        connection = self.successResultOf(self.controller.connect_to_peer(self.far_id))
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        request = new_message("get_stats", self.home.identity.id, self.far_id, None,
                              clock=self.clock)
        stray = reply(request, "stats", {}, clock=self.clock, from_=self.far_id)
        connection.other_end.send(stray)
        events = [e for e in observer if e.get("intent") == "stats"]
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["peer_id"], self.far_id)

    def test_second_reply_dropped(self):
        """Only the first reply to a request is delivered."""
        self.far.remove_consumer(self.worker)

        class Twice:
            def messageReceived(inner, connection, message):
                for _ in range(2):
                    connection.send(reply(message, "stats", {"uptime": 1}, clock=self.clock))
        self.far.add_consumer(Twice())
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.assertEqual(self.successResultOf(self.controller.get_remote_stats(self.far_id)).uptime, 1)
        self.assertEqual(len([e for e in observer if e.get("intent") == "stats"]), 1)

    def test_connection_lost_fails_pending(self):
        """Losing the link fails the requests waiting on it at once."""
        self.far.remove_consumer(self.worker)
        self.far.add_consumer(Silent())
        d = self.controller.get_remote_stats(self.far_id)
        self.far.disconnect(self.home.identity.id)
        failure = self.failureResultOf(d, RequestAbortedError)
        self.assertIn("lost", str(failure.value))
        self.assertNoRequestTimers()

    def test_connection_lost_fails_only_its_requests(self):
        """A lost link fails its own requests; those on other links still get answers."""
        third, third_worker = self.add_worker("charlie")
        silent = Silent()
        for node, worker in ((self.far, self.worker), (third, third_worker)):
            node.remove_consumer(worker)
            node.add_consumer(silent)
        lost = [self.controller.get_remote_stats(self.far_id) for _ in range(2)]
        kept = self.controller.get_remote_stats(third.identity.id)
        self.far.disconnect(self.home.identity.id)
        for d in lost:
            self.failureResultOf(d, RequestAbortedError)
        self.assertNoResult(kept)
        [request] = [m for m in silent.received if m.type == "get_stats" and m.to == third.identity.id]
        third.connection(self.home.identity.id).send(reply(
            request, "stats", {"nodeId": third.identity.id, "nodeName": "charlie", "miners": [],
                               "uptime": 3}, clock=self.clock))
        self.assertEqual(self.successResultOf(kept).uptime, 3)
        self.assertNoRequestTimers()

    def test_stop_fails_pending_and_later(self):
        """stop() fails every pending request, and later ones at once."""
        self.far.remove_consumer(self.worker)
        self.far.add_consumer(Silent())
        d = self.controller.get_remote_stats(self.far_id)
        self.controller.stop()
        self.failureResultOf(d, RequestAbortedError)
        self.failureResultOf(self.controller.get_remote_stats(self.far_id), RequestAbortedError)
        self.assertNoRequestTimers()

    def test_no_identity(self):
        """Without an identity nothing is sent."""
        self.home.identity = None
        self.failureResultOf(self.controller.get_remote_stats(self.far_id), NoIdentityError)

    def test_disconnect(self):
        """disconnect_from_peer closes a link and refuses an unconnected peer."""
        self.failureResultOf(self.controller.disconnect_from_peer(self.far_id),
                             NotConnectedError)
        self.successResultOf(self.controller.connect_to_peer(self.far_id))
        self.controller.disconnect_from_peer(self.far_id)
        self.assertIsNone(self.home.connection(self.far_id))


class SendFailureTests(ControllerHarness):
    """Requests whose message cannot be sent."""

    def test_too_large(self):
        """A message over the frame limit fails with SendFailedError and leaves nothing pending."""
        self.successResultOf(self.controller.connect_to_peer(self.far_id))
        failure = self.failureResultOf(self.controller.request(
            self.far_id, "get_stats", "x" * (1024 * 1024), 5), SendFailedError)
        self.assertTrue(str(failure.value).startswith("failed to send message: "))
        self.assertNoRequestTimers()

    def test_cancel(self):
        """Cancelling a request forgets it and its timer."""
        self.far.remove_consumer(self.worker)
        self.far.add_consumer(Silent())
        d = self.controller.get_remote_stats(self.far_id)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertNoRequestTimers()
        self.assertEqual(self.registry.get_peer(self.far_id).score, 50)


class AnyReplyTests(ControllerHarness):
    """Hostile replies never break the controller."""

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(["stats", "error", "miner_ack", "logs", "pong", "deploy_ack"]),
           json_values)
    def test_reply_parsed_or_controller_error(self, reply_type, payload):
        """Any reply payload gives a parsed result or a ControllerError."""
        self.answer_with(reply_type, payload)
        for d in (self.controller.get_remote_stats(self.far_id),
                  self.controller.get_remote_logs(self.far_id, "x", 1),
                  self.controller.stop_remote_miner(self.far_id, "x")):
            results = []
            d.addBoth(results.append)
            self.assertEqual(len(results), 1)
            if isinstance(results[0], Failure):
                results[0].trap(ControllerError)
        self.assertEqual(self.controller._pending, {})
