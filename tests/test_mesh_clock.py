"""Mesh timers and per-frame policing, driven on a task.Clock over iosim."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import MeshTransport, TransportConfig, new_message
from tests._mesh import (
    ADDRESS,
    Inbox,
    client_factory_for,
    clock_pair,
    make_identity,
    make_registry,
    mute,
    V1_FEATURES,
)


class HandshakeTimeoutTests(SynchronousTestCase):
    """A peer that does not finish the handshake in 10 s is dropped."""

    def test_silent_tcp_connection(self):
        """A TCP connection that never sends anything is aborted after 10 s, logged once."""
        clock = task.Clock()
        node = MeshTransport(clock, make_identity(), make_registry(self),
                             TransportConfig(listen=None))
        protocol = node.server_factory().buildProtocol(ADDRESS)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertEqual(node.pending, 1)
        clock.advance(9.9)
        self.assertFalse(transport.disconnected)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        clock.advance(0.2)
        self.assertTrue(transport.disconnected)
        self.assertEqual(node.counters["refused_timeout"], 1)
        warnings = [e for e in events if "no mesh handshake" in e.get("text", "")]
        self.assertEqual(len(warnings), 1)
        self.assertIn("peer", warnings[0])
        self.assertIn("peer_id", warnings[0])
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(node.pending, 0)
        self.assertEqual(clock.getDelayedCalls(), [])


class FramePolicingTests(SynchronousTestCase):
    """
    Rate limit, decryption, de-duplication and keepalive after the
    handshake, on a v1 link (the reference's frames; v2 in test_mesh_session).
    """

    def setUp(self):
        (self.clock, self.server, self.client, self.server_protocol,
         self.client_protocol, self.pump) = clock_pair(self, features=V1_FEATURES)
        self.inbox = Inbox()
        self.server.add_consumer(self.inbox)
        self.link = self.client.connection(self.server.identity.id)
        self.inbound = self.server.connection(self.client.identity.id)

    def _message(self, **payload):
        return new_message("x", self.client.identity.id, self.server.identity.id, payload,
                           clock=self.clock)

    def test_dedup(self):
        """The same message id twice is delivered once."""
        message = self._message(n=1)
        self.link.send(message)
        self.link.send(message)
        self.pump.flush()
        self.assertEqual([m for _, m in self.inbox.messages], [message])
        self.assertEqual(self.server.counters["duplicates"], 1)

    def test_dedup_expires(self):
        """
        After the TTL an id is forgotten, but a replay is by then outside
        the time window: a new message with the same id is delivered again.
        """
        message = self._message(n=1)
        self.link.send(message)
        self.pump.flush()
        for _ in range(21):
            self.clock.advance(30)
            self.pump.flush()
        self.link.send(message)
        self.pump.flush()
        self.assertEqual(len(self.inbox.messages), 1)
        self.assertEqual(self.server.counters["envelope_stale_ts"], 1)
        self.link.send(new_message("x", self.client.identity.id, self.server.identity.id,
                                   {"n": 1}, clock=self.clock, message_id=message.id))
        self.pump.flush()
        self.assertEqual(len(self.inbox.messages), 2)

    def test_rate_limit(self):
        """Past the burst, frames are dropped until tokens refill on the clock."""
        for i in range(150):
            self.link.send(self._message(n=i))
        self.pump.flush()
        # The capabilities and the first ping used two tokens of the burst of 100.
        self.assertEqual(len(self.inbox.messages), 98)
        self.assertEqual(self.server.counters["rate_limited"], 52)
        self.clock.advance(1)
        self.link.send(self._message(n="late"))
        self.pump.flush()
        self.assertEqual(len(self.inbox.messages), 99)
        self.assertIs(self.server.connection(self.client.identity.id), self.inbound)

    def test_flooding_peer_dropped(self):
        """A peer that keeps sending far past its bucket is dropped."""
        for i in range(100 + 501 + 5):
            self.link.send(self._message(n=i))
        self.pump.flush()
        self.assertEqual(self.server.counters["dropped_flooding"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))

    def test_flood_paced_by_the_refill_is_dropped(self):
        """A flood read while tokens trickle in (one each 20 ms) is still dropped."""
        sent = 0
        while self.server.connection(self.client.identity.id) is not None and sent < 5000:
            for i in range(50):
                self.link.send(self._message(n=sent + i))
            sent += 50
            self.pump.flush()
            self.clock.advance(0.02)
        self.assertEqual(self.server.counters["dropped_flooding"], 1)
        self.assertLess(sent, 1000)

    def test_sustained_excess_under_the_allowance_is_not_dropped(self):
        """A peer sending 80/s for a minute loses its excess messages but keeps its link."""
        for second in range(60):
            for i in range(80):
                self.link.send(self._message(n=second * 100 + i))
                self.pump.flush()
                self.clock.advance(1 / 80)
        self.assertEqual(self.server.counters["dropped_flooding"], 0)
        self.assertGreater(self.server.counters["rate_limited"], 0)
        self.assertIs(self.server.connection(self.client.identity.id), self.inbound)

    def test_garbage_frames_dropped_not_fatal(self):
        """A frame that does not decrypt is counted, logged once with peer fields, and dropped."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.client_protocol.sendMessage(b"\x00" * 64, isBinary=True)
        self.pump.flush()
        self.assertEqual(self.server.counters["decrypt_failed"], 1)
        warnings = [e for e in events if e.get("log_level").name == "warn"]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["peer_id"], self.client.identity.id)
        self.assertIn("peer", warnings[0])
        self.assertIn("reason", warnings[0])
        message = self._message(n=2)
        self.link.send(message)
        self.pump.flush()
        self.assertEqual([m for _, m in self.inbox.messages], [message])

    def test_text_frame_after_handshake(self):
        """A text frame after the handshake drops the peer."""
        self.client_protocol.sendMessage(b"{}", isBinary=False)
        self.pump.flush()
        self.assertEqual(self.server.counters["dropped_text_frame"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))

    def test_keepalive_pings(self):
        """Each side sends a sealed ping every interval, which keeps both alive."""
        for _ in range(5):
            self.clock.advance(30)
            self.pump.flush()
        self.assertIs(self.server.connection(self.client.identity.id), self.inbound)
        self.assertIs(self.client.connection(self.server.identity.id), self.link)
        self.assertEqual(self.inbox.messages, [])

    def test_link_figures(self):
        """Each end counts frames and bytes both ways and times its keepalive round trip."""
        opened = self.link.connected_at
        self.clock.advance(30)
        self.clock.advance(0.25)
        self.pump.flush()
        self.assertEqual(self.link.rtt_s, 0.25)
        self.assertEqual(self.link.last_activity, opened + 30.25)
        for end, other in ((self.link, self.inbound), (self.inbound, self.link)):
            self.assertGreaterEqual(end.frames_out, 1)
            self.assertEqual(end.frames_out, other.frames_in)
            self.assertEqual(end.bytes_out, other.bytes_in)
            self.assertGreater(end.bytes_out, 97 * end.frames_out)
            self.assertEqual(end.session, "v1")

    def test_idle_peer_evicted(self):
        """A peer silent for interval + grace is dropped; garbage does not count as activity."""
        mute(self.pump)
        self.clock.advance(30)
        self.pump.flush()
        self.assertIs(self.server.connection(self.client.identity.id), self.inbound)
        self.server_protocol.link.message_received(b"\x01" * 80, True)
        self.clock.advance(30)
        self.pump.flush()
        self.assertEqual(self.server.counters["dropped_idle"], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))
        self.pump.flush()
        self.assertIsNone(self.client.connection(self.server.identity.id))


