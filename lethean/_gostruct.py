"""
Reading parsed JSON into Go-shaped structs as Go's ``encoding/json`` does,
and failing with its exact texts.

The reference's worker sends a request's decoding error back to the
controller (``Worker.handleGetLogs: invalid get logs payload: json: cannot
unmarshal number into Go struct field GetLogsPayload.minerName of type
string``), so the texts are part of the wire.  They follow the reference's
Go: the root struct's name, then the path as received (keys in the
sender's spelling, array indexes), ``Go struct field`` only when the path
ends at a field, Go's type names (``int``, ``[]uint8``,
``node.MinerStatsItem``) and the literal of a number that does not fit.

A struct is a :class:`GoStruct` subclass listing its :class:`Field`
objects in Go declaration order: they drive both decoding
(``from_json_value``) and encoding (``to_json_value``, ``omitempty``
applied), so each wire struct is declared once.
"""

import attrs

from lethean._gojson import RawJSON, ReadFloat, decode_base64, fold_key, loads_strict, marshal
from lethean.errors import MalformedError

__all__ = [
    "InvalidPayloadError",
    "GoStruct",
    "Field",
    "STRING",
    "BOOL",
    "INT",
    "INT64",
    "FLOAT64",
    "BYTES",
    "RAW",
    "SliceOf",
    "StructOf",
]

_INF = float("inf")


class InvalidPayloadError(MalformedError):
    """The message payload does not have the expected JSON shape."""

    kind = "invalid_payload"


def _literal(number):
    if type(number) is ReadFloat:
        return number.text
    return repr(number) if isinstance(number, float) else int.__repr__(number)


def _describe(value, literal=False):
    """Go's ``UnmarshalTypeError.Value`` for a JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number " + _literal(value) if literal else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_error(value, go_type, root, path, detail=None):
    """An :class:`InvalidPayloadError` worded as Go's ``UnmarshalTypeError``."""
    if path:
        where = "{}{}.{}".format("Go struct field " if isinstance(path[-1], str) else "", root,
                                 ".".join(str(step) for step in path))
    else:
        where = "Go value"
    text = "json: cannot unmarshal {} into {} of type {}".format(value, where, go_type)
    if detail:
        text += ": " + detail
    return InvalidPayloadError(text)


class _Kind:
    """How one Go type reads a JSON value; ``zero`` is what ``null`` leaves."""

    go_type = ""
    zero: object = None

    def read(self, value, root, path):
        raise NotImplementedError

    def mismatch(self, value, root, path, literal=False, detail=None):
        return _type_error(_describe(value, literal), self.go_type, root, path, detail)


class _String(_Kind):
    go_type = "string"
    zero = ""

    def read(self, value, root, path):
        if type(value) is not str:
            raise self.mismatch(value, root, path)
        return value


class _Bool(_Kind):
    go_type = "bool"
    zero = False

    def read(self, value, root, path):
        if type(value) is not bool:
            raise self.mismatch(value, root, path)
        return value


class _Integer(_Kind):
    """Go's integers: a number literal that parses as one in range, nothing else."""

    zero = 0

    def __init__(self, go_type, low, high):
        self.go_type = go_type
        self._low = low
        self._high = high

    def read(self, value, root, path):
        if type(value) is int and self._low <= value <= self._high:
            return value
        if type(value) is ReadFloat and value.text == "-0" and self._low < 0:
            return 0  # ParseInt("-0") is 0; ParseUint refuses it
        number = type(value) is not bool and isinstance(value, (int, float))
        raise self.mismatch(value, root, path, literal=number)


class _Float(_Kind):
    go_type = "float64"
    zero = 0.0

    def read(self, value, root, path):
        if type(value) is bool or not isinstance(value, (int, float)):
            raise self.mismatch(value, root, path)
        try:
            number = float(value)
        except OverflowError:
            number = _INF
        if number in (_INF, -_INF):
            raise self.mismatch(value, root, path, literal=True)
        return number


_UINT8 = _Integer("uint8", 0, 0xFF)


