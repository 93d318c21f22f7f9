"""
Writing the registry's files so that a crash never leaves half a file.

Every file is written whole to a fresh temporary file beside it, fsynced, renamed over
``<path>`` and the directory fsynced: after a crash the final path holds the
old content or the new, never a mix (the reference skips both fsyncs).  The
disk work can run in a thread; :class:`SerialFile` makes sure only one write
per file is in flight and folds requests made meanwhile into one more write.
"""

import os
import time
from collections.abc import Callable
from typing import Any, TypeAlias

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from lethean._files import write_atomic as _write_atomic
from lethean._paths import config_path
from lethean._types import Buffer

__all__ = [
    "FILE_MODE",
    "DIRECTORY_MODE",
    "write_atomic",
    "write_now",
    "threaded_writer",
    "default_writer",
    "move_aside",
    "SerialFile",
    "default_peers_path",
]

#: Mode of the registry files and of a directory created for them (as Go).
FILE_MODE = 0o644
DIRECTORY_MODE = 0o755

#: What a file holds, computed where the write runs.
Content: TypeAlias = Callable[[], Buffer]
#: ``writer(path, content)``: writes at once (returns None) or later (a Deferred).
Writer: TypeAlias = Callable[[str, Content], object]

def default_peers_path() -> str:
    """
    Where the reference keeps peers.json: ``<XDG config home>/lethean-desktop/peers.json``.

    ``$XDG_CONFIG_HOME`` wins when set, as with Go's adrg/xdg; otherwise the
    platform's config directory (``~/.config`` on Linux).
    """
    return config_path("peers.json")


def write_atomic(path: str, data: Buffer, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically and durably (blocking)."""
    _write_atomic(path, data, mode, DIRECTORY_MODE)


def write_now(path: str, content: Content) -> None:
    """A writer that encodes and writes at once, in the calling thread."""
    write_atomic(path, content())


def threaded_writer(reactor: IReactorThreads) -> Writer:
    """A writer that encodes and writes in the reactor's thread pool."""
    def write(path: str, content: Content) -> "Deferred[None]":
        return deferToThreadPool(reactor, reactor.getThreadPool(), write_now, path, content)
    return write


def default_writer(reactor: IReactorTime) -> Writer:
    """
    In a thread when the reactor has threads, otherwise at once.

    A real reactor never waits for the disk; a ``task.Clock`` in tests has no
    threads, so saves happen synchronously when its timer fires.
    """
    if IReactorThreads.providedBy(reactor):
        return threaded_writer(reactor)
    return write_now


def move_aside(path: str, now_s: float) -> str:
    """
    Rename a damaged ``path`` to ``<path>.corrupt-<UTC timestamp>`` and return the new name.

    A numeric suffix avoids clobbering an earlier copy from the same second.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    target = "{}.corrupt-{}".format(path, stamp)
    candidate, attempt = target, 0
    while os.path.lexists(candidate):
        attempt += 1
        candidate = "{}.{}".format(target, attempt)
    os.rename(path, candidate)
    return candidate


class SerialFile:
    """
    One file, written by ``writer(path, content)`` one write at a time.

    ``content`` is a zero-argument callable returning the bytes, so encoding
    happens where the writer runs.  A save requested while a write is in
    flight waits for it, and all such requests share the one next write,
    which encodes the newest state.  ``blocked`` (a reason) refuses writes,
    for a damaged file that could not be moved aside.
    """

    def __init__(self, path: str, writer: Writer) -> None:
        self.path = path
        self.blocked: str | None = None
        self._writer = writer
        self._running: Deferred[Any] | None = None
        self._next: Content | None = None
        self._waiting: list[Deferred[None]] = []

    def save(self, content: Content) -> "Deferred[None]":
        """A Deferred that fires once ``content`` (or newer) is on disk."""
        done: Deferred[None] = Deferred()
        if self._running is None:
            self._start(content, [done])
        else:
            self._next = content
            self._waiting.append(done)
        return done

    def idle(self) -> "Deferred[None]":
        """A Deferred that fires (never fails) once no write is in flight or queued."""
        done: Deferred[None] = Deferred()
        if self._running is None:
            done.callback(None)
        elif self._next is not None:
            self._waiting.append(done)
        else:
            def relay(result: object) -> object:
                done.callback(None)
                return result

            self._running.addBoth(relay)
        return done.addErrback(lambda failure: None)

    def _start(self, content: Content, waiting: list["Deferred[None]"]) -> None:
        running: Deferred[object]
        if self.blocked is not None:
            running = maybeDeferred(_refuse, self.path, self.blocked)
        else:
            running = maybeDeferred(self._writer, self.path, content)
        self._running = running
        running.addBoth(self._finished, waiting)

    def _finished(self, result: object, waiting: list["Deferred[None]"]) -> None:
        self._running = None
        if self._next is not None:
            content, self._next = self._next, None
            queued, self._waiting = self._waiting, []
            self._start(content, queued)
        for done in waiting:
            if isinstance(result, Failure):
                done.errback(result)
            else:
                done.callback(None)
        return None


def _refuse(path: str, reason: str) -> None:
    raise OSError("refusing to overwrite {}: {}".format(path, reason))
