"""
Atomic, durable file replacement shared by every layer that writes state.

The new content goes to a fresh temporary file beside the target, created
exclusively with its final mode (so a secret is never readable by others,
not even for a moment, and a stale temporary file cannot lend it a wider
mode), is fsynced, renamed over the target, and the directory is fsynced.
"""

import os
import time

from lethean._types import Buffer, StrPath

__all__ = ["write_atomic", "fsync_directory", "remove_stale_temporaries", "STALE_TEMPORARY_S"]

#: A temporary file of ``write_atomic`` older than this was left by an
#: interrupted write (a live write renames its file within moments).
STALE_TEMPORARY_S = 600.0

_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (where the platform allows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def _create_temporary(directory: str, name: str, mode: int) -> tuple[str, int]:
    while True:
        temporary = os.path.join(directory, ".{}.{}.tmp".format(name, os.urandom(6).hex()))
        try:
            return temporary, os.open(temporary, _CREATE_FLAGS, mode)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


def write_atomic(path: StrPath, data: Buffer, mode: int = 0o644,
                 directory_mode: int = 0o755) -> None:
    """
    Replace ``path`` with the bytes ``data`` atomically and durably (blocking).

    Missing directories are created with ``directory_mode``.  On any failure
    the temporary file is removed, the old file is untouched and the
    ``OSError`` propagates.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=directory_mode, exist_ok=True)
    temporary, fd = _create_temporary(directory, os.path.basename(path), mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    fsync_directory(directory)


def remove_stale_temporaries(path: StrPath, older_than_s: float = STALE_TEMPORARY_S) -> int:
    """
    Remove the temporary files interrupted writes of ``path`` left behind
    (older than ``older_than_s``); returns how many went.
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = ".{}.".format(os.path.basename(path))
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    cutoff = time.time() - older_than_s
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        candidate = os.path.join(directory, name)
        try:
            if os.lstat(candidate).st_mtime < cutoff:
                os.unlink(candidate)
                removed += 1
        except OSError:
            continue
    return removed
