"""The small Levin client: ping and handshake flows, dialling, and who is not a Levin peer."""

from twisted.internet import task
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import ConnectingCancelledError, ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Command,
    ConnectionLostError,
    LevinHandshakeRejectedError,
    InvokeTimeoutError,
    LevinFactory,
    NotLevinError,
    PeerUnreachableError,
    Section,
    String,
    Uint32,
    Uint64,
    UnexpectedReplyError,
    close_peer,
    connect_peer,
    handshake_peer,
    handshake_request,
    monero_node_data,
    monero_sync_data,
    ping_peer,
    polite_handlers,
)
from lethean.levin._client import CLIENT_MAX_PAYLOAD_SIZE, _ClientFactory
from lethean.levin._networks import MONERO_MAINNET, MONERO_STAGENET
from lethean.levin._requests import timed_sync_request
from tests._levin_p2p import TESTNET


def _reply(section):
    return lambda protocol, header, request: section


class _Daemon:
    """
    A scripted daemon on a :class:`LevinFactory`: it answers like monerod
    (support-flags request before the handshake reply, a notification
    first), or misbehaves as told.
    """

    def __init__(self, clock, network=TESTNET, *, reply_network_id=None):
        self.network = network
        self.reply_network_id = reply_network_id or network.network_id
        self.support_flags_answer = None
        self.timed_sync_answer = None
        self.factory = LevinFactory(clock, handlers={
            Command.HANDSHAKE: self.handshake,
            Command.TIMED_SYNC: self.timed_sync,
            Command.PING: _reply(Section({"status": String(b"OK"), "peer_id": Uint64(77)})),
        })

    def handshake(self, protocol, header, request):
        if request["node_data"]["network_id"].value != self.network.network_id:
            protocol.transport.loseConnection()
            return Deferred()
        protocol.notify(2010, Section())
        asked = protocol.invoke(Command.REQUEST_SUPPORT_FLAGS, Section())

        def answered(section):
            self.support_flags_answer = section
            return Section({
                "node_data": monero_node_data(self.reply_network_id, 77, 28080,
                                                   support_flags=1),
                "payload_data": monero_sync_data(self.network.genesis_hash),
            })
        return asked.addCallback(answered)

    def timed_sync(self, protocol, header, request):
        # Like monerod, ask the client for a timed sync before answering.
        asked = protocol.invoke(Command.TIMED_SYNC, timed_sync_request(
            monero_sync_data(self.network.genesis_hash)))

        def answered(section):
            self.timed_sync_answer = section
            return timed_sync_request(monero_sync_data(self.network.genesis_hash))
        return asked.addCallback(answered)


