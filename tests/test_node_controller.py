"""Tests for lethean.node._controller: requests, replies, timeouts and deploys."""

import os

from hypothesis import given, settings, strategies as st
from twisted.internet import defer, reactor, task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from lethean.bundles import create_miner_bundle, create_profile_bundle
from lethean.identity import NoIdentityError
from lethean.interfaces import IMeshTransport, IMessageConsumer
from lethean.mesh import NotConnectedError, new_message, reply
from lethean.node._controller import SINGLE_DEPLOY_MAX_BYTES, Controller
from lethean.node._deploy_chunks import DEPLOY_CHUNK_BYTES, DEPLOY_WINDOW
from lethean.node._errors import (
    ConnectFailedError,
    ControllerError,
    DeployTooLargeError,
    MinerCommandError,
    RemoteError,
    RequestAbortedError,
    RequestTimeoutError,
    SendFailedError,
    UnexpectedResponseError,
    UnknownPeerError,
)
from lethean.node._payloads import DeployChunkAckPayload, StatsPayload
from lethean.node._worker import Worker
from lethean.peers import Peer, PeerRegistry
from lethean.smsg import frame_password
from lethean.testing import MemoryMesh
from tests._mesh import address_of, make_node
from tests.strategies import json_values
from tests.test_node_worker import (
    FakeMiner,
    FakeMinerManager,
    FakeProfileManager,
    make_identity,
    synchronous,
)


class Silent:
    """A consumer that never answers (a busy or Go-only worker)."""

    def __init__(self):
        self.received = []

    def messageReceived(self, connection, message):
        self.received.append(message)


class ControllerHarness(SynchronousTestCase):
    """A controller node, a worker node, and a registry on a task.Clock."""

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1767323045)
        self.mesh = MemoryMesh(self.clock)
        self.home = self.mesh.add_node(make_identity("alpha"))
        self.registry = PeerRegistry(self.clock, self.mktemp())
        self.addCleanup(self.registry.close)
        self.controller = Controller(self.clock, self.home, self.registry)
        self.home.add_consumer(self.controller)
        self.miners = FakeMinerManager([FakeMiner("xmrig-0", stats={"hashrate": 5.0},
                                                  lines=["x", "y"])])
        self.profiles = FakeProfileManager()
        self.miners_root = self.mktemp()
        self.far, self.worker = self.add_worker("bravo")

    def add_worker(self, name, register=True):
        node = self.mesh.add_node(make_identity(name))
        worker = Worker(self.clock, node.identity, miner_manager=self.miners,
                        profile_manager=self.profiles, miners_root=self.miners_root,
                        run_in_thread=synchronous)
        node.add_consumer(worker)
        if register:
            identity = node.identity.identity
            self.registry.add_peer(Peer(id=identity.id, name=name, public_key=identity.public_key,
                                        address=node.address))
        return node, worker

    def answer_with(self, message_type, payload):
        """Replace the worker by one that answers every request with this."""
        for consumer in list(self.far._consumers):
            self.far.remove_consumer(consumer)

        class Answer:
            def messageReceived(inner, connection, message):
                connection.send(reply(message, message_type, payload, clock=self.clock))
        self.far.add_consumer(Answer())

    def assertNoRequestTimers(self):
        """No request timeout is left scheduled."""
        self.assertEqual((self.controller._pending, self.controller._by_connection), ({}, {}))
        self.assertEqual([call for call in self.clock.getDelayedCalls()
                          if call.func == self.controller._timed_out], [])

    @property
    def far_id(self):
        return self.far.identity.id


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


