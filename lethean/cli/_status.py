"""
``lethean status``: what the running node is doing, read from its control
API: identity and endpoints, peers, counters and miners, as tables or JSON.
"""

from __future__ import annotations

import json

from lethean.cli._errors import NoNodeError

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from twisted.internet.interfaces import IReactorTime

    from lethean.cli._main import Subparsers

    #: A titled table: ``(title, rows, columns, what to say when empty)``.
    Table = tuple[str, list[list[str]], list[str], str]

__all__ = ["register", "format_status", "print_status"]


def _number(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "{:g}".format(value)
    return str(value)


def _facts_and_tables(
        status: dict[str, Any]) -> tuple[list[tuple[str, str]], list[Table]]:
    """The status document as a block of facts and three ``(title, rows, columns, empty)``."""
    node = status["node"]
    traffic = status["traffic"]
    facts = [
        ("node", "{} ({}, {})".format(node["id"], node["name"] or "-", node["role"])),
        ("version", node["version"]),
        ("uptime", "{} s (since {})".format(node["uptimeS"], node["startedAt"])),
        ("listening", ", ".join(node["listen"]["urls"]) or "no listener"),
        ("tls", "on" if node["tls"] else "off"),
        ("auth", "{} ({} allowlisted keys)".format(node["auth"], node["allowlisted"])),
        ("peers", "{} connected, {} registered".format(len(status["peers"]),
                                                       node["registeredPeers"])),
        ("traffic", "{} frames / {} bytes in, {} frames / {} bytes out".format(
            traffic["framesIn"], traffic["bytesIn"], traffic["framesOut"],
            traffic["bytesOut"])),
        ("control", ", ".join(node["control"]) or "-"),
    ]
    peers = [[p["name"] or "-", p["id"], p["address"] or "-", p["direction"][:3],
              p.get("session") or "-", p["connectedAt"] or "-", _number(p["rttMs"]), _number(p["score"]),
              "{}/{}".format(p["framesIn"], p["framesOut"]),
              "{}/{}".format(p["bytesIn"], p["bytesOut"]), p["lastActivity"] or "-"]
             for p in status["peers"]]
    # Only what moved (--json lists every counter, at 0 too).
    counters = [[name, str(value)] for name, value in status["counters"].items() if value]
    miners = [[m.get("name", ""), m.get("type", ""), _number(m.get("hashrate", 0)),
               _number(m.get("shares", 0)), _number(m.get("rejected", 0)),
               _number(m.get("uptime", 0))] for m in status["miners"]]
    tables = [
        ("PEERS", peers, ["NAME", "ID", "ADDRESS", "DIR", "SESSION", "SINCE", "RTT_MS", "SCORE",
                          "FRAMES_IN/OUT", "BYTES_IN/OUT", "LAST_ACTIVITY"],
         "no peers connected"),
        ("COUNTERS", counters, ["NAME", "COUNT"], "nothing counted yet"),
        ("MINERS", miners, ["NAME", "TYPE", "HASHRATE", "SHARES", "REJECTED", "UPTIME_S"],
         "no miners running"),
    ]
    return facts, tables


def _facts_text(facts: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in facts)
    return "\n".join("{}  {}".format(label.ljust(width), value) for label, value in facts)


def format_status(status: dict[str, Any]) -> str:
    """The status document as plain text: a block of facts, then tables."""
    from lethean.cli._output import table

    facts, tables = _facts_and_tables(status)
    parts = [_facts_text(facts)]
    for title, rows, columns, empty in tables:
        parts.append(title + "\n" + (table(rows, columns) if rows else empty))
    return "\n\n".join(parts)


def print_status(status: dict[str, Any]) -> None:
    """The status on stdout: tables drawn by rich on a terminal, plain text otherwise."""
    import sys

    from lethean.cli._output import is_terminal, print_table

    if not is_terminal(sys.stdout):
        print(format_status(status))
        return
    facts, tables = _facts_and_tables(status)
    print(_facts_text(facts))
    for title, rows, columns, empty in tables:
        print()
        if rows:
            print_table(rows, columns, title=title)
        else:
            print(title + "\n" + empty)


async def _status(reactor: IReactorTime, args: argparse.Namespace) -> int:
    from lethean.cli._client import find_node
    from lethean.node import control_socket_path

    client = await find_node(reactor, args.data_dir, args.control)
    if client is None:
        raise NoNodeError("nothing answers on {}; start one with 'twistd -n lethean-node{}'".format(
            control_socket_path(args.data_dir),
            "" if args.data_dir is None else " --data-dir " + args.data_dir))
    status = await client.get("/api/status")
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print_status(status)
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``lethean status``."""
    from lethean.cli._main import run_in_reactor
    from lethean.cli._node import add_control_option
    from lethean.cli._peers import add_data_dir_option

    help_text = "show what the running node is doing: its peers, counters and miners"
    sub = subparsers.add_parser(
        "status", help=help_text, description=help_text[0].upper() + help_text[1:] + ". "
        "Reads the control API of the node running for --data-dir (its control.sock).")
    add_data_dir_option(sub)
    add_control_option(sub)
    sub.add_argument("--json", action="store_true", help="print the status document as JSON")
    sub.set_defaults(func=lambda args: run_in_reactor(_status, args))
