"""Links of two lethean transports that upgrade to v2, and what their frames reveal."""

import base64

from twisted.internet import task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import SESSION_V2, MeshTransport, SessionError, TransportConfig, new_message
from lethean.mesh._protocol import MeshClientProtocol, MeshServerProtocol
from lethean.mesh._session import (
    SESSION_UPGRADE,
    Ephemeral,
    SessionCipher,
    SessionKeys,
    derive_keys,
    transcript_hash,
)
from lethean.smsg import FrameCipher
from tests._mesh import (
    ADDRESS,
    Inbox,
    client_factory_for,
    clock_pair,
    make_identity,
    make_registry,
)
from tests._mesh_session import MAX_FRAME_BYTES, opens_with, record, sealed, warnings


class LinkTests(SynchronousTestCase):
    """Two lethean transports upgrade their link (iosim, one Clock)."""

    def setUp(self):
        self.to_server, self.to_client = [], []
        record(self, MeshServerProtocol, self.to_server)
        record(self, MeshClientProtocol, self.to_client)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        (self.clock, self.server, self.client, self.server_protocol,
         self.client_protocol, self.pump) = clock_pair(self)
        self.link = self.client.connection(self.server.identity.id)
        self.inbound = self.server.connection(self.client.identity.id)
        self.inbox = Inbox()
        self.server.add_consumer(self.inbox)
        self.static = FrameCipher(self.link.shared_secret)

    def _message(self, type="x", **payload):
        return new_message(type, self.client.identity.id, self.server.identity.id, payload,
                           clock=self.clock)

    def _dropped(self, reason):
        self.assertEqual(self.server.counters[reason], 1)
        self.assertIsNone(self.server.connection(self.client.identity.id))
        self.assertTrue(self.inbound.closed)

    def test_both_ends_upgrade(self):
        """Both ends report v2, count it, log it, and share a bundle secret of their own."""
        for end, node in ((self.link, self.client), (self.inbound, self.server)):
            self.assertEqual(end.session, "v2")
            self.assertEqual(node.counters["sessions_v2"], 1)
            self.assertIn(SESSION_V2, end.features)
        self.assertEqual(self.link.bundle_secret, self.inbound.bundle_secret)
        self.assertNotEqual(self.link.bundle_secret, self.link.shared_secret)
        ups = [e for e in self.events if "link up" in str(e.get("text", ""))]
        self.assertEqual(len(ups), 2)
        self.assertTrue(all("session v2" in e["text"] for e in ups))

    def test_messages_flow(self):
        """Messages both ways are delivered, and keepalive keeps the link up."""
        self.link.send(self._message(n=1))
        self.pump.flush()
        self.assertEqual([m.payload for _, m in self.inbox.messages], [{"n": 1}])
        for _ in range(4):
            self.clock.advance(30)
            self.pump.flush()
        self.assertIs(self.server.connection(self.client.identity.id), self.inbound)
        self.assertIsNotNone(self.link.rtt_s)

    def test_only_the_upgrades_open_with_the_static_key(self):
        """Of every frame captured, only each side's upgrade opens with the static pair key."""
        self.link.send(self._message(text="attack at dawn"))
        self.pump.flush()
        for log in (self.to_server, self.to_client):
            frames = sealed(log)
            self.assertGreater(len(frames), 2)
            opened = [opens_with(self.static, frame) for frame in frames]
            self.assertEqual(opened[0].type, SESSION_UPGRADE)
            self.assertEqual(opened[1:], [None] * (len(frames) - 1))
        self.assertFalse(any(b"attack at dawn" in payload
                             for payload, _ in self.to_server + self.to_client))

    def _inject(self, frame):
        """Bytes sent to the server as a binary message, as a man in the middle would."""
        self.client_protocol.sendMessage(frame, isBinary=True)
        self.pump.flush()

    def _refused_once(self, text="v2 frame refused"):
        self._dropped("dropped_session_frame")
        self.assertEqual(len(warnings(self.events, text)), 1)

    def test_replayed_frame(self):
        """A frame delivered again ends the link, with one log event and a counter."""
        self.link.send(self._message(n=1))
        self.pump.flush()
        self._inject(sealed(self.to_server)[-1])
        self._refused_once()
        self.assertEqual(len(self.inbox.messages), 1)

    def test_reordered_frames(self):
        """A frame before the one sealed ahead of it ends the link."""
        self.link.seal(self._message(n=1))
        self._inject(self.link.seal(self._message(n=2)))
        self._refused_once()
        self.assertEqual(self.inbox.messages, [])

    def test_reflected_frame(self):
        """A frame the server sent, sent back to it, ends the link."""
        self._inject(sealed(self.to_client)[-1])
        self._refused_once()

    def test_truncated_frame(self):
        """A frame cut short ends the link."""
        self._inject(self.link.seal(self._message(n=1))[:-4])
        self._refused_once()

    def test_malformed_frames(self):
        """Bytes that are no frame at all end the link; nothing raises."""
        for frame in (b"", b"\x00", b"\x00" * 40, bytes(range(256)) * 4):
            _, server, client, _, client_protocol, pump = clock_pair(self)
            client_protocol.sendMessage(frame, isBinary=True)
            pump.flush()
            self.assertEqual(server.counters["dropped_session_frame"], 1, frame)
            self.assertIsNone(server.connection(client.identity.id))

    def test_v1_frame_on_a_v2_link(self):
        """A frame sealed with the static key after the upgrade ends the link."""
        self._inject(self.static.seal(self._message(n=1), timestamp=int(self.clock.seconds())))
        self._refused_once()

    def test_second_upgrade(self):
        """An upgrade inside the session is refused: the link ends."""
        self.link.send(self._message(SESSION_UPGRADE, key="x"))
        self.pump.flush()
        self._dropped("dropped_session_refused")

    def test_goodbye_ends_the_stream(self):
        """A graceful close sends the disconnect as the stream's final frame."""
        self.client.stopService()
        self.pump.flush()
        disconnects = [m for _, m in self.inbox.messages if m.type == "disconnect"]
        self.assertEqual(len(disconnects), 1)
        self.assertEqual(self.server.counters["dropped_session_frame"], 0)


