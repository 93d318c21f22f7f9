"""
Argument parsing, error mapping and exit codes for ``lethean``.

Only this module turns :class:`lethean.errors.LetheanError` into a message
(:func:`lethean.errors.describe`) and an exit status, so the rest of the
package raises and never prints.  The contract, for every command:

* 0: it worked;
* 1: the operation failed (one line on stderr, and with ``--json`` the
  error as JSON on stdout);
* 2: the command line is wrong (argparse's usage error, or a value that
  cannot work);
* 130: interrupted (Ctrl-C; ``interrupted`` on a line of its own);
* 70: a bug in lethean (a traceback, and a line asking to report it).

A reader that closes the pipe early (``lethean logs ... | head -1``) ends
the command quietly, with status 0.

Command modules are imported to build the parser, so they import their
heavy parts (Twisted's reactor, the mesh, ``rich``) inside the commands:
``lethean --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from lethean import __version__
from lethean.cli._errors import CommandLineError

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``
# (type checkers read this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import FrameType, TracebackType
    from typing import NoReturn

    from twisted.internet.interfaces import IReactorTime
    from twisted.python.failure import Failure

    from lethean.errors import LetheanError

    #: ``async def command(reactor, args) -> int``: a command run in the reactor.
    Command = Callable[[IReactorTime, argparse.Namespace], Awaitable[int]]
    ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
    #: What ``add_subparsers()`` returns: each command group's ``register`` adds to it.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "build_parser",
    "main",
    "describe_error",
    "run_in_reactor",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BUG",
]

#: Command-group modules, in the order ``--help`` lists them.  A group whose
#: layer is not built yet is simply absent.
COMMAND_MODULES = (
    "lethean.cli._status",
    "lethean.cli._node",
    "lethean.cli._peers",
    "lethean.cli._identity",
    "lethean.cli._bundle",
    "lethean.cli._levin",
)

EXIT_OK = 0
#: The operation failed.
EXIT_FAILED = 1
#: A command line the parser rejects (argparse's own status).
EXIT_USAGE = 2
#: Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: A failure that is not a lethean error: a bug (sysexits' EX_SOFTWARE).
EXIT_BUG = 70
#: Exit status when SIGTERM stopped the command (128 + SIGTERM).
EXIT_TERMINATED = 143

_REPORT = ("lethean: this is a bug in lethean {}; please report it with the lines above "
           "and the command you ran".format(__version__))


def _lethean_error() -> type[LetheanError]:
    from lethean.errors import LetheanError

    return LetheanError


def build_parser() -> argparse.ArgumentParser:
    """The ``lethean`` argument parser with every available command group."""
    parser = argparse.ArgumentParser(
        prog="lethean",
        description="Operate a Lethean mesh node and talk to Lethean/CryptoNote peers. "
        "Each command prints readable text on stdout (JSON with --json) and exits 0; a "
        "failure is one line on stderr and status 1; a bad command line exits 2; Ctrl-C "
        "exits 130.",
    )
    parser.add_argument("--version", action="version", version="lethean " + __version__)
    parser.add_argument(
        "--log-level", metavar="LEVEL", choices=("debug", "info", "warn", "error", "critical"),
        help="print the command's own log (its links, refusals, requests) on standard error "
        "at this level and above: debug, info, warn, error or critical (default: none)")
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


def describe_error(error: BaseException) -> str:
    """The one line a user sees for a lethean error."""
    from lethean.errors import describe

    return describe(error)


def _error_json(error: BaseException) -> object:
    from lethean.node._operations import error_json

    document = getattr(error, "document", None)
    return document if document is not None else error_json(error)


class _Run:
    """One command's run: how it ended, and whether it was interrupted."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        #: The signal that stopped the command, if one did.
        self.interrupted: int | None = None
        self.said_interrupted = False

    def fail(self, error: LetheanError | CommandLineError) -> int:
        """Report a lethean (or command-line) error; its exit status."""
        if self.interrupted:
            return self.exit_interrupted()
        line = error.line if isinstance(error, CommandLineError) else describe_error(error)
        if getattr(self.args, "json", False) and not isinstance(error, CommandLineError):
            try:
                from lethean.cli._output import emit_json

                emit_json({"error": _error_json(error)})
            except BrokenPipeError:
                _quiet_pipe()
        print("lethean: " + line, file=sys.stderr)
        return error.exit_code if error.exit_code in (EXIT_FAILED, EXIT_USAGE) else EXIT_FAILED

    def bug(self, exc_info: ExcInfo) -> int:
        """Report a bug: the traceback and a line asking to report it."""
        if self.interrupted:
            return self.exit_interrupted()
        import traceback

        traceback.print_exception(*exc_info)
        print(_REPORT, file=sys.stderr)
        return EXIT_BUG

    def exit_interrupted(self) -> int:
        """Say ``interrupted`` (once, whichever path saw it first); the exit status."""
        from lethean.cli._output import stop_live_output

        if not self.said_interrupted:
            self.said_interrupted = True
            stop_live_output()
            sys.stderr.write("\ninterrupted\n")
            sys.stderr.flush()
        return EXIT_TERMINATED if self.interrupted == signal.SIGTERM else EXIT_INTERRUPTED


