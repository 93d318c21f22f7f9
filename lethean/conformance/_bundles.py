"""
Conformance checks for ``bundles.json``.

Everything the vectors fix byte for byte is compared byte for byte: the
bundle JSON, the STIM bytes, the STIM header text, part lengths and
nonces, the decrypted config, and the rootfs tar (which our writer must
reproduce from the files, mode 0600 and the reference's mtime).

One documented divergence: the reference extracts the miner without its
execute bit and returns an empty miner path (``expected_returned_miner_path``
is ``""``).  Lethean fixes that (README weakness 7), so for such a vector we
require the returned path to be the extracted ``miner_file_name`` with its
execute bit set, and compare file modes with the execute bits masked out.
A non-empty expected path must be matched exactly (relative to the
destination).
"""

import hashlib
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable
from typing import cast

from lethean.bundles import (
    BUNDLE_PROFILE,
    Bundle,
    create_miner_bundle,
    create_profile_bundle,
    extract_miner_bundle,
    extract_profile_bundle,
)
from lethean.bundles._stim import DEFAULT_TIM_CONFIG, open_stim, parse_stim, seal_stim
from lethean.bundles._tar import scan_tar, write_tar
from lethean.bundles._tar import member_content
from lethean.conformance._errors import VectorMismatch
from lethean.conformance._expect import Case, Cases, Check, equal, raises_kind

