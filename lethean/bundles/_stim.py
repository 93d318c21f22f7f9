"""
STIM: an encrypted TIM (config bytes plus a rootfs tar).

``"STIM" | 0x02 | header length (u32 BE) | header JSON |
config length C (u32 BE) | sigil(config) (C bytes) | sigil(rootfs tar)``

Both parts use the SMSG sigil (XChaCha20-Poly1305 with XOR
pre-obfuscation, key SHA-256(password)) with independent nonces.  The
reference ignores the header when reading; we also check that it
describes the payload, which Go always writes consistently -- but only
after every check the reference makes, so that whatever the reference
refuses is refused with the reference's error kind (a header saying
``config_size`` 0 over an empty config part fails decryption first).
"""

import io
import struct
from collections.abc import Callable, Iterable
from typing import Any

from attrs import field, frozen

from lethean.bundles._bundle import MAX_BUNDLE_DATA_BYTES
from lethean.bundles._errors import (
    InvalidStimHeaderError,
    InvalidStimPayloadError,
    PasswordRequiredError,
)
from lethean.smsg import SigilReader, derive_key, pack_trix, seal_pieces, unpack_trix
from lethean.smsg._sigil import OVERHEAD_BYTES
from lethean._types import Buffer

__all__ = [
    "STIM_MAGIC",
    "STIM_ALGORITHM",
    "STIM_VERSION",
    "DEFAULT_TIM_CONFIG",
    "Tim",
    "LazyTim",
    "StimLayout",
    "seal_stim",
    "write_stim",
    "parse_stim",
    "check_stim_header",
    "open_stim",
    "open_stim_lazily",
]

STIM_MAGIC = b"STIM"
STIM_ALGORITHM = "chacha20poly1305"
STIM_VERSION = "1.0"
#: The config of a fresh TIM (the JSON of an empty trix object).
DEFAULT_TIM_CONFIG = b'{"Header":{},"Payload":null}'
#: Go writes about 110 bytes of header; anything near this is hostile.
MAX_STIM_HEADER_BYTES = 64 * 1024

_U32 = struct.Struct(">I")


@frozen
class Tim:
    """A decrypted TIM: the config bytes and the rootfs tar bytes."""

    config: bytes = field(repr=False)
    rootfs: bytes = field(repr=False)


@frozen
class LazyTim:
    """
    A decrypted TIM whose rootfs stays encrypted until read: ``config`` is
    bytes, ``rootfs`` a :class:`~lethean.smsg.SigilReader` (already
    authenticated; ``rootfs.size`` bytes, read with ``rootfs.open()``).
    """

    config: bytes = field(repr=False)
    rootfs: SigilReader = field(repr=False)


@frozen
class StimLayout:
    """The parts of a STIM container, located but not decrypted."""

    header: dict[str, Any]
    #: ``bytes``, or memoryviews into the container (``parse_stim(view=True)``).
    config_part: bytes | memoryview = field(repr=False)
    rootfs_part: bytes | memoryview = field(repr=False)


def _key(password: str | None) -> bytes:
    if not isinstance(password, str) or not password:
        raise PasswordRequiredError("the bundle is encrypted: a password is required")
    return derive_key(password)


def seal_stim(config: bytes, rootfs: Buffer, password: str, *,
              config_nonce: Buffer | None = None,
              rootfs_nonce: Buffer | None = None) -> bytes:
    """
    The STIM bytes of ``config`` and the ``rootfs`` tar under ``password``.

    The nonces default to fresh random ones; pass them only to reproduce
    test vectors (reusing a nonce with the same password breaks the cipher).
    """
    out = io.BytesIO()
    write_stim(out.write, config, len(rootfs), [rootfs], password,
               config_nonce=config_nonce, rootfs_nonce=rootfs_nonce)
    return out.getvalue()  # the buffer itself, not a copy (CPython)


def write_stim(write: Callable[[bytes], object], config: bytes, rootfs_size: int,
               rootfs_pieces: Iterable[Buffer], password: str, *,
               config_nonce: Buffer | None = None, rootfs_nonce: Buffer | None = None) -> int:
    """
    Write what :func:`seal_stim` returns with ``write``, a piece at a time:
    the rootfs tar comes as ``rootfs_pieces`` (bytes-like pieces adding up
    to ``rootfs_size`` bytes), so it is never in memory whole.  Returns the
    bytes written.
    """
    key = _key(password)
    config_part = len(config) + OVERHEAD_BYTES
    rootfs_part = rootfs_size + OVERHEAD_BYTES
    header = {
        "config_size": config_part,
        "encryption_algorithm": STIM_ALGORITHM,
        "rootfs_size": rootfs_part,
        "tim": True,
        "version": STIM_VERSION,
    }
    prefix = pack_trix(STIM_MAGIC, header, _U32.pack(config_part))
    write(prefix)
    seal_pieces(key, [config], write, config_nonce)
    if seal_pieces(key, rootfs_pieces, write, rootfs_nonce) != rootfs_part:
        raise ValueError("the rootfs pieces do not add up to {} bytes".format(rootfs_size))
    return len(prefix) + config_part + rootfs_part


