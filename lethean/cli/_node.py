"""
``lethean ping|stats|logs|miner|deploy``: requests to other nodes.

When a node runs for the data folder in use (``--data-dir``, or the XDG
default), every command goes through that node's control API: the node
carries it out with its own identity, links and registry, so there is no
second link beside the node's.  When none runs, the command is a
short-lived controller with an identity and registry of its own (in
``<XDG data home>/lethean-desktop/cli``, never a node's files): it dials
the target, performs one request, prints the answer and exits.

A target is a node id (connected, or in the registry) or ``HOST:PORT``;
dialling an address registers the peer (trust on first use), and a
registered peer's key is pinned.
"""

import json
import sys

from lethean._paths import data_path
from lethean.cli._client import find_node
from lethean.cli._main import run_in_reactor
from lethean.cli._peers import add_data_dir_option
from lethean.errors import LetheanError

__all__ = ["register", "cli_folder", "add_control_option", "node_operations"]

#: Seconds allowed for dialling and the mesh handshake.
CONNECT_TIMEOUT_S = 20.0


class CommandLineError(LetheanError):
    """The command cannot run as given."""

    exit_code = 2


def cli_folder():
    """Where the command keeps its own identity and registry when no node runs."""
    return data_path("cli")


def add_control_option(parser):
    """``--control``: reach a node's control API at an explicit endpoint."""
    parser.add_argument(
        "--control", metavar="ENDPOINT", default=None,
        help="the node's control API as a client endpoint, e.g. tcp:127.0.0.1:9190 "
        "(its token from $LETHEAN_CONTROL_TOKEN or DIR/control.token); default: the "
        "control.sock of the data folder")


class _ThroughNode:
    """
    :class:`~lethean.node.NodeOperations`' remote operations, asked of a
    running node over its control API (same arguments, same answers).
    """

    def __init__(self, client):
        self.client = client

    def ping(self, target, timeout_s):
        return self.client.post("/api/ping", {"target": target, "timeout": timeout_s})

    def stats(self, target, every, timeout_s):
        return self.client.post("/api/stats", {"target": target, "all": every,
                                               "timeout": timeout_s})

    def logs(self, target, miner, lines, timeout_s):
        return self.client.post("/api/logs", {"target": target, "miner": miner, "lines": lines,
                                              "timeout": timeout_s})

    def start_miner(self, target, miner_type, profile, config, timeout_s):
        return self.client.post("/api/miner/start", {
            "target": target, "type": miner_type, "profile": profile, "config": config,
            "timeout": timeout_s})

    def stop_miner(self, target, name, timeout_s):
        return self.client.post("/api/miner/stop", {"target": target, "name": name,
                                                    "timeout": timeout_s})

    def deploy(self, target, path, kind, name, miner_file_name, progress, timeout_s):
        from twisted.internet import defer

        return defer.Deferred.fromCoroutine(self.client.upload(
            "/api/deploy", {"target": target, "kind": kind, "name": name,
                            "minerFileName": miner_file_name, "timeout": timeout_s},
            path, progress))


async def _own_session(reactor, work):
    """Run ``await work(operations)`` with a short-lived controller of our own."""
    import os

    from lethean.identity import ROLE_CONTROLLER, NodeManager
    from lethean.mesh import MeshTransport, TransportConfig
    from lethean.node import Controller, NodeOperations
    from lethean.peers import PeerRegistry

    folder = cli_folder()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    identity = NodeManager.in_directory(folder).load_or_create(role=ROLE_CONTROLLER)
    registry = PeerRegistry(reactor, os.path.join(folder, "peers.json"))
    transport = MeshTransport(reactor, identity, registry, TransportConfig(listen=None))
    controller = Controller(reactor, transport, registry)
    transport.add_consumer(controller)
    transport.startService()
    try:
        return await work(NodeOperations(reactor, transport, registry, controller))
    finally:
        controller.stop()
        await transport.stopService()
        await registry.close()


async def node_operations(reactor, args, work):
    """
    ``await work(operations)`` through the node running for ``args.data_dir``
    (or ``args.control``), else through a controller of the command's own.
    """
    client = await find_node(reactor, args.data_dir, args.control)
    if client is not None:
        return await work(_ThroughNode(client))
    return await _own_session(reactor, work)


def _print(args, value, text):
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        print(text)


async def _ping(reactor, args):
    async def work(operations):
        result = await operations.ping(args.target, args.timeout)
        _print(args, result, "pong from {}: {:.1f} ms".format(result["peerId"], result["rttMs"]))
        return 0
    return await node_operations(reactor, args, work)


def _stats_text(peer_id, stats):
    lines = ["{} ({}) up {} s".format(stats.get("nodeName") or "-", peer_id,
                                      stats.get("uptime", 0))]
    miners = stats.get("miners") or []
    if not miners:
        lines.append("  no miners")
    for miner in miners:
        lines.append("  {}  {}  {:g} H/s  shares {}  rejected {}  up {} s".format(
            miner.get("name"), miner.get("type"), miner.get("hashrate", 0),
            miner.get("shares", 0), miner.get("rejected", 0), miner.get("uptime", 0)))
    return "\n".join(lines)


