"""Peers that upgrade to v2 wrongly, or not at all, and are dropped."""

import base64

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from twisted.internet import task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import generate_challenge
from lethean.mesh import (
    FEATURES,
    MeshTransport,
    SessionPendingError,
    TransportConfig,
    decode_message,
    new_message,
    open_message,
)
from lethean.mesh._capabilities import CAPABILITIES
from lethean.mesh._stacking import use_reactor_timers
from lethean.mesh._handshake import handshake_message, respond
from lethean.mesh._session import QUEUE_MESSAGES, SESSION_UPGRADE, Ephemeral, offer_challenge
from lethean.smsg import FrameCipher
from tests._mesh import ADDRESS, client_factory_for, make_identity, make_registry
from tests._mesh_session import warnings


class _ScriptedInitiator(WebSocketClientProtocol):
    """A hand-written initiator: its handshake, then the script's frames once acked."""

    def onOpen(self):
        script = self.factory.script
        self.sendMessage(handshake_message(script.identity, "", script.challenge,
                                           clock=script.clock).to_bytes(), isBinary=False)

    def onMessage(self, payload, isBinary):
        script = self.factory.script
        script.received.append((payload, isBinary))
        if isBinary or script.cipher is not None:
            return
        ack = decode_message(payload)
        script.cipher = FrameCipher(script.identity.shared_secret(
            ack.payload["identity"]["publicKey"]))
        for message in script.after_ack(script, ack.from_):
            self.sendMessage(script.cipher.seal(message, timestamp=int(script.clock.seconds())),
                             isBinary=True)


class _Script:
    def __init__(self, clock, challenge, after_ack):
        self.clock = clock
        self.identity = make_identity("alpha")
        self.challenge = challenge(self.identity)
        self.after_ack = after_ack
        self.cipher = None
        self.received = []

    def message(self, type, to, payload):
        return new_message(type, self.identity.id, to, payload, clock=self.clock)


def _go_like(identity):
    return generate_challenge()


def _offer(identity):
    return offer_challenge(identity.identity.raw_public_key)


def _scripted_initiator(testcase, challenge, after_ack=lambda script, server_id: ()):
    """A MeshTransport and a hand-written initiator on iosim: ``(clock, server, script, pump)``."""
    clock = task.Clock()
    clock.advance(1_700_000_000)
    server = MeshTransport(clock, make_identity("bravo"), make_registry(testcase),
                           TransportConfig(listen=None))
    factory = WebSocketClientFactory("ws://127.0.0.1:9091/ws", reactor=clock)
    factory.protocol = _ScriptedInitiator
    factory.script = _Script(clock, challenge, after_ack)
    use_reactor_timers(factory, clock)
    factory.setProtocolOptions(autoPingInterval=0)
    _, _, pump = connectedServerAndClient(
        lambda: server.server_factory().buildProtocol(ADDRESS),
        lambda: factory.buildProtocol(ADDRESS), clock=clock)
    pump.flush()
    return clock, server, factory.script, pump


class _AcceptOnly(WebSocketServerProtocol):
    """A responder that accepts a v2 offer and then never sends its upgrade."""

    def onMessage(self, payload, isBinary):
        factory = self.factory
        factory.received.append((payload, isBinary))
        if not isBinary:
            decision = respond(factory.identity, factory.registry, payload, clock=factory.clock,
                               sessions=True)
            self.sendMessage(decision.ack.to_bytes(), isBinary=False)