class RecordedTrafficTests(SynchronousTestCase):
    """What a recorder holding both static keys can open of a v2 link afterwards."""

    def test_recorded_v2_traffic_stays_closed(self):
        """
        With both private keys and every byte of the link, only the upgrades
        open; the same decoder with the ephemeral secrets (which the nodes
        dropped) opens everything, so the keys really are out of reach.
        """
        to_server, to_client, ephemerals = [], [], {}
        record(self, MeshServerProtocol, to_server)
        record(self, MeshClientProtocol, to_client)
        original = Ephemeral.__init__

        def remember(ephemeral):
            original(ephemeral)
            ephemerals[ephemeral.public_key] = ephemeral._secret

        self.patch(Ephemeral, "__init__", remember)
        clock, server, client, _, _, pump = clock_pair(self)
        link = client.connection(server.identity.id)
        link.send(new_message("x", client.identity.id, server.identity.id,
                              {"text": "the launch code"}, clock=clock))
        pump.flush()
        server.connection(client.identity.id).send(new_message(
            "y", server.identity.id, client.identity.id, {"text": "the other half"},
            clock=clock))
        pump.flush()
        client.stopService()
        pump.flush()

        # The thief: both static private keys, and the recorded bytes.
        initiator_key, responder_key = client.identity.private_key, server.identity.private_key
        secret = initiator_key.shared_secret(responder_key.public_key)
        static = FrameCipher(secret)
        transcript = transcript_hash(to_server[0][0], to_client[0][0])
        upgrades = [opens_with(static, sealed(log)[0]) for log in (to_server, to_client)]
        self.assertEqual([u.type for u in upgrades], [SESSION_UPGRADE] * 2)
        i_eph, r_eph = (base64.b64decode(u.payload["key"]) for u in upgrades)
        streams = (sealed(to_server)[1:], sealed(to_client)[1:])
        for frame in streams[0] + streams[1]:
            self.assertIsNone(opens_with(static, frame))

        def read(i_secret):
            ephemeral = Ephemeral()
            ephemeral.public_key, ephemeral._secret = i_eph, i_secret
            keys = derive_keys(ephemeral, r_eph, initiator=True, shared_secret=secret,
                               transcript=transcript, initiator_key=initiator_key.public_key,
                               responder_key=responder_key.public_key)
            texts = []
            for receive, frames in ((keys.send, streams[0]), (keys.receive, streams[1])):
                cipher = SessionCipher(SessionKeys(b"\0" * 32, receive, b""), clock,
                                       max_frame_bytes=MAX_FRAME_BYTES)
                try:
                    texts.extend(cipher.open(frame) for frame in frames)
                except SessionError:
                    texts.append(None)
            return texts

        seen = read(ephemerals[i_eph])
        self.assertTrue(any(b"the launch code" in text for text in seen))
        self.assertTrue(any(b"the other half" in text for text in seen))
        for guess in (initiator_key.secret_bytes(), responder_key.secret_bytes(), secret):
            self.assertEqual(read(guess), [None, None])
        self.assertFalse(any(b"the launch code" in payload or b"the other half" in payload
                             for payload, _ in to_server + to_client))


