"""
Safe extraction of a vetted tar archive into a folder.

The reference writes straight into the destination, follows symlinks it
finds there and leaves half an archive behind when it aborts.  Here:

1. :func:`~lethean.bundles._tar.vetted_members` checks every header first
   (paths, types, sizes, counts); nothing is written unless all pass.
2. The files are written by :meth:`tarfile.TarFile.extractall` with the
   ``data`` filter (a second, independent set of checks that also drops
   ownership and setuid/setgid/sticky bits) into a fresh private folder
   created next to the destination, so no pre-existing symlink is ever in
   the way.
3. The written tree is walked again without following links: only the
   expected regular files and folders may be there.
4. Only then is the folder renamed into place (replacing the old folder
   when asked).  Any failure removes the temporary folder: a refused
   archive leaves nothing behind.
"""

import os
import shutil
import stat
import tarfile
import tempfile
from typing import IO, Any

from attrs import frozen
from twisted.logger import Logger

from lethean.bundles._errors import (
    AbsolutePathError,
    CorruptArchiveError,
    ExtractionError,
    LinkMemberError,
    PathEscapeError,
    SpecialMemberError,
    UnsafeArchiveError,
    UnsafeDestinationError,
)
from lethean.bundles._tar import (
    EMPTY_TAR,
    TAR_ERRORS,
    ArchiveMember,
    ExtractLimits,
    open_tar,
    tar_file,
    vetted_members,
)
from lethean.errors import LetheanError
from lethean._types import Buffer, StrPath

__all__ = ["ExtractedTree", "extract_tar", "extract_tar_unlogged", "log_rejection"]

_log = Logger()

#: Mode of the destination folder (the reference creates it 0755).
DIR_MODE = 0o755

_FILTER_ERRORS = (
    (tarfile.AbsolutePathError, AbsolutePathError),
    (tarfile.OutsideDestinationError, PathEscapeError),
    (tarfile.AbsoluteLinkError, LinkMemberError),
    (tarfile.LinkOutsideDestinationError, LinkMemberError),
    (tarfile.SpecialFileError, SpecialMemberError),
)


@frozen
class ExtractedTree:
    """What :func:`extract_tar` wrote."""

    #: Absolute path of the destination folder.
    root: str
    #: Relative paths of the regular files, in archive order.
    files: tuple[str, ...]
    #: Absolute path of the file marked executable, or None.
    executable: str | None = None


def log_rejection(what: str, error: LetheanError, **fields: Any) -> None:
    """The one structured event for a refused bundle or archive."""
    _log.warn(
        "refused {what}: {reason}",
        what=what, reason=str(error) or type(error).__doc__, kind=error.kind, **fields,
    )


def extract_tar(data: Buffer | IO[bytes], dest: StrPath, *, limits: ExtractLimits = ExtractLimits(),
                replace: bool = False, executable: str | None = None) -> ExtractedTree:
    """
    Extract the tar archive ``data`` into the folder ``dest``, safely.

    ``data`` is bytes or a seekable binary file (a decrypted rootfs is
    read from :meth:`lethean.smsg.SigilReader.open`, never held whole).

    ``dest`` must not exist, or be an empty folder, or (with
    ``replace=True``) a folder whose whole content is replaced.  It may
    never be a symlink.  ``executable`` names a member (by its relative
    path) to mark executable for everyone who may read it.

    Returns an :class:`ExtractedTree`.  On failure raises an
    :class:`~lethean.bundles.UnsafeArchiveError` subclass,
    :class:`~lethean.bundles.UnsafeDestinationError` or
    :class:`~lethean.bundles.ExtractionError`, logs one event and leaves
    no trace on disk.  Synchronous disk work: reactor code runs it with
    :func:`extract_tar_in_thread`.
    """
    try:
        return extract_tar_unlogged(
            data, dest, limits=limits, replace=replace, executable=executable)
    except LetheanError as e:
        log_rejection("archive", e, dest=os.fspath(dest))
        raise