async def _stats(reactor, args):
    if not args.all and args.target is None:
        raise CommandLineError("give a target, or --all")

    async def work(operations):
        result = await operations.stats(args.target, args.all, args.timeout)
        for peer_id, reason in result.get("unreachable", {}).items():
            print("lethean: cannot reach {}: {}".format(peer_id, reason), file=sys.stderr)
        results = result["stats"]
        _print(args, results,
               "\n".join(_stats_text(p, s) for p, s in results.items()) or "no stats")
        return 0
    return await node_operations(reactor, args, work)


async def _logs(reactor, args):
    async def work(operations):
        result = await operations.logs(args.target, args.miner, args.lines, args.timeout)
        _print(args, result, "\n".join(result["lines"] or ()))
        return 0
    return await node_operations(reactor, args, work)


async def _miner(reactor, args):
    config = None
    if args.miner_command == "start" and args.config:
        try:
            config = json.loads(args.config)
        except ValueError as e:
            raise CommandLineError("--config is not JSON: {}".format(e)) from None

    async def work(operations):
        if args.miner_command == "start":
            result = await operations.start_miner(args.target, args.miner_type,
                                                  args.profile or "", config, args.timeout)
            _print(args, result, "started " + result["started"])
        else:
            result = await operations.stop_miner(args.target, args.name, args.timeout)
            _print(args, result, "stopped " + result["stopped"])
        return 0
    return await node_operations(reactor, args, work)


def _progress(sent, total):
    """A one-line progress bar on stderr (only on a terminal)."""
    if not sys.stderr.isatty() or not total:
        return
    width = 30
    done = int(width * min(sent, total) / total)
    sent = min(sent, total)
    sys.stderr.write("\r[{}{}] {:3d}%".format("#" * done, "." * (width - done),
                                              int(100 * sent / total)))
    if sent >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _deploy(reactor, args):
    if args.kind != "bundle" and not args.name:
        raise CommandLineError("--name is required with --kind {}".format(args.kind))

    async def work(operations):
        result = await operations.deploy(args.target, args.file, args.kind, args.name,
                                         args.miner_file_name, _progress, args.timeout)
        _print(args, result, "deployed {} ({} bytes) to {}".format(
            result["name"], result["bytes"], result["peerId"]))
        return 0
    return await node_operations(reactor, args, work)


#: What every remote command's --help says about the way it goes.
_ROUTING = ("When a node runs for --data-dir (its control.sock answers), the request goes "
            "through that node; otherwise the command dials with an identity of its own.")


def _runner(command):
    return lambda args: run_in_reactor(command, args)


def register(subparsers):
    """Add the controller commands."""

    def command(name, function, help_text, target=True):
        sub = subparsers.add_parser(name, help=help_text, description=help_text + (
            ". TARGET is a node id or HOST:PORT. " + _ROUTING))
        if target:
            sub.add_argument("target", metavar="TARGET", help="node id or HOST:PORT")
        add_data_dir_option(sub)
        add_control_option(sub)
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                         help="seconds to connect and handshake (default %(default)s)")
        sub.set_defaults(func=_runner(function))
        return sub

    command("ping", _ping, "measure the round trip to a node")
    stats = command("stats", _stats, "show a node's miners and uptime", target=False)
    stats.add_argument("target", metavar="TARGET", nargs="?", help="node id or HOST:PORT")
    stats.add_argument("--all", action="store_true",
                       help="ask every registered peer that has an address")
    logs = command("logs", _logs, "show a miner's console lines on a node")
    logs.add_argument("miner", metavar="MINER", help="the miner instance name")
    logs.add_argument("--lines", type=int, default=100, metavar="N",
                      help="how many lines (default %(default)s, at most 10000)")

    miner = subparsers.add_parser("miner", help="start or stop a miner on a node",
                                  description="Start or stop a miner on a node.")
    actions = miner.add_subparsers(dest="miner_command", metavar="ACTION", required=True)
    for action, help_text in (("start", "start a miner"), ("stop", "stop a miner")):
        sub = actions.add_parser(action, help=help_text, description=help_text +
                                 ". TARGET is a node id or HOST:PORT. " + _ROUTING)
        sub.add_argument("target", metavar="TARGET", help="node id or HOST:PORT")
        if action == "start":
            sub.add_argument("miner_type", metavar="TYPE", help="miner type, e.g. xmrig")
            sub.add_argument("--profile", metavar="ID", help="profile id on the worker")
            sub.add_argument("--config", metavar="JSON", help="config overriding the profile")
        else:
            sub.add_argument("name", metavar="NAME", help="miner instance name")
        add_data_dir_option(sub)
        add_control_option(sub)
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                         help="seconds to connect and handshake (default %(default)s)")
        sub.set_defaults(func=_runner(_miner))

    deploy = command("deploy", _deploy,
                     "send a bundle to a node; profiles and miners are bundled and "
                     "encrypted for that node on the fly")
    deploy.add_argument("file", metavar="FILE",
                        help="a bundle file (lethean bundle create), or with --kind a "
                        "profile JSON or a miner binary")
    deploy.add_argument("--kind", choices=("bundle", "profile", "miner"), default="bundle",
                        help="what FILE is (default %(default)s)")
    deploy.add_argument("--name", help="profile or miner name on the worker "
                        "(required with --kind profile or miner)")
    deploy.add_argument("--miner-file-name", metavar="NAME",
                        help="file name of the miner inside the bundle (default: miner)")