__all__ = ["cases"]


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of ``bundles.json``."""
    for vector in document.get("profile_bundles", []):
        name = "profile_bundles/" + vector["name"]
        yield name + "/create", _bind(_check_profile_create, vector)
        yield name + "/stim", _bind(_check_stim, vector)
        yield name + "/extract", _bind(_check_profile_extract, vector)
    for i, vector in enumerate(document.get("plain_bundles", [])):
        yield "plain_bundles/{}".format(i), _bind(_check_plain, vector)
    miner = document.get("miner_bundle")
    if miner:
        yield "miner_bundle/stim", _bind(_check_stim, miner)
        yield "miner_bundle/create", _bind(_check_miner_create, miner)
        yield "miner_bundle/extract", _bind(_check_miner_extract, miner)
    for vector in document.get("errors", []):
        yield "errors/" + vector["name"], _bind(_check_error, vector)


def _bind(function: Callable[[Case], object], vector: Case) -> Check:
    return lambda: function(vector)


def _bundle(vector: Case) -> Bundle:
    return Bundle.from_json(vector["bundle_json"].encode("utf-8"))


def _check_round_trip(vector: Case) -> Bundle:
    bundle = _bundle(vector)
    equal("bundle_json round trip", bundle.to_json().decode("utf-8"), vector["bundle_json"])
    bundle.verify()
    return bundle


def _check_profile_create(vector: Case) -> None:
    stim = vector["stim"]
    bundle = create_profile_bundle(
        vector["profile_json"].encode("utf-8"), vector["bundle_name"], vector["password"],
        config_nonce=bytes.fromhex(stim["config_nonce_hex"]),
        rootfs_nonce=bytes.fromhex(stim["rootfs_nonce_hex"]),
    )
    equal("stim_hex", bundle.data.hex(), vector["stim_hex"])
    equal("checksum", bundle.checksum, vector["checksum"])
    equal("bundle_json", bundle.to_json().decode("utf-8"), vector["bundle_json"])
    _check_round_trip(vector)


def _check_stim(vector: Case) -> None:
    data = _bundle(vector).data
    stim = vector["stim"]
    password = vector["password"]
    header_length = int.from_bytes(data[5:9], "big")
    equal("header_json", data[9:9 + header_length].decode("utf-8"), stim["header_json"])
    layout = parse_stim(data)
    equal("config_ciphertext_len", len(layout.config_part), stim["config_ciphertext_len"])
    equal("config nonce", layout.config_part[:24].hex(), stim["config_nonce_hex"])
    equal("rootfs nonce", layout.rootfs_part[:24].hex(), stim["rootfs_nonce_hex"])
    tim = open_stim(data, password)
    equal("config plaintext", tim.config.decode("utf-8"), stim["config_plaintext_utf8"])
    equal("rootfs_tar_len", len(tim.rootfs), stim["rootfs_tar_len"])
    equal("rootfs sha256", hashlib.sha256(tim.rootfs).hexdigest(), stim["rootfs_tar_sha256_hex"])
    members = [m for m in scan_tar(tim.rootfs) if not m.is_dir]
    got = [
        {"name": m.path, "mode": "{:04o}".format(m.mode), "typeflag": "0",
         "content_hex": bytes(member_content(tim.rootfs, m)).hex()}
        for m in members
    ]
    expected = [
        {k: f[k] for k in ("name", "mode", "typeflag", "content_hex")}
        for f in stim["rootfs_files"]
    ]
    equal("rootfs files", got, expected)
    # Our writer must give back the reference's tar from the same files.
    rebuilt = _rebuild(tim.rootfs)
    equal("rebuilt rootfs tar", rebuilt.hex(), tim.rootfs.hex())
    resealed = seal_stim(
        tim.config, rebuilt, password,
        config_nonce=layout.config_part[:24], rootfs_nonce=layout.rootfs_part[:24],
    )
    equal("resealed STIM", resealed.hex(), data.hex())


def _rebuild(tar: bytes) -> bytes:
    """``tar`` rewritten by :func:`write_tar`: each file 0600 with its own mtime."""
    if not tar.strip(b"\0"):
        return write_tar([], mtime=0)
    parts = []
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        for info in archive:
            if not info.isreg():
                continue
            member = archive.extractfile(info)
            if member is None:
                raise VectorMismatch("{}: a regular file tarfile cannot read".format(info.name))
            content = member.read()
            # The vectors' archives hold whole seconds (tarfile types a float too).
            mtime = cast(int, info.mtime)
            parts.append(write_tar([(info.name, content)], mtime=mtime, mode=0o600)[:-1024])
    return b"".join(parts) + write_tar([], mtime=0)


def _first_mtime(tar: bytes) -> int:
    if not tar.strip(b"\0"):
        return 0
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        first = archive.next()
        if first is None:
            raise VectorMismatch("the rootfs tar holds no member")
        return int(first.mtime)


def _check_profile_extract(vector: Case) -> None:
    bundle = _check_round_trip(vector)
    profile = extract_profile_bundle(bundle, vector["password"])
    equal("profile", profile.decode("utf-8"), vector["expected_profile_json"])


def _check_plain(vector: Case) -> None:
    bundle = _check_round_trip(vector)
    equal("type", bundle.type, BUNDLE_PROFILE)
    resealed = Bundle.seal(bundle.type, bundle.name, bundle.data)
    equal("plain bundle_json", resealed.to_json().decode("utf-8"), vector["bundle_json"])
    profile = extract_profile_bundle(bundle, vector.get("password", ""), allow_plain=True)
    equal("profile", profile.decode("utf-8"), vector["expected_profile_json"])


def _profile_of(vector: Case) -> bytes | None:
    """
    The vector's profile bytes, or None for a bundle made without one.

    A generator may leave ``profile_json`` out, write ``null`` or write
    ``""`` (Go's ``string(nil)``) for "no profile"; the reference then
    ships its default TIM config, which the vector must show.
    """
    profile = vector.get("profile_json")
    if profile:
        return profile.encode("utf-8")
    default = DEFAULT_TIM_CONFIG.decode("utf-8")
    equal("config of a bundle made without a profile",
          vector["stim"]["config_plaintext_utf8"], default)
    equal("expected config of a bundle made without a profile",
          vector["expected_config_utf8"], default)
    return None


def _check_miner_create(vector: Case) -> None:
    reference = _check_round_trip(vector)
    stim = vector["stim"]
    tim = open_stim(reference.data, vector["password"])
    profile = _profile_of(vector)
    bundle = create_miner_bundle(
        vector["miner_file_name"], bytes.fromhex(vector["miner_content_hex"]),
        reference.name, vector["password"],
        profile_json=profile,
        bundle_type=reference.type,
        mtime=_first_mtime(tim.rootfs),
        config_nonce=bytes.fromhex(stim["config_nonce_hex"]),
        rootfs_nonce=bytes.fromhex(stim["rootfs_nonce_hex"]),
    )
    equal("miner bundle_json", bundle.to_json().decode("utf-8"), vector["bundle_json"])


def _check_miner_extract(vector: Case) -> None:
    bundle = _check_round_trip(vector)
    with tempfile.TemporaryDirectory(prefix="lethean-conformance-") as scratch:
        dest = os.path.join(scratch, "miner")
        result = extract_miner_bundle(bundle, vector["password"], dest)
        equal("config", result.config.decode("utf-8"), vector["expected_config_utf8"])
        # The default TIM config is never taken for a profile (the reference saves it).
        equal("bundled profile", result.profile_json, _profile_of(vector))
        expected_files = vector["expected_extracted_files"]
        equal("extracted paths", sorted(result.files), sorted(f["path"] for f in expected_files))
        for f in expected_files:
            path = os.path.join(dest, f["path"])
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            equal(f["path"] + " mode (execute bits aside)",
                  "{:04o}".format(mode & ~0o111), "{:04o}".format(int(f["mode"], 8) & ~0o111))
            with open(path, "rb") as opened:
                equal(f["path"] + " content", opened.read().hex(), f["content_hex"])
        expected_path = vector["expected_returned_miner_path"]
        if expected_path:
            relative = os.path.relpath(result.miner_path or "", dest)
            equal("miner path", expected_path.endswith("/" + relative) or expected_path == relative,
                  True)
        else:
            miner = os.path.join(dest, vector["miner_file_name"])
            equal("miner path (reference returns '', lethean the binary)",
                  result.miner_path, miner)
            equal("miner is executable", bool(os.lstat(miner).st_mode & stat.S_IXUSR), True)


def _check_error(vector: Case) -> None:
    def attempt() -> object:
        bundle = Bundle.from_json(vector["bundle_json"].encode("utf-8"))
        password = vector.get("password", "")
        if bundle.type == BUNDLE_PROFILE:
            return extract_profile_bundle(bundle, password, allow_plain=True)
        with tempfile.TemporaryDirectory(prefix="lethean-conformance-") as scratch:
            return extract_miner_bundle(bundle, password, os.path.join(scratch, "miner"))
    raises_kind(vector["error_kind"], attempt)
