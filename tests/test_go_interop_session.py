"""
v2 sessions leave links with the Go reference node exactly as they were:
the real Go node (``../shared/gonode/bin/gonode``) against lethean, both
ways.  Skipped, with the reason, when the Go node is missing.
"""

import json

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from lethean.bundles import create_profile_bundle
from lethean.interfaces import IMessageConsumer
from lethean.mesh import SESSION_V2
from lethean.mesh._capabilities import CAPABILITIES
from lethean.mesh._envelope import PING
from lethean.node import Controller, RemoteError, Worker
from lethean.smsg import frame_password
from tests._gonode import GONODE, SKIP, gonode_worker, home_for
from tests._mesh import make_node
from tests._processes import short_folder, spawn

#: Seconds between two looks at the frames a link has read.
FRAMES_POLL_S = 0.05


def _events(output):
    """The JSON objects a gonode command printed, one a line."""
    events = []
    for line in output.text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _no_trouble(testcase, node):
    """No refusal, drop or envelope rejection on ``node``."""
    trouble = {name: count for name, count in node.counters.items()
               if name.startswith(("refused_", "dropped_", "envelope_", "decrypt_failed"))}
    testcase.assertEqual(trouble, {})


@implementer(IMessageConsumer)
class _Watch:
    """Counts what arrives and fires ``lost`` when a link closes."""

    def __init__(self):
        self.types = []
        self.lost = defer.Deferred()

    def messageReceived(self, connection, message):
        self.types.append(message.type)

    def connectionLost(self, connection):
        if not self.lost.called:
            self.lost.callback(connection)


class GoLinkTests(TestCase):
    """A v2-capable lethean node and the Go node: v1 links, as before."""

    skip = SKIP
    timeout = 60

    def _gonode(self, *argv):
        """Run ``gonode argv``; ``(process, Output)``.  Stopped (SIGTERM) after the test."""
        return spawn(self, short_folder(self), [str(GONODE), *argv], stop_signal="TERM")

    async def test_lethean_dials_a_go_worker(self):
        """
        The link is v1; every kind of message a Go worker sends (its replies,
        an error, its keepalive pings, its goodbye) passes the envelope checks.
        """
        home = home_for(self)
        worker = await gonode_worker(self, home, home / "go", "--miners", "--profiles",
                                     "--ping-interval", "1s")
        node = make_node(self, reactor, "controller", listen=None)
        controller = Controller(reactor, node, registry=node.registry)
        node.add_consumer(controller)
        watch = _Watch()
        node.add_consumer(watch)
        link = await node.connect(worker.address)
        self.assertEqual((link.session, link.features), ("v1", frozenset()))
        self.assertEqual(link.bundle_secret, link.shared_secret)
        peer = link.peer_id
        await controller.ping_peer(peer)
        stats = await controller.get_remote_stats(peer)
        self.assertEqual(stats.node_id, peer)
        name = await controller.start_remote_miner(peer, "xmrig", config={"pool": "p"})
        await controller.get_remote_logs(peer, name, 5)
        await controller.stop_remote_miner(peer, name)
        with self.assertRaises(RemoteError):
            await controller.get_remote_logs(peer, "no-such-miner", 5)
        bundle = create_profile_bundle(b'{"id":"p1","name":"p1"}', "p1",
                                       frame_password(link.bundle_secret))
        ack = await controller.deploy_bundle(peer, bundle)
        self.assertTrue(ack.success)
        replies = link.frames_in
        while link.frames_in < replies + 2:   # the Go keepalive pings, one a second
            await task.deferLater(reactor, FRAMES_POLL_S)
        worker.stop()   # SIGTERM: its goodbye
        await link.when_lost()
        _no_trouble(self, node)

    async def test_go_controller_dials_lethean(self):
        """
        A Go controller's requests, keepalive pings and goodbye all pass the
        envelope checks of a v1 link; every request is answered.
        """
        node = make_node(self, reactor, "worker")
        node.add_consumer(Worker(reactor, node.identity))
        watch = _Watch()
        node.add_consumer(watch)
        address = "127.0.0.1:{}".format(node.port.getHost().port)
        _, output = self._gonode("ctl", "--addr", address, "--data-dir", short_folder(self),
                              "--ping-interval", "1s", "--op", "ping", "--op", "stats",
                              "--op", "start:xmrig", "--op", "stop:m", "--op", "logs:m:5",
                              "--op", "raw:get_stats:2", "--op", "sleep:3")
        await output.ended
        link = await watch.lost
        results = {event.get("op"): event for event in _events(output)}
        for op in ("connect", "ping", "stats", "raw:get_stats:2"):
            self.assertTrue(results[op]["ok"], output.text)
        for op in ("start:xmrig", "stop:m", "logs:m:5"):
            # No miner manager here: each is answered with the worker's error.
            self.assertIn("remote error", str(results[op]["error"]), output.text)
        # Six requests, then at least two keepalive pings, each a frame that opened.
        self.assertGreaterEqual(link.frames_in, 8)
        self.assertEqual(node.counters["connections_opened"], 1)
        _no_trouble(self, node)

    async def test_go_responder_sees_the_reference_bytes(self):
        """gonode sniff reads our handshake and opens our frames with the pair key."""
        _, output = self._gonode("sniff", "--listen", "127.0.0.1:0", "--idle", "2s",
                              "--data-dir", short_folder(self))
        ready = await output.wait_for(r'"event":"ready".*"listen":"([0-9.:]+)"')
        node = make_node(self, reactor, "controller", listen=None)
        # It reports its address once it listens.
        link = await node.connect(ready.group(1))
        self.assertEqual((link.session, link.features), ("v1", frozenset()))
        await output.ended
        events = _events(output)
        handshake = next(e for e in events if e.get("event") == "handshake")
        hello = json.loads(handshake["raw"])
        self.assertEqual(list(hello), ["id", "type", "from", "to", "ts", "payload"])
        self.assertEqual(list(hello["payload"]), ["identity", "challenge", "version"])
        self.assertEqual(len(hello["payload"]["challenge"]), 44)  # 32 bytes, as Go's
        bodies = [json.loads(json.loads(e["plaintext"])["body"])
                  for e in events if e.get("event") == "frame"]
        self.assertEqual([body["type"] for body in bodies[:2]], [CAPABILITIES, PING])
        self.assertIn(SESSION_V2, bodies[0]["payload"]["features"])