def extract_tar_unlogged(data: Buffer | IO[bytes], dest: StrPath, *,
                         limits: ExtractLimits = ExtractLimits(), replace: bool = False,
                         executable: str | None = None) -> ExtractedTree:
    """:func:`extract_tar` without the log event, for callers that log their own."""
    folder = os.path.abspath(os.fspath(dest))
    source, size = tar_file(data)
    if not size:
        source, size = tar_file(EMPTY_TAR)  # Go reads an empty stream as an empty archive
    with open_tar(source) as archive:
        vetted = list(vetted_members(archive, size, limits))
        files = tuple(m.path for _, m in vetted if not m.is_dir)
        if executable is not None and executable not in files:
            raise ValueError("executable {!r} is not a file of the archive".format(executable))
        _check_destination(folder, replace)
        parent = os.path.dirname(folder)
        try:
            os.makedirs(parent, mode=DIR_MODE, exist_ok=True)
            staging = tempfile.mkdtemp(
                prefix=".{}.extract-".format(os.path.basename(folder)[:32]), dir=parent)
        except OSError as e:
            raise ExtractionError("cannot create a folder next to {}: {}".format(
                folder, e)) from None
        try:
            _write(archive, vetted, staging)
            if executable is not None:
                _make_executable(os.path.join(staging, executable))
            _verify(staging, set(files), limits)
            os.chmod(staging, DIR_MODE)
            _move_into_place(staging, folder, replace)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    _fsync_dir(parent)
    return ExtractedTree(
        root=folder,
        files=files,
        executable=None if executable is None else os.path.join(folder, executable),
    )


def _check_destination(dest: str, replace: bool) -> None:
    if os.path.basename(dest) in ("", ".", ".."):
        raise UnsafeDestinationError("not a folder name: {}".format(dest))
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return
    except OSError as e:
        raise UnsafeDestinationError("cannot inspect {}: {}".format(dest, e)) from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeDestinationError("{} is a symbolic link".format(dest))
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDestinationError("{} exists and is not a folder".format(dest))
    if not replace and os.listdir(dest):
        raise UnsafeDestinationError(
            "{} is not empty (pass --replace to replace its content)".format(dest))


def _write(archive: tarfile.TarFile, vetted: list[tuple[tarfile.TarInfo, ArchiveMember]],
           staging: str) -> None:
    members = [info.replace(name=m.path, deep=False) for info, m in vetted]
    try:
        archive.extractall(staging, members=members, filter="data")
    except tarfile.FilterError as e:
        for theirs, ours in _FILTER_ERRORS:
            if isinstance(e, theirs):
                raise ours(str(e)) from None
        raise UnsafeArchiveError(str(e)) from None
    except TAR_ERRORS as e:
        raise CorruptArchiveError("cannot read the archive: {}".format(e)) from None
    except OSError as e:
        raise ExtractionError("cannot write the files: {}".format(e)) from None


def _make_executable(path: str) -> None:
    """Add an execute bit wherever there is a read bit (``chmod +x`` for readers)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        os.fchmod(fd, mode | ((mode & 0o444) >> 2))
    finally:
        os.close(fd)


def _verify(staging: str, expected_files: set[str], limits: ExtractLimits) -> None:
    """
    Walk what was written, never following links: only the expected regular
    files (and folders) may be there.  Also fsyncs each file.
    """
    found = set()
    total = 0
    for folder, dirnames, filenames in os.walk(staging):
        for name in dirnames + filenames:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                # tarfile leaves folder entries 0700 and implicit parents
                # umask-dependent; make them all the reference's 0755.
                os.chmod(path, DIR_MODE)
                continue
            relative = os.path.relpath(path, staging).replace(os.sep, "/")
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeArchiveError("extraction produced a non-regular file: {!r}".format(
                    relative))
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
                raise UnsafeArchiveError("extraction produced a setuid/setgid file: {!r}".format(
                    relative))
            total += st.st_size
            found.add(relative)
            _fsync_file(path)
    if found != expected_files or total > limits.max_total_bytes:
        raise UnsafeArchiveError("the extracted files differ from the archive's")


def _move_into_place(staging: str, dest: str, replace: bool) -> None:
    """Rename ``staging`` to ``dest``; rename(2) never follows a link at ``dest``."""
    try:
        if replace and os.path.lexists(dest):
            _check_destination(dest, replace=True)
            old = staging + ".old"
            os.rename(dest, old)
            try:
                os.rename(staging, dest)
            except OSError:
                os.rename(old, dest)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, dest)
    except OSError as e:
        raise UnsafeDestinationError("cannot move the files into {}: {}".format(dest, e)) from None


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
