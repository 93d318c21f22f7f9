"""
``lethean ping|stats|logs|miner|deploy``: requests to other nodes.

When a node runs for the data folder in use (``--data-dir``, or the XDG
default), every command goes through that node's control API: the node
carries it out with its own identity, links and registry, so there is no
second link beside the node's.  When none runs, the command is a
short-lived controller with an identity and registry of its own (in
``<XDG data home>/lethean-desktop/cli``): it dials the target, performs one
request, prints the answer and exits.  It also knows the peers registered
for the data folder (names, addresses, pinned keys), read only: a node's
files are never written by it.

A target is a node id, a unique id prefix (4+ hex digits), a peer name,
``HOST:PORT`` or ``ws[s]://HOST:PORT``; dialling an address registers the
peer (trust on first use), and a registered peer's key is pinned.
"""

from __future__ import annotations

import argparse
import json
import sys

from lethean.cli._errors import CommandLineError
from lethean.cli._main import run_in_reactor
from lethean.cli._output import emit, print_table

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any, TypeAlias, TypeVar

    from twisted.internet.interfaces import IReactorTime

    from lethean.cli._client import ThroughNode
    from lethean.cli._main import Command, Subparsers
    from lethean.node import NodeOperations
    from lethean.node._targets import Target
    from lethean.peers import OverlayRegistry

    T = TypeVar("T")
    #: What a remote command works through: the running node, or a controller of its own.
    Operations: TypeAlias = "NodeOperations | ThroughNode"

__all__ = [
    "register",
    "cli_folder",
    "command_registry",
    "add_control_option",
    "add_tls_options",
    "node_operations",
    "own_session",
    "check_target",
    "seconds",
    "TARGET_HELP",
]

#: Seconds allowed for dialling and the mesh handshake.
CONNECT_TIMEOUT_S = 20.0
#: The longest --timeout (the node refuses more).
MAX_TIMEOUT_S = 3600.0
#: Most console lines ``logs`` asks for (what a worker keeps).
MAX_LOG_LINES = 10000

TARGET_HELP = ("node id (or its first 4+ hex digits), peer name, HOST:PORT, or "
               "ws[s]://HOST:PORT")


def cli_folder() -> str:
    """Where the command keeps its own identity and registry when no node runs."""
    from lethean._paths import data_path

    return data_path("cli")


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, more than 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(
            "{!r} is not a number of seconds from more than 0 to {:g}".format(text, MAX_TIMEOUT_S))
    return value


