"""
``lethean peers``: a node's peer registry, edited from the shell.

When a node runs for the data folder, each command asks that node (its
control API), so the change applies at once and is saved with the rest of
its registry.  When none runs, the command edits the files the node reads
at start (peers.json, its allowlist and auth-mode files) and says so.

With no node running, the other commands (``ping``, ``stats``...) are a
short-lived controller that also keeps a registry of its own (peers it
dialled by address, with their keys pinned).  ``peers list`` then shows
those too (``source`` ``cli``), and ``peers remove`` forgets a peer in
both, so the hint of a changed key always works.
"""

from __future__ import annotations

import os
import sys
import time

from lethean.cli._output import emit, print_table, table
from lethean.cli._errors import PeerFilesError

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable
    from typing import Any, TypeVar

    from twisted.internet.interfaces import IReactorTime
    from twisted.internet.task import Clock
    from twisted.python.failure import Failure

    from lethean.cli._client import ControlClient
    from lethean.cli._main import Subparsers
    from lethean.node import NodeOperations
    from lethean.peers import PeerRegistry

    T = TypeVar("T")

__all__ = ["register", "peers_path", "add_data_dir_option", "table"]


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """The ``--data-dir`` option every node-file command shares."""
    parser.add_argument(
        "--data-dir", metavar="DIR", default=None,
        help="the node's data folder (as given to 'twistd lethean-node "
        "--data-dir'); default: the XDG locations")


def peers_path(data_dir: str | None) -> str:
    """peers.json for ``--data-dir``, or the reference's XDG location."""
    from lethean.peers import default_peers_path

    if data_dir is None:
        return default_peers_path()
    return os.path.join(data_dir, "peers.json")


def _print_peers(peers: list[dict[str, Any]], as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(peers, indent=2))
        return
    if not peers:
        print("no peers")
        return
    columns = ["ID", "NAME", "ADDRESS", "ROLE", "SCORE", "PING_MS"]
    connected = any("connected" in p for p in peers)
    if connected:
        columns.append("CONNECTED")
    # With no node running, peers the command learned itself are shown too.
    sources = any(p.get("source") == "cli" for p in peers)
    if sources:
        columns.append("SOURCE")
    rows = []
    for p in peers:
        row = [p["id"], p["name"] or "-", p["address"] or "-", p["role"] or "-",
               "{:g}".format(round(p["score"], 1)),
               "{:.1f}".format(p["pingMs"]) if p["pingMs"] else "-"]
        if connected:
            row.append("yes" if p.get("connected") else "no")
        if sources:
            row.append(p["source"])
        rows.append(row)
    print_table(rows, columns)


def _files_error(path: str, error: OSError) -> PeerFilesError:
    folder = os.path.dirname(os.path.abspath(path))
    return PeerFilesError("cannot write {}: {}; run the command as the user that owns {} "
                          "(or fix its permissions)".format(
                              path, getattr(error, "strerror", None) or error, folder))


def _wall_clock() -> Clock:
    """
    A one-shot command needs no reactor: on a ``Clock`` set to the wall
    time a registry stamps real times and writes synchronously.
    """
    from twisted.internet.task import Clock

    clock = Clock()
    clock.rightNow = time.time()
    return clock


def _write_back(registry: PeerRegistry) -> None:
    """Write ``registry``'s changes now; a file that cannot be written is one line."""
    failures: list[Failure] = []
    registry.close().addErrback(failures.append)
    if failures:
        error = failures[0].value
        if isinstance(error, OSError):
            raise _files_error(getattr(error, "filename", None) or registry.path, error)
        failures[0].raiseException()


def _with_registry(args: argparse.Namespace, change: Callable[[PeerRegistry], T]) -> T:
    """Apply ``change`` to the data folder's registry and write it back before returning."""
    from lethean.peers import PeerRegistry

    registry = PeerRegistry(_wall_clock(), peers_path(args.data_dir))
    result = change(registry)
    _write_back(registry)
    return result


def _no_node_note(args: argparse.Namespace) -> str:
    return "lethean: no node is running for {}; changed its files directly".format(
        args.data_dir or "the default data folder")


def _refuse_beside_a_node(args: argparse.Namespace) -> None:
    """Refuse to edit the files of a node that runs without a control API."""
    from lethean._paths import data_path
    from lethean.node._errors import DataFolderLockedError
    from lethean.node._lock import running_node_pid

    pid = running_node_pid(args.data_dir or data_path())
    if pid is not None:
        error = DataFolderLockedError(args.data_dir or data_path())
        error.line = (
            "a node{} runs for {} without a control API (--control none), so its registry "
            "cannot be changed from here: stop it first, or restart it with its control "
            "socket".format(" (pid {})".format(pid) if pid else "",
                            args.data_dir or "the default data folder"))
        raise error


def _on_files(args: argparse.Namespace, local: Callable[[NodeOperations], T],
              edits: bool) -> T:
    from lethean.node import NodeOperations

    if edits:
        _refuse_beside_a_node(args)
    result = _with_registry(args, lambda registry: local(
        NodeOperations(None, None, registry, None, data_dir=args.data_dir)))
    if edits:
        print(_no_node_note(args), file=sys.stderr)
    return result


def _command_operations(args: argparse.Namespace) -> NodeOperations:
    """
    Operations on the registry of the command's own controller: its own
    peers and, read only, the data folder's (see ``lethean.cli._node``).
    """
    from lethean.cli._node import command_registry
    from lethean.node import NodeOperations

    registry = command_registry(_wall_clock(), args.data_dir)
    return NodeOperations(None, None, registry, None, data_dir=args.data_dir)


