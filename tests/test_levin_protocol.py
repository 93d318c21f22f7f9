"""LevinProtocol and LevinFactory between two ends: in memory, over TCP and over WebSocket."""

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.mesh import stacked_client_factory, stacked_server_factory
from lethean.mesh._stacking import WebSocketTransport
from lethean.levin import (
    Command,
    ConnectionLostError,
    LevinFactory,
    ReturnCodeError,
    String,
    Uint8,
)
from lethean.levin._header import RETURN_ERROR_HANDLER_NOT_DEFINED
from tests._levin_protocol import PEER, PING_REPLY, BuiltRecorder, ping
from tests._streams import close_on_cleanup


def memory_pair(server_handlers=None, client_handlers=None):
    """A client and server joined by iosim; returns (client, server, pump)."""
    clock = task.Clock()
    server_factory = LevinFactory(clock, handlers=server_handlers)
    client_factory = LevinFactory(clock, handlers=client_handlers)
    client, server, pump = connectedServerAndClient(
        lambda: server_factory.buildProtocol(PEER),
        lambda: client_factory.buildProtocol(PEER),
        clock=clock,
    )
    return client, server, pump


class MemoryConnectionTests(SynchronousTestCase):
    """Two LevinProtocols talk through iosim."""

    def test_invoke_and_reply(self):
        """A client invoke reaches the server's handler and the answer comes back."""
        client, _, pump = memory_pair(server_handlers={Command.PING: ping})
        d = client.invoke(Command.PING, {})
        pump.flush()
        self.assertEqual(self.successResultOf(d), PING_REPLY)

    def test_both_sides_invoke_the_same_command(self):
        """Crossing invokes of one command are each answered, never confused."""
        def sync(name):
            return lambda p, h, s: {"from": String(name)}
        client, server, pump = memory_pair(server_handlers={Command.TIMED_SYNC: sync("server")},
                                           client_handlers={Command.TIMED_SYNC: sync("client")})
        from_client = client.invoke(Command.TIMED_SYNC, {})
        from_server = server.invoke(Command.TIMED_SYNC, {})
        pump.flush()
        self.assertEqual(self.successResultOf(from_client), {"from": String("server")})
        self.assertEqual(self.successResultOf(from_server), {"from": String("client")})

    def test_notify(self):
        """A notification reaches the other side's handler."""
        seen = []
        client, _, pump = memory_pair(server_handlers={
            Command.NOTIFY_NEW_TRANSACTIONS: lambda p, h, s: seen.append(s)})
        client.notify(Command.NOTIFY_NEW_TRANSACTIONS, {"n": Uint8(3)})
        pump.flush()
        self.assertEqual(seen, [{"n": Uint8(3)}])

    def test_error_code_travels(self):
        """A server handler's error code fails the client's invoke."""
        client, _, pump = memory_pair()
        d = client.invoke(Command.PING, {})
        pump.flush()
        error = self.failureResultOf(d, ReturnCodeError).value
        self.assertEqual(error.return_code, RETURN_ERROR_HANDLER_NOT_DEFINED)

    def test_server_close_fails_client_invokes(self):
        """When the server hangs up, the client's pending invoke fails."""
        client, server, pump = memory_pair(server_handlers={
            Command.PING: lambda p, h, s: defer.Deferred()})
        d = client.invoke(Command.PING, {})
        pump.flush()
        server.transport.loseConnection()
        pump.flush()
        self.failureResultOf(d, ConnectionLostError)


class LoopbackMixin:
    """Shared by the real-socket tests: a ping server and a dialled client."""

    def server_factory(self):
        return BuiltRecorder(reactor, handlers={Command.PING: ping})

    async def round_trip(self, client, server_factory):
        self.assertEqual(await client.invoke(Command.PING, {}), PING_REPLY)
        big = {"blob": String(bytes(range(256)) * 1024)}
        [server] = server_factory.built
        server.factory.handlers[Command.HANDSHAKE] = lambda p, h, s: s
        self.assertEqual(await client.invoke(Command.HANDSHAKE, big), big)


class TCPTests(LoopbackMixin, TestCase):
    """Levin over a real loopback TCP connection."""

    async def test_round_trip(self):
        """An invoke crosses TCP and its answer comes back, large ones too."""
        server_factory = self.server_factory()
        port = await serverFromString(
            reactor, "tcp:0:interface=127.0.0.1").listen(server_factory)
        self.addCleanup(port.stopListening)
        endpoint = clientFromString(reactor, "tcp:127.0.0.1:{}".format(port.getHost().port))
        client = await endpoint.connect(BuiltRecorder(reactor))
        close_on_cleanup(self, client, server_factory)
        await self.round_trip(client, server_factory)


class WebSocketTests(LoopbackMixin, TestCase):
    """Levin stacked inside a real loopback WebSocket connection."""

    async def test_round_trip(self):
        """An invoke crosses WebSocket and its answer comes back, large ones too."""
        server_factory = self.server_factory()
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
            stacked_server_factory(server_factory, reactor=reactor))
        self.addCleanup(port.stopListening)
        port_number = port.getHost().port
        client_factory = BuiltRecorder(reactor)
        await clientFromString(reactor, "tcp:127.0.0.1:{}".format(port_number)).connect(
            stacked_client_factory(
                client_factory, "ws://127.0.0.1:{}/levin".format(port_number),
                reactor=reactor))
        # The Levin client exists once the WebSocket opening handshake is over.
        client = await client_factory.first
        self.assertIsInstance(client.transport, WebSocketTransport)
        close_on_cleanup(self, client, server_factory)
        await self.round_trip(client, server_factory)
