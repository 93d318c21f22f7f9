"""Tests for lethean.node._worker: which messages it answers, and how it refuses."""

from hypothesis import given, settings, strategies as st
from twisted.internet import defer
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from zope.interface.verify import verifyObject

from lethean.interfaces import IMessageConsumer
from lethean.mesh import new_message
from lethean.node._payloads import DeployPayload
from lethean.node._errors import WorkerError
from lethean.node._worker import Worker
from tests._node_worker import WorkerHarness
from tests.strategies import json_values


class DispatchTests(WorkerHarness):
    """Which messages the worker answers."""

    def test_provides_interface(self):
        """Worker provides IMessageConsumer."""
        self.assertTrue(verifyObject(IMessageConsumer, self.worker))

    def test_public_calls_return_deferreds(self):
        """Each handler, stats and deploy return a Deferred, never a bare coroutine."""
        handler_types = {"ping": {"sentAt": 5}, "get_stats": None,
                         "start_miner": {"minerType": "xmrig", "profileId": "p1"},
                         "stop_miner": {"minerName": "xmrig-0"},
                         "get_logs": {"minerName": "xmrig-0", "lines": 2},
                         "deploy": {"type": "nonsense"}, "deploy_chunk": {}}
        self.replace_worker(answer_pings=True)
        self.assertEqual(set(self.worker.handlers), set(handler_types))
        for message_type, payload in handler_types.items():
            request = new_message(message_type, self.client.identity.id,
                                  self.server.identity.id, payload, clock=self.clock)
            d = self.worker.handlers[message_type](self.link, request)
            self.assertIsInstance(d, defer.Deferred, message_type)
            d.addErrback(lambda failure: None)
        stats = self.worker.stats()
        self.assertIsInstance(stats, defer.Deferred)
        self.assertEqual(self.successResultOf(stats).node_name, "bravo")
        deploy = self.worker.deploy(self.link, DeployPayload(type="nonsense", data=b"",
                                                             checksum="", name="x"))
        self.assertIsInstance(deploy, defer.Deferred)
        self.failureResultOf(deploy, WorkerError)

    def test_unknown_types_ignored(self):
        """Types without a handler, replies included, get no reply at all."""
        for message_type in ("pong", "stats", "disconnect", "bogus", "miner_ack"):
            self.assertIsNone(self.ask(message_type, {"x": 1}))

    def test_ping_left_to_the_transport(self):
        """The worker does not answer ping; the transport does, exactly once."""
        reply = self.ask("ping", {"sentAt": 5})
        self.assertEqual(reply.type, "pong")
        self.assertEqual(reply.payload["sentAt"], 5)

    def test_ping_answered_when_asked(self):
        """With answer_pings (and a transport that does not), the worker sends pong."""
        self.server.answer_pings = False
        self.assertIsNone(self.ask("ping", {"sentAt": 5}))
        self.replace_worker(answer_pings=True)
        self.assertReply("ping", {"sentAt": 5}, "pong",
                         {"sentAt": 5, "receivedAt": 1767323045120})
        self.assertError("ping", {"sentAt": "x"}, "Worker.handlePing: invalid ping payload: "
                         "json: cannot unmarshal string into Go struct field PingPayload.sentAt "
                         "of type int64")

    def test_handler_that_raises_becomes_error_reply(self):
        """An unexpected exception in a handler is logged and answered with code 1004."""
        def broken():
            raise ValueError("disk on fire")
        self.miners.list_miners = broken
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        reply = self.ask("get_stats")
        self.assertEqual(reply.type, "error")
        self.assertEqual(reply.payload["code"], 1004)
        self.assertIn("disk on fire", reply.payload["message"])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertTrue(any(e.get("intent") == "get_stats" for e in observer))

    def assertBugReported(self, message_type, payload, error_class, text):
        """A manager's bug is logged with its traceback and answered with code 1004."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.assertError(message_type, payload, "Worker: {}: {}".format(message_type, text))
        self.assertEqual(len(self.flushLoggedErrors(error_class)), 1)
        self.assertTrue(any(e.get("log_failure") is not None and e.get("intent") == message_type
                            for e in observer))

    def test_manager_bug_is_not_miner_not_found(self):
        """A get_miner that fails with a bug is logged and answered as one, not 'not found'."""
        def broken(name):
            raise TypeError("bug in get_miner")
        self.miners.get_miner = broken
        self.assertBugReported("get_logs", {"minerName": "xmrig-0"}, TypeError,
                               "bug in get_miner")

    def test_manager_bug_is_not_profile_not_found(self):
        """A profile manager with a bug is logged, not answered 'profile not found'."""
        self.profiles.get_profile = lambda profile_id: defer.fail(AttributeError("oops"))
        self.assertBugReported("start_miner", {"minerType": "xmrig", "profileId": "p1"},
                               AttributeError, "oops")

    def test_manager_bug_is_not_a_refused_start(self):
        """start_miner, stop_miner and stats report a manager's bug, not a failed miner."""
        self.miners.start_miner = lambda miner_type, config: 1 / 0
        self.assertBugReported("start_miner", {"minerType": "xmrig", "config": {}},
                               ZeroDivisionError, "division by zero")
        self.miners.stop_miner = lambda name: {}[name]
        self.assertBugReported("stop_miner", {"minerName": "xmrig-0"}, KeyError, "'xmrig-0'")
        self.miners.miners["xmrig-0"].get_stats = lambda: None.hashrate
        self.assertBugReported("get_stats", None, AttributeError,
                               "'NoneType' object has no attribute 'hashrate'")

    def test_managers_may_answer_with_deferreds_or_coroutines(self):
        """maybeDeferred's convention: a value, a Deferred or a coroutine's result."""
        async def history(lines, since):
            return ["x"]
        miner = self.miners.miners["xmrig-0"]
        miner.get_console_history_since = history
        self.miners.get_miner = lambda name: defer.succeed(miner)
        self.assertReply("get_logs", {"minerName": "xmrig-0", "lines": 3}, "logs",
                         {"minerName": "xmrig-0", "lines": ["x"], "hasMore": False})

    def test_no_identity_no_error_reply(self):
        """Without an identity errors cannot be sent; they are logged."""
        self.server.remove_consumer(self.worker)
        self.server.add_consumer(Worker(self.clock, None))
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.assertIsNone(self.ask("get_stats"))
        self.assertEqual([e["reason"] for e in observer if "reason" in e],
                         ["node: node identity not initialized"])