def _list_on_files(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The data folder's peers, then those only the command's own registry holds."""
    operations = _command_operations(args)
    peers = operations.list_peers()
    for peer in peers:
        peer["source"] = "cli" if not operations.registry.is_borrowed(peer["id"]) else "node"
    return sorted(peers, key=lambda peer: peer["source"] != "node")


def _remove_on_files(args: argparse.Namespace) -> dict[str, str]:
    """
    Forget a peer (its id, a unique id prefix or its name) in the data
    folder's files and in the command's own registry, wherever it is.
    """
    _refuse_beside_a_node(args)
    operations = _command_operations(args)
    registry = operations.registry
    peer_id = operations.remove_peer(args.peer_id)["removed"]
    _write_back(registry)

    def forget(files: PeerRegistry) -> bool:
        if files.get_peer(peer_id) is None:
            return False
        files.remove_peer(peer_id)
        return True
    if _with_registry(args, forget):
        print(_no_node_note(args), file=sys.stderr)
    else:
        print("lethean: forgot it in the lethean command's own registry ({})".format(
            registry.path), file=sys.stderr)
    return {"removed": peer_id}


def _run(args: argparse.Namespace, remote: Callable[[ControlClient], Awaitable[T]],
         on_files: Callable[[], T], show: Callable[[T], None]) -> int:
    """
    ``remote(client)`` on the node running for the data folder, else
    ``on_files()`` on its files; then ``show(result)``.  Without a control
    socket no reactor is needed.
    """
    from lethean.cli._main import run_in_reactor
    from lethean.node import control_socket_path

    if args.control is None and not os.path.exists(control_socket_path(args.data_dir)):
        show(on_files())
        return 0

    async def command(reactor: IReactorTime, args: argparse.Namespace) -> int:
        from lethean.cli._client import find_node

        client = await find_node(reactor, args.data_dir, args.control)
        show(await remote(client) if client is not None else on_files())
        return 0
    return run_in_reactor(command, args)


def _edit(args: argparse.Namespace, local: Callable[[NodeOperations], T]) -> Callable[[], T]:
    """``on_files`` for an edit of the data folder's files by ``local(operations)``."""
    return lambda: _on_files(args, local, edits=True)


def _printer(args: argparse.Namespace, text: Callable[[Any], str]) -> Callable[[Any], None]:
    return lambda result: emit(args, result, lambda: text(result))


def _list(args: argparse.Namespace) -> int:
    return _run(args, lambda client: client.get("/api/peers"),
                lambda: _list_on_files(args),
                lambda peers: _print_peers(peers, args.json))


def _add(args: argparse.Namespace) -> int:
    request = {"address": args.address, "publicKey": args.public_key,
               "name": args.name or "", "role": args.role or ""}
    return _run(args, lambda client: client.post("/api/peers/add", request),
                _edit(args, lambda operations: operations.add_peer(
                    args.address, args.public_key, args.name or "", args.role or "")),
                lambda peer: _print_peers([peer], args.json))


def _remove(args: argparse.Namespace) -> int:
    return _run(args, lambda client: client.post("/api/peers/remove", {"id": args.peer_id}),
                lambda: _remove_on_files(args),
                _printer(args, lambda result: "removed " + result["removed"]))


def _allow(args: argparse.Namespace) -> int:
    return _run(args,
                lambda client: client.post("/api/peers/allow", {"publicKey": args.public_key}),
                _edit(args, lambda operations: operations.allow(args.public_key)),
                _printer(args, lambda result: "allowed " + args.public_key))


def _revoke(args: argparse.Namespace) -> int:
    return _run(args,
                lambda client: client.post("/api/peers/revoke", {"publicKey": args.public_key}),
                _edit(args, lambda operations: operations.revoke(args.public_key)),
                _printer(args, lambda result: "revoked " + args.public_key))


def _auth(args: argparse.Namespace) -> int:
    return _run(args,
                lambda client: (client.post("/api/peers/auth", {"mode": args.mode})
                                if args.mode is not None else client.get("/api/peers/auth")),
                lambda: _on_files(args, lambda operations: operations.auth(args.mode),
                                  edits=args.mode is not None),
                _printer(args, lambda result: "auth mode: " + result["auth"]))


def register(subparsers: Subparsers) -> None:
    """Add ``lethean peers ...``."""
    parser = subparsers.add_parser(
        "peers", help="list and edit the node's known peers and allowlist",
        description="List and edit a node's peer registry. With the node running "
        "(for --data-dir), the node applies the change at once and saves it; with "
        "none running, its files are edited directly.")
    commands = parser.add_subparsers(dest="peers_command", metavar="COMMAND", required=True)

    from lethean.cli._node import add_control_option

    def command(name: str, function: Callable[[argparse.Namespace], int],
                help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_data_dir_option(sub)
        add_control_option(sub)
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
    remove.add_argument("peer_id", metavar="PEER",
                        help="the peer's node id, a unique start of it (4+ hex digits), or "
                        "its name")
    allow = command("allow", _allow, "add a public key to the allowlist")
    allow.add_argument("public_key", metavar="BASE64", help="X25519 public key")
    revoke = command("revoke", _revoke, "remove a public key from the allowlist")
    revoke.add_argument("public_key", metavar="BASE64", help="X25519 public key")
    auth = command("auth", _auth, "show or set who may connect: open or allowlist")
    auth.add_argument("mode", nargs="?", choices=("open", "allowlist"),
                      help="the new mode (omit to show the current one)")
