"""``lethean levin ping`` and ``lethean levin handshake`` against fake daemons on loopback."""

import io
import json
import os
import socket
import sys
from pathlib import Path

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.cli import build_parser
from lethean.cli import _levin
from lethean.cli._main import describe_error
from lethean.levin import (
    Command,
    LevinHandshakeRejectedError,
    InvokeTimeoutError,
    LevinFactory,
    LevinProtocol,
    NotLevinError,
    PeerUnreachableError,
    Section,
    String,
    Uint32,
    Uint64,
    UnexpectedReplyError,
    decode_storage,
)
from lethean.levin._networks import MONERO_MAINNET, MONERO_TESTNET
from tests._levin_p2p import MONEROD_HANDSHAKE_REPLY, MONEROD_TIMED_SYNC_REPLY

#: The checkout, so that the child ``python`` imports this copy of lethean.
REPO = Path(__file__).resolve().parent.parent
#: Runs ``lethean`` in a child interpreter, as the console script does.
RUN_LETHEAN = "from lethean.cli import main; main()"

PING_OK = Section({"status": String(b"OK"), "peer_id": Uint64(77)})


def _answer(section):
    return lambda protocol, header, request: section


def _monerod_like_handlers():
    """A testnet daemon at height 1 that answers ping, handshake and timed sync."""
    def handshake(protocol, header, request):
        if request["node_data"]["network_id"].value != MONERO_TESTNET.network_id:
            protocol.transport.loseConnection()
            return Deferred()
        return decode_storage(MONEROD_HANDSHAKE_REPLY)
    return {
        Command.PING: _answer(PING_OK),
        Command.HANDSHAKE: handshake,
        Command.TIMED_SYNC: _answer(decode_storage(MONEROD_TIMED_SYNC_REPLY)),
    }


class _Tracked:
    """Mixin: remember each connection and fire ``lost`` when it closes."""

    def connectionMade(self):
        super().connectionMade()
        self.lost = Deferred()
        self.received = Deferred()
        self.factory.connections.append(self)

    def dataReceived(self, data):
        if not self.received.called:
            self.received.callback(data)
        super().dataReceived(data)

    def connectionLost(self, reason=None):
        super().connectionLost(reason)
        self.lost.callback(None)


class _LevinServer(_Tracked, LevinProtocol):
    pass


class _RawServer(_Tracked, Protocol):
    """Writes ``factory.greeting`` (if any) and otherwise stays silent."""

    def connectionMade(self):
        super().connectionMade()
        if self.factory.greeting:
            self.transport.write(self.factory.greeting)


def _args(*argv):
    args = build_parser().parse_args(["levin", *argv])
    args.json = True
    return args


class _ServerMixin:
    async def listen(self, factory, description="tcp:0:interface=127.0.0.1"):
        factory.connections = []
        port = await serverFromString(reactor, description).listen(factory)
        self.addCleanup(port.stopListening)
        self.addCleanup(self._close_all, factory)
        return getattr(port.getHost(), "port", None)  # None on a UNIX socket

    async def _close_all(self, factory):
        for connection in factory.connections:
            connection.transport.loseConnection()
            await connection.lost

    async def levin_server(self, handlers):
        factory = LevinFactory(reactor, handlers=handlers)
        factory.protocol = _LevinServer
        return await self.listen(factory)

    async def raw_server(self, greeting=b""):
        factory = Factory.forProtocol(_RawServer)
        factory.greeting = greeting
        return await self.listen(factory), factory

    async def refusing_port(self):
        """A loopback port number that nothing listens on any more."""
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(Factory())
        number = port.getHost().port
        await port.stopListening()
        return number


