"""
``lethean peers``: the node's peer registry, edited from the shell.

These commands change the files a node reads at start (peers.json, its
allowlist and auth-mode files).  A running node keeps its own copy in
memory and writes it back, so change peers while the node is stopped.
"""

import json
import os
import time

__all__ = ["register", "peers_path", "add_data_dir_option"]


def add_data_dir_option(parser):
    """The ``--data-dir`` option every node-file command shares."""
    parser.add_argument(
        "--data-dir", metavar="DIR", default=None,
        help="the node's data folder (as given to 'twistd lethean-node "
        "--data-dir'); default: the XDG locations")


def peers_path(data_dir):
    """peers.json for ``--data-dir``, or the reference's XDG location."""
    from lethean.peers import default_peers_path

    if data_dir is None:
        return default_peers_path()
    return os.path.join(data_dir, "peers.json")


def _peer_json(peer, connected=False):
    return {
        "id": peer.id,
        "name": peer.name,
        "publicKey": peer.public_key,
        "address": peer.address,
        "role": peer.role,
        "addedAt": None if peer.added_at is None else str(peer.added_at),
        "lastSeen": None if peer.last_seen is None else str(peer.last_seen),
        "pingMs": peer.ping_ms,
        "hops": peer.hops,
        "geoKm": peer.geo_km,
        "score": peer.score,
    }


def _table(rows, columns):
    """Rows of strings as a plain aligned table."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _print_peers(peers, as_json):
    if as_json:
        print(json.dumps([_peer_json(p) for p in peers], indent=2))
        return
    if not peers:
        print("no peers")
        return
    rows = [[p.id, p.name, p.address or "-", p.role or "-",
             "{:g}".format(p.score), "{:g}".format(p.ping_ms)] for p in peers]
    print(_table(rows, ["ID", "NAME", "ADDRESS", "ROLE", "SCORE", "PING_MS"]))


def _with_registry(args, change):
    """
    Apply ``change`` to the registry and write it back before returning.

    A one-shot command needs no reactor: on a ``Clock`` set to the wall
    time the registry stamps real times and writes synchronously.
    """
    from twisted.internet.task import Clock

    from lethean.peers import PeerRegistry

    clock = Clock()
    clock.rightNow = time.time()
    registry = PeerRegistry(clock, peers_path(args.data_dir))
    try:
        return change(registry)
    finally:
        failures = []
        registry.close().addErrback(failures.append)
        if failures:
            failures[0].raiseException()


def _list(args):
    peers = _with_registry(args, lambda r: r.peers_by_score())
    _print_peers(peers, args.json)
    return 0


def _add(args):
    from lethean.identity import node_id_for
    from lethean.peers import Peer

    def change(registry):
        peer = Peer(id=node_id_for(args.public_key), name=args.name or "",
                    public_key=args.public_key, address=args.address,
                    role=args.role or "")
        return registry.add_peer(peer)

    peer = _with_registry(args, change)
    _print_peers([peer], args.json)
    return 0


def _remove(args):
    _with_registry(args, lambda r: r.remove_peer(args.peer_id))
    print(json.dumps({"removed": args.peer_id}) if args.json else "removed " + args.peer_id)
    return 0


def _allow(args):
    _with_registry(args, lambda r: r.allow_public_key(args.public_key))
    print(json.dumps({"allowed": args.public_key}) if args.json
          else "allowed " + args.public_key)
    return 0


def _revoke(args):
    _with_registry(args, lambda r: r.revoke_public_key(args.public_key))
    print(json.dumps({"revoked": args.public_key}) if args.json
          else "revoked " + args.public_key)
    return 0


def _auth(args):
    from lethean.peers import AuthMode

    def change(registry):
        if args.mode is not None:
            registry.set_auth_mode(AuthMode[args.mode.upper()])
        return str(registry.auth_mode)

    mode = _with_registry(args, change)
    print(json.dumps({"auth": mode}) if args.json else "auth mode: " + mode)
    return 0


def register(subparsers):
    """Add ``lethean peers ...``."""
    parser = subparsers.add_parser(
        "peers", help="list and edit the node's known peers and allowlist",
        description="List and edit the peer registry a node loads at start. "
        "Change it while the node is stopped: a running node writes its own "
        "copy back.")
    commands = parser.add_subparsers(dest="peers_command", metavar="COMMAND", required=True)

    def command(name, function, help_text):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_data_dir_option(sub)
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.set_defaults(func=function)
        return sub

    command("list", _list, "list the known peers, best score first")
    add = command("add", _add, "register a peer by address and public key")
    add.add_argument("address", metavar="HOST:PORT", help="where the peer listens")
    add.add_argument("--public-key", required=True, metavar="BASE64",
                     help="the peer's X25519 public key (its node id is derived from it)")
    add.add_argument("--name", help="display name (letters, digits, '-' and '_')")
    add.add_argument("--role", choices=("controller", "worker", "dual"),
                     help="the peer's role")
    remove = command("remove", _remove, "forget a peer")
    remove.add_argument("peer_id", metavar="NODE_ID", help="the peer's node id")
    allow = command("allow", _allow, "add a public key to the allowlist")
    allow.add_argument("public_key", metavar="BASE64", help="X25519 public key")
    revoke = command("revoke", _revoke, "remove a public key from the allowlist")
    revoke.add_argument("public_key", metavar="BASE64", help="X25519 public key")
    auth = command("auth", _auth, "show or set who may connect: open or allowlist")
    auth.add_argument("mode", nargs="?", choices=("open", "allowlist"),
                      help="the new mode (omit to show the current one)")
