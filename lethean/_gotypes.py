"""
Go's types as ``encoding/json`` reads and writes them: what JSON value
each accepts, what ``null`` leaves, how a value is written, and the
:class:`Mismatch` a wrong value raises.

A :class:`Mismatch` is not yet an error a user sees: the struct decoder
(:mod:`lethean._gostruct`) adds the path it was found at and each wire
format words it as its own error.  :meth:`Mismatch.go_text` words it as
Go's ``UnmarshalTypeError`` (``json: cannot unmarshal number into Go
struct field GetLogsPayload.minerName of type string``), because the
reference sends those texts back to the controller: the root struct's
name, then the path as received (keys in the sender's spelling, array
indexes), ``Go struct field`` only when the path ends at a field, Go's
type names (``int``, ``[]uint8``, ``node.MinerStatsItem``) and the
literal of a number that does not fit.
"""

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from lethean._gojson import Pairs, RawJSON, ReadFloat, decode_base64, go_string, marshal
from lethean._gotime import ZERO_TIME, InvalidTimestampError, Timestamp
from lethean._types import JSONValue

__all__ = [
    "Mismatch",
    "Kind",
    "STRING",
    "BOOL",
    "INT",
    "INT64",
    "FLOAT64",
    "BYTES",
    "RAW",
    "ANY",
    "TIME",
    "SliceOf",
    "MapOf",
]

_INF = float("inf")


def _literal(number: int | float) -> str:
    if type(number) is ReadFloat:
        return number.text
    return repr(number) if isinstance(number, float) else int.__repr__(number)


def describe(value: JSONValue, literal: bool = False) -> str:
    """Go's ``UnmarshalTypeError.Value`` for a JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number " + _literal(value) if literal else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "object" if type(value) is Pairs else "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class Mismatch(Exception):
    """
    A JSON value its Go type does not take.  ``text``, when set, is the
    type's own complaint (a timestamp that does not parse) rather than a
    type mismatch.  ``path`` is filled in on the way out of the decoder.
    """

    def __init__(self, value: JSONValue, go_type: str, *, literal: bool = False,
                 detail: str | None = None, text: str | None = None) -> None:
        super().__init__(value, go_type)
        self.value = value
        self.go_type = go_type
        self.literal = literal
        self.detail = detail
        self.text = text
        #: The keys and indexes leading to the value, innermost first.
        self.steps: list[str | int] = []

    @property
    def path(self) -> tuple[str | int, ...]:
        """The keys (as received) and indexes from the root to the value."""
        return tuple(reversed(self.steps))

    def go_text(self, root: str) -> str:
        """The error as Go's ``encoding/json`` words it; ``root`` is the struct's name."""
        if self.text is not None:
            return self.text
        path = self.path
        if path:
            where = "{}{}.{}".format("Go struct field " if isinstance(path[-1], str) else "",
                                     root, ".".join(str(step) for step in path))
        else:
            where = "Go value"
        text = "json: cannot unmarshal {} into {} of type {}".format(
            describe(self.value, self.literal), where, self.go_type)
        if self.detail:
            text += ": " + self.detail
        return text


class Kind:
    """
    How one Go type reads and writes JSON.  ``zero`` is its zero value;
    ``reads_null`` says whether a JSON ``null`` is read (as in
    ``json.RawMessage`` and ``interface{}``) rather than leaving the field
    as it was.
    """

    go_type = ""
    zero: object = None
    reads_null = False
    #: For a type read from JSON strings only: ``(parse, errors)``, the
    #: function :meth:`read` calls on them and the exceptions it raises.
    parse_string: tuple[Callable[[str], Any], tuple[type[Exception], ...]] | None = None
    #: :meth:`write` as a Python expression of ``{}`` (the value), ``html``
    #: and ``_j`` (:mod:`lethean._gojson`), for the struct writers compiled
    #: for the hot path (:mod:`lethean._gocompile`), or None.
    inline: str | None = None

    def read(self, value: JSONValue) -> Any:
        """The Python value of the JSON ``value``; raises :class:`Mismatch`."""
        raise NotImplementedError

    def write(self, value: Any, html: bool) -> str:
        """The JSON text of ``value``."""
        return marshal(value, html=html)

    def to_value(self, value: Any) -> JSONValue:
        """``value`` as plain JSON data (what ``to_json_value`` holds)."""
        return value

    def mismatch(self, value: JSONValue, **kwargs: Any) -> Mismatch:
        return Mismatch(value, self.go_type, **kwargs)


class _String(Kind):
    go_type = "string"
    zero = ""
    inline = "_j.go_string({}, html)"

    def read(self, value: JSONValue) -> str:
        if type(value) is not str:
            raise Mismatch(value, "string")
        return value

    def write(self, value: str, html: bool) -> str:
        return go_string(value, html)


class _Bool(Kind):
    go_type = "bool"
    zero = False

    def read(self, value: JSONValue) -> bool:
        if type(value) is not bool:
            raise Mismatch(value, "bool")
        return value


class _Integer(Kind):
    """Go's integers: a number literal that parses as one in range, nothing else."""

    zero = 0
    inline = "(int.__repr__({0}) if type({0}) is int else _j.marshal({0}, html=html))"

    def __init__(self, go_type: str, low: int, high: int) -> None:
        self.go_type = go_type
        self._low = low
        self._high = high

    def read(self, value: JSONValue) -> int:
        if type(value) is int and self._low <= value <= self._high:
            return value
        if type(value) is ReadFloat and value.text == "-0" and self._low < 0:
            return 0  # ParseInt("-0") is 0; ParseUint refuses it
        number = type(value) is not bool and isinstance(value, (int, float))
        raise self.mismatch(value, literal=number)

    def write(self, value: int, html: bool) -> str:
        return int.__repr__(value) if type(value) is int else marshal(value, html=html)


