"""
One contract for message consumers, run against both meshes: what a
consumer sees on ``MemoryMesh`` is what it sees on ``MeshTransport``.
"""

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from lethean.interfaces import IMessageConsumer
from lethean.mesh import (
    FEATURES,
    FeatureNotAnnouncedError,
    MessageTooLargeError,
    NotConnectedError,
    new_message,
)
from lethean.mesh._envelope import DISCONNECT, PONG
from lethean.testing import MemoryMesh
from tests._mesh import address_of, make_identity, make_node


@implementer(IMessageConsumer)
class Consumer:
    """Records messages and lost links; lets a test wait for them."""

    def __init__(self):
        self.messages = []
        self.lost = []
        self._waiting = []

    def messageReceived(self, connection, message):
        self.messages.append((connection, message))
        self._wake()

    def connectionLost(self, connection):
        self.lost.append(connection)
        self._wake()

    def _wake(self):
        for entry in list(self._waiting):
            if entry[0]():
                self._waiting.remove(entry)
                entry[1].callback(None)

    def until(self, condition):
        """A Deferred firing once ``condition()`` holds."""
        if condition():
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiting.append((condition, d))
        return d

    def types(self):
        return [message.type for _, message in self.messages]


class ConsumerContract:
    """The tests; subclasses provide ``pair(**options)`` and ``clock``."""

    async def setup_pair(self, **options):
        self.a, self.b, self.link = await self.pair(**options)
        self.on_a, self.on_b = Consumer(), Consumer()
        self.a.add_consumer(self.on_a)
        self.b.add_consumer(self.on_b)

    def message(self, type="x", payload=None):
        return new_message(type, self.a.identity.id, self.b.identity.id, payload,
                           clock=self.clock)

    async def test_delivery_in_order(self):
        """Messages arrive once each, in the order sent, with the link they came on."""
        await self.setup_pair()
        sent = [self.message(payload={"n": n}) for n in range(5)]
        for message in sent:
            self.link.send(message)
        await self.on_b.until(lambda: len(self.on_b.messages) >= 5)
        self.assertEqual([m for _, m in self.on_b.messages], sent)
        self.assertEqual({c.peer_id for c, _ in self.on_b.messages}, {self.a.identity.id})

    async def test_ping_answered_not_delivered(self):
        """A ping is answered with a pong and never reaches the consumers."""
        await self.setup_pair()
        ping = self.message("ping", {"sentAt": 7})
        self.link.send(ping)
        await self.on_a.until(lambda: any(m.reply_to == ping.id for _, m in self.on_a.messages))
        pong = [m for _, m in self.on_a.messages if m.reply_to == ping.id][0]
        self.assertEqual((pong.type, pong.payload["sentAt"]), (PONG, 7))
        self.assertNotIn("ping", self.on_b.types())

    async def test_too_large_refused(self):
        """A message too large for one frame raises and the link stays up."""
        await self.setup_pair()
        self.assertRaises(MessageTooLargeError, self.link.send,
                          self.message(payload={"data": "a" * (1024 * 1024)}))
        small = self.message(payload={"data": "b"})
        self.link.send(small)
        await self.on_b.until(lambda: self.on_b.messages)
        self.assertEqual(self.on_b.messages[-1][1], small)

    async def test_features(self):
        """Each end knows what the other announced: lethean's features."""
        await self.setup_pair()
        await self.settle(lambda: self.b.connection(self.a.identity.id) is not None)
        back = self.b.connection(self.a.identity.id)
        await self.settle(lambda: back.features)
        self.assertEqual(self.link.features, FEATURES)
        self.assertEqual(back.features, FEATURES)

    async def test_no_features_from_a_peer_announcing_none(self):
        """A peer announcing nothing (a Go peer) gives an empty feature set."""
        await self.setup_pair(features=frozenset())
        self.assertEqual(self.link.features, frozenset())

    async def test_sessions(self):
        """Two lethean nodes share a v2 session, with a bundle secret of its own."""
        await self.setup_pair()
        await self.settle(lambda: self.b.connection(self.a.identity.id) is not None)
        back = self.b.connection(self.a.identity.id)
        self.assertEqual((self.link.session, back.session), ("v2", "v2"))
        self.assertEqual(self.link.bundle_secret, back.bundle_secret)
        self.assertNotEqual(self.link.bundle_secret, self.link.shared_secret)

    async def test_go_peer_is_v1(self):
        """With a peer announcing nothing (a Go peer) the link stays v1, keyed as the reference."""
        await self.setup_pair(features=frozenset())
        self.assertEqual(self.link.session, "v1")
        self.assertEqual(self.link.bundle_secret, self.link.shared_secret)

    async def test_packets_need_the_feature(self):
        """UEPS packets go only to a peer that announced ueps: a Go peer gets an error at once."""
        from lethean.ueps import Header, Packet

        await self.setup_pair(features=frozenset())
        self.assertRaises(FeatureNotAnnouncedError, self.a.send_packet, self.b.identity.id,
                          Packet(Header(intent_id=1), b"x"))

    async def test_closing(self):
        """close(reason) delivers a disconnect, then both ends' consumers learn the loss."""
        await self.setup_pair()
        self.link.send(self.message())
        await self.on_b.until(lambda: self.on_b.messages)
        back = self.b.connection(self.a.identity.id)
        await self.link.close("bye", 1000)
        await self.on_b.until(lambda: self.on_b.lost)
        await self.on_a.until(lambda: self.on_a.lost)
        self.assertEqual(self.on_b.types()[-1], DISCONNECT)
        self.assertEqual(self.on_b.messages[-1][1].payload["reason"], "bye")
        self.assertEqual(self.on_b.lost, [back])
        self.assertEqual(self.on_a.lost, [self.link])
        self.assertRaises(NotConnectedError, self.link.send, self.message())
        self.assertIsNone(self.a.connection(self.b.identity.id))
        self.assertIsNone(self.b.connection(self.a.identity.id))

    async def test_loss_without_goodbye(self):
        """A link that just drops still tells the consumers on both ends, once."""
        await self.setup_pair()
        self.link.send(self.message())
        await self.on_b.until(lambda: self.on_b.messages)
        await self.link.close()
        await self.on_b.until(lambda: self.on_b.lost)
        self.assertEqual(len(self.on_b.lost), 1)
        self.assertEqual(len(self.on_a.lost), 1)


class MemoryMeshContractTests(ConsumerContract, TestCase):
    """The contract on the in-memory mesh."""

    async def pair(self, features=None):
        self.clock = task.Clock()
        mesh = MemoryMesh(self.clock)
        a = mesh.add_node(make_identity("alpha"))
        options = {} if features is None else {"features": features}
        b = mesh.add_node(make_identity("bravo"), **options)
        link = await a.connect(b.address)
        return a, b, link

    async def settle(self, condition):
        self.assertTrue(condition())


class MeshTransportContractTests(ConsumerContract, TestCase):
    """The contract on the real transport, over loopback."""

    clock = reactor

    async def pair(self, features=None):
        options = {} if features is None else {"features": features}
        b = make_node(self, reactor, "bravo", **options)
        a = make_node(self, reactor, "alpha", listen=None)
        link = await a.connect(address_of(b))
        return a, b, link

    async def settle(self, condition):
        for _ in range(1000):
            if condition():
                return
            d = defer.Deferred()
            reactor.callLater(0, d.callback, None)
            await d
        self.fail("condition never held")
