"""
Mining profiles kept as one JSON file each in a folder.

A profile is a JSON object; its ``id`` (or, failing that, ``name``) names
the file, validated like a bundle name so it can never leave the folder.
Files are written atomically; with a reactor that has threads the write
(and its fsyncs) runs in the thread pool, never in the reactor thread.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from lethean._files import write_atomic
from lethean._paths import data_path
from lethean.bundles import validate_bundle_name
from lethean.errors import LetheanError
from lethean.interfaces import IProfileManager
from lethean.node._errors import ProfileError, ProfileNotFoundError

__all__ = ["DirectoryProfileManager", "default_profiles_root", "MAX_PROFILE_BYTES"]

#: Largest profile file read back.
MAX_PROFILE_BYTES = 1024 * 1024


def default_profiles_root() -> str:
    """``<XDG data home>/lethean-desktop/profiles``."""
    return data_path("profiles")


def _profile_id(profile: Any) -> str:
    if not isinstance(profile, dict):
        raise ProfileError("a profile is a JSON object")
    profile_id = profile.get("id") or profile.get("name")
    if not isinstance(profile_id, str) or not profile_id:
        raise ProfileError("a profile needs a string 'id' or 'name'")
    return profile_id


@implementer(IProfileManager)
class DirectoryProfileManager:
    """
    Profiles in ``root``, one ``<id>.json`` each.

    :param reactor: when it provides ``IReactorThreads``, ``save_profile``
        writes in its thread pool (else at once).

    Reads answer at once (or raise); :meth:`save_profile`, which waits
    for the disk, returns a Deferred and fails through it.
    """

    def __init__(self, root: str | os.PathLike[str], reactor: object = None) -> None:
        self.root = os.fspath(root)
        self._reactor: Any = reactor if IReactorThreads.providedBy(reactor) else None

    def _path(self, profile_id: str) -> str:
        try:
            validate_bundle_name(profile_id)
        except LetheanError as e:
            raise ProfileError(str(e)) from None
        return os.path.join(self.root, profile_id + ".json")

    def get_profile(self, profile_id: str) -> Any:
        path = self._path(profile_id)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PROFILE_BYTES + 1)
        except FileNotFoundError:
            raise ProfileNotFoundError("profile not found: {}".format(profile_id)) from None
        except OSError as e:
            raise ProfileError("cannot read {}: {}".format(path, e.strerror)) from None
        if len(data) > MAX_PROFILE_BYTES:
            raise ProfileError("profile {} is over {} bytes".format(profile_id, MAX_PROFILE_BYTES))
        try:
            return json.loads(data)
        except ValueError as e:
            raise ProfileError("profile {} is not JSON: {}".format(profile_id, e)) from None

    def save_profile(self, profile: Any) -> defer.Deferred[None]:
        """Store ``profile`` under its ``id`` (or ``name``); a Deferred."""
        try:
            path = self._path(_profile_id(profile))
        except ProfileError:
            return defer.fail()
        data = json.dumps(profile, indent=2, sort_keys=True).encode("utf-8")
        if self._reactor is not None:
            return deferToThreadPool(self._reactor, self._reactor.getThreadPool(),
                                     self._write, path, data)
        return defer.maybeDeferred(self._write, path, data)

    @staticmethod
    def _write(path: str, data: bytes) -> None:
        try:
            write_atomic(path, data, 0o600, 0o700)
        except OSError as e:
            raise ProfileError("cannot write {}: {}".format(path, e.strerror)) from None

    def list_profiles(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(name[:-5] for name in names
                      if name.endswith(".json") and not name.startswith("."))

    def delete_profile(self, profile_id: str) -> None:
        try:
            os.unlink(self._path(profile_id))
        except FileNotFoundError:
            raise ProfileNotFoundError("profile not found: {}".format(profile_id)) from None