class _Bytes(_Kind):
    """``[]byte``: padded base64 text, or (as Go allows) an array of bytes."""

    go_type = "[]uint8"
    zero = b""

    def read(self, value, root, path):
        if type(value) is str:
            try:
                return decode_base64(value)
            except ValueError as e:
                raise self.mismatch(value, root, path, detail=str(e)) from None
        if type(value) is list:
            return bytes(0 if item is None else _UINT8.read(item, root, path + (index,))
                         for index, item in enumerate(value))
        raise self.mismatch(value, root, path)


class _Raw(_Kind):
    """``json.RawMessage``: any value, kept as its JSON text."""

    go_type = "json.RawMessage"

    def read(self, value, root, path):
        return RawJSON(marshal(value, html=False))


class SliceOf(_Kind):
    """A Go slice of ``item``; ``null`` elements are the item's zero value."""

    def __init__(self, item):
        self._item = item
        self.go_type = "[]" + item.go_type

    def read(self, value, root, path):
        if type(value) is not list:
            raise self.mismatch(value, root, path)
        item = self._item
        return tuple(item.zero if element is None else item.read(element, root, path + (index,))
                     for index, element in enumerate(value))


class StructOf(_Kind):
    """A nested struct (a :class:`GoStruct` subclass)."""

    def __init__(self, cls):
        self._cls = cls
        self.go_type = cls.go_type()

    @property
    def zero(self):
        return self._cls()

    def read(self, value, root, path):
        return self._cls._read(value, root, path)


STRING = _String()
BOOL = _Bool()
#: Go's ``int`` (64 bits on the reference's platforms) and ``int64``.
INT = _Integer("int", -(1 << 63), (1 << 63) - 1)
INT64 = _Integer("int64", -(1 << 63), (1 << 63) - 1)
FLOAT64 = _Float()
BYTES = _Bytes()
RAW = _Raw()


@attrs.frozen
class Field:
    """One struct field: its JSON key, attribute, Go kind and tags."""

    key: str
    attribute: str
    kind: _Kind
    #: Go ``omitempty``: left out when empty (``""``, 0, false, nil).
    omitempty: bool = False
    #: A ``json.RawMessage``: a JSON ``null`` is kept as the text ``null``.
    keep_null: bool = False


class GoStruct:
    """
    ``to_json_value``/``from_json_value`` driven by the class's ``FIELDS``
    (in Go declaration order); the class name is the Go struct's name.
    """

    FIELDS: tuple["Field", ...] = ()
    #: The Go package the struct lives in (for Go's type names).
    GO_PACKAGE = "node"

    @classmethod
    def go_type(cls):
        """The Go type name, e.g. ``node.GetLogsPayload``."""
        return "{}.{}".format(cls.GO_PACKAGE, cls.__name__)

    def to_json_value(self):
        """The struct as a dict in Go field order, ``omitempty`` applied."""
        value = {}
        for field in self.FIELDS:
            item = getattr(self, field.attribute)
            if field.omitempty and (item is None or (not item and not isinstance(item, RawJSON))):
                continue
            value[field.key] = item
        return value

    @classmethod
    def from_json_value(cls, value):
        """
        Read a received value (parsed JSON, ``RawJSON`` or an instance) as
        Go's decoder does; raises :class:`InvalidPayloadError` with Go's text.
        """
        return cls._read(value, cls.__name__, ())

    @classmethod
    def _read(cls, value, root, path):
        if isinstance(value, cls):
            return value
        if type(value) is RawJSON:
            value = loads_strict(value.text, keep_overflow=True)
        if value is None:
            return cls()
        if type(value) is not dict:
            raise _type_error(_describe(value), cls.go_type(), root, path)
        by_key = cls._by_key()
        found = {}
        for key, item in value.items():
            field = by_key.get(fold_key(key))
            if field is None or (item is None and not field.keep_null):
                continue
            found[field.attribute] = field.kind.read(item, root, path + (key,))
        return cls(**found)

    @classmethod
    def _by_key(cls):
        table = cls.__dict__.get("_BY_KEY")
        if table is None:
            table = {fold_key(field.key): field for field in cls.FIELDS}
            cls._BY_KEY = table
        return table
