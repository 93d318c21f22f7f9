"""
Bundle names used as folder names.

The reference joins a miner bundle's ``name`` to the miners folder
unchecked, so ``../../x`` lands anywhere.  Here a name must be 1-64
characters of ``[A-Za-z0-9._-]`` starting with a letter or digit (so
never ``.``, ``..``, hidden, or a path), and the joined folder is checked
to sit directly inside the miners folder.
"""

from __future__ import annotations

import os
import re

from lethean.bundles._errors import InvalidBundleNameError

__all__ = ["MAX_BUNDLE_NAME_CHARS", "validate_bundle_name", "install_dir"]

MAX_BUNDLE_NAME_CHARS = 64

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,%d}\Z" % (MAX_BUNDLE_NAME_CHARS - 1))


def validate_bundle_name(name: object) -> str:
    """Return ``name`` if it is a safe folder name, else raise :class:`InvalidBundleNameError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidBundleNameError(
            "bundle name {!r} must be 1-{} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit".format(name, MAX_BUNDLE_NAME_CHARS))
    return name


def install_dir(miners_root: str, name: str) -> str:
    """
    The absolute folder a miner bundle called ``name`` installs into.

    ``<miners_root>/<name>`` after validating ``name``; the result is
    checked to be a direct child of the (resolved) miners folder.
    """
    validate_bundle_name(name)
    root = os.path.realpath(os.fspath(miners_root))
    dest = os.path.join(root, name)
    if os.path.dirname(dest) != root or os.path.basename(dest) != name:
        raise InvalidBundleNameError("bundle name {!r} escapes {}".format(name, root))
    return dest
