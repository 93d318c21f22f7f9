"""
Where the identity lives on disk, and how it is written and read.

Files (identity.md 7): ``<data home>/lethean-desktop/node/private.key``
holds the raw 32-byte private key, ``<config home>/lethean-desktop/node.json``
the public identity.  Unlike the reference, lethean creates the key file
0600 from the first byte, writes both files atomically and durably (temp
file, fsync, rename, directory fsync), refuses or repairs a key file other
users can read, and refuses a ``node.json`` that does not belong to the key.

These calls block on small local files; call them at startup or from a
thread, not from a running reactor's hot path.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from lethean.identity._errors import (
    IdentityExistsError,
    IdentityFileError,
    IdentityWriteError,
    InsecureKeyFileError,
    InvalidIdentityError,
    NoIdentityError,
)
from lethean.identity._keys import KEY_BYTES, PrivateKey
from lethean.identity._node import (
    ROLE_DUAL,
    ROLES,
    LocalIdentity,
    NodeIdentity,
    default_node_name,
    validate_node_name,
)
from lethean._files import write_atomic
from lethean._paths import APP_DIRECTORY, config_path, data_path
from lethean._gotime import Timestamp

__all__ = [
    "APP_DIRECTORY",
    "KEY_FILE_MODE",
    "IDENTITY_FILE_MODE",
    "DIRECTORY_MODE",
    "REPAIR",
    "REFUSE",
    "default_key_path",
    "default_identity_path",
    "NodeManager",
]

_log = Logger()

KEY_FILE_MODE = 0o600
IDENTITY_FILE_MODE = 0o644
#: Mode of directories we create (the reference's XDG lookup uses 0700).
DIRECTORY_MODE = 0o700
#: What to do with a private key file other users can read.
REPAIR = "repair"
REFUSE = "refuse"

_POSIX = os.name == "posix"


def default_key_path() -> str:
    """``<XDG data home>/lethean-desktop/node/private.key``, as the reference."""
    return data_path("node", "private.key")


def default_identity_path() -> str:
    """``<XDG config home>/lethean-desktop/node.json``, as the reference."""
    return config_path("node.json")



def _write_atomic(path: str, data: bytes, mode: int) -> None:
    """
    Replace ``path`` with ``data``: a new file created with ``mode`` (never
    wider, whatever happens later), fsynced, renamed into place, and the
    directory fsynced.  On failure the old file is untouched and
    :class:`IdentityFileError` says why.
    """
    try:
        write_atomic(path, data, mode, DIRECTORY_MODE)
    except OSError as e:
        error = IdentityWriteError("cannot write {}: {}".format(path, e.strerror or e))
        error.line = "cannot write the identity to {}: {}; choose a folder this user can " \
            "write with --data-dir DIR (or run as the folder's owner)".format(
                path, _why_not_written(path, e))
        raise error from None


def _why_not_written(path: str, error: OSError) -> str:
    """The reason a file could not be written, naming a file that stands where a folder must."""
    folder = os.path.dirname(os.path.abspath(path))
    while folder and not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if folder and os.path.exists(folder) and not os.path.isdir(folder):
        return "{} is a file, not a folder".format(folder)
    return error.strerror or str(error)


def _read_file(path: str, limit: int) -> tuple[Any, Any, Any]:
    """Up to ``limit`` bytes of a regular file; ``None`` when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None, None, None
    except OSError as e:
        raise IdentityFileError("cannot read {}: {}".format(path, e.strerror)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IdentityFileError("{} is not a regular file".format(path))
        chunks = []
        size = 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), info, fd
    except OSError as e:
        os.close(fd)
        raise IdentityFileError("cannot read {}: {}".format(path, e.strerror)) from None
    except BaseException:
        os.close(fd)
        raise