class OperationTests(ControllerHarness):
    """The operations of controller-worker.md 2.2."""

    def test_ping(self):
        """Ping returns the RTT in ms and records it in the registry."""
        self.mesh.autoflush = False
        d = self.controller.ping_peer(self.far_id)
        self.clock.advance(0.25)
        self.mesh.flush()
        self.assertEqual(self.successResultOf(d), 250.0)
        self.assertEqual(self.registry.get_peer(self.far_id).ping_ms, 250.0)

    def test_ping_timeout(self):
        """A peer that never pongs fails after 5 s."""
        self.far.answer_pings = False
        self.far.remove_consumer(self.worker)
        d = self.controller.ping_peer(self.far_id)
        self.clock.advance(5)
        self.failureResultOf(d, RequestTimeoutError)

    def test_start_and_stop_miner(self):
        """Start returns the instance name; stop the stopped name."""
        self.assertEqual(self.successResultOf(self.controller.start_remote_miner(
            self.far_id, "xmrig", config={"threads": 4})), "xmrig-0")
        self.assertEqual(self.miners.started, [("xmrig", {"threads": 4})])
        self.assertEqual(self.successResultOf(self.controller.stop_remote_miner(
            self.far_id, "xmrig-0")), "xmrig-0")

    def test_miner_failures(self):
        """A miner_ack with success false fails with the reference's text."""
        self.miners.start_error = "boom"
        failure = self.failureResultOf(self.controller.start_remote_miner(
            self.far_id, "xmrig", config={}), MinerCommandError)
        self.assertEqual(str(failure.value), "miner start failed: boom")
        self.miners.stop_error = "gone"
        failure = self.failureResultOf(self.controller.stop_remote_miner(self.far_id, "x"),
                                       MinerCommandError)
        self.assertEqual(str(failure.value), "miner stop failed: gone")
        self.failureResultOf(self.controller.start_remote_miner(self.far_id, ""), ControllerError)

    def test_logs(self):
        """Logs come back as a list; since is sent in milliseconds."""
        self.assertEqual(self.successResultOf(self.controller.get_remote_logs(
            self.far_id, "xmrig-0", 10, since=1767323045120)), ["x", "y"])
        self.assertEqual(self.miners.miners["xmrig-0"].history_calls[0][1].timestamp(),
                         1767323045.12)

    def test_all_stats(self):
        """Every connected peer is asked at once; failing peers are left out."""
        third, third_worker = self.add_worker("charlie")
        third.remove_consumer(third_worker)
        third.add_consumer(Silent())
        self.add_worker("delta")  # registered but not connected: not asked
        for node in (self.far, third):
            self.successResultOf(self.controller.connect_to_peer(node.identity.id))
            self.registry.set_connected(node.identity.id, True)
        d = self.controller.get_all_stats()
        self.assertNoResult(d)
        self.clock.advance(10)
        stats = self.successResultOf(d)
        self.assertEqual(list(stats), [self.far_id])


