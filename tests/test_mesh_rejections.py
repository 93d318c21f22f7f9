"""Refusals over real loopback: rejection acks, silent drops, HTTP answers."""

import json

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.identity import generate_challenge
from lethean.mesh import HandshakeError, HandshakeRejectedError, PeerKeyMismatchError
from lethean.mesh._handshake import handshake_message
from lethean.peers import AuthMode, Peer
from tests._mesh import (
    Inbox,
    RawClient,
    address_of,
    make_identity,
    make_node,
    raw_connect,
    scripted_handshake,
    upgrade_request,
)


class RejectionTests(TestCase):
    """Each refusal is one warning, one count, a clean close; the node keeps serving."""

    async def _still_serving(self, server):
        client = make_node(self, reactor, "later", listen=None)
        link = await client.connect(address_of(server))
        self.assertEqual(link.peer_id, server.identity.id)

    async def test_wrong_version_exact_ack(self):
        """An unsupported version gets the rejection ack text, then the close."""
        server = make_node(self, reactor, "bravo")
        peer = make_identity("alpha")
        hello = handshake_message(peer, "", generate_challenge(), clock=reactor, version="2.0")
        frames = await scripted_handshake(self, reactor, server, hello.to_bytes())
        self.assertEqual(len(frames), 1)
        text, binary = frames[0]
        self.assertFalse(binary)
        ack = json.loads(text)
        self.assertEqual(ack["type"], "handshake_ack")
        self.assertEqual(ack["to"], peer.id)
        self.assertNotIn("replyTo", ack)
        self.assertEqual(ack["payload"], {
            "identity": server.identity.identity.to_json_value(), "accepted": False,
            "reason": "incompatible protocol version 2.0, supported: [1.0]"})
        self.assertEqual(
            server.counters["refused_version"], 1)
        await self._still_serving(server)

    async def test_bad_key_no_reply(self):
        """A handshake with an unusable key is closed without a reply."""
        server = make_node(self, reactor, "bravo")
        hello = handshake_message(make_identity(), "", generate_challenge(), clock=reactor)
        hello.payload["identity"]["publicKey"] = "bm90IGEga2V5"
        frames = await scripted_handshake(self, reactor, server, hello.to_bytes())
        self.assertEqual(frames, [])
        self.assertEqual(server.counters["refused_bad_handshake"], 1)
        await self._still_serving(server)

    async def test_id_key_mismatch_rejected_with_reason(self):
        """A claimed id that is not the key's gets a rejection ack saying so, then the close."""
        server = make_node(self, reactor, "bravo")
        hello = handshake_message(make_identity(), "", generate_challenge(), clock=reactor)
        claimed = make_identity().id
        hello.payload["identity"]["id"] = claimed
        [(text, binary)] = await scripted_handshake(self, reactor, server, hello.to_bytes())
        self.assertFalse(binary)
        ack = json.loads(text)
        self.assertEqual((ack["type"], ack["to"]), ("handshake_ack", claimed))
        self.assertEqual(ack["payload"], {
            "identity": server.identity.identity.to_json_value(), "accepted": False,
            "reason": "node id does not match public key"})
        self.assertEqual(server.counters["refused_id_mismatch"], 1)
        self.assertEqual(server.counters["refused_bad_handshake"], 0)
        await self._still_serving(server)

    async def test_garbage_first_frame(self):
        """A first frame that is not a handshake is closed without a reply."""
        server = make_node(self, reactor, "bravo")
        frames = await scripted_handshake(self, reactor, server, b"\xff\x00 nonsense", binary=True)
        self.assertEqual(frames, [])
        self.assertEqual(server.counters["refused_bad_handshake"], 1)
        await self._still_serving(server)

    async def test_allowlist_refusal(self):
        """In allowlist mode an unknown initiator's connect fails with the reason."""
        server = make_node(self, reactor, "bravo")
        server.registry.set_auth_mode(AuthMode.ALLOWLIST)
        client = make_node(self, reactor, "alpha", listen=None)
        with self.assertRaises(HandshakeRejectedError) as caught:
            await client.connect(address_of(server))
        self.assertEqual(caught.exception.reason, "peer not authorized")
        self.assertEqual(server.counters["refused_unauthorized"], 1)
        self.assertEqual(client.connections(), [])
        server.registry.allow_public_key(client.identity.identity.public_key)
        link = await client.connect(address_of(server))
        self.assertEqual(link.peer_id, server.identity.id)

    async def test_pinned_key_mismatch(self):
        """A responder whose key differs from the one stored for the address is refused."""
        server = make_node(self, reactor, "bravo")
        client = make_node(self, reactor, "alpha", listen=None)
        impostor = make_identity("bravo")
        client.registry.add_peer(Peer(id=impostor.id, name="bravo",
                                      public_key=impostor.identity.public_key,
                                      address=address_of(server)))
        with self.assertRaises(PeerKeyMismatchError):
            await client.connect(address_of(server))
        self.assertEqual(client.counters["handshake_failed:key_mismatch"], 1)
        self.assertEqual(client.connections(), [])


