"""
One of the registry's files (peers.json, its allowlist, its auth mode):
its serial writer, its encoder, whether it is behind, and what reading it
back does when it cannot be read or is damaged.

A file that cannot be read, or is damaged and cannot be moved aside, is
*blocked*: it is never overwritten, so nothing an operator could still
recover is lost.
"""

from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from lethean.peers._files import Content, SerialFile, Writer, move_aside

__all__ = ["SavedFile"]

_log = Logger()


class SavedFile:
    """One of the registry's files: its writer queue, its encoder, and whether it is behind."""

    def __init__(self, path: str, writer: Writer, render: Callable[[], Content],
                 what: str) -> None:
        self.file = SerialFile(path, writer)
        self.dirty = False
        self._render = render
        self._what = what

    @property
    def path(self) -> str:
        return self.file.path

    def read(self) -> bytes | None:
        """The file's bytes, or None if it does not exist or cannot be read."""
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            self.file.blocked = "it could not be read ({})".format(e)
            _log.error("cannot read {path}: {error}; it will not be overwritten",
                       path=self.path, error=str(e))
            return None

    def set_aside(self, problems: Sequence[str], kept: int, now: float) -> None:
        """
        Move the damaged file out of the way (named for ``now``, in seconds),
        keep what survived (``kept`` entries), and say so.
        """
        reason = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        try:
            moved_to = move_aside(self.path, now)
        except OSError as e:
            self.file.blocked = "it is damaged and could not be moved aside ({})".format(e)
            _log.error("{path} is damaged ({reason}) and could not be moved aside ({error}); "
                       "kept {kept} entries and will not overwrite it",
                       path=self.path, reason=reason, error=str(e), kept=kept)
            return
        _log.warn("{path} is damaged ({reason}); moved it to {moved_to} and kept {kept} entries",
                  path=self.path, reason=reason, error=reason, moved_to=moved_to, kept=kept)
        self.dirty = True

    def save(self) -> "Deferred[None]":
        """Write the current state; on failure log, stay dirty, and fail the Deferred."""
        self.dirty = False
        written = self.file.save(self._render())

        def failed(failure: Failure) -> Failure:
            self.dirty = True
            _log.warn("failed to save {what} to {path}: {error}",
                      what=self._what, path=self.path, error=failure.getErrorMessage())
            return failure

        return written.addErrback(failed)

    def save_quietly(self) -> None:
        """``save`` for callers that do not wait: the failure is already logged."""
        self.save().addErrback(lambda failure: None)

    def settle(self) -> "Deferred[None]":
        """Write if behind, else wait for the write in flight."""
        return self.save() if self.dirty else self.file.idle()
