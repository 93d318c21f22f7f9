"""Tests for lethean.node._worker: the worker's replies, as the reference sends them."""

import os
import stat
from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st
from twisted.internet import defer, task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from lethean.bundles import Bundle, create_miner_bundle, create_plain_profile_bundle, create_profile_bundle
from lethean.identity import LocalIdentity, PrivateKey
from lethean.interfaces import IMessageConsumer
from lethean.mesh import Timestamp, new_message
from lethean.node._miners import MinerError, MinerNotFoundError
from lethean.node._payloads import DEPLOY_CHUNK, DeployChunkPayload, DeployPayload
from lethean.node._errors import ProfileError, ProfileNotFoundError, WorkerError
from lethean.node._upload import MAX_UPLOADS_PER_PEER
from lethean.node._worker import Worker
from lethean.smsg import frame_password
from lethean.testing import MemoryMesh
from tests.strategies import json_values


def make_identity(name):
    """A fresh LocalIdentity called ``name``."""
    return LocalIdentity.create(PrivateKey.generate(), name, "dual", Timestamp.from_unix(0))


def synchronous(reactor, function, *args, **kwargs):
    """Run "in a thread" at once, for tests on a task.Clock."""
    return defer.maybeDeferred(function, *args, **kwargs)


class FakeMiner:
    """A MinerInstance with canned stats and console lines."""

    def __init__(self, name, type="xmrig", stats=None, lines=None, fail=False):
        self.name, self.type, self.stats, self.lines, self.fail = name, type, stats, lines, fail
        self.history_calls = []

    def get_name(self):
        return self.name

    def get_type(self):
        return self.type

    def get_stats(self):
        if self.fail:
            raise MinerError("stats unavailable")
        return self.stats

    def get_console_history_since(self, lines, since):
        self.history_calls.append((lines, since))
        return self.lines


class FakeMinerManager:
    """A MinerManager recording what it was asked."""

    def __init__(self, miners=(), start_error=None, stop_error=None):
        self.miners = {m.name: m for m in miners}
        self.start_error, self.stop_error = start_error, stop_error
        self.started, self.stopped = [], []

    def start_miner(self, miner_type, config):
        if self.start_error:
            raise MinerError(self.start_error)
        self.started.append((miner_type, config))
        return defer.succeed(FakeMiner(miner_type + "-0", miner_type))

    def stop_miner(self, name):
        if self.stop_error:
            raise MinerError(self.stop_error)
        self.stopped.append(name)

    def list_miners(self):
        return list(self.miners.values())

    def get_miner(self, name):
        if name not in self.miners:
            raise MinerNotFoundError("miner not found: {}".format(name))
        return self.miners[name]


class FakeProfileManager:
    """A ProfileManager kept in a dict."""

    def __init__(self, profiles=None, save_error=None):
        self.profiles = dict(profiles or {})
        self.saved = []
        self.save_error = save_error

    def get_profile(self, profile_id):
        if profile_id not in self.profiles:
            raise ProfileNotFoundError("profile not found: {}".format(profile_id))
        return self.profiles[profile_id]

    def save_profile(self, profile):
        if self.save_error:
            raise ProfileError(self.save_error)
        self.saved.append(profile)


