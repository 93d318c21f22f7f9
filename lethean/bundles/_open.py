"""
Opening bundles: extraction for profiles and miners, and inspection.

Extraction follows the reference's order -- checksum, plain-JSON test,
password, STIM, decryption of config then rootfs -- and then does what the
reference does not: vets the rootfs before writing, extracts atomically,
marks the miner executable (the reference loses the execute bit, so its
"miner path" is always empty) and never saves the default TIM config as a
profile.  Every refusal raises and logs one event.
"""

from collections.abc import Callable, Iterable
from typing import IO, Any, TypeVar

from attrs import field, frozen

from lethean.bundles._bundle import (
    MAX_BUNDLE_DATA_BYTES,
    Bundle,
    is_plain_json,
    reads_as_plain_json,
)
from lethean.bundles._errors import PlaintextRefusedError
from lethean.bundles._extract import extract_tar_unlogged, log_rejection
from lethean.bundles._names import install_dir, validate_bundle_name
from lethean.bundles._stim import DEFAULT_TIM_CONFIG, open_stim_lazily, parse_stim
from lethean.bundles._tar import ArchiveMember, ExtractLimits, scan_tar, tar_file
from lethean.errors import LetheanError
from lethean._types import Buffer, StrPath

__all__ = [
    "ExtractedMiner",
    "BundleInfo",
    "FileInfo",
    "extract_profile_bundle",
    "extract_miner_bundle",
    "install_miner_bundle",
    "inspect_bundle",
    "pick_miner",
]

_T = TypeVar("_T")


@frozen
class ExtractedMiner:
    """An installed miner bundle."""

    #: Absolute folder the files were written to.
    root: str
    #: Absolute path of the executable miner, or None if the bundle has none.
    miner_path: str | None
    #: Relative paths of every file written, in archive order.
    files: tuple[str, ...]
    #: The TIM config (the profile JSON, or the default TIM config).
    config: bytes = field(repr=False)

    @property
    def profile_json(self) -> bytes | None:
        """
        The bundled profile, or None.

        None when the config is empty or the default TIM config, which the
        reference would wrongly save as a profile.
        """
        config = self.config.strip()
        if not config or config == DEFAULT_TIM_CONFIG:
            return None
        return self.config


@frozen
class FileInfo:
    """One file of a bundle's rootfs."""

    path: str
    size: int
    mode: int


