"""
Long-lived links between lethean and the Go reference: keepalives, UEPS
packets inside the mesh, and messages a Go peer does not know.
"""

import base64
import re

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.mesh import FeatureNotAnnouncedError, new_message
from lethean.mesh._transport import UEPS
from lethean.node import Controller
from lethean.ueps import Dispatcher, Header, Packet, encode
from tests import _gonode
from tests._gonode import gonode_ctl, gonode_worker, home_for, lethean_node
from tests._mesh import Inbox, address_of, make_node

#: The payload of every packet ``gonode ctl --op ueps:...`` sends.
GO_UEPS_PAYLOAD = b"hello from go-p2p ueps"
#: Go's transport pings (and expects an answer) this often in these tests.
GO_PING_INTERVAL = "2s"
#: Go keepalive pings the link must survive.
KEEPALIVES = 3
#: lethean's keepalive interval in the test of its own pings (30 s by default).
LETHEAN_PING_INTERVAL_S = 0.5
#: Silence allowed after a ping: long, so that only a lost link would end it.
LETHEAN_PONG_TIMEOUT_S = 60.0


class KeepaliveTests(TestCase):
    """``twistd lethean-node --peer`` keeps its link to a Go worker up."""

    skip = _gonode.SKIP
    timeout = 120

    async def test_peer_link_survives_go_keepalives(self):
        """The Go worker's pings are answered in time, and both ends keep the one link."""
        home = home_for(self)
        worker = await gonode_worker(self, home, home / "go", "--ping-interval",
                                     GO_PING_INTERVAL)
        node = await lethean_node(self, home, home / "node", "--peer", worker.address)
        # Go drops a link silent for two intervals: each pong is lethean's answer.
        await worker.output.wait_for_event(lambda e: len(worker.received("pong")) >= KEEPALIVES)
        from_node = [e["type"] for e in worker.events(event="recv") if e["from"] == node.id]
        # lethean announces its features, then proves its key with a ping at once.
        self.assertEqual(from_node[:2], ["capabilities", "ping"])
        self.assertGreaterEqual(len(worker.received("pong", **{"from": node.id})), KEEPALIVES)
        # lethean's view: one link up, to the Go worker, never down, never redialled.
        ups = re.findall(r"link up: go-worker ([0-9a-f]{32}) \S+ outbound", node.output.text)
        self.assertEqual(ups, [worker.id])
        self.assertNotIn("link down: ", node.output.text)
        self.assertNotRegex(node.output.text, r"cannot reach|#warn|#error|#critical")
        await node.stop()
        # lethean still held the link: it said goodbye on it.
        disconnect = await worker.wait_for(event="recv", type="disconnect")
        self.assertEqual(disconnect["payload"], '{"reason":"server shutdown","code":1004}')


    async def test_lethean_keepalives_are_answered_by_go(self):
        """lethean's own keepalive pings (a short interval here) each get a Go pong; the link stays."""
        home = home_for(self)
        worker = await gonode_worker(self, home, home / "go")
        node = make_node(self, reactor, "alpha", listen=None,
                         ping_interval_s=LETHEAN_PING_INTERVAL_S,
                         pong_timeout_s=LETHEAN_PONG_TIMEOUT_S)
        controller = Controller(reactor, node)
        node.add_consumer(controller)
        self.addCleanup(controller.stop)
        link = await node.connect(worker.address)
        # The ping that proved our key was answered before connect() fired:
        # forget its round trip, so that only a keepalive's pong sets it again.
        link.rtt_s = None
        ours = {"from": node.identity.id}
        await worker.output.wait_for_event(
            lambda e: len(worker.received("ping", **ours)) > KEEPALIVES)
        # The Go worker answers in order: with this pong back, so are the keepalives'.
        await controller.ping_peer(worker.id)
        self.assertIsNotNone(link.rtt_s)
        self.assertIs(node.connection(worker.id), link)
        self.assertEqual({name: count for name, count in node.counters.items()
                          if name.startswith(("dropped_", "refused_", "envelope_"))}, {})
        self.assertEqual(worker.events(event="recv", type="disconnect"), [])