class WorkerHarness(SynchronousTestCase):
    """A controller-side node talking to a node that runs a Worker."""

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1767323045.12)
        self.mesh = MemoryMesh(self.clock)
        self.client = self.mesh.add_node(make_identity("alpha"))
        self.server = self.mesh.add_node(make_identity("bravo"))
        self.link = self.successResultOf(self.client.connect(self.server.address))
        self.miners = FakeMinerManager([
            FakeMiner("xmrig-0", stats={"hashrate": 1234.5, "shares": 10, "rejected": 1,
                                        "uptime": 3600, "pool": "pool.example:3333",
                                        "algorithm": "rx/0"},
                      lines=["a", "b", "c"]),
        ])
        self.profiles = FakeProfileManager({"p1": {"threads": 2}})
        self.miners_root = self.mktemp()
        self.worker = self.make_worker()
        self.server.add_consumer(self.worker)

    def make_worker(self, **kwargs):
        options = dict(miner_manager=self.miners, profile_manager=self.profiles,
                       miners_root=self.miners_root, run_in_thread=synchronous)
        options.update(kwargs)
        return Worker(self.clock, self.server.identity, **options)

    def replace_worker(self, **kwargs):
        self.server.remove_consumer(self.worker)
        self.worker = self.make_worker(**kwargs)
        self.server.add_consumer(self.worker)

    def ask(self, message_type, payload=None):
        """Send a request; return the one reply to it (or None)."""
        request = new_message(message_type, self.client.identity.id, self.server.identity.id,
                              payload, clock=self.clock)
        self.link.send(request)
        replies = [m for m in self.client.received if m.reply_to == request.id]
        self.assertLessEqual(len(replies), 1)
        if replies:
            reply = replies[0]
            self.assertEqual(reply.to, self.client.identity.id)
            self.assertEqual(reply.from_, self.server.identity.id)
            return reply
        return None

    def assertReply(self, message_type, payload, expected_type, expected_payload):
        reply = self.ask(message_type, payload)
        self.assertIsNotNone(reply)
        self.assertEqual((reply.type, reply.payload), (expected_type, expected_payload))

    def assertError(self, message_type, payload, text):
        self.assertReply(message_type, payload, "error", {"code": 1004, "message": text})


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


class StatsTests(WorkerHarness):
    """get_stats."""

    def test_stats(self):
        """Stats list the miners, the identity and whole seconds of uptime."""
        self.clock.advance(7200.9)
        self.assertReply("get_stats", None, "stats", {
            "nodeId": self.server.identity.id, "nodeName": "bravo",
            "miners": [{"name": "xmrig-0", "type": "xmrig", "hashrate": 1234.5, "shares": 10,
                        "rejected": 1, "uptime": 3600, "pool": "pool.example:3333",
                        "algorithm": "rx/0"}],
            "uptime": 7200})

    def test_failing_and_odd_miners(self):
        """Miners whose stats fail are skipped; non-map stats give zero values."""
        self.miners.miners = {"bad": FakeMiner("bad", fail=True),
                              "odd": FakeMiner("odd", "tt", stats=["not", "a", "map"]),
                              "ints": FakeMiner("ints", stats={"hashrate": 7, "shares": 2.0,
                                                               "pool": 3})}
        miners = self.ask("get_stats").payload["miners"]
        self.assertEqual([m["name"] for m in miners], ["odd", "ints"])
        self.assertEqual(miners[0]["hashrate"], 0)
        self.assertEqual((miners[1]["hashrate"], miners[1]["shares"], miners[1]["pool"]),
                         (7, 2, ""))

    def test_no_miner_manager(self):
        """Without a miner manager the stats have no miners."""
        self.replace_worker(miner_manager=None)
        self.assertEqual(self.ask("get_stats").payload["miners"], [])