class HTTPTests(TestCase):
    """Answers before the WebSocket upgrade."""

    async def test_connection_cap_503(self):
        """Past max_connections authenticated links, the answer is HTTP 503."""
        server = make_node(self, reactor, "bravo", max_connections=1)
        idle = RawClient()
        await raw_connect(self, reactor, server, idle)
        client = make_node(self, reactor, "alpha", listen=None)
        await client.connect(address_of(server))
        while server.inbound_links() < 1:
            await _turn()
        refused = RawClient(upgrade_request())
        await raw_connect(self, reactor, server, refused)
        answer = await refused.done
        self.assertTrue(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer[:40])
        # The reference's exact answer: a plain-text body.
        self.assertIn(b"Content-Type: text/plain; charset=utf-8\r\n", answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nToo many connections\n"), answer)
        self.assertEqual(server.counters["refused_capacity"], 1)

    async def test_initiator_over_the_cap_says_503(self):
        """A lethean initiator refused with 503 fails with that answer, not a lost connection."""
        server = make_node(self, reactor, "bravo", max_connections=1)
        await make_node(self, reactor, "alpha", listen=None).connect(address_of(server))
        client = make_node(self, reactor, "charlie", listen=None)
        with self.assertRaises(HandshakeError) as caught:
            await client.connect(address_of(server))
        self.assertEqual(str(caught.exception),
                         "WebSocket connection upgrade failed [503]: Service Unavailable")
        self.assertEqual(client.counters["connect_failed"], 1)

    async def test_foreign_origin_403(self):
        """A browser Origin other than loopback is refused with HTTP 403."""
        server = make_node(self, reactor, "bravo")
        raw = RawClient(upgrade_request(origin="http://evil.example"), until=b"\r\n\r\n")
        await raw_connect(self, reactor, server, raw)
        answer = await raw.done
        self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:40])
        self.assertEqual(server.counters["refused_origin"], 1)

    async def test_loopback_origin_allowed(self):
        """An IPv6 loopback Origin is allowed."""
        server = make_node(self, reactor, "bravo")
        raw = RawClient(upgrade_request(origin="http://[::1]:8080"), until=b"\r\n\r\n")
        await raw_connect(self, reactor, server, raw)
        answer = await raw.done
        self.assertTrue(answer.startswith(b"HTTP/1.1 101"), answer[:40])

    async def test_other_path_404(self):
        """Only the exact mesh path is served; /ws/ is 404."""
        server = make_node(self, reactor, "bravo")
        raw = RawClient(upgrade_request("/ws/"), until=b"\r\n\r\n")
        await raw_connect(self, reactor, server, raw)
        answer = await raw.done
        self.assertTrue(answer.startswith(b"HTTP/1.1 404"), answer[:40])

    async def test_stacked_route_shares_port(self):
        """A stacked stream protocol route is served beside the mesh path."""
        from twisted.internet.protocol import Factory, Protocol

        server = make_node(self, reactor, "bravo", start=False)
        server.routes["/ueps"] = Factory.forProtocol(Protocol)
        server.startService()
        self.addCleanup(server.stopService)
        raw = RawClient(upgrade_request("/ueps"), until=b"\r\n\r\n")
        await raw_connect(self, reactor, server, raw)
        answer = await raw.done
        self.assertTrue(answer.startswith(b"HTTP/1.1 101"), answer[:40])
        client = make_node(self, reactor, "alpha", listen=None)
        inbox = Inbox()
        client.add_consumer(inbox)
        link = await client.connect(address_of(server))
        self.assertEqual(link.peer_id, server.identity.id)


class NotAMeshNodeTests(TestCase):
    """Dialling something that is not a mesh node fails cleanly."""

    async def test_peer_closes_at_once(self):
        """A listener that closes every connection makes connect fail, not hang."""
        from twisted.internet.endpoints import serverFromString
        from twisted.internet.protocol import Factory, Protocol

        class Closer(Protocol):
            def connectionMade(self):
                self.transport.loseConnection()

        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            Factory.forProtocol(Closer))
        self.addCleanup(port.stopListening)
        client = make_node(self, reactor, "alpha", listen=None)
        with self.assertRaises(HandshakeError):
            await client.connect("127.0.0.1:{}".format(port.getHost().port))
        self.assertEqual(client.connections(), [])
        self.assertEqual(client.counters["connect_failed"], 1)


class StopTests(TestCase):
    """Stopping a node also ends connections still in the handshake."""

    async def test_stop_aborts_half_open(self):
        """A TCP connection that never finished the upgrade is closed by stopService."""
        server = make_node(self, reactor, "bravo", start=False)
        server.startService()
        idle = RawClient()
        await raw_connect(self, reactor, server, idle)
        while not server.pending:
            await _turn()
        await server.stopService()
        await idle.done
        self.assertEqual(server.pending, 0)


def _turn():
    from twisted.internet import defer

    d = defer.Deferred()
    reactor.callLater(0, d.callback, None)
    return d
