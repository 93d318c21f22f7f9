"""The mesh transport between real nodes over loopback sockets."""

from twisted.internet import defer, reactor
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from lethean.interfaces import IMeshConnection, IMeshTransport, IMessageConsumer
from lethean.mesh import NotConnectedError, MessageTooLargeError, new_message
from lethean.mesh._envelope import DISCONNECT, DISCONNECT_SHUTDOWN, PONG
from lethean.ueps import Header, Packet
from tests._mesh import Inbox, PacketInbox, address_of, make_node


class RoundTripTests(TestCase):
    """Two nodes handshake and exchange sealed messages."""

    async def _pair(self, **config):
        server = make_node(self, reactor, "bravo", **config)
        client = make_node(self, reactor, "alpha", listen=None, **config)
        server_inbox, client_inbox = Inbox(), Inbox()
        server.add_consumer(server_inbox)
        client.add_consumer(client_inbox)
        connection = await client.connect(address_of(server))
        return server, client, server_inbox, client_inbox, connection

    async def test_round_trip_both_directions(self):
        """A message goes out sealed, the reply comes back on the same link."""
        server, client, server_inbox, client_inbox, connection = await self._pair()
        self.assertTrue(verifyObject(IMeshTransport, client))
        self.assertTrue(verifyObject(IMeshConnection, connection))
        self.assertEqual(connection.peer_id, server.identity.id)
        self.assertTrue(connection.outbound)
        request = new_message("get_stats", client.identity.id, server.identity.id,
                              {"n": 1}, clock=reactor)
        connection.send(request)
        inbound, received = await server_inbox.wait()
        self.assertEqual(received, request)
        self.assertEqual(inbound.peer_id, client.identity.id)
        self.assertFalse(inbound.outbound)
        self.assertIs(server.connection(client.identity.id), inbound)
        answer = new_message("stats", server.identity.id, client.identity.id, {"ok": True},
                             clock=reactor)
        server.send(client.identity.id, answer)
        _, got = await client_inbox.wait()
        self.assertEqual(got, answer)
        self.assertEqual(connection.shared_secret, inbound.shared_secret)
        self.assertEqual(server.counters["handshake_accepted"], 1)

    async def test_registers_both_peers(self):
        """The initiator stores the responder with its address; the responder, once proven, the initiator."""
        server, client, server_inbox, _, connection = await self._pair()
        connection.send(new_message("x", client.identity.id, "", clock=reactor))
        await server_inbox.wait()
        record = client.registry.get_peer(server.identity.id)
        self.assertEqual(record.address, address_of(server))
        self.assertEqual(record.public_key, server.identity.identity.public_key)
        self.assertTrue(client.registry.is_connected(server.identity.id))
        self.assertIsNotNone(server.registry.get_peer(client.identity.id))
        self.assertTrue(server.registry.is_connected(client.identity.id))

    async def test_connect_reuses_link(self):
        """Connecting to a connected peer id returns the existing link."""
        server, client, _, _, connection = await self._pair()
        again = await client.connect(address_of(server), peer_id=server.identity.id)
        self.assertIs(again, connection)

    async def test_send_unknown_peer(self):
        """Sending to a peer with no link raises NotConnectedError."""
        client = make_node(self, reactor, "alpha", listen=None)
        self.assertRaises(NotConnectedError, client.send, "ab" * 16,
                          new_message("x", client.identity.id, "", clock=reactor))

    async def test_too_large_refused_before_sending(self):
        """A message whose sealed frame exceeds the limit raises and the link stays up."""
        server, client, server_inbox, _, connection = await self._pair(max_message_bytes=4096)
        big = new_message("x", client.identity.id, "", {"data": "a" * 5000}, clock=reactor)
        self.assertRaises(MessageTooLargeError, connection.send, big)
        small = new_message("x", client.identity.id, "", {"data": "b"}, clock=reactor)
        connection.send(small)
        _, got = await server_inbox.wait()
        self.assertEqual(got, small)

    async def test_graceful_close_sends_disconnect(self):
        """close(reason, code) delivers a sealed disconnect, then the link goes."""
        server, client, server_inbox, _, connection = await self._pair()
        connection.send(new_message("x", client.identity.id, "", clock=reactor))
        _, _ = await server_inbox.wait()
        inbound = server.connection(client.identity.id)
        lost = inbound.when_lost()
        await connection.close("bye", 1000)
        _, message = await server_inbox.wait()
        self.assertEqual(message.type, DISCONNECT)
        self.assertEqual(message.payload, {"reason": "bye", "code": 1000})
        await lost
        self.assertIsNone(server.connection(client.identity.id))
        self.assertIsNone(client.connection(server.identity.id))
        self.assertRaises(NotConnectedError, connection.send,
                          new_message("x", client.identity.id, "", clock=reactor))

    async def test_stop_service_disconnects_peers(self):
        """Stopping a node sends every peer "server shutdown" with code 1004."""
        server, client, server_inbox, client_inbox, connection = await self._pair()
        connection.send(new_message("x", client.identity.id, "", clock=reactor))
        await server_inbox.wait()
        await server.stopService()
        _, message = await client_inbox.wait()
        self.assertEqual(message.type, DISCONNECT)
        self.assertEqual(message.payload, {"reason": "server shutdown", "code": DISCONNECT_SHUTDOWN})
        await connection.when_lost()
        self.assertEqual(client.connections(), [])

    async def test_ping_answered_with_pong(self):
        """A ping gets a pong whose replyTo is the ping's id."""
        server, client, _, client_inbox, connection = await self._pair()
        ping = new_message("ping", client.identity.id, server.identity.id, {"sentAt": 5},
                           clock=reactor)
        connection.send(ping)
        message = await _reply_to(client_inbox, ping)
        self.assertEqual(message.type, PONG)
        self.assertEqual(message.payload["sentAt"], 5)

    async def test_unreadable_ping_answered_with_error(self):
        """A ping whose payload is not a PingPayload gets the reference worker's error 1004."""
        server, client, _, client_inbox, connection = await self._pair()
        for payload, text in [
                ([1], "json: cannot unmarshal array into Go value of type node.PingPayload"),
                ({"sentAt": "x"}, "json: cannot unmarshal string into Go struct field "
                                  "PingPayload.sentAt of type int64")]:
            ping = new_message("ping", client.identity.id, server.identity.id, payload,
                               clock=reactor)
            connection.send(ping)
            message = await _reply_to(client_inbox, ping)
            self.assertEqual((message.type, message.from_), ("error", server.identity.id))
            self.assertEqual(message.payload, {
                "code": 1004, "message": "Worker.handlePing: invalid ping payload: " + text})

    async def test_broadcast(self):
        """broadcast reaches every peer except the message's sender."""
        hub = make_node(self, reactor, "hub")
        inboxes = []
        for name in ("one", "two"):
            node = make_node(self, reactor, name, listen=None)
            inbox = Inbox()
            node.add_consumer(inbox)
            inboxes.append(inbox)
            await node.connect(address_of(hub))
        # Each link is registered on the hub once its first frame decrypted.
        while len(hub.connections()) < 2:
            await _turn()
        message = new_message("announce", hub.identity.id, "", {"n": 1}, clock=reactor)
        hub.broadcast(message)
        got = await defer.gatherResults([inbox.wait() for inbox in inboxes])
        self.assertEqual([m for _, m in got], [message, message])

    async def test_ueps_packets(self):
        """A UEPS packet sent through the mesh reaches the packet consumer verified."""
        server, client, _, _, connection = await self._pair()
        packets = PacketInbox()
        server.add_packet_consumer(packets)
        packet = Packet(Header(intent_id=7), b"payload")
        client.send_packet(server.identity.id, packet)
        inbound, got = await packets.next
        self.assertEqual(got, packet)
        self.assertEqual(inbound.peer_id, client.identity.id)
        self.assertEqual(server.counters["ueps_received"], 1)

    async def test_multiple_consumers(self):
        """Every consumer sees every message."""
        server, client, first, _, connection = await self._pair()
        second = Inbox()
        server.add_consumer(second)
        message = new_message("x", client.identity.id, "", clock=reactor)
        connection.send(message)
        (_, a), (_, b) = await defer.gatherResults([first.wait(), second.wait()])
        self.assertEqual(a, message)
        self.assertEqual(b, message)

    async def test_every_kind_of_consumer_result(self):
        """Consumers may return nothing, a Deferred, a coroutine or a Failure, or raise."""
        server, client, last, _, connection = await self._pair()
        seen, pending = [], defer.Deferred()

        @implementer(IMessageConsumer)
        class Consumer:
            def __init__(self, answer):
                self.answer = answer

            def messageReceived(self, link, message):
                seen.append(self.answer.__name__)
                return self.answer()

        def raises():
            raise ValueError("raised")

        def fails():
            return Failure(ValueError("failed"))

        async def awaits():
            await pending
            seen.append("awaited")

        def defers():
            return pending

        for answer in (raises, fails, awaits, defers):
            server.add_consumer(Consumer(answer))
        server.remove_consumer(last)
        server.add_consumer(last)
        connection.send(new_message("x", client.identity.id, "", clock=reactor))
        await last.wait()
        self.assertEqual(seen, ["raises", "fails", "awaits", "defers"])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
        pending.callback(None)
        self.assertEqual(seen[-1], "awaited")


def _turn():
    """One trip round the real reactor."""
    d = defer.Deferred()
    reactor.callLater(0, d.callback, None)
    return d


async def _reply_to(inbox, request):
    """The next message in ``inbox`` that replies to ``request``."""
    while True:
        _, message = await inbox.wait()
        if message.reply_to == request.id:
            return message