def _lines(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value <= MAX_LOG_LINES:
        raise argparse.ArgumentTypeError(
            "{!r} is not a number of lines from 1 to {}".format(text, MAX_LOG_LINES))
    return value


def _json_config(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("not JSON ({}): {!r}".format(e, text[:80])) from None


def check_target(target: str) -> Target:
    """Refuse a malformed target before anything is dialled (exit status 2)."""
    from lethean.node._targets import parse_target
    from lethean.node._errors import TargetFormError

    try:
        return parse_target(target)
    except TargetFormError as e:
        raise CommandLineError(str(e)) from None


def _control_endpoint(text: str) -> str:
    """An argparse type: a client endpoint string naming a node's control API."""
    from twisted.internet.endpoints import clientFromString

    try:
        clientFromString(None, text)
    except (ValueError, TypeError, KeyError):
        raise argparse.ArgumentTypeError(
            "{!r} is not a client endpoint: give e.g. tcp:127.0.0.1:9190 or "
            "unix:/srv/node/control.sock".format(text)) from None
    return text


def add_control_option(parser: argparse.ArgumentParser) -> None:
    """``--control``: reach a node's control API at an explicit endpoint."""
    parser.add_argument(
        "--control", metavar="ENDPOINT", default=None, type=_control_endpoint,
        help="the node's control API as a client endpoint, e.g. tcp:127.0.0.1:9190 "
        "(its token from $LETHEAN_CONTROL_TOKEN or DIR/control.token); default: the "
        "control.sock of the data folder")


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """``--tls-ca`` and ``--tls-fingerprint``: how a ``wss`` peer is trusted."""
    parser.add_argument(
        "--tls-ca", metavar="FILE", default=None,
        help="trust the certificates in this PEM file for wss targets (a peer's self-signed "
        "certificate, or your CA); default: the system's CAs. Host names are checked")
    parser.add_argument(
        "--tls-fingerprint", metavar="SHA256", default=None,
        help="accept a wss peer whose certificate has this SHA-256 fingerprint (hex, colons "
        "allowed), whatever signed it")


def _tls_verify(args: argparse.Namespace) -> str:
    """
    The ``tls_verify`` of the command's own transport; a usage error (status
    2) for a CA file that cannot be used or a malformed fingerprint, checked
    as the node's own --tls-ca and --tls-fingerprint are.
    """
    from twisted.python import usage

    from lethean.node._options import check_tls

    try:
        return check_tls(None, None, getattr(args, "tls_ca", None),
                         getattr(args, "tls_fingerprint", None))
    except usage.UsageError as e:
        raise CommandLineError(str(e)) from None


def command_registry(reactor: IReactorTime, data_dir: str | None) -> OverlayRegistry:
    """
    The short-lived controller's registry: its own (in :func:`cli_folder`),
    with the peers registered for ``data_dir`` beside it, read only.
    """
    import os

    from lethean.cli._peers import peers_path
    from lethean.peers import OverlayRegistry

    folder = cli_folder()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return OverlayRegistry(reactor, os.path.join(folder, "peers.json"), peers_path(data_dir))


async def own_session(reactor: IReactorTime, args: argparse.Namespace,
                      work: Callable[[NodeOperations], Awaitable[T]]) -> T:
    """
    Run ``await work(operations)`` with a short-lived controller of our own:
    its identity and registry are the command's, and it also knows the
    peers registered for the data folder (names, addresses, pinned keys)
    without ever writing that folder's files.
    """
    from lethean.identity import ROLE_CONTROLLER, NodeManager
    from lethean.mesh import MeshTransport, TransportConfig
    from lethean.node import Controller, NodeOperations

    config = TransportConfig(listen=None, tls_verify=_tls_verify(args))
    registry = command_registry(reactor, args.data_dir)
    identity = NodeManager.in_directory(cli_folder()).load_or_create(role=ROLE_CONTROLLER)
    transport = MeshTransport(reactor, identity, registry, config)
    controller = Controller(reactor, transport, registry)
    transport.add_consumer(controller)
    transport.startService()
    try:
        return await work(NodeOperations(reactor, transport, registry, controller,
                                         data_dir=args.data_dir))
    finally:
        controller.stop()
        await transport.stopService()
        await registry.close()


async def node_operations(reactor: IReactorTime, args: argparse.Namespace,
                          work: Callable[[Operations], Awaitable[T]]) -> T:
    """
    ``await work(operations)`` through the node running for ``args.data_dir``
    (or ``args.control``), else through a controller of the command's own.
    """
    from lethean.cli._client import ThroughNode, find_node

    tls_options = getattr(args, "tls_ca", None) or getattr(args, "tls_fingerprint", None)
    if tls_options:
        # Checked before anything is dialled; without them there is nothing
        # to check, and a request through the node needs no TLS code.
        _tls_verify(args)
    client = await find_node(reactor, args.data_dir, args.control)
    if client is not None:
        if tls_options:
            print("lethean: the request goes through the running node, which trusts TLS "
                  "peers as its own --tls-ca and --tls-fingerprint say", file=sys.stderr)
        return await work(ThroughNode(client))
    return await own_session(reactor, args, work)


def _label(result: dict[str, Any]) -> str:
    """How a result names the peer that answered."""
    from lethean.node._targets import peer_label

    peer = result.get("peer") or {}
    return peer_label(result.get("peerId"), peer.get("name"), peer.get("address"))


async def _ping(reactor: IReactorTime, args: argparse.Namespace) -> int:
    check_target(args.target)

    async def work(operations: Operations) -> int:
        result = await operations.ping(args.target, args.timeout)
        emit(args, result, "pong from {}: {:.1f} ms".format(_label(result), result["rttMs"]))
        return 0
    return await node_operations(reactor, args, work)


def _stats_text(peer_id: str, stats: dict[str, Any]) -> str:
    """A node's stats as text; the names it chose are escaped (one line each)."""
    from lethean.node._targets import printable

    lines = ["{} ({}) up {} s".format(printable(stats.get("nodeName") or "-"), peer_id,
                                      stats.get("uptime", 0))]
    miners = stats.get("miners") or []
    if not miners:
        lines.append("  no miners")
    for miner in miners:
        lines.append("  {}  {}  {:g} H/s  shares {}  rejected {}  up {} s".format(
            printable(miner.get("name")), printable(miner.get("type")),
            miner.get("hashrate", 0), miner.get("shares", 0), miner.get("rejected", 0),
            miner.get("uptime", 0)))
    return "\n".join(lines)


def _log_text(lines: list[str]) -> str:
    """
    A miner's console lines: on a terminal with their control characters
    escaped (a peer's output must not drive the operator's terminal), in a
    pipe as they are.
    """
    from lethean.cli._output import is_terminal
    from lethean.node._targets import printable

    if is_terminal(sys.stdout):
        lines = [printable(line, limit=max(len(line), 1)) for line in lines]
    return "\n".join(lines)


def _stats_table(results: dict[str, dict[str, Any]]) -> None:
    rows = []
    for peer_id, stats in results.items():
        miners = stats.get("miners") or []
        hashrate = sum(m.get("hashrate", 0) or 0 for m in miners)
        rows.append([stats.get("nodeName") or "-", peer_id, str(stats.get("uptime", 0)),
                     str(len(miners)), "{:g}".format(hashrate)])
    print_table(rows, ["NAME", "ID", "UPTIME_S", "MINERS", "HASHRATE"])


async def _stats(reactor: IReactorTime, args: argparse.Namespace) -> int:
    if args.all and args.target is not None:
        raise CommandLineError("give a target or --all, not both")
    if not args.all and args.target is None:
        raise CommandLineError("give a target, or --all")
    if args.target is not None:
        check_target(args.target)

    async def work(operations: Operations) -> int:
        result = await operations.stats(args.target, args.all, args.timeout)
        results, failed = result["stats"], result.get("failed", {})
        every = dict(results)
        every.update({peer_id: {"error": error} for peer_id, error in failed.items()})
        if args.json:
            emit(args, dict(sorted(every.items())), None)
        elif args.all:
            if results:
                _stats_table(results)
            elif not failed:
                from lethean.node._targets import lethean_command

                print("no peers to ask: register some with '{}'".format(
                    lethean_command("peers add HOST:PORT --public-key KEY", args.data_dir)))
        else:
            print("\n".join(_stats_text(p, s) for p, s in results.items()))
        for error in failed.values():
            print("lethean: " + error["message"], file=sys.stderr)
        if failed:
            print("lethean: {} of {} nodes did not report".format(
                len(failed), len(every)), file=sys.stderr)
            return 1
        return 0
    return await node_operations(reactor, args, work)


async def _logs(reactor: IReactorTime, args: argparse.Namespace) -> int:
    check_target(args.target)

    async def work(operations: Operations) -> int:
        result = await operations.logs(args.target, args.miner, args.lines, args.timeout)
        emit(args, result, _log_text(result["lines"]) if result["lines"] else None)
        return 0
    return await node_operations(reactor, args, work)


async def _miner(reactor: IReactorTime, args: argparse.Namespace) -> int:
    check_target(args.target)
    if args.miner_command == "start" and args.profile is None and args.config is None:
        raise CommandLineError("give --profile NAME (a profile deployed to the node) or "
                               "--config JSON")

    async def work(operations: Operations) -> int:
        if args.miner_command == "start":
            result = await operations.start_miner(args.target, args.miner_type,
                                                  args.profile or "", args.config, args.timeout)
            emit(args, result, "started {} on {}".format(result["started"], _label(result)))
        else:
            result = await operations.stop_miner(args.target, args.name, args.timeout)
            emit(args, result, "stopped {} on {}".format(result["stopped"], _label(result)))
        return 0
    return await node_operations(reactor, args, work)


async def _deploy(reactor: IReactorTime, args: argparse.Namespace) -> int:
    import os

    from lethean.cli._output import Progress

    check_target(args.target)
    if args.kind != "bundle" and not args.name:
        raise CommandLineError("--name is required with --kind {}".format(args.kind))
    if not os.path.isfile(args.file):
        raise CommandLineError("{} is not a file".format(args.file))
    progress = Progress("deploying " + os.path.basename(args.file))

    async def work(operations: Operations) -> int:
        try:
            result = await operations.deploy(args.target, args.file, args.kind, args.name,
                                             args.miner_file_name, progress, args.timeout)
        finally:
            progress.close()
        emit(args, result, "deployed {} ({} bytes) to {}".format(
            result["name"], result["bytes"], _label(result)))
        return 0
    return await node_operations(reactor, args, work)


#: What every remote command's --help says about the way it goes.
_ROUTING = ("When a node runs for --data-dir (its control.sock answers), the request goes "
            "through that node; otherwise the command dials with an identity of its own, "
            "knowing the peers registered for --data-dir (it never writes their files).")


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    return lambda args: run_in_reactor(command, args)


def _common(sub: argparse.ArgumentParser) -> None:
    from lethean.cli._peers import add_data_dir_option

    add_data_dir_option(sub)
    add_control_option(sub)
    add_tls_options(sub)
    sub.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub.add_argument("--timeout", type=seconds, default=CONNECT_TIMEOUT_S, metavar="S",
                     help="seconds to connect and handshake (default %(default)g)")


def register(subparsers: Subparsers) -> None:
    """Add the controller commands."""

    def command(name: str, function: Command, help_text: str,
                target: bool = True) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, help=help_text, description=help_text[0].upper() +
                                    help_text[1:] + ". TARGET is a " + TARGET_HELP + ". " +
                                    _ROUTING)
        if target:
            sub.add_argument("target", metavar="TARGET", help=TARGET_HELP)
        _common(sub)
        sub.set_defaults(func=_runner(function))
        return sub

    command("ping", _ping, "measure the round trip to a node")
    stats = command("stats", _stats, "show a node's miners and uptime", target=False)
    stats.add_argument("target", metavar="TARGET", nargs="?", help=TARGET_HELP)
    stats.add_argument("--all", action="store_true",
                       help="ask every registered peer that has an address or a link; "
                       "exits 1 if any did not report")
    logs = command("logs", _logs, "show a miner's console lines on a node")
    logs.add_argument("miner", metavar="MINER", help="the miner instance name")
    logs.add_argument("--lines", type=_lines, default=100, metavar="N",
                      help="how many of the last lines (default %(default)s, 1 to {})".format(
                          MAX_LOG_LINES))

    miner = subparsers.add_parser("miner", help="start or stop a miner on a node",
                                  description="Start or stop a miner on a node.")
    actions = miner.add_subparsers(dest="miner_command", metavar="ACTION", required=True)
    for action, help_text in (("start", "start a miner"), ("stop", "stop a miner")):
        sub = actions.add_parser(action, help=help_text, description=help_text.capitalize() +
                                 ". TARGET is a " + TARGET_HELP + ". " + _ROUTING)
        sub.add_argument("target", metavar="TARGET", help=TARGET_HELP)
        if action == "start":
            sub.add_argument("miner_type", metavar="TYPE", help="miner type, e.g. xmrig")
            sub.add_argument("--profile", metavar="NAME",
                             help="a profile deployed to the node (lethean deploy --kind "
                             "profile --name NAME)")
            sub.add_argument("--config", metavar="JSON", type=_json_config,
                             help="the miner's config as JSON (overrides the profile)")
        else:
            sub.add_argument("name", metavar="NAME", help="miner instance name")
        _common(sub)
        sub.set_defaults(func=_runner(_miner))

    deploy = command("deploy", _deploy,
                     "send a bundle to a node; profiles and miners are bundled and "
                     "encrypted for that node on the fly")
    deploy.add_argument("file", metavar="FILE",
                        help="a bundle file (lethean bundle create --for TARGET), or with "
                        "--kind a profile JSON or a miner binary")
    deploy.add_argument("--kind", choices=("bundle", "profile", "miner"), default="bundle",
                        help="what FILE is (default %(default)s)")
    deploy.add_argument("--name", help="the name it is saved under on the node: "
                        "'miner start --profile NAME' finds a profile by it (required with "
                        "--kind profile or miner)")
    deploy.add_argument("--miner-file-name", metavar="NAME",
                        help="file name of the miner inside the bundle (default: miner)")