class QueueTests(SynchronousTestCase):
    """Messages sent while the upgrade is under way wait, then go as v2 frames."""

    def test_queued_then_sent_in_the_session(self):
        """The responder's messages sent before the upgrade completes arrive, in order."""
        to_client = []
        record(self, MeshClientProtocol, to_client)
        clock = task.Clock()
        clock.advance(1_700_000_000)
        server, client = (MeshTransport(clock, make_identity(name), make_registry(self),
                                        TransportConfig(listen=None))
                          for name in ("bravo", "alpha"))
        inbox = Inbox()
        client.add_consumer(inbox)
        wire, gate, pump = connectedServerAndClient(
            lambda: server.server_factory().buildProtocol(ADDRESS),
            lambda: client_factory_for(client).buildProtocol(ADDRESS), greet=False, clock=clock)
        for _ in range(20):
            pump.pump()
            protocol = getattr(gate, "wrappedProtocol", None)
            link = getattr(protocol, "link", None)
            if link is not None and link._session is not None:
                break
        self.assertEqual(link.session, "v1")
        for i in range(3):
            link.send(new_message("early", server.identity.id, client.identity.id, {"n": i},
                                  clock=clock))
        pump.flush()
        self.assertEqual(link.session, "v2")
        self.assertEqual([m.payload["n"] for _, m in inbox.messages], [0, 1, 2])
        static = FrameCipher(link.shared_secret)
        opened = [opens_with(static, frame) for frame in sealed(to_client)]
        self.assertEqual(opened[0].type, SESSION_UPGRADE)
        self.assertEqual(opened[1:], [None] * (len(opened) - 1))


class SessionRateLimitTests(SynchronousTestCase):
    """A session frame cannot be skipped unread: past the rate, reading pauses instead."""

    def test_messages_past_the_rate_wait(self):
        """Past the burst every message still arrives, in order, and reading pauses for it."""
        clock, server, client, server_protocol, _, pump = clock_pair(
            self, rate_bytes_burst=4096, rate_bytes_per_s=4096)
        reading = []
        raw = server_protocol.transport.transport
        raw.pauseProducing = lambda: reading.append("paused")
        raw.resumeProducing = lambda: reading.append("resumed")
        inbox = Inbox()
        server.add_consumer(inbox)
        link = client.connection(server.identity.id)
        for i in range(150):
            link.send(new_message("x", client.identity.id, server.identity.id, {"n": i},
                                  clock=clock))
        pump.flush()
        self.assertEqual([m.payload["n"] for _, m in inbox.messages], list(range(150)))
        self.assertGreater(server.counters["rate_limited"], 0)
        self.assertEqual(server.counters["dropped_session_frame"], 0)
        self.assertIs(server.connection(client.identity.id).session, "v2")
        self.assertEqual(reading, ["paused"])
        clock.advance(10)
        self.assertEqual(reading, ["paused", "resumed"])
