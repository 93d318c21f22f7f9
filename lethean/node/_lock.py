"""
One node per data folder: an advisory lock on ``DIR/node.lock``.

Two nodes on one folder would share an identity (each peer would close one
of their links as a duplicate) and overwrite each other's ``peers.json``.
The lock is an ``fcntl.flock`` held for the node's life: the kernel drops
it when the process ends however it ends, so a node that was killed leaves
nothing that blocks the next one (a pid written in a lock file could be
another process's by then).  The file holds the running node's pid, so the
refusal can name it.  An ``flock`` belongs to the open file, so it survives
twistd's daemonising fork; the pid is written again once the node runs.
"""

from __future__ import annotations

import os

from lethean.node._errors import DataFolderLockedError

__all__ = ["DataFolderLock", "LOCK_NAME", "running_node_pid"]

#: The lock file's name in the data folder.
LOCK_NAME = "node.lock"


class DataFolderLock:
    """The lock of the data folder ``folder`` (see the module docstring)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.path = os.path.join(folder, LOCK_NAME)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise DataFolderLockedError naming the holder's pid."""
        try:
            import fcntl
        except ImportError:  # not on a POSIX system: no lock to take
            return
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                raise DataFolderLockedError(
                    "another node{} is running for the data folder {}: stop it first, or give "
                    "this node a folder of its own with --data-dir".format(
                        " (pid {})".format(holder) if holder else "", self.folder)) from None
            # A node releasing the lock removes the file: ours must still be it.
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                self._fd = fd
            else:
                os.close(fd)
        self.record_pid()

    def record_pid(self) -> None:
        """Write this process's pid (again: twistd forks after the lock is taken)."""
        if self._fd is None:
            return
        data = "{}\n".format(os.getpid()).encode("ascii")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Remove the lock file and let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(fd)


def running_node_pid(folder: str) -> int | None:
    """
    The pid of the node running for ``folder`` (0 when it wrote none yet),
    or None when no node holds its lock.
    """
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The pid a lock file holds, or None."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