class MinerTests(WorkerHarness):
    """start_miner and stop_miner."""

    def test_no_manager(self):
        """Every miner request needs a miner manager."""
        self.replace_worker(miner_manager=None)
        for message_type in ("start_miner", "stop_miner", "get_logs"):
            self.assertError(message_type, {}, "node: miner manager not configured")

    def test_start_with_config(self):
        """A config in the request is used as it is, even null."""
        self.assertReply("start_miner", {"minerType": "xmrig", "config": {"threads": 4}},
                         "miner_ack", {"success": True, "minerName": "xmrig-0"})
        self.ask("start_miner", {"minerType": "xmrig", "config": None})
        self.assertEqual(self.miners.started, [("xmrig", {"threads": 4}), ("xmrig", None)])

    def test_start_with_profile(self):
        """Without a config the profile is looked up."""
        self.ask("start_miner", {"minerType": "xmrig", "profileId": "p1"})
        self.assertEqual(self.miners.started, [("xmrig", {"threads": 2})])
        self.assertError("start_miner", {"minerType": "xmrig", "profileId": "nope"},
                         "Worker.handleStartMiner: profile not found: nope")
        self.replace_worker(profile_manager=None)
        self.assertError("start_miner", {"minerType": "xmrig"},
                         "Worker.handleStartMiner: no config provided and no profile manager "
                         "configured")

    def test_start_refusals(self):
        """A bad payload or an empty miner type are error replies."""
        self.assertError("start_miner", {"minerType": ""},
                         "Worker.handleStartMiner: miner type is required")
        reply = self.ask("start_miner", {"minerType": 5})
        self.assertTrue(reply.payload["message"].startswith(
            "Worker.handleStartMiner: invalid start miner payload: "))

    def test_start_failure_is_an_ack(self):
        """A manager that fails to start answers miner_ack with success false."""
        self.miners.start_error = "no such binary"
        self.assertReply("start_miner", {"minerType": "xmrig", "config": {}}, "miner_ack",
                         {"success": False, "error": "no such binary"})

    def test_stop(self):
        """stop_miner always answers miner_ack, with the error text on failure."""
        self.assertReply("stop_miner", {"minerName": "xmrig-0"}, "miner_ack",
                         {"success": True, "minerName": "xmrig-0"})
        self.miners.stop_error = "not running"
        self.assertReply("stop_miner", {"minerName": "xmrig-0"}, "miner_ack",
                         {"success": False, "minerName": "xmrig-0", "error": "not running"})
        self.assertEqual(self.miners.stopped, ["xmrig-0"])


class LogsTests(WorkerHarness):
    """get_logs."""

    def test_logs(self):
        """Lines come back with hasMore when the request's count is reached."""
        self.assertReply("get_logs", {"minerName": "xmrig-0", "lines": 3}, "logs",
                         {"minerName": "xmrig-0", "lines": ["a", "b", "c"], "hasMore": True})
        self.assertEqual(self.ask("get_logs", {"minerName": "xmrig-0", "lines": 5})
                         .payload["hasMore"], False)

    def test_clamp_and_since(self):
        """lines <= 0 or > 10000 mean 10000; since is Unix milliseconds."""
        miner = self.miners.miners["xmrig-0"]
        self.ask("get_logs", {"minerName": "xmrig-0", "lines": 0})
        self.ask("get_logs", {"minerName": "xmrig-0", "lines": 10001, "since": 1767323045120})
        self.assertEqual(miner.history_calls, [
            (10000, None),
            (10000, datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=timezone.utc))])

    def test_no_lines_is_null(self):
        """A miner with no history answers lines null."""
        self.miners.miners["xmrig-0"].lines = None
        self.assertReply("get_logs", {"minerName": "xmrig-0", "lines": 3}, "logs",
                         {"minerName": "xmrig-0", "lines": None, "hasMore": False})

    def test_unknown_miner(self):
        """An unknown miner is the reference's error reply."""
        self.assertError("get_logs", {"minerName": "nope", "lines": 3},
                         "Worker.handleGetLogs: miner not found: nope")


