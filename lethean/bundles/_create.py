"""
Creating bundles exactly as the reference does.

* Encrypted profile: TIM(config = profile JSON, empty rootfs = 1,024 zero
  bytes) -> STIM -> checksum of the STIM bytes.
* Unencrypted profile: ``data`` is the profile JSON itself.
* Miner: a rootfs tar with one entry named after the binary -- stored 0600,
  because the reference re-serialises every file that way -- and config =
  the profile JSON or, without one, the default TIM config.
"""

import io
import json
import os
import time
from collections.abc import Iterable, Iterator
from typing import IO

from lethean.bundles._bundle import (
    BUNDLE_FULL,
    BUNDLE_MINER,
    BUNDLE_PROFILE,
    Bundle,
    is_plain_json,
)
from lethean.bundles._errors import BundleFileError, BundleTooLargeError, InvalidBundleError
from lethean.bundles._names import validate_bundle_name
from lethean.bundles._stim import DEFAULT_TIM_CONFIG, seal_stim, write_stim
from lethean.bundles._tar import EMPTY_TAR, MAX_MEMBER_BYTES, tar_of_one_file
from lethean._types import Buffer

__all__ = [
    "create_profile_bundle",
    "create_plain_profile_bundle",
    "create_miner_bundle",
    "create_miner_bundle_from_file",
    "read_miner",
]

#: Bytes of a miner file read at once.
READ_BYTES = 1024 * 1024

#: Mode the reference gives every file of a rootfs tar.
ROOTFS_FILE_MODE = 0o600