class UEPSInsideLinksTests(TestCase):
    """UEPS packets as lethean's ``ueps`` mesh messages, in both directions."""

    skip = _gonode.SKIP
    timeout = 120

    async def test_lethean_to_go(self):
        """A Go peer announced no ``ueps``: send_packet refuses at once; the frame format still verifies in Go."""
        home = home_for(self)
        worker = await gonode_worker(self, home, home / "go")
        node = make_node(self, reactor, "alpha", listen=None)
        link = await node.connect(worker.address)
        self.assertEqual(link.features, frozenset())
        packet = Packet(Header(intent_id=0x20, threat_score=7), b"hello from lethean")
        error = self.assertRaises(FeatureNotAnnouncedError, node.send_packet, worker.id, packet)
        self.assertEqual(str(error), "peer {} did not announce 'ueps'".format(worker.id))
        # The same message, sent by hand: go-p2p's reader verifies lethean's frame.
        link.send(new_message(UEPS, node.identity.id, worker.id, {
            "frame": base64.b64encode(encode(packet, link.shared_secret)).decode("ascii")},
            clock=reactor))
        check = await worker.wait_for(event="ueps_check")
        self.assertEqual(check, {"event": "ueps_check", "verified": True, "intent": 0x20,
                                 "payload": "hello from lethean"})
        [received] = worker.received(UEPS)
        self.assertEqual(received["from"], node.identity.id)
        # go-p2p's Worker ignores the type: no reply, and the link still answers.
        controller = Controller(reactor, node)
        node.add_consumer(controller)
        self.addCleanup(controller.stop)
        await controller.ping_peer(worker.id)
        self.assertIs(node.connection(worker.id), link)

    async def test_go_to_lethean(self):
        """Go's signed packets reach lethean's dispatcher; a high threat score is dropped."""
        home = home_for(self)
        node = make_node(self, reactor, "alpha")
        dispatcher = Dispatcher(reactor)
        handled = []
        dispatcher.register(0x20, handled.append)
        node.add_packet_consumer(dispatcher)
        results, code = await gonode_ctl(home, address_of(node), home / "go", "ueps:32",
                                         "ueps:32:60000", "ueps:200", "ping")
        self.assertEqual(code, 0, results)
        # Frames are handled in order: the pong means every packet was seen.
        self.assertEqual(node.counters["ueps_received"], 3)
        self.assertEqual(node.counters["ueps_rejected"], 0)
        [packet] = handled
        self.assertEqual((packet.header.intent_id, packet.header.threat_score, packet.payload),
                         (0x20, 0, GO_UEPS_PAYLOAD))
        self.assertTrue(all(results[op]["ok"] for op in ("ueps:32", "ueps:32:60000",
                                                         "ueps:200", "ping")))


class UnknownMessageTests(TestCase):
    """A Go peer ignores message types it does not know, and keeps the link."""

    skip = _gonode.SKIP
    timeout = 120

    async def test_capabilities_message_is_ignored(self):
        """A ``capabilities`` extension message gets no reply and the Go worker keeps answering."""
        home = home_for(self)
        worker = await gonode_worker(self, home, home / "go", "--miners")
        node = make_node(self, reactor, "alpha", listen=None)
        inbox = Inbox()
        controller = Controller(reactor, node)
        node.add_consumer(inbox)
        node.add_consumer(controller)
        self.addCleanup(controller.stop)
        link = await node.connect(worker.address)
        announce = new_message("capabilities", node.identity.id, worker.id,
                               {"features": ["deploy_chunks", "ueps"], "version": "0.1.0"},
                               clock=reactor)
        # A Go peer announces nothing; lethean announced itself already.
        self.assertEqual(link.features, frozenset())
        link.send(announce)
        await controller.ping_peer(worker.id)
        stats = await controller.get_remote_stats(worker.id)
        self.assertEqual(stats.node_id, worker.id)
        seen = await worker.wait_for(event="recv", type="capabilities", id=announce.id)
        self.assertEqual((seen["id"], seen["payload"]),
                         (announce.id, '{"features":["deploy_chunks","ueps"],"version":"0.1.0"}'))
        # The Go worker handles frames in order: any answer would have come first.
        self.assertEqual([m.type for _, m in inbox.messages], ["pong", "stats"])
        self.assertEqual([m for _, m in inbox.messages if m.reply_to == announce.id], [])
        self.assertIs(node.connection(worker.id), link)
