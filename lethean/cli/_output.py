"""
What ``lethean`` prints: data as text or JSON, tables, progress, errors.

On a terminal, tables and progress bars are drawn with ``rich``; without
one (a pipe, a file, ``--json``) the output is plain text a script can
read, and progress is not drawn at all.  ``rich`` is imported only when
something is drawn, so ``lethean --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import IO, Any

    from rich.progress import Progress as Bar, TaskID

__all__ = [
    "emit",
    "emit_json",
    "table",
    "print_table",
    "Progress",
    "stop_live_output",
    "is_terminal",
]

#: Live displays (progress bars) to stop before "interrupted" is printed.
_live: list[Progress] = []


def is_terminal(stream: IO[Any]) -> bool:
    """Whether ``stream`` is a terminal a person watches."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def emit_json(value: object) -> None:
    """``value`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def emit(args: argparse.Namespace, value: object,
         text: str | Callable[[], str | None] | None) -> None:
    """
    ``value`` as JSON with ``--json``, else ``text`` (a string, or a
    function of no arguments that prints or returns one).
    """
    if getattr(args, "json", False):
        emit_json(value)
        return
    if callable(text):
        text = text()
    if text is not None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def table(rows: Sequence[Sequence[str]], columns: Sequence[str]) -> str:
    """Rows of strings as a plain aligned table (for pipes and files)."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def print_table(rows: Sequence[Sequence[str]], columns: Sequence[str],
                title: str | None = None) -> None:
    """
    A table on stdout: drawn by ``rich`` on a terminal, plain otherwise.

    Cells often hold what a peer chose (its name, its miners' names): they
    are shown as text, never read as rich markup or terminal controls, and
    each row stays on one line.
    """
    from lethean.node._targets import printable

    rows = [[printable(value) for value in row] for row in rows]
    if is_terminal(sys.stdout):
        try:
            from rich.console import Console
            from rich.table import Table
            from rich.text import Text
        except ImportError:  # pragma: no cover - rich is a dependency
            pass
        else:
            drawn = Table(title=title, title_justify="left", header_style="bold",
                          box=None, pad_edge=False)
            widths = [max([len(column)] + [len(row[index]) for row in rows])
                      for index, column in enumerate(columns)]
            for column, width in zip(columns, widths):
                drawn.add_column(column, no_wrap=True, min_width=width)
            for row in rows:
                drawn.add_row(*(Text(value) for value in row))
            console = Console()
            # Ids, addresses and times stay whole (they get copied): a table
            # wider than the terminal is not cut, the terminal wraps it.
            console.width = max(console.width, sum(widths) + 2 * len(widths))
            console.print(drawn)
            return
    if title:
        sys.stdout.write(title + "\n")
    sys.stdout.write(table(rows, columns) + "\n")
    sys.stdout.flush()


class Progress:
    """
    Bytes sent of a total, with rate and time left, drawn on stderr when it
    is a terminal (nothing otherwise).  Call it as ``progress(sent,
    total)``; :meth:`close` ends the display.
    """

    def __init__(self, description: str) -> None:
        self.description = description
        #: The bar and its one task, once drawn.
        self._drawn: tuple[Bar, TaskID] | None = None

    def __call__(self, sent: int, total: int) -> None:
        if not total:
            return
        if self._drawn is None:
            # Asked once: while drawing, rich puts its own proxy in
            # sys.stderr, which before rich 15 says it is no terminal.
            if not is_terminal(sys.stderr):
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn, DownloadColumn, Progress as Bar, TextColumn, TimeRemainingColumn,
                TransferSpeedColumn)

            bar = Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=False)
            bar.start()
            _live.append(self)
            self._drawn = bar, bar.add_task(self.description, total=total)
        bar, task = self._drawn
        bar.update(task, completed=min(sent, total), total=total)

    def close(self) -> None:
        """End the display (its last state stays on screen)."""
        if self._drawn is not None:
            (bar, _), self._drawn = self._drawn, None
            bar.stop()
            if self in _live:
                _live.remove(self)


def stop_live_output() -> None:
    """Stop every live display, so the next line starts on a line of its own."""
    for live in list(_live):
        live.close()