class ClientTests(SynchronousTestCase):
    """The client's ping and handshake flows against a scripted daemon in memory."""

    def connect(self, daemon, clock, request=None):
        handlers = polite_handlers(
            request["payload_data"] if request is not None else Section())
        client_factory = _ClientFactory(clock, handlers=handlers, invoke_timeout=30)
        return connectedServerAndClient(
            lambda: daemon.factory.buildProtocol(None),
            lambda: client_factory.buildProtocol(None), clock=clock)

    def handshake(self, daemon_network=TESTNET, sent_network=TESTNET, **daemon_options):
        clock = task.Clock()
        daemon = _Daemon(clock, daemon_network, **daemon_options)
        request = handshake_request(
            monero_node_data(sent_network.network_id, 1, support_flags=0),
            monero_sync_data(sent_network.genesis_hash))
        client, server, pump = self.connect(daemon, clock, request)
        d = handshake_peer(client, request)
        pump.flush()
        return daemon, request, client, d

    def test_handshake_answers_daemon_requests(self):
        """The handshake answers the daemon's support-flags and timed-sync requests."""
        daemon, request, client, d = self.handshake()
        reply, sync = self.successResultOf(d)
        self.assertEqual(reply["node_data"]["network_id"], String(TESTNET.network_id))
        self.assertIn("payload_data", sync)
        self.assertEqual(daemon.support_flags_answer, Section({"support_flags": Uint32(0)}))
        self.assertEqual(daemon.timed_sync_answer,
                         Section({"payload_data": request["payload_data"]}))

    def test_wrong_network_closed_without_reply(self):
        """A daemon that drops the connection rejects the handshake, naming our network."""
        daemon, request, client, d = self.handshake(sent_network=MONERO_MAINNET)
        failure = self.failureResultOf(d, LevinHandshakeRejectedError)
        self.assertIn("mainnet", str(failure.value))

    def test_reply_from_other_network(self):
        """A reply carrying another network id rejects the handshake."""
        daemon, request, client, d = self.handshake(
            reply_network_id=MONERO_STAGENET.network_id)
        failure = self.failureResultOf(d, LevinHandshakeRejectedError)
        self.assertIn("stagenet", str(failure.value))

    def test_ping(self):
        """ping_peer returns the daemon's OK reply."""
        clock = task.Clock()
        client, server, pump = self.connect(_Daemon(clock), clock)
        d = ping_peer(client)
        pump.flush()
        self.assertEqual(self.successResultOf(d)["peer_id"], Uint64(77))

    def test_ping_without_ok_status(self):
        """A ping reply whose status is not OK raises UnexpectedReplyError."""
        clock = task.Clock()
        daemon = _Daemon(clock)
        daemon.factory.handlers[Command.PING] = _reply(Section({"status": String(b"BUSY")}))
        client, server, pump = self.connect(daemon, clock)
        d = ping_peer(client)
        pump.flush()
        self.failureResultOf(d, UnexpectedReplyError)

    def test_silent_daemon_times_out(self):
        """A daemon that never answers fails the ping after the timeout."""
        clock = task.Clock()
        daemon = _Daemon(clock)
        daemon.factory.handlers[Command.PING] = lambda protocol, header, request: Deferred()
        client, server, pump = self.connect(daemon, clock)
        d = ping_peer(client, timeout=2)
        pump.flush()
        self.assertNoResult(d)
        clock.advance(2)
        self.failureResultOf(d, InvokeTimeoutError)

    def test_close_peer_waits_for_the_close(self):
        """close_peer fires once the connection is closed, and again at once."""
        clock = task.Clock()
        client, server, pump = self.connect(_Daemon(clock), clock)
        d = close_peer(client)
        self.assertNoResult(d)
        pump.flush()
        self.successResultOf(d)
        self.successResultOf(close_peer(client))


class _Chatter(Protocol):
    """Not a Levin peer: greets with a line of text."""

    def connectionMade(self):
        self.transport.write(b"SSH-2.0-OpenSSH\r\n")


class _Hangup(Protocol):
    """Not a Levin peer: closes without a word."""

    def dataReceived(self, data):
        self.transport.loseConnection()


class NotLevinTests(SynchronousTestCase):
    """A peer whose first bytes are not a Levin signature is named as such."""

    def run_against(self, server, flow, error=NotLevinError):
        clock = task.Clock()
        client_factory = _ClientFactory(clock, invoke_timeout=30)
        client, server, pump = connectedServerAndClient(
            server, lambda: client_factory.buildProtocol(None), clock=clock)
        d = flow(client)
        pump.flush()
        return self.failureResultOf(d, error)

    def run_against_chatter(self, flow):
        return self.run_against(_Chatter, flow)

    def test_silent_close(self):
        """A peer that closes without sending a byte is asked about the port."""
        failure = self.run_against(_Hangup, ping_peer, ConnectionLostError)
        self.assertIn("without sending anything", str(failure.value))

    def test_ping(self):
        """ping fails with NotLevinError quoting the peer's bytes."""
        failure = self.run_against_chatter(ping_peer)
        self.assertIn("SSH-2.0-", str(failure.value))
        self.assertEqual(failure.value.kind, "bad_signature")

    def test_handshake(self):
        """A handshake fails with NotLevinError, not as a rejected handshake."""
        request = handshake_request(
            monero_node_data(TESTNET.network_id, 1), monero_sync_data(bytes(32)))
        self.run_against_chatter(lambda client: handshake_peer(client, request))