class RandomFrameTests(SynchronousTestCase):
    """Whatever bytes a peer sends after the handshake, nothing raises."""

    @settings(max_examples=200)
    @given(st.binary(max_size=400))
    def test_random_frames(self, frame):
        """Random binary frames on a v1 link are counted as undecryptable; the link stays up."""
        if not hasattr(self, "pair"):
            self.pair = clock_pair(self, rate_burst=10**6, max_bad_frames=10**6,
                                   features=V1_FEATURES)
        clock, server, client, server_protocol, client_protocol, pump = self.pair
        inbound = server.connection(client.identity.id)
        before = server.counters["decrypt_failed"]
        server_protocol.link.message_received(frame, True)
        self.assertEqual(server.counters["decrypt_failed"], before + 1)
        self.assertIs(server.connection(client.identity.id), inbound)


class InitiatorTimeoutTests(SynchronousTestCase):
    """An initiator whose responder never answers gives up after 10 s."""

    def test_silent_responder(self):
        """connect's result fails with HandshakeTimeoutError and no timer is left."""
        from twisted.internet.protocol import Protocol
        from twisted.test.iosim import connectedServerAndClient

        from lethean.mesh import HandshakeTimeoutError

        clock = task.Clock()
        client = MeshTransport(clock, make_identity("alpha"), make_registry(self),
                               TransportConfig(listen=None))
        factory = client_factory_for(client)
        _, _, pump = connectedServerAndClient(Protocol, lambda: factory.buildProtocol(ADDRESS),
                                              clock=clock)
        pump.flush()
        self.assertNoResult(factory.result)
        clock.advance(10)
        pump.flush()
        self.failureResultOf(factory.result, HandshakeTimeoutError)
        self.assertEqual(client.counters["handshake_timeout"], 1)
        self.assertEqual(clock.getDelayedCalls(), [])
