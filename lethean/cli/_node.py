"""
``lethean ping|stats|logs|miner|deploy``: a short-lived controller.

Each command loads (or creates) the local identity, dials the target node
over the mesh (no listener of its own), performs one request, prints the
answer and exits.  A target is a node id from the registry or a
``HOST:PORT``; dialling an address registers the peer (trust on first
use), and a registered peer's key is pinned.
"""

import json
import sys

from lethean._gojson import marshal
from lethean.cli._main import run_in_reactor
from lethean.cli._peers import add_data_dir_option, peers_path
from lethean.errors import LetheanError

__all__ = ["register"]

#: Seconds allowed for dialling and the mesh handshake.
CONNECT_TIMEOUT_S = 20.0
#: Peers ``stats --all`` dials at once: a fleet links in parallel, and a
#: silent peer holds up only its own slot.
DIAL_CONCURRENCY = 100


class TargetError(LetheanError):
    """The target node cannot be reached."""


class CommandLineError(LetheanError):
    """The command cannot run as given."""

    exit_code = 2


def _is_address(target):
    return ":" in target


async def _session(reactor, args, work):
    """Run ``await work(controller, transport, registry)`` with a controller."""
    from lethean.identity import NodeManager
    from lethean.mesh import MeshTransport, TransportConfig
    from lethean.node import Controller
    from lethean.peers import PeerRegistry

    manager = NodeManager() if args.data_dir is None else NodeManager.in_directory(args.data_dir)
    identity = manager.load_or_create()
    registry = PeerRegistry(reactor, peers_path(args.data_dir))
    transport = MeshTransport(reactor, identity, registry, TransportConfig(listen=None))
    controller = Controller(reactor, transport, registry)
    transport.add_consumer(controller)
    transport.startService()
    try:
        return await work(controller, transport, registry)
    finally:
        controller.stop()
        await transport.stopService()
        await registry.close()


async def _peer_id(reactor, args, transport, registry, target):
    """Connect to ``target``; return the peer's node id."""
    from twisted.internet import defer, error

    if _is_address(target):
        d = transport.connect(target)
    else:
        peer = registry.get_peer(target)
        if peer is None:
            raise TargetError("no registered peer {}".format(target))
        if not peer.address:
            raise TargetError("peer {} has no address to dial".format(target))
        d = transport.connect(peer.address, peer_id=peer.id)
    d.addTimeout(args.timeout, reactor)
    try:
        connection = await d
    except defer.TimeoutError:
        raise TargetError("{} did not answer within {:g} s".format(target, args.timeout)) from None
    except (error.ConnectError, error.ConnectionLost, OSError) as e:
        raise TargetError("cannot connect to {}: {}".format(target, e)) from None
    return connection.peer_id


async def _reach_all(reactor, args, transport, registry):
    """Connect to every registered peer with an address, in parallel; report the unreachable."""
    from twisted.internet import defer

    async def reach(peer):
        try:
            await _peer_id(reactor, args, transport, registry, peer.id)
        except Exception as e:
            print("lethean: cannot reach {}: {}".format(peer.id, e), file=sys.stderr)

    slots = defer.DeferredSemaphore(DIAL_CONCURRENCY)
    await defer.DeferredList([
        slots.run(lambda peer=peer: defer.Deferred.fromCoroutine(reach(peer)))
        for peer in registry.list_peers() if peer.address])


def _print(args, value, text):
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        print(text)


async def _ping(reactor, args):
    async def work(controller, transport, registry):
        peer_id = await _peer_id(reactor, args, transport, registry, args.target)
        rtt_ms = await controller.ping_peer(peer_id)
        _print(args, {"peerId": peer_id, "rttMs": rtt_ms},
               "pong from {}: {:.1f} ms".format(peer_id, rtt_ms))
        return 0
    return await _session(reactor, args, work)


def _stats_text(peer_id, stats):
    lines = ["{} ({}) up {} s".format(stats.node_name or "-", peer_id, stats.uptime)]
    if not stats.miners:
        lines.append("  no miners")
    for miner in stats.miners:
        lines.append("  {}  {}  {:g} H/s  shares {}  rejected {}  up {} s".format(
            miner.name, miner.type, miner.hashrate, miner.shares, miner.rejected, miner.uptime))
    return "\n".join(lines)


