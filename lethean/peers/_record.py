"""
The peer record, its name rule, and peers.json as the reference reads and writes it.

Reading is forgiving the way a recovery tool is: every array element that
parses is kept, and the reasons for the rest are returned, so the registry
can start with what survived and move the damaged file aside instead of
overwriting it (the reference starts empty and overwrites it).
"""

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import attr
from attrs import Attribute, field, frozen

from lethean.peers._errors import InvalidPeerError, InvalidPeerNameError
from lethean._gojson import go_float, go_string
from lethean._names import MAX_NAME_CHARS, is_valid_name, sanitise_name
from lethean.smsg import InvalidTimestampError, Timestamp

#: Go's zero time, which the reference writes for "never".
ZERO_TIME_TEXT = "0001-01-01T00:00:00Z"
_ZERO = Timestamp.parse(ZERO_TIME_TEXT)

__all__ = [
    "Peer",
    "DEFAULT_SCORE",
    "MIN_SCORE",
    "MAX_SCORE",
    "MAX_NAME_BYTES",
    "validate_peer_name",
    "sanitise_peer_name",
    "as_finite_float",
    "encode_peers",
    "decode_peers",
    "decode_string_array",
]

#: Score of a new peer (also given to a peer added with score exactly 0).
DEFAULT_SCORE = 50.0
MIN_SCORE = 0.0
MAX_SCORE = 100.0
#: Longest peer name, in UTF-8 bytes.
MAX_NAME_BYTES = MAX_NAME_CHARS

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1

TOO_LONG = "peer name too long"
BAD_CHARACTERS = (
    "peer name contains invalid characters "
    "(use alphanumeric, hyphens, underscores, spaces)"
)


def validate_peer_name(name: str) -> None:
    """
    Raise InvalidPeerNameError unless ``name`` is a valid peer name.

    Exactly the reference rule: empty is valid; otherwise at most 64 bytes,
    ASCII letters, digits, ``-``, ``_`` and space, starting and ending with
    a letter or digit.
    """
    if not isinstance(name, str):
        raise InvalidPeerNameError(BAD_CHARACTERS)
    if name == "":
        return
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidPeerNameError(TOO_LONG)
    if not is_valid_name(name):
        raise InvalidPeerNameError(BAD_CHARACTERS)



def sanitise_peer_name(name: str) -> str:
    """
    The nearest valid peer name to ``name`` (possibly empty, which is valid).

    For names chosen by someone else, such as a connecting node's host name:
    the reference fails to register ``node.example.com`` at all, lethean
    registers it as ``node-example-com``.  Runs of other characters become
    one hyphen, the ends are trimmed to a letter or digit, and the result is
    cut to 64 characters.
    """
    return sanitise_name(name)


def _string(instance: object, attribute: "Attribute[str]", value: object) -> None:
    if not isinstance(value, str):
        raise InvalidPeerError("{} must be a string".format(attribute.name))


def as_finite_float(value: object) -> float:
    """``value`` as a finite float; InvalidPeerError for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidPeerError("expected a number, got {}".format(type(value).__name__))
    try:
        number = float(value)
    except OverflowError:
        raise InvalidPeerError("number out of float64 range") from None
    if not math.isfinite(number):
        raise InvalidPeerError("number is not finite")
    return number


def _hops(instance: object, attribute: "Attribute[int]", value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPeerError("hops must be an integer")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidPeerError("hops out of int64 range")


def _to_moment(value: Timestamp | datetime.datetime | None) -> Timestamp | None:
    """A Timestamp or None ("never"); aware datetimes are converted, Go's zero time is None."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.utcoffset() is None:
            raise InvalidPeerError("a naive datetime has no time zone; attach one")
        value = Timestamp.from_datetime(value)
    if not isinstance(value, Timestamp):
        raise InvalidPeerError("expected a Timestamp, an aware datetime or None")
    # Go's IsZero looks at the instant only, whatever the zone.
    return None if (value.seconds, value.nanos) == (_ZERO.seconds, _ZERO.nanos) else value


@frozen
class Peer:
    """
    One registered node, field for field the reference's ``Peer``.

    Immutable: the registry swaps whole records, so a record you hold never
    changes under you and a save can encode a snapshot in another thread.
    Times are :class:`lethean.smsg.Timestamp` values (nanoseconds and zone
    offset kept, so a Go-written file is written back unchanged; pass an
    aware ``datetime`` if you like, and use ``.to_datetime()`` to get one);
    ``None`` means "never" (Go's zero time).  Whether the peer is
    connected is runtime state kept by the registry, not part of the record.
    """

    id: str = field(validator=_string)
    name: str = field(default="", validator=_string)
    public_key: str = field(default="", validator=_string)
    address: str = field(default="", validator=_string)
    role: str = field(default="", validator=_string)
    added_at: Timestamp | None = field(default=None, converter=_to_moment)
    last_seen: Timestamp | None = field(default=None, converter=_to_moment)
    ping_ms: float = field(default=0.0, converter=as_finite_float)
    hops: int = field(default=0, validator=_hops)
    geo_km: float = field(default=0.0, converter=as_finite_float)
    score: float = field(default=DEFAULT_SCORE, converter=as_finite_float)

    def evolve(self, **changes: Any) -> "Peer":
        """A copy with ``changes`` applied (validated like a new record)."""
        return attr.evolve(self, **changes)