class InProcessTests(_ServerMixin, TestCase):
    """The command bodies, run in this reactor with stdout captured."""

    def setUp(self):
        self.stdout = io.StringIO()
        self.patch(sys, "stdout", self.stdout)

    def output(self):
        return json.loads(self.stdout.getvalue())

    async def test_ping_prints_reply(self):
        """ping prints the peer and its decoded reply, and returns 0."""
        port = await self.levin_server({Command.PING: _answer(PING_OK)})
        status = await _levin.ping_command(reactor, _args("ping", "127.0.0.1:%d" % port))
        self.assertEqual(status, 0)
        self.assertEqual(self.output(), {
            "peer": "127.0.0.1:%d" % port, "ping": {"status": "OK", "peer_id": 77}})

    async def test_ping_through_endpoint_string(self):
        """The peer may be given as a Twisted client endpoint string."""
        port = await self.levin_server({Command.PING: _answer(PING_OK)})
        endpoint = "tcp:host=127.0.0.1:port=%d" % port
        status = await _levin.ping_command(reactor, _args("ping", endpoint))
        self.assertEqual(status, 0)
        self.assertEqual(self.output()["peer"], endpoint)

    async def test_handshake_prints_both_replies(self):
        """handshake prints the handshake and timed-sync replies of the daemon."""
        port = await self.levin_server(_monerod_like_handlers())
        status = await _levin.handshake_command(
            reactor, _args("handshake", "127.0.0.1:%d" % port, "--network", "testnet"))
        self.assertEqual(status, 0)
        output = self.output()
        self.assertEqual(output["network"], "testnet")
        self.assertEqual(output["handshake"]["node_data"]["network_id"],
                         MONERO_TESTNET.network_id.hex())
        self.assertEqual(output["timed_sync"]["payload_data"]["current_height"], 1)

    async def test_handshake_rejected(self):
        """A daemon that drops a peer of another network fails the handshake."""
        port = await self.levin_server(_monerod_like_handlers())
        with self.assertRaises(LevinHandshakeRejectedError) as caught:
            await _levin.handshake_command(reactor, _args("handshake", "127.0.0.1:%d" % port))
        self.assertIn("mainnet", describe_error(caught.exception))
        self.assertEqual(self.stdout.getvalue(), "")

    async def test_refused(self):
        """A closed port fails with PeerUnreachableError."""
        port = await self.refusing_port()
        with self.assertRaises(PeerUnreachableError):
            await _levin.ping_command(reactor, _args("ping", "127.0.0.1:%d" % port))

    async def test_garbage(self):
        """A peer that does not speak Levin fails with NotLevinError quoting its bytes."""
        port, factory = await self.raw_server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        with self.assertRaises(NotLevinError) as caught:
            await _levin.ping_command(reactor, _args("ping", "127.0.0.1:%d" % port))
        self.assertIn("HTTP/1.", describe_error(caught.exception))
        self.assertEqual(self.stdout.getvalue(), "")

    async def test_bad_reply(self):
        """A reply of the wrong shape fails with UnexpectedReplyError."""
        port = await self.levin_server({Command.PING: _answer(Section({"status": Uint32(1)}))})
        with self.assertRaises(UnexpectedReplyError) as caught:
            await _levin.ping_command(reactor, _args("ping", "127.0.0.1:%d" % port))
        self.assertIn("status", str(caught.exception))

    async def test_silence_times_out(self):
        """A peer that accepts but never answers fails after --timeout (on the clock)."""
        port, factory = await self.raw_server()
        clock = task.Clock()
        clocked = _ClockedReactor(reactor, clock)
        command = Deferred.fromCoroutine(_levin.ping_command(
            clocked, _args("ping", "127.0.0.1:%d" % port, "--timeout", "7")))
        while not factory.connections:
            await task.deferLater(reactor, 0, lambda: None)
        await factory.connections[0].received
        clock.advance(6.9)
        self.assertNoResult(command)
        clock.advance(0.1)
        with self.assertRaises(InvokeTimeoutError):
            await command

    async def test_unix_endpoint(self):
        """A unix: endpoint string reaches a daemon on a UNIX socket."""
        factory = LevinFactory(reactor, handlers={Command.PING: _answer(PING_OK)})
        factory.protocol = _LevinServer
        path = os.path.abspath(self.mktemp())
        await self.listen(factory, "unix:" + path)
        status = await _levin.ping_command(reactor, _args("ping", "unix:" + path))
        self.assertEqual(status, 0)
        self.assertEqual(self.output()["ping"], {"status": "OK", "peer_id": 77})

    async def test_ipv6_literal(self):
        """[::1]:PORT reaches a server on the IPv6 loopback."""
        if not socket.has_ipv6:
            raise self.skipTest("no IPv6")
        factory = LevinFactory(reactor, handlers={Command.PING: _answer(PING_OK)})
        factory.protocol = _LevinServer
        try:
            port = await self.listen(factory, r"tcp6:0:interface=\:\:1")
        except CannotListenError as e:
            raise self.skipTest("no IPv6 loopback: {}".format(e))
        status = await _levin.ping_command(reactor, _args("ping", "[::1]:%d" % port))
        self.assertEqual(status, 0)


class _ClockedReactor:
    """The real reactor for I/O, a :class:`task.Clock` for timers."""

    def __init__(self, real, clock):
        self._real = real
        self.callLater = clock.callLater
        self.seconds = clock.seconds

    def __getattr__(self, name):
        return getattr(self._real, name)


class SubprocessTests(_ServerMixin, TestCase):
    """The real ``lethean`` command: JSON on stdout, one line on stderr, exit status."""

    def run_lethean(self, *argv):
        return getProcessOutputAndValue(
            sys.executable, ["-c", RUN_LETHEAN, "levin", *argv],
            env=dict(os.environ), path=str(REPO), reactor=reactor)

    async def test_ping_exit_zero(self):
        """ping exits 0 and prints the reply as JSON."""
        port = await self.levin_server({Command.PING: _answer(PING_OK)})
        out, err, code = await self.run_lethean("ping", "127.0.0.1:%d" % port, "--json")
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(json.loads(out)["ping"]["status"], "OK")

    async def test_refused_one_line_exit_one(self):
        """A refused connection prints one line on stderr and exits 1."""
        port = await self.refusing_port()
        out, err, code = await self.run_lethean("ping", "127.0.0.1:%d" % port)
        self.assertEqual((code, out), (1, b""))
        self.assertEqual(len(err.splitlines()), 1)
        self.assertTrue(err.startswith(b"lethean: Could not connect"), err)

    async def test_rejected_handshake_one_line_exit_one(self):
        """A rejected handshake prints one line on stderr and exits 1."""
        port = await self.levin_server(_monerod_like_handlers())
        out, err, code = await self.run_lethean(
            "handshake", "127.0.0.1:%d" % port, "--network", "stagenet")
        self.assertEqual((code, out), (1, b""))
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn(b"rejected the Levin handshake", err)
        self.assertIn(b"give it with --network", err)  # what to do about it

    async def test_usage_error_exit_two(self):
        """A malformed address is a usage error: exit 2."""
        out, err, code = await self.run_lethean("ping", "no-port-here")
        self.assertEqual(code, 2)
        self.assertIn(b"HOST:PORT", err)