@frozen
class BundleInfo:
    """What :func:`inspect_bundle` found, without writing anything."""

    type: str
    name: str
    checksum: str
    checksum_ok: bool
    data_bytes: int
    encrypted: bool
    #: STIM header (None for a plain bundle).
    stim_header: dict[str, Any] | None = None
    #: Sizes of the encrypted parts (None for a plain bundle).
    config_part_bytes: int | None = None
    rootfs_part_bytes: int | None = None
    #: Decrypted config (plain bundles: the profile), None without password.
    config: bytes | None = field(default=None, repr=False)
    #: Decrypted rootfs tar size and files, None without password.
    rootfs_bytes: int | None = None
    files: tuple[FileInfo, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (config as text)."""
        return {
            "type": self.type,
            "name": self.name,
            "checksum": self.checksum,
            "checksum_ok": self.checksum_ok,
            "data_bytes": self.data_bytes,
            "encrypted": self.encrypted,
            "stim_header": self.stim_header,
            "config_part_bytes": self.config_part_bytes,
            "rootfs_part_bytes": self.rootfs_part_bytes,
            "decrypted": self.config is not None,
            "config": None if self.config is None else self.config.decode("utf-8", "replace"),
            "rootfs_bytes": self.rootfs_bytes,
            "files": None if self.files is None else [
                {"path": f.path, "size": f.size, "mode": "{:04o}".format(f.mode)}
                for f in self.files
            ],
        }


def pick_miner(rootfs: Buffer | IO[bytes], members: Iterable[ArchiveMember]) -> str | None:
    """
    The relative path of the miner binary in a vetted rootfs (bytes or a
    seekable binary file), or None.

    The first file with an execute bit; failing that (the reference stores
    every file 0600) the first file whose content is not JSON -- the very
    test the reference's creator used to give a file mode 0755 before the
    mode was lost.  Only the start of each file is read.
    """
    files = [m for m in members if not m.is_dir]
    for member in files:
        if member.mode & 0o111:
            return member.path
    fileobj = tar_file(rootfs)[0]
    for member in files:
        fileobj.seek(member.offset)
        if not reads_as_plain_json(fileobj.read, member.size):
            return member.path
    return None


def _logged(what: str, bundle: Bundle, function: Callable[..., _T], *args: Any,
            **kwargs: Any) -> _T:
    try:
        return function(*args, **kwargs)
    except LetheanError as e:
        log_rejection(what, e, bundle=bundle.name, bundle_type=bundle.type)
        raise


def extract_profile_bundle(bundle: Bundle, password: str | None, *, allow_plain: bool = False,
                           limits: ExtractLimits = ExtractLimits(),
                           max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> bytes:
    """
    The profile JSON bytes of a profile bundle.

    Verifies the checksum; a plain JSON bundle is returned as it is only
    with ``allow_plain=True`` (the reference accepts one from any peer);
    otherwise the STIM is decrypted with ``password`` and its rootfs vetted.
    """
    return _logged("profile bundle", bundle, _extract_profile,
                   bundle, password, allow_plain, limits, max_data_bytes)


def _extract_profile(bundle: Bundle, password: str | None, allow_plain: bool,
                     limits: ExtractLimits, max_data_bytes: int) -> bytes:
    bundle.verify()
    if bundle.is_plain:
        if not allow_plain:
            raise PlaintextRefusedError("bundle {!r} is unencrypted".format(bundle.name))
        return bundle.data
    tim = open_stim_lazily(bundle.data, password, max_data_bytes=max_data_bytes)
    with tim.rootfs.open() as rootfs:
        scan_tar(rootfs, limits)
    return tim.config


def extract_miner_bundle(bundle: Bundle, password: str, dest: StrPath, *, replace: bool = False,
                         limits: ExtractLimits = ExtractLimits(),
                         max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> ExtractedMiner:
    """
    Decrypt a miner (or full) bundle and extract its files into ``dest``.

    Returns an :class:`ExtractedMiner` whose ``miner_path`` is the
    executable miner.  ``dest`` must not exist or be empty, unless
    ``replace=True`` (then its whole content is replaced atomically).
    Blocking: reactor code uses :func:`extract_miner_bundle_in_thread`.
    """
    return _logged("miner bundle", bundle, _extract_miner,
                   bundle, password, dest, replace, limits, max_data_bytes)


def _extract_miner(bundle: Bundle, password: str, dest: StrPath, replace: bool,
                   limits: ExtractLimits, max_data_bytes: int) -> ExtractedMiner:
    bundle.verify()
    tim = open_stim_lazily(bundle.data, password, max_data_bytes=max_data_bytes)
    # The rootfs is decrypted as tarfile reads it: never whole in memory.
    with tim.rootfs.open() as rootfs:
        miner = pick_miner(rootfs, scan_tar(rootfs, limits))
        tree = extract_tar_unlogged(
            rootfs, dest, limits=limits, replace=replace, executable=miner)
    return ExtractedMiner(
        root=tree.root, miner_path=tree.executable, files=tree.files, config=tim.config)


def install_miner_bundle(bundle: Bundle, password: str, miners_root: str, *,
                         limits: ExtractLimits = ExtractLimits(),
                         max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> ExtractedMiner:
    """
    Install a miner bundle as the worker does: into ``<miners_root>/<name>``.

    The name is validated (it can never leave ``miners_root``) and a
    previous install of the same name is replaced atomically.
    """
    def install() -> ExtractedMiner:
        dest = install_dir(miners_root, validate_bundle_name(bundle.name))
        return _extract_miner(bundle, password, dest, True, limits, max_data_bytes)
    return _logged("miner bundle", bundle, install)


def inspect_bundle(bundle: Bundle, password: str | None = None, *,
                   limits: ExtractLimits = ExtractLimits(),
                   max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> BundleInfo:
    """
    Describe a bundle without extracting it.

    Without a password an encrypted bundle shows its STIM header and part
    sizes; with one, the config and the rootfs file list too.  The checksum
    is reported, not enforced, so a damaged bundle can still be examined.
    """
    base: dict[str, Any] = dict(
        type=bundle.type,
        name=bundle.name,
        checksum=bundle.checksum,
        checksum_ok=_checksum_ok(bundle),
        data_bytes=len(bundle.data),
    )
    if is_plain_json(bundle.data):
        return BundleInfo(encrypted=False, config=bundle.data, rootfs_bytes=0, files=(), **base)
    layout = parse_stim(bundle.data, max_data_bytes=max_data_bytes, view=True)
    stim: dict[str, Any] = dict(
        encrypted=True,
        stim_header=layout.header,
        config_part_bytes=len(layout.config_part),
        rootfs_part_bytes=len(layout.rootfs_part),
    )
    if not password:
        return BundleInfo(**base, **stim)
    tim = open_stim_lazily(bundle.data, password, max_data_bytes=max_data_bytes)
    with tim.rootfs.open() as rootfs:
        files = tuple(
            FileInfo(path=m.path, size=m.size, mode=m.mode)
            for m in scan_tar(rootfs, limits) if not m.is_dir
        )
    return BundleInfo(config=tim.config, rootfs_bytes=tim.rootfs.size, files=files,
                      **base, **stim)


def _checksum_ok(bundle: Bundle) -> bool:
    try:
        bundle.verify()
    except LetheanError:
        return False
    return True
