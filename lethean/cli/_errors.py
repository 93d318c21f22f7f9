"""
Errors only the ``lethean`` command meets: a command line that cannot work,
a node that does not answer or refuses, registry files it cannot write.

Each class's docstring is the text a user sees; ``kind`` is its stable
machine-readable name (``--json`` prints it).  :mod:`lethean.cli._main`
turns them into one line and an exit status.
"""

from __future__ import annotations

from lethean.errors import LetheanError

__all__ = [
    "CommandLineError",
    "NodeNotAnsweringError",
    "NodeAnswerError",
    "NoNodeError",
    "PeerFilesError",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class CommandLineError(Exception):
    """Raised by a command for a value that cannot work (exit status 2)."""

    kind = "usage"
    #: argparse's own usage status (``lethean.cli._main.EXIT_USAGE``).
    exit_code = 2

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


class NodeNotAnsweringError(LetheanError):
    """The node's control API does not answer."""

    kind = "node_not_answering"


class NodeAnswerError(LetheanError):
    """The node could not carry out the request."""

    kind = "node_answer"

    def __init__(self, line: str, exit_code: int = 1, kind: str | None = None,
                 document: dict[str, Any] | None = None) -> None:
        super().__init__(line)
        #: The line to show, as the node worded it.
        self.line = line
        self.exit_code = exit_code if exit_code in (1, 2) else 1
        self.remote_kind = kind
        #: The node's whole error document (``--json`` prints it).
        self.document = document


class NoNodeError(LetheanError):
    """No node is running for this data folder."""

    kind = "no_node"


class PeerFilesError(LetheanError):
    """The node's registry files cannot be written."""

    kind = "registry_files"

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line
