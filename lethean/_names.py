"""
The peer name rule (peers.md 5), shared by the peer registry and the node
identity: a node's own name must be one its peers will register.

Matched whole and ASCII-only, as Go's regexp does, so ``"abc\\n"`` and
non-ASCII digits are refused there and here alike.
"""

import re

__all__ = ["MAX_NAME_CHARS", "is_valid_name", "sanitise_name"]

#: Longest name; names are ASCII, so characters and UTF-8 bytes agree.
MAX_NAME_CHARS = 64

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_ ]{0,62}[a-zA-Z0-9]|[a-zA-Z0-9]", re.ASCII)
_INVALID_RUN = re.compile(r"[^a-zA-Z0-9\-_ ]+", re.ASCII)
_EDGE = re.compile(r"^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$", re.ASCII)


def is_valid_name(name: str) -> bool:
    """Whether the non-empty string ``name`` follows the rule."""
    return _NAME.fullmatch(name) is not None


def sanitise_name(name: str) -> str:
    """
    The nearest valid name to ``name`` (empty if nothing is left): runs of
    other characters become one hyphen, the ends are trimmed to a letter or
    digit, and the result is cut to 64 characters.
    """
    name = _EDGE.sub("", _INVALID_RUN.sub("-", name))
    return _EDGE.sub("", name[:MAX_NAME_CHARS])