def _quiet_pipe() -> int:
    """stdout's reader went away: send what is left nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_OK


def _run_plain(run: _Run, func: Callable[[argparse.Namespace], int | None]) -> int | None:
    LetheanError = _lethean_error()
    try:
        return func(run.args)
    except (LetheanError, CommandLineError) as e:
        return run.fail(e)
    except KeyboardInterrupt:
        run.interrupted = signal.SIGINT
        return run.exit_interrupted()
    except BrokenPipeError:
        return _quiet_pipe()
    except Exception as e:
        return run.bug((type(e), e, e.__traceback__))


def main(argv: list[str] | None = None) -> NoReturn:
    """Run ``lethean``; returns nothing, exits with the command's status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:
        sys.exit(_quiet_pipe())
    if getattr(args, "log_level", None) is not None:
        _log_to_stderr(args.log_level)
    run = _Run(args)
    status = _run_plain(run, args.func)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = _quiet_pipe()
    sys.exit(status or 0)


def _log_to_stderr(level: str) -> None:
    """Write the process's log events at ``level`` and above to standard error."""
    from twisted.logger import (
        FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner,
        textFileLogObserver)

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])],
        redirectStandardIO=False)


def run_in_reactor(command: Command, args: argparse.Namespace) -> int:
    """
    Run ``async def command(reactor, args) -> int`` in the global reactor;
    its exit status.

    Lethean errors become their one line and status; SIGINT and SIGTERM
    stop the command (status 130 or 143, after the word ``interrupted``);
    anything else is reported as the bug it is (status 70).
    """
    from twisted.internet import defer, reactor
    from twisted.internet.interfaces import IReactorFromThreads

    LetheanError = _lethean_error()
    run = getattr(args, "_run", None) or _Run(args)
    outcome: list[int] = []

    async def body() -> int:
        try:
            return await command(reactor, args)
        except (LetheanError, CommandLineError) as e:
            return run.fail(e)
        except BrokenPipeError:
            return _quiet_pipe()
        except defer.CancelledError:
            if run.interrupted:
                return run.exit_interrupted()
            raise

    def stop() -> None:
        from twisted.internet.error import ReactorNotRunning

        try:
            reactor.stop()
        except ReactorNotRunning:
            pass

    def finished(status: int) -> None:
        if not outcome:
            outcome.append(status)
        stop()

    def failed(failure: Failure) -> int:
        return run.bug((failure.type, failure.value, failure.getTracebackObject()))

    def on_signal(number: int, frame: FrameType | None) -> None:
        if run.interrupted:
            os._exit(EXIT_INTERRUPTED if number == signal.SIGINT else EXIT_TERMINATED)
        run.interrupted = number
        IReactorFromThreads(reactor).callFromThread(interrupt)

    def interrupt() -> None:
        if not outcome:
            outcome.append(run.exit_interrupted())
        stop()

    def start() -> None:
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        defer.Deferred.fromCoroutine(body()).addErrback(failed).addCallback(finished)

    reactor.callWhenRunning(start)
    reactor.run()
    return outcome[0] if outcome else EXIT_BUG
