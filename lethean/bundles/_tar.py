"""
The rootfs tar: writing it as the reference does, and vetting it.

Writing: one USTAR entry per file, no directory entries, uid/gid 0, empty
owner names, ``devmajor``/``devminor`` written as octal zeros, two zero
blocks and no further padding -- byte for byte what Go's ``archive/tar``
writes, so an empty tree is exactly 1,024 zero bytes.  (Python's own
``tarfile`` would pad to 10,240 bytes and leave the device fields blank.)

Vetting: :func:`scan_tar` reads every header and rejects, before anything
touches a disk, each member that could hurt the extracting host: absolute
or climbing paths, links, devices, FIFOs, duplicates, and sizes or counts
over :class:`ExtractLimits`.  Only regular files and directories pass.
"""

import io
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO

from attrs import field, frozen, validators

from lethean.bundles._errors import (
    AbsolutePathError,
    ArchiveTooLargeError,
    CorruptArchiveError,
    DuplicateMemberError,
    DeviceMemberError,
    FifoMemberError,
    HardlinkMemberError,
    MemberTooLargeError,
    PathTraversalError,
    SpecialMemberError,
    SymlinkMemberError,
    TooManyMembersError,
)
from lethean._types import Buffer

__all__ = [
    "BLOCK_BYTES",
    "EMPTY_TAR",
    "ExtractLimits",
    "ArchiveMember",
    "write_tar",
    "tar_of_one_file",
    "scan_tar",
    "member_content",
    "tar_file",
    "open_tar",
    "vetted_members",
    "TAR_ERRORS",
]

BLOCK_BYTES = 512
#: An archive with no members, as Go writes it.
EMPTY_TAR = bytes(2 * BLOCK_BYTES)

#: The reference's per-file cap (100 MiB).
MAX_MEMBER_BYTES = 100 * 1024 * 1024
#: Our cap on the sum of all file sizes; the reference has none.
MAX_TOTAL_BYTES = 256 * 1024 * 1024
#: Our cap on the number of members; the reference has none.
MAX_MEMBERS = 1024

_positive = [validators.instance_of(int), validators.ge(1)]


@frozen
class ExtractLimits:
    """Caps applied to an archive before any of it is written."""

    max_member_bytes: int = field(default=MAX_MEMBER_BYTES, validator=_positive)
    max_total_bytes: int = field(default=MAX_TOTAL_BYTES, validator=_positive)
    max_members: int = field(default=MAX_MEMBERS, validator=_positive)


@frozen
class ArchiveMember:
    """One vetted member: a regular file or a directory."""

    #: Normalised relative path, ``/``-separated, no ``.`` or empty parts.
    path: str
    is_dir: bool
    #: Content length (0 for directories).
    size: int
    #: Permission bits from the header (``0o7777`` masked).
    mode: int
    #: Where the content starts inside the archive bytes.
    offset: int


def _octal(value: int, width: int) -> bytes:
    """Go's ``formatOctal``: zero-padded digits then a NUL, ``width`` bytes."""
    digits = "{:0{}o}".format(value, width - 1).encode("ascii")
    if len(digits) > width - 1:
        raise ValueError("value does not fit a {}-byte tar field".format(width))
    return digits + b"\0"


def _go_ustar_header(name: str, size: int, mode: int, mtime: int) -> bytes | None:
    """A USTAR header block exactly as Go writes it, or None if it cannot be."""
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        return None
    if not raw or len(raw) > 100 or b"\0" in raw:
        return None
    header = bytearray(BLOCK_BYTES)
    header[0:len(raw)] = raw
    header[100:108] = _octal(mode, 8)
    header[108:116] = _octal(0, 8)  # uid
    header[116:124] = _octal(0, 8)  # gid
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(mtime, 12)
    header[148:156] = b"        "  # checksum placeholder
    header[156:157] = b"0"  # regular file
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[329:337] = _octal(0, 8)  # devmajor
    header[337:345] = _octal(0, 8)  # devminor
    header[148:156] = "{:06o}".format(sum(header)).encode("ascii") + b"\0 "
    return bytes(header)


