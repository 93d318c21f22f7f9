"""
The node's status page: one self-contained HTML document rendered on the
server from the status document.

No script and no external asset (it works offline and under a strict
Content-Security-Policy); the browser reloads it every few seconds.  Every
string is escaped, since names, addresses and reasons come from peers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_page", "REFRESH_S", "CONTENT_SECURITY_POLICY"]

#: Seconds between the page's reloads.
REFRESH_S = 5
#: Sent with the page: nothing but its own inline style may load or run.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
h2 { font-size: 1.05em; margin: 1.5em 0 .4em; }
p.sub { color: #666; margin: 0; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e3e3e3; text-align: left;
         vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code, td.id { font-family: ui-monospace, monospace; font-size: .92em; word-break: break-all; }
.empty { color: #888; font-style: italic; }
"""


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "{:g}".format(value)
    return str(value)


def _cell(value: object, css: str | None = None) -> str:
    klass = ' class="{}"'.format(css) if css else ""
    return "<td{}>{}</td>".format(klass, escape(_text(value)))


def _table(table_id: str, columns: Sequence[tuple[str, tuple[str, str | None]]],
           rows: Sequence[Mapping[str, Any]], empty: str) -> str:
    if not rows:
        return '<p class="empty" id="{}">{}</p>'.format(table_id, escape(empty))
    head = "".join("<th>{}</th>".format(escape(title)) for title, _ in columns)
    body = "".join(
        "<tr>{}</tr>".format("".join(_cell(row.get(key), css) for _, (key, css) in columns))
        for row in rows)
    return '<table id="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'.format(
        table_id, head, body)


_PEER_COLUMNS = [
    ("Name", ("name", None)),
    ("Node ID", ("id", "id")),
    ("Address", ("address", None)),
    ("Direction", ("direction", None)),
    ("Session", ("session", None)),
    ("Connected since", ("connectedAt", None)),
    ("RTT ms", ("rttMs", "n")),
    ("Score", ("score", "n")),
    ("Frames in", ("framesIn", "n")),
    ("Frames out", ("framesOut", "n")),
    ("Bytes in", ("bytesIn", "n")),
    ("Bytes out", ("bytesOut", "n")),
    ("Last activity", ("lastActivity", None)),
]

_MINER_COLUMNS = [
    ("Name", ("name", None)),
    ("Type", ("type", None)),
    ("Hashrate", ("hashrate", "n")),
    ("Shares", ("shares", "n")),
    ("Rejected", ("rejected", "n")),
    ("Uptime s", ("uptime", "n")),
    ("Pool", ("pool", None)),
]


def render_page(status: Mapping[str, Any]) -> bytes:
    """The status page (UTF-8 bytes) for a status document."""
    node = status["node"]
    traffic = status["traffic"]
    facts = [
        ("Node ID", node["id"]),
        ("Public key", node["publicKey"]),
        ("Role", node["role"]),
        ("Version", node["version"]),
        ("Up since", node["startedAt"]),
        ("Uptime", "{} s".format(node["uptimeS"])),
        ("Listening", ", ".join(node["listen"]["urls"]) or "not listening"),
        ("TLS", "on" if node["tls"] else "off"),
        ("Auth", "{} ({} allowlisted keys)".format(node["auth"], node["allowlisted"])),
        ("Registered peers", node["registeredPeers"]),
        ("Control", ", ".join(node["control"]) or "-"),
        ("Frames in / out", "{} / {}".format(traffic["framesIn"], traffic["framesOut"])),
        ("Bytes in / out", "{} / {}".format(traffic["bytesIn"], traffic["bytesOut"])),
    ]
    identity = '<table id="node"><tbody>{}</tbody></table>'.format("".join(
        "<tr><th>{}</th>{}</tr>".format(escape(label), _cell(value)) for label, value in facts))
    # Only what moved: /api/status and /metrics list every counter, at 0 too.
    counters = [{"name": name, "value": value} for name, value in status["counters"].items()
                if value]
    if status["control"]["unauthorized"]:
        counters.append({"name": "control_unauthorized",
                         "value": status["control"]["unauthorized"]})
    title = "lethean node {}".format(node["name"] or node["id"][:8])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="refresh" content="{}">'.format(REFRESH_S),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>{}</title><style>{}</style></head><body>".format(escape(title), _STYLE),
        "<h1>{}</h1>".format(escape(title)),
        '<p class="sub">{} peers connected; this page reloads every {} s.</p>'.format(
            len(status["peers"]), REFRESH_S),
        "<h2>Node</h2>", identity,
        "<h2>Peers</h2>",
        _table("peers", _PEER_COLUMNS, status["peers"], "no peers connected"),
        "<h2>Counters</h2>",
        _table("counters", [("Name", ("name", None)), ("Count", ("value", "n"))], counters,
               "nothing counted yet"),
        "<h2>Miners</h2>",
        _table("miners", _MINER_COLUMNS, status["miners"], "no miners running"),
        "</body></html>",
    ]
    return "\n".join(parts).encode("utf-8")