class _Endpoint:
    def __init__(self, result=None):
        self.result = result
        self.factory = None

    def connect(self, factory):
        self.factory = factory
        if self.result is None:
            return succeed(factory.buildProtocol(None))
        return self.result


class ConnectTests(SynchronousTestCase):
    """Connection failures become PeerUnreachableError."""

    def test_refused(self):
        """A refused connection raises PeerUnreachableError with the reason."""
        d = connect_peer(
            task.Clock(), _Endpoint(fail(ConnectionRefusedError())), timeout=5)
        failure = self.failureResultOf(d, PeerUnreachableError)
        self.assertIn("refused", str(failure.value))

    def test_no_connection_in_time(self):
        """A connection attempt that hangs fails after the timeout."""
        clock = task.Clock()
        d = connect_peer(clock, _Endpoint(Deferred()), timeout=5)
        clock.advance(4.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        failure = self.failureResultOf(d, PeerUnreachableError)
        self.assertIn("5 s", str(failure.value))

    def test_client_settings(self):
        """The client's factory has the handlers, the timeout and a modest packet cap."""
        endpoint = _Endpoint()
        handlers = polite_handlers(Section())
        d = connect_peer(
            task.Clock(), endpoint, timeout=5, handlers=handlers)
        self.successResultOf(d)
        self.assertEqual(endpoint.factory.handlers, handlers)
        self.assertEqual(endpoint.factory.invoke_timeout, 5)
        self.assertEqual(endpoint.factory.max_payload_size, CLIENT_MAX_PAYLOAD_SIZE)

    def test_timeout_whatever_the_endpoint_fails_with(self):
        """A TCP endpoint cancelled by the timeout fails as a timeout, not ConnectingCancelledError."""
        clock = task.Clock()

        def cancel(d):
            d.errback(ConnectingCancelledError(None))
        d = connect_peer(clock, _Endpoint(Deferred(cancel)), timeout=5)
        clock.advance(5)
        failure = self.failureResultOf(d, PeerUnreachableError)
        self.assertEqual(str(failure.value), "no connection within 5 s")

    def test_cancelled_by_the_caller(self):
        """Cancelling the attempt fails it with CancelledError, not as a timeout."""
        clock = task.Clock()
        d = connect_peer(clock, _Endpoint(Deferred()), timeout=5)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_endpoint_strings(self):
        """tcp: and unix: endpoint strings are dialled on the given reactor."""
        reactor = MemoryReactorClock()
        tcp = connect_peer(reactor, "tcp:host=192.0.2.7:port=28080", timeout=5)
        unix = connect_peer(reactor, "unix:/run/monerod/p2p.sock", timeout=5)
        self.assertEqual(reactor.tcpClients[0][:2], ("192.0.2.7", 28080))
        self.assertEqual(reactor.unixClients[0][0], "/run/monerod/p2p.sock")
        reactor.advance(5)
        for d in (tcp, unix):
            self.assertIn("no connection within", str(self.failureResultOf(
                d, PeerUnreachableError).value))


class DeferredTests(SynchronousTestCase):
    """Every client call returns a Deferred, as the rest of lethean does."""

    def test_client_calls_return_deferreds(self):
        """connect_peer, ping_peer, handshake_peer and close_peer return Deferreds."""
        clock = task.Clock()
        connecting = connect_peer(clock, _Endpoint(), timeout=5)
        self.assertIsInstance(connecting, Deferred)
        client = self.successResultOf(connecting)
        client.makeConnection(StringTransport())
        request = handshake_request(
            monero_node_data(TESTNET.network_id, 1), monero_sync_data(TESTNET.genesis_hash))
        calls = [ping_peer(client), handshake_peer(client, request), close_peer(client)]
        for d in calls:
            self.assertIsInstance(d, Deferred)
        client.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(calls[0], ConnectionLostError)
        self.failureResultOf(calls[1], LevinHandshakeRejectedError)
        self.successResultOf(calls[2])