def _pax_header(name: str, size: int, mode: int, mtime: int) -> bytes:
    """Fallback for names USTAR cannot hold (Go would use PAX here too)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = mtime
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _member_header(name: str, size: int, mode: int, mtime: int) -> bytes:
    header = _go_ustar_header(name, size, mode, mtime)
    return _pax_header(name, size, mode, mtime) if header is None else header


def write_tar(files: Iterable[tuple[str, Buffer]], *, mtime: int, mode: int = 0o600) -> bytes:
    """
    A tar archive of ``files`` (``(name, content)`` pairs) as Go writes it.

    Every entry gets ``mode`` (the reference re-serialises every file 0600)
    and ``mtime`` (whole seconds).  Names are written as given: callers pass
    plain relative paths.
    """
    out = io.BytesIO()
    for name, content in files:
        out.write(_member_header(name, len(content), mode, mtime))
        out.write(content)
        out.write(bytes(-len(content) % BLOCK_BYTES))
    out.write(EMPTY_TAR)
    return out.getvalue()


def tar_of_one_file(name: str, size: int, content: Iterable[Buffer], *, mtime: int,
                    mode: int = 0o600) -> tuple[int, Iterator[Buffer]]:
    """
    ``(length, pieces)``: the archive :func:`write_tar` makes of one file
    of ``size`` bytes, as an iterable of pieces that passes ``content``
    (an iterable of pieces adding up to ``size`` bytes) through, so a large
    file never has to be in memory whole.
    """
    header = _member_header(name, size, mode, mtime)
    trailer = bytes(-size % BLOCK_BYTES) + EMPTY_TAR

    def pieces() -> Iterator[Buffer]:
        yield header
        yield from content
        yield trailer
    return len(header) + size + len(trailer), pieces()


def member_content(data: Buffer, member: ArchiveMember) -> memoryview:
    """The content of a vetted file member, as a memoryview into ``data``."""
    return memoryview(data)[member.offset:member.offset + member.size]


def _normalise(name: str, is_dir: bool) -> str:
    """A member name as a safe relative path; raises for anything else."""
    if name.startswith("/"):
        raise AbsolutePathError("absolute path not allowed: {!r}".format(name))
    if "\\" in name or any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise PathTraversalError("not a plain path: {!r}".format(name))
    if not is_dir and name.endswith("/"):
        raise PathTraversalError("file name ends in '/': {!r}".format(name))
    parts = []
    for part in name.split("/"):
        if part == "..":
            raise PathTraversalError("path traversal attempt: {!r}".format(name))
        if part not in ("", "."):
            parts.append(part)
    if not parts and not is_dir:
        raise PathTraversalError("empty file name: {!r}".format(name))
    return "/".join(parts)


def _check_kind(info: tarfile.TarInfo) -> bool:
    """True for a folder, False for a regular file; raises for anything else."""
    if info.issym():
        raise SymlinkMemberError("symbolic link not allowed: {!r} -> {!r}".format(
            info.name, info.linkname))
    if info.islnk():
        raise HardlinkMemberError("hard link not allowed: {!r} -> {!r}".format(
            info.name, info.linkname))
    if info.isdir():
        return True
    if info.isreg() and not info.issparse():
        return False
    if info.isdev() and not info.isfifo():
        raise DeviceMemberError("device not allowed: {!r}".format(info.name))
    if info.isfifo():
        raise FifoMemberError("FIFO not allowed: {!r}".format(info.name))
    raise SpecialMemberError("special entry (type {!r}) not allowed: {!r}".format(
        info.type, info.name))


class _Tree:
    """Paths claimed so far, to refuse duplicates and file/folder clashes."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def claim(self, path: str, is_dir: bool, name: str) -> None:
        parents = path.split("/")[:-1]
        for i in range(1, len(parents) + 1):
            parent = "/".join(parents[:i])
            if parent in self.files:
                raise DuplicateMemberError("{!r} is inside the file {!r}".format(name, parent))
            self.dirs.add(parent)
        if path in self.files or (not is_dir and path in self.dirs):
            raise DuplicateMemberError("path appears twice: {!r}".format(name))
        (self.dirs if is_dir else self.files).add(path)


