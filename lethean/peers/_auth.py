"""
Who may connect: the auth mode, the allowlist sidecar and the auth-mode sidecar.

The allowlist file is the reference's (``peers.json.allowlist.json``, a
sorted JSON array of base64 keys).  The reference forgets the auth mode on
every restart, so a node an operator locked down comes back open; lethean
keeps it in a third file, ``peers.json.auth.json``, which a Go node never
opens, so both can share one directory.
"""

from __future__ import annotations

from collections.abc import Iterable

import enum
import json

from lethean._gojson import go_string

__all__ = [
    "AuthMode",
    "ALLOWLIST_SUFFIX",
    "AUTH_MODE_SUFFIX",
    "encode_allowlist",
    "encode_auth_mode",
    "decode_auth_mode",
]

#: Appended to the peers.json path to name the allowlist (as the reference).
ALLOWLIST_SUFFIX = ".allowlist.json"
#: Appended to the peers.json path to name lethean's auth-mode file.
AUTH_MODE_SUFFIX = ".auth.json"


class AuthMode(enum.IntEnum):
    """Which inbound peers a node accepts; the values are the reference's."""

    #: Everyone (the reference's default).
    OPEN = 0
    #: Registered peers and allowlisted keys only.
    ALLOWLIST = 1

    def __str__(self) -> str:
        return _MODE_NAMES[self]


_MODE_NAMES = {AuthMode.OPEN: "open", AuthMode.ALLOWLIST: "allowlist"}
_MODES_BY_NAME = {name: mode for mode, name in _MODE_NAMES.items()}


def encode_allowlist(keys: Iterable[str]) -> bytes:
    """The allowlist file: keys sorted, two-space indent, no newline, ``[]`` when empty."""
    ordered = sorted(keys)
    if not ordered:
        return b"[]"
    return ("[\n" + ",\n".join("  " + go_string(k) for k in ordered) + "\n]").encode("utf-8")


def encode_auth_mode(mode: int) -> bytes:
    """The auth-mode file, e.g. ``{"mode": "allowlist"}`` indented like the others."""
    return ('{\n  "mode": ' + go_string(_MODE_NAMES[AuthMode(mode)]) + "\n}").encode("utf-8")


def decode_auth_mode(data: bytes) -> AuthMode:
    """The AuthMode in an auth-mode file; ValueError if it does not name one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(document, dict) or document.get("mode") not in _MODES_BY_NAME:
        raise ValueError('expected {"mode": "open"} or {"mode": "allowlist"}')
    return _MODES_BY_NAME[document["mode"]]
