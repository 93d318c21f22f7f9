"""
``lethean levin``: talk to a CryptoNote daemon (monerod, letheand) over Levin.

``ping`` sends COMMAND_PING; ``handshake`` performs COMMAND_HANDSHAKE and one
COMMAND_TIMED_SYNC.  Both print a summary of the peer's replies (the whole
replies as JSON with ``--json``) and exit 0; any failure is one line on
stderr and a non-zero status (see ``docs/levin.md``).
"""

from __future__ import annotations

import argparse
import re

from lethean.cli._main import run_in_reactor
from lethean.cli._output import emit

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from twisted.internet.interfaces import IReactorTime

    from lethean.cli._main import Subparsers
    from lethean.levin import Section
    from lethean.levin._networks import Network

__all__ = ["register", "PeerAddress", "parse_peer"]

#: Default seconds for connecting and for each answer.
DEFAULT_TIMEOUT_S = 10.0

_HOST_PORT = re.compile(r"\A(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})\Z")
#: The type prefix of a client endpoint string (``tcp:``, ``unix:``, ``tls:``, ...).
_ENDPOINT_TYPE = re.compile(r"\A[A-Za-z][A-Za-z0-9_.+-]*:")


class PeerAddress:
    """
    Where to connect: a host and port, or a Twisted client endpoint string.

    :meth:`endpoint` is the one place where ``HOST:PORT`` becomes an
    endpoint string.
    """

    def __init__(self, text: str, host: str | None = None, port: int | None = None) -> None:
        self.text = text
        self.host = host
        self.port = port

    def endpoint(self, timeout: float) -> str:
        """The client endpoint string (``timeout`` applies to ``HOST:PORT`` only)."""
        from twisted.internet.endpoints import quoteStringArgument

        if self.host is None:
            return self.text
        return "tcp:host={}:port={}:timeout={}".format(
            quoteStringArgument(self.host), self.port, max(1, int(round(timeout))))