class DeployTests(WorkerHarness):
    """deploy and deploy_chunk."""

    def password(self):
        return frame_password(self.link.bundle_secret)

    def test_bundles_keyed_from_the_session(self):
        """
        Between lethean peers bundles are keyed from the v2 session; one made
        ahead of time with the static pair secret still opens; nothing else does.
        """
        self.assertEqual(self.link.session, "v2")
        self.assertNotEqual(self.link.bundle_secret, self.link.shared_secret)
        for name, password in (("session", self.password()),
                               ("static", frame_password(self.link.shared_secret))):
            bundle = create_profile_bundle(b'{"name":"gpu"}', name, password)
            self.assertReply("deploy", bundle.to_deploy_payload(), "deploy_ack",
                             {"success": True, "name": name})
        other = make_identity("charlie").shared_secret(self.server.identity.identity.public_key)
        wrong = create_profile_bundle(b'{"name":"gpu"}', "other", frame_password(other))
        self.assertEqual(self.ask("deploy", wrong.to_deploy_payload()).type, "error")
        self.assertEqual(len(self.profiles.saved), 2)

    def test_v1_bundles_keyed_from_the_static_secret(self):
        """With a Go peer (a v1 link) the bundle secret is the reference's, the static one."""
        go = self.mesh.add_node(make_identity("go"), features=frozenset())
        link = self.successResultOf(go.connect(self.server.address))
        self.assertEqual((link.session, link.bundle_secret), ("v1", link.shared_secret))

    def test_encrypted_profile(self):
        """An encrypted profile bundle is decrypted with the pair's secret and saved."""
        bundle = create_profile_bundle(b'{"name":"gpu","threads":8}', "gpu", self.password())
        self.assertReply("deploy", bundle.to_deploy_payload(), "deploy_ack",
                         {"success": True, "name": "gpu"})
        self.assertEqual(self.profiles.saved, [{"name": "gpu", "threads": 8}])

    def test_profile_failures(self):
        """Wrong key, plaintext, bad JSON and save failures answer as the reference."""
        wrong = create_profile_bundle(b'{"a":1}', "gpu", "not the secret")
        reply = self.ask("deploy", wrong.to_deploy_payload())
        self.assertTrue(reply.payload["message"].startswith(
            "Worker.handleDeploy: failed to extract profile bundle: ExtractProfileBundle: "))
        plain = create_plain_profile_bundle(b'{"a":1}', "plain")
        self.assertEqual(self.ask("deploy", plain.to_deploy_payload()).type, "error")
        self.replace_worker(allow_plain_profiles=True)
        self.assertEqual(self.ask("deploy", plain.to_deploy_payload()).payload,
                         {"success": True, "name": "plain"})
        broken = Bundle.seal("profile", "bad", b'{"a":')
        self.assertTrue(self.ask("deploy", broken.to_deploy_payload()).payload["message"]
                        .startswith("Worker.handleDeploy: invalid profile data JSON: "))
        self.profiles.save_error = "read-only"
        self.assertReply("deploy", plain.to_deploy_payload(), "deploy_ack",
                         {"success": False, "name": "plain", "error": "read-only"})
        self.replace_worker(profile_manager=None)
        self.assertError("deploy", plain.to_deploy_payload(),
                         "Worker.handleDeploy: profile manager not configured")

    def test_unknown_type(self):
        """An unknown bundle type is an error reply naming it."""
        self.assertError("deploy", {"type": "firmware", "data": "", "checksum": "", "name": "x"},
                         "Worker.handleDeploy: unknown bundle type: firmware")

    def test_miner_bundle(self):
        """A miner bundle is installed executable and its profile saved."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF" + bytes(100), "xmrig-6.21",
                                     self.password(), profile_json=b'{"name":"bundled"}')
        self.assertReply("deploy", bundle.to_deploy_payload(), "deploy_ack",
                         {"success": True, "name": "xmrig-6.21"})
        path = os.path.join(self.miners_root, "xmrig-6.21", "xmrig")
        self.assertTrue(stat.S_IMODE(os.stat(path).st_mode) & stat.S_IXUSR)
        self.assertEqual(self.profiles.saved, [{"name": "bundled"}])

    def test_miner_bundle_without_profile(self):
        """The default TIM config is not saved as a profile (weakness 7)."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF", "bare", self.password())
        self.assertEqual(self.ask("deploy", bundle.to_deploy_payload()).payload["success"], True)
        self.assertEqual(self.profiles.saved, [])

    def test_miner_bundle_name_traversal(self):
        """A name that would leave the miners folder is refused."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF", "ok", self.password())
        payload = dict(bundle.to_deploy_payload(), name="../../etc")
        reply = self.ask("deploy", payload)
        self.assertTrue(reply.payload["message"].startswith(
            "Worker.handleDeploy: failed to extract miner bundle: ExtractMinerBundle: "))
        self.assertFalse(os.path.exists(os.path.join(self.miners_root, "..", "..", "etc")))

    def chunks(self, bundle, size, upload_id="u1"):
        data = bundle.data
        total = -(-len(data) // size)
        return [DeployChunkPayload(upload_id, i, total, len(data), bundle.type, bundle.name,
                                   bundle.checksum, data[i * size:(i + 1) * size])
                for i in range(total)]

    def test_chunked_deploy(self):
        """Chunks are acknowledged one by one; the last one answers deploy_ack."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        parts = self.chunks(bundle, 1000)
        for part in parts[:-1]:
            self.assertReply(DEPLOY_CHUNK, part, "deploy_chunk_ack",
                             {"uploadId": "u1", "index": part.index})
        self.assertReply(DEPLOY_CHUNK, parts[-1], "deploy_ack", {"success": True, "name": "big"})
        self.assertTrue(os.path.exists(os.path.join(self.miners_root, "big", "xmrig")))
        self.assertEqual(len(self.worker._uploads), 0)

    def test_chunk_refusals(self):
        """Out-of-order, oversized, mismatched and excess uploads are refused and dropped."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        parts = self.chunks(bundle, 1000)
        self.assertEqual(self.ask(DEPLOY_CHUNK, parts[1]).type, "error")
        self.ask(DEPLOY_CHUNK, parts[0])
        self.assertEqual(self.ask(DEPLOY_CHUNK, parts[2]).type, "error")
        self.assertEqual(len(self.worker._uploads), 0)
        self.replace_worker(max_upload_bytes=100)
        self.assertIn("over the 100 byte limit", self.ask(DEPLOY_CHUNK, parts[0]).payload["message"])
        self.replace_worker()
        for n in range(MAX_UPLOADS_PER_PEER):
            self.assertEqual(self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, str(n))[0]).type,
                             "deploy_chunk_ack")
        self.assertIn("too many uploads",
                      self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, "x")[0]).payload["message"])

    def test_node_wide_upload_budget(self):
        """Uploads from all peers together may not declare more than the node's budget."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        size = len(bundle.data)
        self.replace_worker(max_upload_total_bytes=size + size // 2)
        self.assertEqual(self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, "a")[0]).type,
                         "deploy_chunk_ack")
        self.assertIn("at the node's {} byte limit".format(size + size // 2),
                      self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, "b")[0]).payload["message"])

    def test_idle_upload_expires(self):
        """An upload with no new chunk for the idle timeout is forgotten."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        parts = self.chunks(bundle, 1000)
        self.ask(DEPLOY_CHUNK, parts[0])
        self.clock.advance(59)
        self.ask(DEPLOY_CHUNK, parts[1])
        self.clock.advance(59)
        self.assertEqual(len(self.worker._uploads), 1)
        self.clock.advance(2)
        self.assertEqual(len(self.worker._uploads), 0)
        self.assertEqual(self.ask(DEPLOY_CHUNK, parts[2]).type, "error")

    def test_connection_lost_drops_uploads(self):
        """Closing the link forgets its uploads and their timers."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000)[0])
        self.link.close()
        self.assertEqual(len(self.worker._uploads), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


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


class DirectoryProfileTests(WorkerHarness):
    """The worker with lethean's DirectoryProfileManager."""

    def test_deployed_profile_starts_a_miner(self):
        """A deployed profile is stored, then used by start_miner's profileId."""
        from lethean.node._profiles import DirectoryProfileManager
        self.replace_worker(profile_manager=DirectoryProfileManager(self.mktemp()))
        profile = b'{"id":"gpu","pools":[{"url":"pool.example:3333"}],"threads":8}'
        bundle = create_profile_bundle(profile, "gpu", frame_password(self.link.shared_secret))
        self.assertEqual(self.ask("deploy", bundle.to_deploy_payload()).payload,
                         {"success": True, "name": "gpu"})
        self.assertReply("start_miner", {"minerType": "xmrig", "profileId": "gpu"}, "miner_ack",
                         {"success": True, "minerName": "xmrig-0"})
        self.assertEqual(self.miners.started, [("xmrig", {
            "id": "gpu", "pools": [{"url": "pool.example:3333"}], "threads": 8})])
        self.assertError("start_miner", {"minerType": "xmrig", "profileId": "../x"},
                         "Worker.handleStartMiner: profile not found: ../x")