class ArgumentTests(SynchronousTestCase):
    """Command-line parsing."""

    def test_host_port_forms(self):
        """HOST:PORT, [IPV6]:PORT and names become tcp endpoints with the timeout."""
        cases = {
            "127.0.0.1:28080": r"tcp:host=127.0.0.1:port=28080:timeout=5",
            "[::1]:18080": r"tcp:host=\:\:1:port=18080:timeout=5",
            "node.example:1": r"tcp:host=node.example:port=1:timeout=5",
        }
        for text, endpoint in cases.items():
            self.assertEqual(_levin.parse_peer(text).endpoint(5), endpoint)

    def test_endpoint_string_kept(self):
        """Endpoint strings, keyword or positional, are used as given."""
        for text in ("tcp:host=10.0.0.5:port=18080", "tcp:10.0.0.5:18080",
                     "unix:/run/monerod/p2p.sock", "unix:path=/tmp/p2p",
                     "tls:node.example:18080"):
            self.assertEqual(_levin.parse_peer(text).endpoint(5), text)

    def test_unusable_endpoint_string(self):
        """An endpoint string Twisted cannot build is a usage error naming the problem."""
        for bad, reason in (("nosuch:host=x:port=1", "Unknown endpoint type"),
                            ("tcp:host=x", "port"),
                            ("tcp:host=x:port=1:colour=red", "colour"),
                            ("localhost:http", "Unknown endpoint type")):
            stderr = io.StringIO()
            self.patch(sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as caught:
                _args("ping", bad)
            self.assertEqual(caught.exception.code, 2, bad)
            self.assertIn(reason, stderr.getvalue())

    def test_bad_addresses(self):
        """Addresses without a usable port are refused with exit status 2."""
        for bad in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:80", "[::1]", ":80"):
            stderr = io.StringIO()
            self.patch(sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as caught:
                _args("ping", bad)
            self.assertEqual(caught.exception.code, 2, bad)

    def test_bad_options(self):
        """Bad --timeout, --network and --genesis values are usage errors."""
        for argv in (["--timeout", "0"], ["--timeout", "-1"], ["--timeout", "soon"],
                     ["--network", "moon"], ["--genesis", "abc"]):
            self.patch(sys, "stderr", io.StringIO())
            with self.assertRaises(SystemExit) as caught:
                _args("handshake", "127.0.0.1:1", *argv)
            self.assertEqual(caught.exception.code, 2, argv)

    def test_defaults(self):
        """handshake defaults to mainnet and a 10 s timeout; options override."""
        args = _args("handshake", "127.0.0.1:1")
        self.assertEqual((args.network, args.genesis, args.timeout),
                         (MONERO_MAINNET, None, 10.0))
        args = _args("handshake", "127.0.0.1:1", "--network", "testnet", "--genesis",
                     "11" * 32, "--timeout", "2.5")
        self.assertEqual((args.network, args.genesis, args.timeout),
                         (MONERO_TESTNET, b"\x11" * 32, 2.5))

    def test_help_explains_every_option(self):
        """--help of each action names every option."""
        for action, options in (("ping", ["HOST:PORT", "--timeout"]),
                                ("handshake", ["HOST:PORT", "--network", "--genesis",
                                               "--timeout", "testnet"])):
            stdout = io.StringIO()
            self.patch(sys, "stdout", stdout)
            with self.assertRaises(SystemExit):
                _args(action, "--help")
            for option in options:
                self.assertIn(option, stdout.getvalue())

    def test_handshake_request(self):
        """Our handshake claims the genesis block, no port and support flags 0."""
        request = _levin.handshake_request_for(MONERO_TESTNET, peer_id=5)
        self.assertEqual(request["node_data"]["peer_id"], Uint64(5))
        self.assertEqual(request["node_data"]["my_port"], Uint32(0))
        self.assertEqual(request["node_data"]["support_flags"], Uint32(0))
        self.assertEqual(request["payload_data"]["top_id"],
                         String(MONERO_TESTNET.genesis_hash))
        other = _levin.handshake_request_for(MONERO_TESTNET, genesis=b"\x22" * 32)
        self.assertEqual(other["payload_data"]["top_id"], String(b"\x22" * 32))