class DeployTests(ControllerHarness):
    """deploy_bundle."""

    def turns(self, d=None, count=100):
        """Run reactor turns (chunks go one per turn) until ``d`` fires."""
        for _ in range(count):
            if d is not None and d.called:
                break
            self.clock.advance(0)
        return d

    def password(self):
        connection = self.successResultOf(self.controller.connect_to_peer(self.far_id))
        return frame_password(connection.bundle_secret)

    def test_encrypted_profile(self):
        """An encrypted profile reaches the worker's profile manager."""
        bundle = create_profile_bundle(b'{"name":"gpu"}', "gpu", self.password())
        ack = self.successResultOf(self.controller.deploy_bundle(self.far_id, bundle))
        self.assertEqual((ack.success, ack.name), (True, "gpu"))
        self.assertEqual(self.profiles.saved, [{"name": "gpu"}])
        self.assertEqual([m.type for m in self.far.received], ["deploy"])

    def test_failed_ack(self):
        """deploy_ack with success false fails the deploy."""
        self.profiles.save_error = "disk full"
        bundle = create_profile_bundle(b'{"name":"gpu"}', "gpu", self.password())
        failure = self.failureResultOf(self.controller.deploy_bundle(self.far_id, bundle),
                                       ControllerError)
        self.assertEqual(str(failure.value), "deploy failed: disk full")

    def test_large_miner_is_chunked(self):
        """A bundle over one frame goes as deploy_chunk parts and installs."""
        binary = os.urandom(SINGLE_DEPLOY_MAX_BYTES + 400_000)
        bundle = create_miner_bundle("xmrig", binary, "huge", self.password())
        ack = self.successResultOf(self.turns(self.controller.deploy_bundle(self.far_id, bundle)))
        self.assertTrue(ack.success)
        with open(os.path.join(self.miners_root, "huge", "xmrig"), "rb") as f:
            self.assertEqual(f.read(), binary)
        chunks = -(-len(bundle.data) // DEPLOY_CHUNK_BYTES)
        self.assertGreater(chunks, 1)
        self.assertEqual([m.type for m in self.far.received], ["deploy_chunk"] * chunks)
        self.assertEqual([m.payload["index"] for m in self.far.received], list(range(chunks)))

    def test_chunks_in_flight_are_bounded(self):
        """At most DEPLOY_WINDOW chunks await their acks; each ack lets the next one go."""
        self.far.remove_consumer(self.worker)
        silent = Silent()
        self.far.add_consumer(silent)
        binary = os.urandom(DEPLOY_CHUNK_BYTES * (DEPLOY_WINDOW + 2))
        bundle = create_miner_bundle("xmrig", binary, "huge", self.password())
        d = self.controller.deploy_bundle(self.far_id, bundle, timeout_s=30)
        # The first chunk goes at once, the others in later reactor turns.
        self.assertEqual([m.payload["index"] for m in silent.received], [0])
        self.turns()
        self.assertEqual([m.payload["index"] for m in silent.received],
                         list(range(DEPLOY_WINDOW)))
        first = silent.received[0]
        self.far.connection(self.home.identity.id).send(reply(
            first, "deploy_chunk_ack",
            DeployChunkAckPayload(upload_id=first.payload["uploadId"], index=0),
            clock=self.clock))
        self.turns()
        self.assertEqual([m.payload["index"] for m in silent.received],
                         list(range(DEPLOY_WINDOW + 1)))
        self.assertNoResult(d)
        self.clock.advance(30)
        self.failureResultOf(d, RequestTimeoutError)
        self.assertNoRequestTimers()

    def test_chunk_refused_mid_window(self):
        """A refused chunk fails the deploy and abandons the chunks still in flight."""
        self.worker.max_upload_bytes = DEPLOY_CHUNK_BYTES  # the first chunk is refused
        bundle = create_miner_bundle("xmrig", os.urandom(DEPLOY_CHUNK_BYTES * (DEPLOY_WINDOW + 2)),
                                     "huge", self.password())
        failure = self.failureResultOf(
            self.turns(self.controller.deploy_bundle(self.far_id, bundle)), RemoteError)
        self.assertIn("over the", failure.value.message)
        self.assertNoRequestTimers()

    def test_deploy_progress(self):
        """progress hears the start, each acknowledged chunk, and the end."""
        binary = os.urandom(SINGLE_DEPLOY_MAX_BYTES + 400_000)
        bundle = create_miner_bundle("xmrig", binary, "huge", self.password())
        seen = []
        self.successResultOf(self.turns(self.controller.deploy_bundle(
            self.far_id, bundle, progress=lambda sent, total: seen.append((sent, total)))))
        total = len(bundle.data)
        self.assertEqual(seen[0], (0, total))
        self.assertEqual(seen[-1], (total, total))
        self.assertEqual(len(seen), -(-total // DEPLOY_CHUNK_BYTES) + 1)
        self.assertEqual([sent for sent, _ in seen], sorted(sent for sent, _ in seen))

    def test_go_worker_ignores_chunks(self):
        """A worker that does not know deploy_chunk makes the deploy time out."""
        self.worker.handlers.pop("deploy_chunk")
        bundle = create_miner_bundle("xmrig", os.urandom(SINGLE_DEPLOY_MAX_BYTES + 1000),
                                     "huge", self.password())
        d = self.controller.deploy_bundle(self.far_id, bundle, timeout_s=30)
        self.clock.advance(30)
        self.failureResultOf(d, RequestTimeoutError)


    def test_no_chunks_for_a_go_worker(self):
        """To a peer that did not announce deploy_chunks, a large deploy fails at once."""
        go = self.mesh.add_node(make_identity("go"), features=frozenset())
        link = self.successResultOf(self.home.connect(go.address))
        bundle = create_miner_bundle("xmrig", os.urandom(SINGLE_DEPLOY_MAX_BYTES + 1000),
                                     "huge", frame_password(link.bundle_secret))
        failure = self.failureResultOf(self.controller.deploy_bundle(go.identity.id, bundle),
                                       DeployTooLargeError)
        text = str(failure.value)
        self.assertIn(go.identity.id, text)
        self.assertIn(str(SINGLE_DEPLOY_MAX_BYTES), text)
        self.assertIn("deploy_chunks", text)
        self.assertEqual(go.received, [])
        self.assertNoRequestTimers()


class DualRoleTests(SynchronousTestCase):
    """Controller and worker on one transport (weakness 8)."""

    def test_both_directions(self):
        """Two dual nodes ask each other for stats over one link."""
        clock = task.Clock()
        mesh = MemoryMesh(clock)
        nodes = [mesh.add_node(make_identity(name)) for name in ("alpha", "bravo")]
        controllers = []
        for node in nodes:
            controller = Controller(clock, node)
            node.add_consumer(controller)
            node.add_consumer(Worker(clock, node.identity))
            controllers.append(controller)
        self.successResultOf(nodes[0].connect(nodes[1].address))
        a, b = (node.identity.id for node in nodes)
        self.assertEqual(self.successResultOf(controllers[0].get_remote_stats(b)).node_name, "bravo")
        self.assertEqual(self.successResultOf(controllers[1].get_remote_stats(a)).node_name, "alpha")
        both = defer.gatherResults([controllers[0].get_remote_stats(b),
                                    controllers[1].get_remote_stats(a)])
        self.assertEqual([s.node_id for s in self.successResultOf(both)], [b, a])


class LoopbackTests(TestCase):
    """Controller and worker on two real MeshTransports over loopback."""

    def setUp(self):
        self.alpha = make_node(self, reactor, "alpha")
        self.bravo = make_node(self, reactor, "bravo")
        self.profiles = FakeProfileManager()
        self.bravo.add_consumer(Worker(reactor, self.bravo.identity,
                                       profile_manager=self.profiles,
                                       miners_root=self.mktemp()))
        self.alpha_worker = Worker(reactor, self.alpha.identity)
        self.alpha.add_consumer(self.alpha_worker)
        self.controllers = []
        for node in (self.alpha, self.bravo):
            controller = Controller(reactor, node)
            node.add_consumer(controller)
            self.addCleanup(controller.stop)
            self.controllers.append(controller)

    async def test_requests_and_deploy(self):
        """Stats, ping and an encrypted profile deploy work over real links, both ways."""
        controller = self.controllers[0]
        link = await self.alpha.connect(address_of(self.bravo))
        bravo_id = self.bravo.identity.id
        stats = await controller.get_remote_stats(bravo_id)
        self.assertEqual(stats.node_name, "bravo")
        self.assertGreaterEqual(await controller.ping_peer(bravo_id), 0.0)
        bundle = create_profile_bundle(b'{"name":"gpu"}', "gpu",
                                       frame_password(link.shared_secret))
        ack = await controller.deploy_bundle(bravo_id, bundle)
        self.assertEqual((ack.success, self.profiles.saved), (True, [{"name": "gpu"}]))
        back = await self.controllers[1].get_remote_stats(self.alpha.identity.id)
        self.assertEqual(back.node_name, "alpha")

    async def test_lost_link_fails_pending(self):
        """A request waiting on a link that closes fails at once."""
        self.alpha.remove_consumer(self.alpha_worker)
        self.alpha.add_consumer(Silent())
        await self.bravo.connect(address_of(self.alpha))
        pending = self.controllers[1].get_remote_stats(self.alpha.identity.id)
        self.bravo.connection(self.alpha.identity.id).close()
        with self.assertRaises(RequestAbortedError):
            await pending


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