class NodeManager:
    """
    Generates, loads, saves and deletes this node's identity.

    ``key_path`` and ``identity_path`` default to the reference's XDG
    locations (:func:`default_key_path`, :func:`default_identity_path`);
    :meth:`in_directory` puts both in one folder.  ``insecure_key`` says what
    :meth:`load` does with a key file other users can read: ``"repair"``
    (chmod 0600, with a warning) or ``"refuse"`` (an error).  ``clock`` (an
    ``IReactorTime``) stamps new identities; by default the system time.

    All methods block on small local files (see the module docstring).
    """

    def __init__(self, key_path: str | None = None, identity_path: str | None = None, *,
                 insecure_key: str = REPAIR, clock: IReactorTime | None = None) -> None:
        if insecure_key not in (REPAIR, REFUSE):
            raise ValueError("insecure_key must be 'repair' or 'refuse'")
        self.key_path = key_path or default_key_path()
        self.identity_path = identity_path or default_identity_path()
        self.insecure_key = insecure_key
        self._clock = clock
        #: The identity loaded or created last, or ``None``.
        self.local: LocalIdentity | None = None

    @classmethod
    def in_directory(cls, directory: str, **kwargs: Any) -> "NodeManager":
        """A manager keeping ``private.key`` and ``node.json`` in ``directory``."""
        return cls(os.path.join(directory, "private.key"), os.path.join(directory, "node.json"),
                   **kwargs)

    def __repr__(self) -> str:
        return "<NodeManager key_path={!r} identity_path={!r}>".format(
            self.key_path, self.identity_path)

    def _now(self) -> Timestamp:
        seconds = self._clock.seconds() if self._clock is not None else time.time()
        return Timestamp.from_unix(seconds)

    def exists(self) -> bool:
        """Whether either identity file is present."""
        return os.path.lexists(self.key_path) or os.path.lexists(self.identity_path)

    def load(self) -> LocalIdentity:
        """
        The identity on disk, checked: the key file is 32 bytes and private,
        and ``node.json`` holds that key's public key and id.

        Raises :class:`NoIdentityError` when ``node.json`` is missing,
        :class:`IdentityFileError` (or :class:`InsecureKeyFileError`) for a
        damaged or exposed file and :class:`IdentityMismatchError` when the
        files do not belong together.
        """
        data, _, fd = _read_file(self.identity_path, 64 * 1024 + 1)
        if data is None:
            raise NoIdentityError("no {}".format(self.identity_path))
        os.close(fd)
        if len(data) > 64 * 1024:
            raise IdentityFileError("{} is larger than 64 KiB".format(self.identity_path))
        try:
            identity = NodeIdentity.from_node_json(data)
        except InvalidIdentityError as e:
            raise IdentityFileError("{}: {}".format(self.identity_path, e)) from None
        private_key = self._load_key()
        if private_key is None:
            raise IdentityFileError("{} exists but the private key {} does not".format(
                self.identity_path, self.key_path))
        local = LocalIdentity(identity, private_key)
        local.check()
        self.local = local
        return local

    def _load_key(self) -> PrivateKey | None:
        data, info, fd = _read_file(self.key_path, KEY_BYTES + 1)
        if data is None:
            return None
        try:
            if _POSIX and info.st_mode & 0o077:
                self._insecure(fd, info.st_mode)
        finally:
            os.close(fd)
        if len(data) != KEY_BYTES:
            raise IdentityFileError("{} is not exactly {} bytes".format(self.key_path, KEY_BYTES))
        return PrivateKey(data)

    def _insecure(self, fd: int, mode: int) -> None:
        fields = dict(path=self.key_path, mode="{:04o}".format(stat.S_IMODE(mode)),
                      reason="key file readable or writable by other users")
        if self.insecure_key == REFUSE:
            _log.error("refusing private key {path}: mode {mode} ({reason})",
                       action="refused", **fields)
            raise InsecureKeyFileError("{} has mode {}".format(self.key_path, fields["mode"]))
        try:
            os.fchmod(fd, KEY_FILE_MODE)
        except OSError as e:
            raise InsecureKeyFileError("{} has mode {} and cannot be repaired: {}".format(
                self.key_path, fields["mode"], e.strerror)) from None
        _log.warn("repaired private key {path}: mode {mode} changed to 0600 ({reason})",
                  action="repaired", **fields)

    def save(self, local: LocalIdentity) -> None:
        """Write ``local`` (key first, then ``node.json``), replacing any files."""
        local.check()
        _write_atomic(self.key_path, local.private_key.secret_bytes(), KEY_FILE_MODE)
        _write_atomic(self.identity_path, local.identity.to_node_json(), IDENTITY_FILE_MODE)
        self.local = local

    def generate(self, name: str | None = None, role: str = ROLE_DUAL, *,
                 force: bool = False) -> LocalIdentity:
        """
        Create, save and return a new identity.

        ``name`` defaults to :func:`default_node_name` (always a valid peer
        name); a given name must be valid too.  Refuses to replace existing
        files unless ``force`` is true, since that changes the node id.
        """
        if not force and self.exists():
            raise IdentityExistsError("{} or {} exists".format(self.identity_path, self.key_path))
        local = LocalIdentity.create(PrivateKey.generate(), self._name(name), self._role(role),
                                     self._now())
        self.save(local)
        _log.info("created node identity {node_id} named {name!r}",
                  node_id=local.id, name=local.identity.name)
        return local

    @staticmethod
    def _name(name: str | None) -> str:
        if not name:
            return default_node_name()
        validate_node_name(name)
        return name

    @staticmethod
    def _role(role: str) -> str:
        if role not in ROLES:
            raise ValueError("role must be one of {}".format(", ".join(ROLES)))
        return role

    def load_or_create(self, name: str | None = None, role: str = ROLE_DUAL) -> LocalIdentity:
        """
        :meth:`load`, or :meth:`generate` when there is no identity.

        If the key exists without ``node.json`` (a crash between the two
        writes, or a deleted ``node.json``), the identity is rebuilt around
        the existing key so the node id does not change; the reference would
        silently make a new key.
        """
        try:
            return self.load()
        except NoIdentityError:
            pass
        private_key = self._load_key()
        if private_key is None:
            return self.generate(name, role)
        local = LocalIdentity.create(private_key, self._name(name), self._role(role), self._now())
        _write_atomic(self.identity_path, local.identity.to_node_json(), IDENTITY_FILE_MODE)
        self.local = local
        _log.warn("rebuilt {path} for the existing private key of node {node_id}",
                  path=self.identity_path, node_id=local.id, reason="node.json missing")
        return local

    def delete(self) -> None:
        """Remove both files if present and forget the identity."""
        for path in (self.key_path, self.identity_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise IdentityFileError("cannot delete {}: {}".format(path, e.strerror)) from None
        self.local = None