def parse_stim(data: Buffer, *, max_data_bytes: int = MAX_BUNDLE_DATA_BYTES,
               view: bool = False) -> StimLayout:
    """
    Locate the parts of a STIM container without decrypting them.

    Raises :class:`~lethean.smsg.ContainerError` (kind ``invalid_container``)
    for a bad container and :class:`InvalidStimPayloadError` when the length
    prefix is missing or overruns the payload: the reference's checks, in
    its order.  The header is located, not checked (see
    :func:`check_stim_header`).  The parts are ``bytes``, or with
    ``view=True`` read-only memoryviews into ``data`` (no copy).
    """
    header, payload = unpack_trix(
        data, STIM_MAGIC,
        max_header_bytes=MAX_STIM_HEADER_BYTES, max_payload_bytes=max_data_bytes, view=True,
    )
    if len(payload) < _U32.size:
        raise InvalidStimPayloadError("STIM payload of {} bytes has no config length".format(
            len(payload)))
    (config_size,) = _U32.unpack_from(payload)
    end = _U32.size + config_size
    if end > len(payload):
        raise InvalidStimPayloadError("config of {} bytes overruns a {} byte payload".format(
            config_size, len(payload)))
    config_part: bytes | memoryview = payload[_U32.size:end]
    rootfs_part: bytes | memoryview = payload[end:]
    if not view:
        config_part, rootfs_part = bytes(config_part), bytes(rootfs_part)
    return StimLayout(header=header, config_part=config_part, rootfs_part=rootfs_part)


def _is_count(value: object, expected: int) -> bool:
    return type(value) is int and value == expected


def check_stim_header(layout: StimLayout) -> None:
    """
    Raise :class:`InvalidStimHeaderError` unless the header describes the
    parts as the reference writes it (sizes, ``tim``, version, algorithm).
    """
    header = layout.header
    problems = []
    if not _is_count(header.get("config_size"), len(layout.config_part)):
        problems.append("config_size")
    if not _is_count(header.get("rootfs_size"), len(layout.rootfs_part)):
        problems.append("rootfs_size")
    if header.get("tim") is not True:
        problems.append("tim")
    if header.get("version") != STIM_VERSION:
        problems.append("version")
    if header.get("encryption_algorithm") != STIM_ALGORITHM:
        problems.append("encryption_algorithm")
    if problems:
        raise InvalidStimHeaderError("STIM header does not match its payload: {}".format(
            ", ".join(problems)))


def open_stim(data: Buffer, password: str | None, *,
              max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> Tim:
    """
    Decrypt a STIM container into a :class:`Tim`.

    The reference's order: an empty password raises
    :class:`PasswordRequiredError` before anything is read; then the
    container and payload checks of :func:`parse_stim`; then a wrong
    password, a flipped bit or a part shorter than nonce and tag raises
    :class:`~lethean.smsg.DecryptionError` (kind ``decryption_failed``),
    config first.  Only a STIM the reference would open is then refused
    for a header that disagrees with it (:func:`check_stim_header`).

    The rootfs is decrypted whole, into memory; :func:`open_stim_lazily`
    reads it from the container as needed instead.
    """
    tim = open_stim_lazily(data, password, max_data_bytes=max_data_bytes)
    return Tim(config=tim.config, rootfs=tim.rootfs.read_all())


def open_stim_lazily(data: Buffer, password: str | None, *,
                     max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> LazyTim:
    """
    :func:`open_stim` with the same checks and errors in the same order,
    but the rootfs only authenticated: a :class:`LazyTim` whose rootfs is
    decrypted from ``data`` (kept, not copied) as it is read.
    """
    key = _key(password)
    layout = parse_stim(data, max_data_bytes=max_data_bytes, view=True)
    config = SigilReader(key, layout.config_part).read_all()
    rootfs = SigilReader(key, layout.rootfs_part)
    check_stim_header(layout)
    return LazyTim(config=config, rootfs=rootfs)