class AnyPayloadTests(WorkerHarness):
    """Hostile payloads never break the worker."""

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(["get_stats", "start_miner", "stop_miner", "get_logs", "deploy",
                            "deploy_chunk"]), json_values)
    def test_one_reply_of_the_right_type(self, message_type, payload):
        """Any payload gets exactly one reply: the type's reply or an error."""
        expected = {"get_stats": "stats", "start_miner": "miner_ack", "stop_miner": "miner_ack",
                    "get_logs": "logs", "deploy": "deploy_ack",
                    "deploy_chunk": "deploy_chunk_ack"}[message_type]
        reply = self.ask(message_type, payload)
        self.assertIn(reply.type, (expected, "error", "deploy_ack"))
        if reply.type == "error":
            self.assertEqual(reply.payload["code"], 1004)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.worker.stop()


class LoggingTests(WorkerHarness):
    """Refusals leave one structured log event."""

    def test_refusal_logged_once(self):
        """A refused request logs intent, peer_id and reason once."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.ask("get_logs", {"minerName": "nope"})
        events = [e for e in observer if "reason" in e]
        self.assertEqual(len(events), 1)
        self.assertEqual((events[0]["intent"], events[0]["peer_id"], events[0]["reason"]),
                         ("get_logs", self.client.identity.id,
                          "Worker.handleGetLogs: miner not found: nope"))