def parse_peer(text: str) -> PeerAddress:
    """
    A :class:`PeerAddress` from ``HOST:PORT``, ``[IPV6]:PORT`` or a client
    endpoint string (``tcp:host=H:port=P``, ``tcp:H:P``, ``unix:/path``,
    ``tls:H:P``, ...).  ``HOST:PORT`` wins when the text reads as both.
    """
    match = None if "=" in text else _HOST_PORT.match(text.strip())
    if match is None and _ENDPOINT_TYPE.match(text):
        _check_endpoint(text)
        return PeerAddress(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise argparse.ArgumentTypeError(
            "{!r} is not HOST:PORT, [IPV6]:PORT or an endpoint string".format(text))
    return PeerAddress(text, match["v6"] or match["host"], int(match["port"]))


def _check_endpoint(text: str) -> None:
    """Refuse, as a usage error, an endpoint string Twisted cannot build."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import clientFromString

    try:
        clientFromString(reactor, text)
    except (ValueError, TypeError, KeyError) as e:
        # Twisted's parsers say "Unknown endpoint type", a bad value, or a
        # missing or unexpected argument in these three ways.
        raise argparse.ArgumentTypeError(
            "{!r} is not a usable client endpoint string ({}: {})".format(
                text, type(e).__name__, e)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("{!r} is not a positive number of seconds".format(text))
    return value


def _network(text: str) -> Network:
    from lethean.levin import UnknownNetworkError, resolve_network

    try:
        return resolve_network(text)
    except UnknownNetworkError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _genesis(text: str) -> bytes:
    from lethean.levin import UnknownNetworkError
    from lethean.levin._networks import HASH_SIZE, parse_hash

    try:
        return parse_hash(text, HASH_SIZE, "a genesis hash")
    except UnknownNetworkError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_PEER_HELP = ("the daemon's P2P address: HOST:PORT, [IPV6]:PORT, or a Twisted client "
              "endpoint string such as tcp:host=H:port=P or unix:/PATH (monerod testnet "
              "listens on 28080)")
_TIMEOUT_HELP = ("seconds to wait for the connection and for each reply "
                 "(default {:g})".format(DEFAULT_TIMEOUT_S))


def register(subparsers: Subparsers) -> None:
    """Add ``levin ping`` and ``levin handshake`` to the ``lethean`` parser."""
    levin = subparsers.add_parser(
        "levin", help="talk to a CryptoNote/Lethean daemon over Levin (P2P port)",
        description="Talk to a CryptoNote daemon (monerod, letheand) on its P2P port. "
        "Prints the daemon's replies as JSON; on failure prints one line on stderr "
        "and exits 1 (2 for a bad command line).")
    actions = levin.add_subparsers(dest="levin_command", metavar="ACTION", required=True)

    ping = actions.add_parser(
        "ping", help="send COMMAND_PING and print the reply",
        description="Send COMMAND_PING (1003) and print the reply: status OK and the "
        "daemon's peer id. Needs no handshake and no network id.")
    ping.add_argument("peer", metavar="HOST:PORT", type=parse_peer, help=_PEER_HELP)
    ping.add_argument("--timeout", metavar="S", type=_seconds, default=DEFAULT_TIMEOUT_S,
                      help=_TIMEOUT_HELP)
    ping.add_argument("--json", action="store_true", help="print the reply as JSON")
    ping.set_defaults(func=lambda args: run_in_reactor(ping_command, args))

    handshake = actions.add_parser(
        "handshake", help="handshake, then one timed sync; print both replies",
        description="Send COMMAND_HANDSHAKE (1001) as a peer holding only the genesis "
        "block, then one COMMAND_TIMED_SYNC (1002), and print both replies (node data, "
        "chain height and top block, peer list). A daemon on another network closes "
        "the connection without a reply: that fails with 'handshake rejected'.")
    handshake.add_argument("peer", metavar="HOST:PORT", type=parse_peer, help=_PEER_HELP)
    handshake.add_argument(
        "--network", metavar="NAME|HEX", type=_network, default="mainnet",
        help="the daemon's network: mainnet (default), testnet, stagenet (monerod "
        "--testnet/--stagenet), or its 16-byte network id as 32 hex digits")
    handshake.add_argument(
        "--genesis", metavar="HEX", type=_genesis, default=None,
        help="genesis block hash (64 hex digits) sent as our top block; known for the "
        "named networks, 32 zero bytes otherwise (a daemon accepts an unknown top block)")
    handshake.add_argument("--timeout", metavar="S", type=_seconds,
                           default=DEFAULT_TIMEOUT_S, help=_TIMEOUT_HELP)
    handshake.add_argument("--json", action="store_true", help="print both replies as JSON")
    handshake.set_defaults(func=lambda args: run_in_reactor(handshake_command, args))


def _print(args: argparse.Namespace, document: dict[str, Any],
           text: str | Callable[[], str]) -> None:
    emit(args, document, text)


async def ping_command(reactor: IReactorTime, args: argparse.Namespace) -> int:
    """``lethean levin ping``: print ``{"peer", "ping"}``; returns the exit status."""
    from lethean.levin import close_peer, connect_peer, ping_peer, reply_to_json

    protocol = await connect_peer(
        reactor, args.peer.endpoint(args.timeout), timeout=args.timeout)
    try:
        reply = await ping_peer(protocol, timeout=args.timeout)
    finally:
        await close_peer(protocol)
    ping = reply_to_json(reply)
    _print(args, {"peer": args.peer.text, "ping": ping}, "{} from {} (peer id {})".format(
        ping.get("status"), args.peer.text, ping.get("peer_id")))
    return 0


def handshake_request_for(network: Network, genesis: bytes | None = None,
                          peer_id: int | None = None) -> Section:
    """
    Our handshake body: a fresh random peer id, no listening port, support
    flags 0 (the daemon then asks for them, and we answer), and a chain of
    one block (the genesis) so the daemon neither syncs from us nor to us.
    """
    import secrets

    from lethean.levin import handshake_request, monero_node_data, monero_sync_data

    node_data = monero_node_data(
        network.network_id, secrets.randbits(64) if peer_id is None else peer_id, 0,
        support_flags=0)
    sync_data = monero_sync_data(network.genesis_hash if genesis is None else genesis)
    return handshake_request(node_data, sync_data)


async def handshake_command(reactor: IReactorTime, args: argparse.Namespace) -> int:
    """
    ``lethean levin handshake``: print ``{"peer", "network", "network_id",
    "handshake", "timed_sync"}``; returns the exit status.
    """
    from lethean.levin import (
        LevinHandshakeRejectedError, close_peer, connect_peer, handshake_peer,
        polite_handlers, reply_to_json)

    request = handshake_request_for(args.network, args.genesis)
    protocol = await connect_peer(
        reactor, args.peer.endpoint(args.timeout), timeout=args.timeout,
        handlers=polite_handlers(request["payload_data"]))
    try:
        reply, sync = await handshake_peer(protocol, request, timeout=args.timeout)
    except LevinHandshakeRejectedError as e:
        e.line = ("{} rejected the Levin handshake ({}): if the daemon runs on another "
                  "network, give it with --network mainnet, testnet, stagenet or its network "
                  "id (32 hex digits)".format(args.peer.text, e))
        raise
    finally:
        await close_peer(protocol)
    document = {
        "peer": args.peer.text,
        "network": args.network.name,
        "network_id": args.network.network_id.hex(),
        "handshake": reply_to_json(reply),
        "timed_sync": reply_to_json(sync),
    }
    _print(args, document, lambda: _handshake_text(document))
    return 0


def _handshake_text(document: dict[str, Any]) -> str:
    """The facts of a handshake a person looks for first."""
    handshake, sync = document["handshake"], document["timed_sync"]
    node = handshake.get("node_data") or {}
    payload = sync.get("payload_data") or handshake.get("payload_data") or {}
    peers = handshake.get("local_peerlist_new") or handshake.get("local_peerlist") or []
    facts = [("peer", document["peer"]), ("network", "{} ({})".format(
        document["network"], document["network_id"])),
        ("peer id", node.get("peer_id")), ("height", payload.get("current_height")),
        ("top block", payload.get("top_id")), ("peers offered", len(peers))]
    width = max(len(label) for label, _ in facts)
    return "\n".join("{}  {}".format(label.ljust(width), "-" if value is None else value)
                     for label, value in facts)
