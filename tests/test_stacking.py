"""Stream protocols stacked under WebSocket, over real loopback sockets."""

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ITransport
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from lethean.mesh import stacked_client_factory, stacked_server_factory
from lethean.mesh._stacking import WebSocketTransport, use_reactor_timers


class Echo(protocol.Protocol):
    """Writes back whatever arrives."""

    def dataReceived(self, data):
        self.transport.write(data)


class Collector(protocol.Protocol):
    """Records bytes and the loss of the connection."""

    def __init__(self):
        self.received = b""
        self.made = defer.Deferred()
        self.lost = defer.Deferred()
        self._waiting = []

    def expect(self, count):
        """A Deferred that fires once ``count`` bytes have arrived."""
        d = defer.Deferred()
        self._waiting.append((count, d))
        self._wake()
        return d

    def _wake(self):
        for entry in list(self._waiting):
            if len(self.received) >= entry[0]:
                self._waiting.remove(entry)
                entry[1].callback(self.received)

    def connectionMade(self):
        self.made.callback(self)

    def dataReceived(self, data):
        self.received += data
        self._wake()

    def connectionLost(self, reason):
        self.lost.callback(reason.value)


class StackingTests(TestCase):
    """A stream protocol runs inside a WebSocket connection."""

    async def listen(self, **kwargs):
        factory = stacked_server_factory(reactor=reactor, **kwargs)
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        return port.getHost().port

    async def dial(self, port_number, path="/"):
        collector = Collector()
        factory = stacked_client_factory(
            protocol.Factory.forProtocol(lambda: collector),
            "ws://127.0.0.1:{}{}".format(port_number, path),
            reactor=reactor,
        )
        endpoint = clientFromString(reactor, "tcp:127.0.0.1:{}".format(port_number))
        websocket = await endpoint.connect(factory)
        self.addCleanup(websocket.transport.loseConnection)
        return collector, websocket

    async def test_round_trip(self):
        """Bytes written by the inner client come back from the inner server."""
        port_number = await self.listen(wrapped_factory=protocol.Factory.forProtocol(Echo))
        collector, _ = await self.dial(port_number)
        await collector.made
        verifyObject(ITransport, collector.transport)
        self.assertIsInstance(collector.transport, WebSocketTransport)
        collector.transport.write(b"hello ")
        collector.transport.write(b"mesh")
        await collector.expect(10)
        self.assertEqual(collector.received, b"hello mesh")

    async def test_lose_connection_is_clean(self):
        """loseConnection closes the WebSocket; the inner protocol sees ConnectionDone."""
        port_number = await self.listen(wrapped_factory=protocol.Factory.forProtocol(Echo))
        collector, _ = await self.dial(port_number)
        await collector.made
        collector.transport.loseConnection()
        reason = await collector.lost
        self.assertIsInstance(reason, ConnectionDone)

    async def test_routes_by_path(self):
        """Each path reaches its own inner factory; an unknown path gets no connection."""

        class Upper(protocol.Protocol):
            def dataReceived(self, data):
                self.transport.write(data.upper())

        port_number = await self.listen(routes={
            "/echo": protocol.Factory.forProtocol(Echo),
            "/upper": protocol.Factory.forProtocol(Upper),
        })
        echo, _ = await self.dial(port_number, "/echo")
        upper, _ = await self.dial(port_number, "/upper")
        await echo.made
        await upper.made
        echo.transport.write(b"abc")
        upper.transport.write(b"abc")
        await echo.expect(3)
        await upper.expect(3)
        self.assertEqual((echo.received, upper.received), (b"abc", b"ABC"))

        nowhere, websocket = await self.dial(port_number, "/nowhere")
        await websocket.is_closed.addErrback(lambda failure: None)
        self.assertFalse(nowhere.made.called)

    def test_exactly_one_of_factory_and_routes(self):
        """Giving both or neither of wrapped_factory and routes is a TypeError."""
        with self.assertRaises(TypeError):
            stacked_server_factory(reactor=reactor)
        with self.assertRaises(TypeError):
            stacked_server_factory(
                protocol.Factory.forProtocol(Echo), routes={}, reactor=reactor)


    async def test_text_frame_drops_connection(self):
        """A text frame closes the connection with 1003 and one log event."""
        from autobahn.twisted.websocket import (
            WebSocketClientFactory, WebSocketClientProtocol)
        from twisted.logger import globalLogPublisher
        from twisted.internet.testing import EventLoggingObserver

        port_number = await self.listen(wrapped_factory=protocol.Factory.forProtocol(Echo))
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        closed = defer.Deferred()

        class TextSender(WebSocketClientProtocol):
            def onOpen(self):
                self.sendMessage(b"not binary", isBinary=False)

            def onClose(self, wasClean, code, reason):
                closed.callback(code)

        factory = WebSocketClientFactory("ws://127.0.0.1:{}/".format(port_number))
        use_reactor_timers(factory, reactor)
        factory.protocol = TextSender
        await clientFromString(reactor, "tcp:127.0.0.1:{}".format(port_number)).connect(factory)
        code = await closed
        self.assertEqual(code, 1003)
        ours = [e for e in events if e.get("reason") == "text frame on a binary-only connection"]
        self.assertEqual(len(ours), 1)

    async def test_oversized_message_drops_connection(self):
        """A message over max_message_bytes never reaches the inner protocol."""
        received = []

        class Record(protocol.Protocol):
            def dataReceived(self, data):
                received.append(data)

        port_number = await self.listen(
            wrapped_factory=protocol.Factory.forProtocol(Record), max_message_bytes=1000)
        collector, websocket = await self.dial(port_number)
        await collector.made
        collector.transport.write(b"x" * 100)
        collector.transport.write(b"y" * 5000)
        await collector.lost
        self.assertEqual(received, [b"x" * 100])

    async def test_compression_is_never_negotiated(self):
        """A client offering permessage-deflate gets an uncompressed connection."""
        from autobahn.twisted.websocket import (
            WebSocketClientFactory, WebSocketClientProtocol)
        from autobahn.websocket.compress import PerMessageDeflateOffer

        port_number = await self.listen(wrapped_factory=protocol.Factory.forProtocol(Echo))
        opened = defer.Deferred()
        closed = defer.Deferred()

        class Offerer(WebSocketClientProtocol):
            def onOpen(self):
                opened.callback(self.websocket_extensions_in_use)
                self.sendClose()

            def onClose(self, wasClean, code, reason):
                closed.callback(wasClean)

        factory = WebSocketClientFactory("ws://127.0.0.1:{}/".format(port_number))
        use_reactor_timers(factory, reactor)
        factory.protocol = Offerer
        factory.setProtocolOptions(perMessageCompressionOffers=[PerMessageDeflateOffer()])
        await clientFromString(reactor, "tcp:127.0.0.1:{}".format(port_number)).connect(factory)
        self.assertEqual(await opened, [])
        self.assertTrue(await closed)