class UpgradeRefusalTests(SynchronousTestCase):
    """Peers that upgrade wrongly, or not at all, are dropped: one event, one counter."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def _upgrade_payload(self, transcript=b"\x00" * 32):
        return {"key": base64.b64encode(Ephemeral().public_key).decode(),
                "transcript": base64.b64encode(transcript).decode()}

    def test_upgrade_without_negotiation(self):
        """A session_upgrade on a link that negotiated none (v1) is refused."""
        clock, server, script, pump = _scripted_initiator(
            self, _go_like, lambda script, to: [script.message(SESSION_UPGRADE, to,
                                                               self._upgrade_payload())])
        self.assertEqual(server.counters["dropped_session_refused"], 1)
        self.assertEqual(len(warnings(self.events, "did not negotiate v2")), 1)
        self.assertEqual(server.connections(), [])

    def test_initiator_stops_mid_upgrade(self):
        """An initiator that offered v2 and sends nothing more is dropped at the deadline."""
        clock, server, script, pump = _scripted_initiator(self, _offer)
        self.assertEqual([binary for _, binary in script.received], [False, True])
        self.assertEqual(server.pending, 1)
        clock.advance(TransportConfig().session_timeout_s - 0.5)
        self.assertEqual(server.counters["dropped_session_timeout"], 0)
        clock.advance(1)
        pump.flush()
        self.assertEqual(server.counters["dropped_session_timeout"], 1)
        self.assertEqual(server.pending, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_another_frame_instead_of_the_upgrade(self):
        """After negotiating v2, a first frame other than the upgrade is refused."""
        clock, server, script, pump = _scripted_initiator(
            self, _offer, lambda script, to: [script.message(CAPABILITIES, to, {})])
        self.assertEqual(server.counters["dropped_session_refused"], 1)
        self.assertEqual(len(warnings(self.events, "expected the session upgrade")), 1)

    def test_altered_handshake(self):
        """An upgrade naming other handshake frames than the responder's is refused."""
        clock, server, script, pump = _scripted_initiator(
            self, _offer, lambda script, to: [script.message(SESSION_UPGRADE, to,
                                                             self._upgrade_payload())])
        self.assertEqual(server.counters["dropped_session_transcript"], 1)
        self.assertEqual(len(warnings(self.events, "altered in transit")), 1)

    def test_downgrade_detected_by_capabilities(self):
        """A peer announcing v2 on a link whose handshake negotiated none is dropped."""
        clock, server, script, pump = _scripted_initiator(
            self, _go_like, lambda script, to: [script.message(
                CAPABILITIES, to, {"features": sorted(FEATURES), "version": "x"})])
        self.assertEqual(server.counters["dropped_session_downgrade"], 1)
        self.assertEqual(server.connections(), [])

    def test_go_like_initiator_stays_v1(self):
        """An initiator that offers nothing and announces nothing gets a v1 link, as today."""
        clock, server, script, pump = _scripted_initiator(
            self, _go_like, lambda script, to: [script.message("ping", to, {"sentAt": 1})])
        [link] = server.connections()
        self.assertEqual(link.session, "v1")
        frames = [payload for payload, binary in script.received if binary]
        self.assertEqual([open_message(script.cipher, f).type for f in frames],
                         [CAPABILITIES, "pong"])

    def test_responder_stops_mid_upgrade(self):
        """A responder that accepted v2 and never upgrades is dropped by the initiator."""
        clock = task.Clock()
        clock.advance(1_700_000_000)
        client = MeshTransport(clock, make_identity("alpha"), make_registry(self),
                               TransportConfig(listen=None))
        responder = WebSocketServerFactory("ws://localhost/ws")
        responder.protocol = _AcceptOnly
        responder.identity, responder.registry = make_identity("bravo"), make_registry(self)
        responder.clock, responder.received = clock, []
        use_reactor_timers(responder, clock)
        wire = client_factory_for(client)
        _, _, pump = connectedServerAndClient(lambda: responder.buildProtocol(ADDRESS),
                                              lambda: wire.buildProtocol(ADDRESS), clock=clock)
        pump.flush()
        link = self.successResultOf(wire.result)
        self.assertIsNone(client.connection(responder.identity.id))
        announced = link.when_announced()
        # Messages wait (bounded); nothing but the upgrade was sealed with the static key.
        for i in range(QUEUE_MESSAGES):
            link.send(new_message("x", client.identity.id, link.peer_id, {"n": i}, clock=clock))
        self.assertRaises(SessionPendingError, link.send, new_message(
            "x", client.identity.id, link.peer_id, {}, clock=clock))
        pump.flush()
        frames = [payload for payload, binary in responder.received if binary]
        self.assertEqual(len(frames), 1)
        static = FrameCipher(link.shared_secret)
        self.assertEqual(open_message(static, frames[0]).type, SESSION_UPGRADE)
        clock.advance(TransportConfig().session_timeout_s)
        pump.flush()
        self.assertEqual(client.counters["dropped_session_timeout"], 1)
        self.assertTrue(link.closed)
        self.successResultOf(announced)
        self.assertEqual(len(warnings(self.events, "no v2 session")), 1)