async def _stats(reactor, args):
    async def work(controller, transport, registry):
        if args.all:
            await _reach_all(reactor, args, transport, registry)
            results = await controller.get_all_stats()
        else:
            if args.target is None:
                raise CommandLineError("give a target, or --all")
            peer_id = await _peer_id(reactor, args, transport, registry, args.target)
            results = {peer_id: await controller.get_remote_stats(peer_id)}
        _print(args, {peer_id: json.loads(marshal(stats)) for peer_id, stats in results.items()},
               "\n".join(_stats_text(p, s) for p, s in results.items()) or "no stats")
        return 0
    return await _session(reactor, args, work)


async def _logs(reactor, args):
    async def work(controller, transport, registry):
        peer_id = await _peer_id(reactor, args, transport, registry, args.target)
        lines = await controller.get_remote_logs(peer_id, args.miner, args.lines)
        _print(args, {"peerId": peer_id, "miner": args.miner, "lines": lines}, "\n".join(lines))
        return 0
    return await _session(reactor, args, work)


async def _miner(reactor, args):
    async def work(controller, transport, registry):
        peer_id = await _peer_id(reactor, args, transport, registry, args.target)
        if args.miner_command == "start":
            config = json.loads(args.config) if args.config else None
            name = await controller.start_remote_miner(peer_id, args.miner_type,
                                                       args.profile or "", config)
            _print(args, {"peerId": peer_id, "started": name}, "started " + name)
        else:
            name = await controller.stop_remote_miner(peer_id, args.name)
            _print(args, {"peerId": peer_id, "stopped": name}, "stopped " + name)
        return 0
    return await _session(reactor, args, work)


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
    from lethean.bundles import (
        create_miner_bundle, create_profile_bundle, read_bundle, read_miner)
    from lethean.smsg import frame_password

    async def work(controller, transport, registry):
        peer_id = await _peer_id(reactor, args, transport, registry, args.target)
        password = frame_password(transport.connection(peer_id).shared_secret)
        if args.kind == "bundle":
            with open(args.file, "rb") as f:
                bundle = read_bundle(f)
        elif args.kind == "profile":
            with open(args.file, "rb") as f:
                bundle = create_profile_bundle(f.read(), args.name, password)
        else:
            file_name, content = read_miner(args.file)
            bundle = create_miner_bundle(args.miner_file_name or file_name, content, args.name,
                                         password)
        total = len(bundle.data)
        ack = await controller.deploy_bundle(peer_id, bundle, progress=_progress)
        _print(args, {"peerId": peer_id, "name": ack.name or bundle.name, "success": ack.success,
                      "bytes": total},
               "deployed {} ({} bytes) to {}".format(bundle.name, total, peer_id))
        return 0
    return await _session(reactor, args, work)


def _runner(command):
    return lambda args: run_in_reactor(command, args)


def register(subparsers):
    """Add the controller commands."""

    def command(name, function, help_text, target=True):
        sub = subparsers.add_parser(name, help=help_text, description=help_text + (
            ". TARGET is a registered node id or HOST:PORT."))
        if target:
            sub.add_argument("target", metavar="TARGET", help="node id or HOST:PORT")
        add_data_dir_option(sub)
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
                                 ". TARGET is a registered node id or HOST:PORT.")
        sub.add_argument("target", metavar="TARGET", help="node id or HOST:PORT")
        if action == "start":
            sub.add_argument("miner_type", metavar="TYPE", help="miner type, e.g. xmrig")
            sub.add_argument("--profile", metavar="ID", help="profile id on the worker")
            sub.add_argument("--config", metavar="JSON", help="config overriding the profile")
        else:
            sub.add_argument("name", metavar="NAME", help="miner instance name")
        add_data_dir_option(sub)
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
                        help="file name of the miner inside the bundle (default: FILE's "
                        "own name, as the reference)")