class _Float(Kind):
    go_type = "float64"
    zero = 0.0

    def read(self, value: JSONValue) -> float:
        if type(value) is bool or not isinstance(value, (int, float)):
            raise self.mismatch(value)
        try:
            number = float(value)
        except OverflowError:
            number = _INF
        if number in (_INF, -_INF):
            raise self.mismatch(value, literal=True)
        return number


_UINT8 = _Integer("uint8", 0, 0xFF)


class _Bytes(Kind):
    """``[]byte``: padded base64 text, or (as Go allows) an array of bytes."""

    go_type = "[]uint8"
    zero = b""

    def read(self, value: JSONValue) -> bytes:
        if type(value) is str:
            try:
                return decode_base64(value)
            except ValueError as e:
                raise self.mismatch(value, detail=str(e)) from None
        if type(value) is list:
            data = bytearray()
            for index, item in enumerate(value):
                try:
                    data.append(0 if item is None else _UINT8.read(item))
                except Mismatch as e:
                    e.steps.append(index)
                    raise
            return bytes(data)
        raise self.mismatch(value)

    def write(self, value: bytes, html: bool) -> str:
        return '"' + self.to_value(value) + '"'

    def to_value(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")


class _Raw(Kind):
    """``json.RawMessage``: any value, kept as its JSON text (``null`` too)."""

    go_type = "json.RawMessage"
    reads_null = True

    def read(self, value: JSONValue) -> RawJSON:
        return RawJSON(marshal(value, html=False))


def _plain(value: JSONValue) -> JSONValue:
    """A JSON value with its :class:`Pairs` made dicts (the last duplicate wins, as in Go's maps)."""
    if type(value) is Pairs:
        return {key: _plain(item) for key, item in value}
    if type(value) is list:
        return [_plain(item) for item in value]
    return value


class _Any(Kind):
    """``interface{}``: the JSON value itself; ``null`` is None."""

    go_type = "interface {}"
    reads_null = True
    inline = "_j.marshal({}, html=html)"

    def read(self, value: JSONValue) -> JSONValue:
        if type(value) is Pairs or type(value) is list:
            return _plain(value)
        return value


class _Time(Kind):
    """``time.Time``: an RFC 3339 string, as :class:`~lethean.smsg.Timestamp`."""

    go_type = "time.Time"
    zero = ZERO_TIME
    parse_string = (Timestamp.parse, (InvalidTimestampError,))
    inline = "'\"' + str({}) + '\"'"

    def read(self, value: JSONValue) -> Timestamp:
        if type(value) is not str:
            raise self.mismatch(value)
        try:
            return Timestamp.parse(value)
        except InvalidTimestampError as e:
            raise Mismatch(value, self.go_type, text=str(e)) from None

    def write(self, value: Timestamp, html: bool) -> str:
        return '"' + str(value) + '"'

    def to_value(self, value: Timestamp) -> str:
        return str(value)


class SliceOf(Kind):
    """A Go slice of ``item`` (a tuple); ``null`` elements are the item's zero value."""

    def __init__(self, item: Kind) -> None:
        self._item = item
        self.go_type = "[]" + item.go_type

    def read(self, value: JSONValue) -> tuple[Any, ...]:
        if type(value) is not list:
            raise self.mismatch(value)
        item = self._item
        try:
            return tuple(item.zero if element is None else item.read(element)
                         for element in value)
        except Mismatch as e:
            # Found again to name the index: errors are rare, reads are not.
            for index, element in enumerate(value):
                if element is not None:
                    try:
                        item.read(element)
                    except Mismatch:
                        e.steps.append(index)
                        break
            raise

    def write(self, value: Sequence[Any] | None, html: bool) -> str:
        if value is None:
            return "null"
        item = self._item
        return "[" + ",".join([item.write(element, html) for element in value]) + "]"

    def to_value(self, value: Sequence[Any] | None) -> list[JSONValue] | None:
        if value is None:
            return None
        item = self._item
        return [item.to_value(element) for element in value]


class MapOf(Kind):
    """A Go ``map[string]item`` (a dict); ``null`` values are the item's zero value."""

    def __init__(self, item: Kind) -> None:
        self._item = item
        self.go_type = "map[string]" + item.go_type

    def read(self, value: JSONValue) -> dict[str, Any]:
        pairs: Iterable[tuple[str, JSONValue]]
        if type(value) is dict:
            pairs = value.items()
        elif type(value) is Pairs:
            pairs = value
        else:
            raise self.mismatch(value)
        item = self._item
        found: dict[str, Any] = {}
        for key, element in pairs:
            try:
                found[key] = item.zero if element is None else item.read(element)
            except Mismatch as e:
                e.steps.append(key)
                raise
        return found

    def write(self, value: Mapping[str, Any] | None, html: bool) -> str:
        if value is None:
            return "null"
        item = self._item
        return "{" + ",".join([go_string(key, html) + ":" + item.write(value[key], html)
                               for key in sorted(value)]) + "}"

    def to_value(self, value: Mapping[str, Any] | None) -> dict[str, JSONValue] | None:
        if value is None:
            return None
        item = self._item
        return {key: item.to_value(value[key]) for key in sorted(value)}


STRING = _String()
BOOL = _Bool()
#: Go's ``int`` (64 bits on the reference's platforms) and ``int64``.
INT = _Integer("int", -(1 << 63), (1 << 63) - 1)
INT64 = _Integer("int64", -(1 << 63), (1 << 63) - 1)
FLOAT64 = _Float()
BYTES = _Bytes()
RAW = _Raw()
ANY = _Any()
TIME = _Time()