# JSON key, attribute, kind; in Go's struct order, which is the file's order.
_FIELDS = (
    ("id", "id", "str"),
    ("name", "name", "str"),
    ("publicKey", "public_key", "str"),
    ("address", "address", "str"),
    ("role", "role", "str"),
    ("addedAt", "added_at", "time"),
    ("lastSeen", "last_seen", "time"),
    ("pingMs", "ping_ms", "float"),
    ("hops", "hops", "int"),
    ("geoKm", "geo_km", "float"),
    ("score", "score", "float"),
)
_BY_KEY = {key: (name, kind) for key, name, kind in _FIELDS}
_BY_FOLDED_KEY = {key.lower(): (name, kind) for key, name, kind in _FIELDS}


def _fold(key: str) -> str:
    # Go matches keys case-insensitively with Unicode simple folding; of the
    # non-ASCII letters only the Kelvin sign and the long s fold onto ours.
    return key.lower().replace("\u017f", "s")


def _encode_value(kind: str, value: Any) -> str:
    if kind == "str":
        return go_string(value)
    if kind == "time":
        return go_string(ZERO_TIME_TEXT if value is None else str(value))
    if kind == "int":
        return str(value)
    return go_float(value)


def _encode_peer(peer: Peer) -> str:
    lines = [
        "    {}: {}".format(go_string(key), _encode_value(kind, getattr(peer, name)))
        for key, name, kind in _FIELDS
    ]
    return "  {\n" + ",\n".join(lines) + "\n  }"


def encode_peers(peers: Iterable[Peer]) -> bytes:
    """
    peers.json for ``peers`` exactly as Go writes it.

    Two-space indentation, HTML escaping, no trailing newline, and the
    literal ``null`` for an empty registry.
    """
    records = list(peers)
    if not records:
        return b"null"
    return ("[\n" + ",\n".join(_encode_peer(p) for p in records) + "\n]").encode("utf-8")


def _decode_value(kind: str, value: object) -> object:
    if kind == "str":
        if not isinstance(value, str):
            raise InvalidPeerError("expected a string")
        return value
    if kind == "time":
        if not isinstance(value, str):
            raise InvalidPeerError("expected a timestamp string")
        try:
            return _to_moment(Timestamp.parse(value))
        except InvalidTimestampError as e:
            raise InvalidPeerError(str(e)) from None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidPeerError("expected an integer")
        return value
    return as_finite_float(value)


def peer_from_json(pairs: object) -> Peer:
    """
    A Peer from one decoded JSON object (a list of key/value pairs), as Go reads it.

    Keys match exactly or else case-insensitively, unknown keys are ignored,
    ``null`` and missing keys leave Go's zero value, the last duplicate wins,
    a value of the wrong type rejects the element.
    """
    if not isinstance(pairs, _Pairs):
        raise InvalidPeerError("not a JSON object")
    values: dict[str, Any] = {name: default for name, default in _ZERO_VALUES.items()}
    for key, value in pairs:
        spec = _BY_KEY.get(key) or _BY_FOLDED_KEY.get(_fold(key))
        if spec is None or value is None:
            continue
        name, kind = spec
        try:
            values[name] = _decode_value(kind, value)
        except InvalidPeerError as e:
            raise InvalidPeerError("{}: {}".format(key, e)) from None
    return Peer(**values)


_ZERO_VALUES: dict[str, object] = {
    "id": "", "name": "", "public_key": "", "address": "", "role": "",
    "added_at": None, "last_seen": None,
    "ping_ms": 0.0, "hops": 0, "geo_km": 0.0, "score": 0.0,
}


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, in order, duplicates kept."""


def _reject_constant(name: str) -> float:
    raise ValueError("{} is not valid JSON".format(name))


_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_reject_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: ``_WHITESPACE.match``, which always matches (maybe nothing).
_skip_space: Callable[..., "re.Match[str]"]
_skip_space = _WHITESPACE.match  # type: ignore[assignment]


def _scan_array(data: bytes | str) -> tuple[list[Any], list[str]]:
    """
    The elements of the JSON array in ``data`` that parse, and what went wrong.

    Parsing goes element by element, so a file cut short by a torn write
    still yields every element before the cut.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    pos = _skip_space(text).end()
    if pos == len(text):
        return [], ["file is empty"]
    if text.startswith("null", pos) and _skip_space(text, pos + 4).end() == len(text):
        return [], []
    if text[pos] != "[":
        return [], ["not a JSON array"]
    items: list[Any] = []
    pos = _skip_space(text, pos + 1).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                value, pos = _DECODER.raw_decode(text, pos)
            except ValueError:
                return items, ["unreadable after element {} (character {})".format(len(items), pos)]
            except RecursionError:
                return items, ["element {} is nested too deeply".format(len(items))]
            items.append(value)
            pos = _skip_space(text, pos).end()
            if text.startswith(",", pos):
                pos = _skip_space(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                return items, ["array cut short after element {} (character {})".format(len(items), pos)]
    if _skip_space(text, pos).end() != len(text):
        return items, ["data after the array (character {})".format(pos)]
    return items, []


def decode_peers(data: bytes | str) -> tuple[list[Peer], list[str]]:
    """
    ``(peers, problems)`` from the bytes of a peers.json.

    ``problems`` is empty for a file Go would read in full; otherwise it says
    why elements were lost, and ``peers`` holds the elements that survived.
    Records are not validated beyond their JSON types (peers.md 2.1).
    """
    items, problems = _scan_array(data)
    peers = []
    for index, item in enumerate(items):
        try:
            peers.append(peer_from_json(item))
        except InvalidPeerError as e:
            problems.append("element {}: {}".format(index, e))
    return peers, problems


def decode_string_array(data: bytes | str) -> tuple[list[str], list[str]]:
    """``(strings, problems)`` from a JSON array of strings such as the allowlist."""
    items, problems = _scan_array(data)
    strings: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            strings.append(item)
        elif item is not None:  # Go reads null as ""
            problems.append("element {}: not a string".format(index))
    return strings, problems