#: What tarfile may raise on hostile headers; all mean "not a tar we accept".
TAR_ERRORS = (tarfile.TarError, EOFError, ValueError, OverflowError, UnicodeError)


def tar_file(source: Buffer | IO[bytes]) -> tuple[IO[bytes], int]:
    """
    ``(file, size)`` for a tar archive given as bytes or as a seekable
    binary file (such as :meth:`lethean.smsg.SigilReader.open` gives),
    which is rewound.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)  # the same object for bytes: no copy
        return io.BytesIO(data), len(data)
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    return source, size


def open_tar(source: Buffer | IO[bytes]) -> tarfile.TarFile:
    """
    A tar archive (bytes, or a file from :func:`tar_file`) as a read-only,
    uncompressed :class:`tarfile.TarFile`.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = tar_file(source)[0]
    try:
        # "r:" -- never transparent decompression: no bombs behind the limits.
        return tarfile.open(fileobj=source, mode="r:", errorlevel=2)
    except TAR_ERRORS as e:
        raise CorruptArchiveError("not a readable tar archive: {}".format(e)) from None


def vetted_members(archive: tarfile.TarFile, archive_size: int,
                   limits: ExtractLimits) -> Iterator[tuple[tarfile.TarInfo, ArchiveMember]]:
    """
    Yield ``(TarInfo, ArchiveMember)`` for each member of ``archive``, an
    archive of ``archive_size`` bytes.

    Raises on the first member that fails a check; consume the whole
    iterator before acting on any member.
    """
    tree = _Tree()
    count = 0
    total = 0
    try:
        while True:
            info = archive.next()
            if info is None:
                break
            count += 1
            if count > limits.max_members:
                raise TooManyMembersError("more than {} members".format(limits.max_members))
            is_dir = _check_kind(info)
            path = _normalise(info.name, is_dir)
            if not path:
                continue  # "./": the destination itself
            size = 0 if is_dir else info.size
            if size > limits.max_member_bytes:
                raise MemberTooLargeError("file {!r} is {} bytes, over the {} byte limit".format(
                    info.name, size, limits.max_member_bytes))
            total += size
            if total > limits.max_total_bytes:
                raise ArchiveTooLargeError("files add up to more than {} bytes".format(
                    limits.max_total_bytes))
            if info.offset_data + size > archive_size:
                raise CorruptArchiveError("file {!r} is cut short".format(info.name))
            tree.claim(path, is_dir, info.name)
            yield info, ArchiveMember(
                path=path, is_dir=is_dir, size=size,
                mode=info.mode & 0o7777, offset=info.offset_data,
            )
    except TAR_ERRORS as e:
        raise CorruptArchiveError("not a readable tar archive: {}".format(e)) from None


def scan_tar(data: Buffer | IO[bytes],
             limits: ExtractLimits = ExtractLimits()) -> list[ArchiveMember]:

    """
    Vet every member of the tar archive ``data`` (bytes, or a seekable
    binary file) without writing anything.

    Returns the :class:`ArchiveMember` list in archive order, or raises the
    :class:`~lethean.bundles.UnsafeArchiveError` subclass for the first
    problem.  An empty ``data`` is an empty archive.
    """
    fileobj, size = tar_file(data)
    if not size:
        return []  # Go's reader takes an empty stream as an empty tree.
    with open_tar(fileobj) as archive:
        return [member for _, member in vetted_members(archive, size, limits)]
