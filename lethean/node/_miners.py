"""
Miners as real child processes, so a fresh node answers every request.

The worker asks an ``IMinerManager`` to start a miner of a type with a
config; this one runs the configured miner command (``argv``) with the
type and the JSON config in its environment (``LETHEAN_MINER_TYPE``,
``LETHEAN_MINER_CONFIG``), keeps its recent console lines with their times,
and stops it with SIGTERM, then SIGKILL if it lingers.  A miner may report
its speed by printing lines such as ``hashrate 1234.5`` or ``{"hashrate":
1234.5, "shares": 3}``; whatever it last reported is in its stats.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
import shutil
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.logger import Logger
from zope.interface import implementer

from lethean.interfaces import IMinerManager
from lethean.node._errors import MinerError, MinerNotFoundError

__all__ = [
    "ProcessMinerManager",
    "MinerProcess",
    "MAX_CONSOLE_LINES",
    "STOP_TIMEOUT_S",
]

_log = Logger()

#: Console lines kept per miner (the most a ``get_logs`` may ask for).
MAX_CONSOLE_LINES = 10000
#: Seconds between SIGTERM and SIGKILL when stopping a miner.
STOP_TIMEOUT_S = 10.0
#: Longest console line kept; the rest of a longer line is cut off.
MAX_LINE_BYTES = 4096

_STATS_WORDS = re.compile(r"\b(hashrate|shares|rejected)\b[\s:=]+([0-9.]+)", re.IGNORECASE)


class MinerProcess(protocol.ProcessProtocol):
    """One running miner: its console history, stats and exit."""

    def __init__(self, reactor: IReactorTime, name: str, miner_type: str, config: Any) -> None:
        self._reactor = reactor
        self.name = name
        self.type = miner_type
        self.config = config
        self.started_at = reactor.seconds()
        self.lines: collections.deque[tuple[float, str]] = collections.deque(
            maxlen=MAX_CONSOLE_LINES)
        self.reported: dict[str, float | int] = {}
        self.exit_code: int | None = None
        #: Set when the node stops the miner (a request, or shutting down).
        self.stop_requested: str | None = None
        self.ended: defer.Deferred[int] = defer.Deferred()
        self._partial = {1: b"", 2: b""}

    # -- MinerInstance (controller-worker.md 3.2) ----------------------------

    def get_name(self) -> str:
        return self.name

    def get_type(self) -> str:
        return self.type

    def get_stats(self) -> dict[str, Any]:
        """Uptime, pool and algorithm from the config, and what the miner reported."""
        if self.exit_code is not None:
            raise MinerError("miner {} exited with status {}".format(self.name, self.exit_code))
        config = self.config if isinstance(self.config, dict) else {}
        stats: dict[str, Any] = {
            "uptime": int(self._reactor.seconds() - self.started_at),
            "pool": str(config.get("pool", "")),
            "algorithm": str(config.get("algorithm", config.get("algo", ""))),
        }
        stats.update(self.reported)
        return stats

    def get_console_history_since(self, lines: int, since: datetime | None) -> list[str]:
        """The last ``lines`` console lines, only those after ``since`` if given."""
        cutoff = None if since is None else since.timestamp()
        kept = [text for at, text in self.lines if cutoff is None or at > cutoff]
        return kept[-lines:] if lines > 0 else kept

    def signal(self, name: str) -> None:
        """Send the signal ``name`` (``"TERM"``) to the running miner."""
        assert self.transport is not None, "signal before the miner was spawned"
        self.transport.signalProcess(name)

    # -- ProcessProtocol ------------------------------------------------------

    def childDataReceived(self, fd: int, data: bytes) -> None:
        buffered = self._partial.get(fd, b"") + data
        *complete, rest = buffered.split(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            complete.append(rest[:MAX_LINE_BYTES])
            rest = b""
        self._partial[fd] = rest
        for raw in complete:
            self._line(raw[:MAX_LINE_BYTES].rstrip(b"\r").decode("utf-8", "replace"))

    def _line(self, text: str) -> None:
        self.lines.append((self._reactor.seconds(), text))
        self._parse_stats(text)

    def _parse_stats(self, text: str) -> None:
        if text.startswith("{"):
            try:
                document = json.loads(text)
            except ValueError:
                document = None
            if isinstance(document, dict):
                for key in ("hashrate", "shares", "rejected"):
                    value = document.get(key)
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        self.reported[key] = value
                return
        for key, value in _STATS_WORDS.findall(text):
            try:
                number = float(value)
            except ValueError:
                continue
            self.reported[key.lower()] = number if key.lower() == "hashrate" else int(number)

    def processEnded(self, reason: Failure) -> None:
        for fd, rest in self._partial.items():
            if rest:
                self._line(rest.decode("utf-8", "replace"))
        self._partial = {}
        status = getattr(reason.value, "exitCode", None)
        signal = getattr(reason.value, "signal", None)
        self.exit_code = status if status is not None else -1
        if self.stop_requested is not None:
            _log.info("miner {miner} stopped ({reason})", miner=self.name,
                      reason=self.stop_requested)
        elif signal is not None:
            _log.warn("miner {miner} was killed by signal {signal}", miner=self.name,
                      signal=signal)
        else:
            _log.info("miner {miner} exited with status {status}", miner=self.name,
                      status=self.exit_code)
        self.ended.callback(self.exit_code)


@implementer(IMinerManager)
class ProcessMinerManager:
    """
    Runs ``miner_command`` (an argv list) as the miner for every type.

    :param reactor: provides ``IReactorProcess`` and ``IReactorTime``.
    :param miner_command: argv of the miner program; ``None`` refuses starts.

    Queries and starts answer at once (or raise); what waits for a miner
    to end (:meth:`stop_miner`, :meth:`stop_all`) returns a Deferred and
    fails through it.
    """

    def __init__(self, reactor: Any, miner_command: Iterable[str] | None = None, *,
                 stop_timeout_s: float = STOP_TIMEOUT_S) -> None:
        # reactor: IReactorProcess and IReactorTime.
        self._reactor = reactor
        self.miner_command = list(miner_command) if miner_command else None
        self.stop_timeout_s = stop_timeout_s
        self._miners: dict[str, MinerProcess] = {}
        self._numbers = itertools.count()

    def _resolve(self) -> str:
        if not self.miner_command:
            raise MinerError("no miner command configured (twistd lethean-node --miner-command)")
        program = self.miner_command[0]
        path = shutil.which(program)
        if path is None:
            raise MinerError("miner command not found: {}".format(program))
        return path

    def start_miner(self, miner_type: str, config: Any) -> MinerProcess:
        """
        Start a miner; returns its instance (named ``<type>-<n>``).  A miner
        that dies stays listed, its console readable, until it is stopped.
        """
        executable = self._resolve()
        name = "{}-{}".format(miner_type, next(self._numbers))
        miner = MinerProcess(self._reactor, name, miner_type, config)
        assert self.miner_command is not None  # _resolve refuses a start without one
        env = dict(os.environ, LETHEAN_MINER_TYPE=miner_type, LETHEAN_MINER_NAME=name,
                   LETHEAN_MINER_CONFIG=json.dumps(config))
        try:
            self._reactor.spawnProcess(miner, executable, [executable] + self.miner_command[1:],
                                       env=env)
        except OSError as e:
            raise MinerError("cannot start {}: {}".format(executable, e.strerror)) from None
        self._miners[name] = miner
        _log.info("started miner {miner} ({type})", miner=name, type=miner_type)
        return miner

    def stop_miner(self, name: str) -> defer.Deferred[None]:
        """
        Stop ``name``: SIGTERM, then SIGKILL after the timeout; a Deferred
        (failing with :class:`MinerNotFoundError` for no such miner).
        """
        miner = self._miners.pop(name, None)
        if miner is None:
            return defer.fail(MinerNotFoundError("miner not found: {}".format(name)))
        return self._terminate(miner, "on request")

    def _terminate(self, miner: MinerProcess, reason: str) -> defer.Deferred[None]:
        if miner.exit_code is not None:
            return defer.succeed(None)
        miner.stop_requested = reason
        kill = None
        try:
            miner.signal("TERM")
            kill = self._reactor.callLater(self.stop_timeout_s, self._kill, miner)
        except (ProcessExitedAlready, OSError):  # the process went away meanwhile
            pass
        done: defer.Deferred[None] = defer.Deferred()

        def ended(status: int) -> int:
            if kill is not None and kill.active():
                kill.cancel()
            done.callback(None)
            return status
        miner.ended.addCallback(ended)
        return done

    @staticmethod
    def _kill(miner: MinerProcess) -> None:
        try:
            miner.signal("KILL")
        except (ProcessExitedAlready, OSError):  # it exited after all
            pass

    def list_miners(self) -> list[MinerProcess]:
        return list(self._miners.values())

    def get_miner(self, name: str) -> MinerProcess:
        miner = self._miners.get(name)
        if miner is None:
            raise MinerNotFoundError("miner not found: {}".format(name))
        return miner

    def stop_all(self) -> defer.Deferred[Any]:
        """Stop every miner (on node shutdown); a Deferred."""
        miners, self._miners = list(self._miners.values()), {}
        return defer.DeferredList([self._terminate(m, "node shutting down") for m in miners],
                                  consumeErrors=True)
