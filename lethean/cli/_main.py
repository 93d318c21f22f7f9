"""
Argument parsing, error mapping and exit codes for ``lethean``.

Only this module turns :class:`lethean.errors.LetheanError` into a message
(the error class's docstring, then its detail) and an exit status, so the
rest of the package raises and never prints.
"""

import argparse
import importlib
import sys

from lethean import __version__
from lethean.errors import LetheanError, describe

__all__ = ["build_parser", "main", "describe_error", "run_in_reactor"]

#: Command-group modules, in the order ``--help`` lists them.  A group whose
#: layer is not built yet is simply absent.
COMMAND_MODULES = (
    "lethean.cli._levin",
    "lethean.cli._identity",
    "lethean.cli._bundle",
    "lethean.cli._peers",
    "lethean.cli._node",
    "lethean.cli._status",
)

#: Exit status for a command line the parser rejects (argparse's own).
EXIT_USAGE = 2
#: Exit status for a failure that is not a lethean error (a bug).
EXIT_INTERNAL = 70


def build_parser():
    """The ``lethean`` argument parser with every available command group."""
    parser = argparse.ArgumentParser(
        prog="lethean",
        description="Operate a Lethean mesh node and talk to Lethean/CryptoNote "
        "peers. Each command prints its result on stdout (JSON where it says "
        "so, or with --json) and exits 0; a failure is one line on stderr and "
        "exit status 1 (2 for a bad command line).",
    )
    parser.add_argument("--version", action="version", version="lethean " + __version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def describe_error(error):
    """The one line a user sees for a lethean error."""
    from lethean.cli._client import NodeAnswerError

    if isinstance(error, NodeAnswerError):
        return error.line  # already worded by the node, as describe() does
    return describe(error)


def _fail(error):
    print("lethean: " + describe_error(error), file=sys.stderr)
    return error.exit_code


def main(argv=None):
    """Run ``lethean``; returns nothing, exits with the command's status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except LetheanError as e:
        status = _fail(e)
    except KeyboardInterrupt:
        status = 130
    sys.exit(status or 0)


def run_in_reactor(command, args):
    """
    Run ``async def command(reactor, args) -> int`` in the global reactor.

    Lethean errors become the one-line message and exit status; anything
    else is logged as the bug it is.
    """
    from twisted.internet import defer, task

    status = []

    async def body(reactor):
        try:
            status.append(await command(reactor, args))
        except LetheanError as e:
            status.append(_fail(e))

    def start(reactor):
        return defer.Deferred.fromCoroutine(body(reactor))

    try:
        task.react(start)
    except SystemExit as e:
        if e.code:
            return EXIT_INTERNAL
    return status[0] if status else EXIT_INTERNAL
