"""
What an operator deploys, from what they give: a bundle file as it is,
or a profile or miner binary sealed into a bundle (in a thread, within
the bundle limits), after the request's own checks.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, cast

from lethean.node._errors import InvalidRequestError

if TYPE_CHECKING:
    from lethean.bundles import Bundle

__all__ = ["DEPLOY_KINDS", "Source", "build_bundle", "build_bundle_file", "check_deploy"]

#: What is deployed: a path, or a binary file.
Source = str | os.PathLike[str] | IO[bytes]

#: What ``deploy`` accepts as ``kind``.
DEPLOY_KINDS = ("bundle", "profile", "miner")


@contextlib.contextmanager
def _reading(source: Source, what: str) -> Iterator[IO[bytes]]:
    """
    ``source`` as a binary file from its start: a path is opened (and
    closed after), and an OSError while it is read is a BundleFileError.
    """
    from lethean.bundles import BundleFileError

    if not isinstance(source, (str, os.PathLike)):
        source.seek(0)
        yield source
        return
    try:
        with open(source, "rb") as f:
            yield f
    except OSError as e:
        raise BundleFileError("cannot read the {} {}: {}".format(
            what, source, e.strerror)) from None


def _read_limited(source: Source, limit: int, what: str) -> bytes:
    """Up to ``limit`` bytes of a path or binary file; BundleTooLargeError beyond."""
    from lethean.bundles import BundleTooLargeError

    with _reading(source, what) as f:
        content = f.read(limit + 1)
    if len(content) > limit:
        raise BundleTooLargeError("the {} is over the {} byte limit".format(what, limit))
    return content


def _named_profile(content: bytes, name: str | None) -> bytes:
    """
    The profile JSON ``content`` saved as ``name``: a worker keeps a profile
    under its ``id``, so ``--name`` becomes the id (``miner start --profile
    NAME`` then finds it).
    """
    try:
        profile = json.loads(content)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRequestError("the profile is not JSON: {}".format(e)) from None
    if not isinstance(profile, dict):
        raise InvalidRequestError("the profile is not a JSON object")
    if profile.get("id") == name:
        return content
    profile["id"] = name
    return json.dumps(profile).encode("utf-8")


def build_bundle(source: Source, kind: str, name: str | None, miner_file_name: str | None,
                 password: str) -> Bundle:
    """
    The bundle to deploy, from ``source`` (a path or a binary file); runs
    in a thread.
    """
    from lethean.bundles import (
        MAX_BUNDLE_DATA_BYTES, create_miner_bundle_from_file, create_profile_bundle,
        read_bundle)

    if kind == "bundle":
        with _reading(source, "bundle") as f:
            return read_bundle(f)
    # check_deploy refused a profile or miner without a name.
    bundle_name = cast(str, name)
    if kind == "profile":
        content = _named_profile(_read_limited(source, MAX_BUNDLE_DATA_BYTES, "profile"), name)
        return create_profile_bundle(content, bundle_name, password)
    # Sealed as it is read: the bundle is the only copy of the binary in
    # memory.  create_miner_bundle_from_file applies the per-file limit.
    if not isinstance(source, (str, os.PathLike)):
        source.seek(0)
    return create_miner_bundle_from_file(source, bundle_name, password,
                                         miner_name=miner_file_name or "miner",
                                         max_bytes=MAX_BUNDLE_DATA_BYTES)


def build_bundle_file(source: Source, kind: str, name: str | None,
                      miner_file_name: str | None, password: str) -> bytes:
    """
    :func:`build_bundle`'s bundle in its stand-alone JSON form (the bundle
    file's bytes); runs in a thread, as the base64 of a large miner is as
    costly as its sealing.
    """
    return build_bundle(source, kind, name, miner_file_name, password).to_json()


def check_deploy(target: object, kind: str, name: str | None) -> str:
    """
    The target, once a deploy of ``kind`` named ``name`` to it can start;
    InvalidRequestError otherwise.
    """
    if not isinstance(target, str) or not target:
        raise InvalidRequestError("give a target: a node id or HOST:PORT")
    if kind not in DEPLOY_KINDS:
        raise InvalidRequestError("the kind is one of: {}".format(", ".join(DEPLOY_KINDS)))
    if kind != "bundle" and not name:
        raise InvalidRequestError("--name is required with --kind {}".format(kind))
    return target
