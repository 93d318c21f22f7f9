"""
Every limit is documented with its default and what changes it: each
limit of ``TransportConfig`` in the limits table of docs/transport.md,
each ``twistd lethean-node`` option in the options table of docs/node.md.
"""

import re
from pathlib import Path

import attrs
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh import TransportConfig
from lethean.node.tap import Options

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Fields of TransportConfig that are settings, not limits.
_NOT_LIMITS = {"listen", "ws_path", "tls_cert", "tls_key", "tls_verify", "features",
               "allowed_origin_hosts"}


def table_after(page, heading):
    """
    The rows (lists of cells) of the first Markdown table from the line
    starting ``heading`` (a line before the table, or its header).
    """
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))])
        elif rows:
            break
    return rows[2:]  # the header and its rule


def limits():
    """The names of TransportConfig's limits (numeric fields, and the clock skew)."""
    return sorted(field.name for field in attrs.fields(TransportConfig)
                  if field.name not in _NOT_LIMITS)


def options():
    """``(name, default)`` of every option of ``twistd lethean-node`` that takes a value."""
    return [(name, default) for name, _, default, *_ in Options.optParameters]


class LimitsDocumentedTests(SynchronousTestCase):
    """The limits tables of docs/transport.md and docs/node.md are complete and true."""

    def test_every_transport_limit_in_the_table(self):
        """Each limit of TransportConfig is named in transport.md's limits table, with a default."""
        rows = table_after("transport.md", "Every limit, with its default")
        named = {name: row for row in rows for name in re.findall(r"`(\w+)`", row[0])}
        self.assertEqual([name for name in limits() if name not in named], [])
        self.assertEqual([row[0] for row in rows if not row[1]], [])

    def test_options_in_the_limits_table_exist(self):
        """Each option the limits table names is an option of twistd lethean-node."""
        rows = table_after("transport.md", "Every limit, with its default")
        known = {name for name, _ in options()}
        named = [option for row in rows for option in re.findall(r"`--([\w-]+)`", row[2])]
        self.assertNotEqual(named, [])
        self.assertEqual([option for option in named if option not in known], [])

    def test_every_node_option_in_node_md_with_its_default(self):
        """Each option of twistd lethean-node is in node.md's table; a numeric default is as the code's."""
        rows = table_after("node.md", "| option | default |")
        documented = {}
        for row in rows:
            for option in re.findall(r"`--([\w-]+)", row[0]):
                documented[option] = row[1]
        for name, default in options():
            self.assertIn(name, documented)
            if isinstance(default, (int, float)):
                self.assertEqual(documented[name], format(default, "g"), name)