def _check_profile(profile_json: bytes) -> None:
    if not isinstance(profile_json, bytes):
        raise TypeError("profile JSON is bytes")
    try:
        json.loads(profile_json.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise InvalidBundleError("the profile is not valid JSON: {}".format(e)) from None


def create_profile_bundle(profile_json: bytes, name: str, password: str, *,
                          config_nonce: bytes | None = None,
                          rootfs_nonce: bytes | None = None) -> Bundle:
    """
    An encrypted profile bundle: the profile is the TIM config.

    ``profile_json`` is the profile's JSON bytes; ``password`` must not be
    empty.  The nonces are for reproducing test vectors only.
    """
    _check_profile(profile_json)
    stim = seal_stim(
        profile_json, EMPTY_TAR, password, config_nonce=config_nonce, rootfs_nonce=rootfs_nonce)
    return Bundle.seal(BUNDLE_PROFILE, name, stim)


def create_plain_profile_bundle(profile_json: bytes, name: str) -> Bundle:
    """
    An unencrypted profile bundle (for tests or trusted networks).

    The profile must be a JSON object or array: the receiver tells plain
    from encrypted bundles by the leading ``{`` or ``[``.
    """
    _check_profile(profile_json)
    if not is_plain_json(profile_json):
        raise InvalidBundleError("a plain profile must be a JSON object or array")
    return Bundle.seal(BUNDLE_PROFILE, name, profile_json)


def _check_file_name(miner_name: str) -> None:
    if (not isinstance(miner_name, str) or miner_name in ("", ".", "..")
            or "/" in miner_name or "\\" in miner_name or "\0" in miner_name):
        raise InvalidBundleError("miner file name {!r} must be a plain file name".format(
            miner_name))


def create_miner_bundle(miner_name: str, miner_content: Buffer, name: str, password: str, *,
                        profile_json: bytes | None = None, bundle_type: str = BUNDLE_MINER,
                        mtime: int | None = None, config_nonce: bytes | None = None,
                        rootfs_nonce: bytes | None = None) -> Bundle:
    """
    An encrypted miner bundle holding one binary and an optional profile.

    ``miner_name`` is the binary's file name (no folders), ``name`` the
    bundle name the worker installs under (validated: it becomes a folder).
    ``mtime`` (whole seconds) defaults to now, as in the reference.  The
    binary is sealed where it lies: the bundle is the only copy made.
    """
    _check_miner(miner_name, name, bundle_type, len(miner_content))
    return _seal_miner(miner_name, len(miner_content), [memoryview(miner_content)], name,
                       password, profile_json, bundle_type, mtime, config_nonce, rootfs_nonce)


def create_miner_bundle_from_file(
        source: str | os.PathLike[str] | IO[bytes], name: str,

        password: str, *, miner_name: str | None = None, profile_json: bytes | None = None,
        bundle_type: str = BUNDLE_MINER, mtime: int | None = None,
        max_bytes: int = MAX_MEMBER_BYTES, config_nonce: bytes | None = None,
        rootfs_nonce: bytes | None = None) -> Bundle:
    """
    :func:`create_miner_bundle` of the binary in ``source``, a path or a
    binary file (read from its current position to its end), read a piece
    at a time: memory holds the bundle and nothing else the size of the
    binary.

    ``miner_name`` defaults to the file's base name (``miner`` for a file
    without one).  Refused as :func:`read_miner` refuses, then as
    :func:`create_miner_bundle` does; :class:`BundleFileError` too when the
    file changes size while it is read.  Blocking: reactor code calls it
    in a thread.
    """
    if isinstance(source, (str, bytes, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                return create_miner_bundle_from_file(
                    f, name, password, miner_name=miner_name or os.path.basename(path),
                    profile_json=profile_json, bundle_type=bundle_type, mtime=mtime,
                    max_bytes=max_bytes, config_nonce=config_nonce, rootfs_nonce=rootfs_nonce)
        except OSError as e:
            raise BundleFileError("cannot read the miner {}: {}".format(path, e.strerror)) from None
    what = getattr(source, "name", None)
    what = what if isinstance(what, str) else "the miner"
    if miner_name is None:
        miner_name = os.path.basename(what) if what != "the miner" else "miner"
    start = source.tell()
    size = source.seek(0, io.SEEK_END) - start
    source.seek(start)
    if size > max_bytes:
        raise BundleTooLargeError("{} is over the {} byte per-file limit".format(what, max_bytes))
    _check_miner(miner_name, name, bundle_type, size)
    return _seal_miner(miner_name, size, _file_pieces(source, size, what), name, password,
                       profile_json, bundle_type, mtime, config_nonce, rootfs_nonce)


def _file_pieces(source: IO[bytes], size: int, what: str) -> Iterator[bytes]:
    """``size`` bytes of ``source``, a piece at a time; it must end there."""
    left = size
    while left:
        piece = source.read(min(left, READ_BYTES))
        if not piece:
            break
        left -= len(piece)
        yield piece
    if left or source.read(1):
        raise BundleFileError("{} changed while it was read".format(what))


def _check_miner(miner_name: str, name: str, bundle_type: str, size: int) -> None:
    validate_bundle_name(name)
    _check_file_name(miner_name)
    if bundle_type not in (BUNDLE_MINER, BUNDLE_FULL):
        raise InvalidBundleError("a miner bundle's type is miner or full")
    if size > MAX_MEMBER_BYTES:
        raise BundleTooLargeError("miner of {} bytes is over the {} byte per-file limit".format(
            size, MAX_MEMBER_BYTES))


def _seal_miner(miner_name: str, size: int, content: Iterable[Buffer], name: str,
                password: str, profile_json: bytes | None, bundle_type: str, mtime: int | None,
                config_nonce: bytes | None, rootfs_nonce: bytes | None) -> Bundle:
    if profile_json is None:
        config = DEFAULT_TIM_CONFIG
    else:
        _check_profile(profile_json)
        config = profile_json
    if mtime is None:
        mtime = int(time.time())
    rootfs_size, rootfs = tar_of_one_file(miner_name, size, content, mtime=mtime,
                                          mode=ROOTFS_FILE_MODE)
    out = io.BytesIO()
    write_stim(out.write, config, rootfs_size, rootfs, password,
               config_nonce=config_nonce, rootfs_nonce=rootfs_nonce)
    # BytesIO hands over its buffer without a copy (CPython).
    return Bundle.seal(bundle_type, name, out.getvalue())


def read_miner(path: str | os.PathLike[str], *,
               max_bytes: int = MAX_MEMBER_BYTES) -> tuple[str, bytes]:
    """
    ``(file name, content)`` of a miner binary on disk, size-capped.

    Blocking file I/O: reactor code calls it in a thread.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            content = f.read(max_bytes + 1)
    except OSError as e:
        raise BundleFileError("cannot read the miner {}: {}".format(path, e.strerror)) from None
    if len(content) > max_bytes:
        raise BundleTooLargeError("{} is over the {} byte per-file limit".format(path, max_bytes))
    return os.path.basename(path), content
