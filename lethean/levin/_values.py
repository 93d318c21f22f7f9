"""
Typed values of epee portable storage.

The wire format tags every value with its type, and the tag decides how a
daemon reads it (a ``uint32`` port is not an ``int64``).  So values are never
bare Python numbers: each is wrapped in the class of its tag, decoding gives
back exactly the classes that were encoded, and nothing is guessed.

A :class:`Section` is an immutable mapping of entry names to typed values.
Names are ``str``; bytes that are not UTF-8 are kept with the
``surrogateescape`` error handler, so every name on the wire round-trips.
"""

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, TypeAlias, Union

from attrs import Attribute, field, frozen

from ._errors import LevinMalformedError, NameTooLongError, ValueOutOfRangeError

__all__ = [
    "Int64",
    "Int32",
    "Int16",
    "Int8",
    "Uint64",
    "Uint32",
    "Uint16",
    "Uint8",
    "Double",
    "String",
    "Bool",
    "Section",
    "Array",
    "Value",
    "MAX_NAME_LENGTH",
    "encode_name",
    "decode_name",
]

#: Longest entry name, in bytes (the name length is one byte on the wire).
MAX_NAME_LENGTH = 255


def _integer(low: int, high: int) -> Callable[[object, "Attribute[int]", int], None]:
    def check(instance: object, attribute: "Attribute[int]", value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueOutOfRangeError("{} holds an integer in {}..{}, not {!r}".format(
                type(instance).__name__, low, high, value))
    return check


@frozen
class Int64:
    """A signed 64-bit integer (tag 1)."""

    TAG: ClassVar[int] = 1
    FORMAT: ClassVar[str] = "q"
    value: int = field(validator=_integer(-(1 << 63), (1 << 63) - 1))


@frozen
class Int32:
    """A signed 32-bit integer (tag 2)."""

    TAG: ClassVar[int] = 2
    FORMAT: ClassVar[str] = "i"
    value: int = field(validator=_integer(-(1 << 31), (1 << 31) - 1))


@frozen
class Int16:
    """A signed 16-bit integer (tag 3)."""

    TAG: ClassVar[int] = 3
    FORMAT: ClassVar[str] = "h"
    value: int = field(validator=_integer(-(1 << 15), (1 << 15) - 1))


@frozen
class Int8:
    """A signed 8-bit integer (tag 4)."""

    TAG: ClassVar[int] = 4
    FORMAT: ClassVar[str] = "b"
    value: int = field(validator=_integer(-(1 << 7), (1 << 7) - 1))


@frozen
class Uint64:
    """An unsigned 64-bit integer (tag 5)."""

    TAG: ClassVar[int] = 5
    FORMAT: ClassVar[str] = "Q"
    value: int = field(validator=_integer(0, (1 << 64) - 1))


@frozen
class Uint32:
    """An unsigned 32-bit integer (tag 6)."""

    TAG: ClassVar[int] = 6
    FORMAT: ClassVar[str] = "I"
    value: int = field(validator=_integer(0, (1 << 32) - 1))


@frozen
class Uint16:
    """An unsigned 16-bit integer (tag 7)."""

    TAG: ClassVar[int] = 7
    FORMAT: ClassVar[str] = "H"
    value: int = field(validator=_integer(0, (1 << 16) - 1))


@frozen
class Uint8:
    """An unsigned 8-bit integer (tag 8)."""

    TAG: ClassVar[int] = 8
    FORMAT: ClassVar[str] = "B"
    value: int = field(validator=_integer(0, (1 << 8) - 1))


def _double_bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _to_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueOutOfRangeError("Double holds a float, not {!r}".format(value))
    try:
        return float(value)
    except OverflowError:
        raise ValueOutOfRangeError("{!r} does not fit a double".format(value)) from None


@frozen
class Double:
    """
    An IEEE-754 binary64 (tag 9).

    Two doubles are equal when their bit patterns are, so NaN equals the
    same NaN and ``-0.0`` differs from ``0.0``: decoding then encoding gives
    the same bytes.
    """

    TAG: ClassVar[int] = 9
    FORMAT: ClassVar[str] = "d"
    value: float = field(converter=_to_float, eq=_double_bits)

    @classmethod
    def from_bits(cls, bits: int) -> "Double":
        """The double whose IEEE-754 bit pattern is the u64 ``bits``."""
        if not isinstance(bits, int) or not 0 <= bits < (1 << 64):
            raise ValueOutOfRangeError("double bits must be a u64, not {!r}".format(bits))
        return cls(struct.unpack("<d", struct.pack("<Q", bits))[0])

    @property
    def bits(self) -> int:
        """The IEEE-754 bit pattern as a u64."""
        return struct.unpack("<Q", _double_bits(self.value))[0]


def _to_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ValueOutOfRangeError("String holds bytes (or str, as UTF-8), not {!r}".format(value))


@frozen
class String:
    """
    A byte string (tag 10); binary-safe, so hashes and blobs are Strings.

    ``String("text")`` stores the UTF-8 bytes of the text.
    """

    TAG: ClassVar[int] = 10
    value: bytes = field(converter=_to_bytes)


def _boolean(instance: object, attribute: "Attribute[bool]", value: object) -> None:
    if not isinstance(value, bool):
        raise ValueOutOfRangeError("Bool holds True or False, not {!r}".format(value))


@frozen
class Bool:
    """A boolean (tag 11); written as one byte 0 or 1."""

    TAG: ClassVar[int] = 11
    FORMAT: ClassVar[str] = "?"
    value: bool = field(validator=_boolean)


#: The fixed-width values, which ``FORMAT`` packs (everything but String,
#: Section and Array).
Scalar: TypeAlias = Union[Int64, Int32, Int16, Int8, Uint64, Uint32, Uint16, Uint8, Double, Bool]
#: Any typed value an entry or an array element holds.
Value: TypeAlias = Union[Scalar, String, "Section", "Array"]

#: Scalar classes by tag (everything but String, Section and Array).
SCALARS: dict[int, type[Scalar]] = {cls.TAG: cls for cls in (
    Int64, Int32, Int16, Int8, Uint64, Uint32, Uint16, Uint8, Double, Bool)}
#: Every value class by tag (Section and Array added below).
TYPES: dict[int, type[Value]] = dict(SCALARS)
TYPES[String.TAG] = String


def name_bytes(name: str | bytes | bytearray) -> bytes:
    """The wire bytes of an entry name, length not checked (see :func:`encode_name`)."""
    if isinstance(name, (bytes, bytearray)):
        raw = bytes(name)
    elif isinstance(name, str):
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise LevinMalformedError("entry name {!r} cannot be encoded".format(name)) from None
    else:
        raise LevinMalformedError("an entry name is a str, not {!r}".format(name))
    return raw


def check_name_length(raw: bytes) -> None:
    """Raise :class:`NameTooLongError` for a name over 255 bytes (its length is one byte)."""
    if len(raw) > MAX_NAME_LENGTH:
        raise NameTooLongError("entry name of {} bytes (at most {})".format(
            len(raw), MAX_NAME_LENGTH))


def encode_name(name: str | bytes | bytearray) -> bytes:
    """
    The wire bytes of an entry name: 0 to 255 bytes.  An empty name is
    valid, as in the Go reference (epee would refuse it).
    """
    raw = name_bytes(name)
    check_name_length(raw)
    return raw


def decode_name(raw: bytes | bytearray | memoryview) -> str:
    """The ``str`` for an entry name's wire bytes (non-UTF-8 bytes kept)."""
    return bytes(raw).decode("utf-8", "surrogateescape")


def _check_value(name: str, value: object) -> "Value":
    if isinstance(value, Mapping) and not isinstance(value, Section):
        return Section(value)
    if type(value) not in TYPES.values() and not isinstance(value, (Section, Array)):
        raise ValueOutOfRangeError(
            "entry {!r} must hold a typed value (Uint32(...), String(...), ...), "
            "not {!r}".format(name, value))
    return value  # type: ignore[return-value]  # a typed value, checked above


# Entries read as Any: a reader checks each value's class (its wire tag)
# where it uses it, as the reply parsers do.
class Section(Mapping[str, Any]):
    """
    An object (tag 12): an immutable mapping of names to typed values.

    Build one from a dict or from ``(name, value)`` pairs; plain dicts
    inside become Sections, every other value must be typed.  Iteration
    keeps the order given (or read); encoding sorts names by their bytes.
    Equality ignores order, as the wire format does.
    """

    TAG = 12
    __slots__ = ("_entries", "_hash")

    def __init__(self, entries: Mapping[str, object] | Iterable[tuple[str, object]] = ()) -> None:
        checked = {}
        items = entries.items() if isinstance(entries, Mapping) else entries
        for name, value in items:
            # One spelling per wire name: "\udcc3\udca9" and "é" are both c3 a9.
            name = decode_name(encode_name(name))
            checked[name] = _check_value(name, value)
        object.__setattr__(self, "_entries", checked)
        object.__setattr__(self, "_hash", None)

    @classmethod
    def _trusted(cls, entries: dict[str, "Value"]) -> "Section":
        """A Section over a dict the decoder already checked (no copy)."""
        self = cls.__new__(cls)
        object.__setattr__(self, "_entries", entries)
        object.__setattr__(self, "_hash", None)
        return self

    _entries: dict[str, "Value"]
    _hash: int | None

    def __getitem__(self, name: str) -> Any:
        return self._entries[name]


    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Section):
            return self._entries == other._entries
        return super().__eq__(other)

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._entries.items())))
        return self._hash  # type: ignore[return-value]  # set just above

    def __repr__(self) -> str:
        return "Section({!r})".format(self._entries)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Section is immutable")

    def updated(self, entries: Mapping[str, object] | Iterable[tuple[str, object]] = (),
                **more: object) -> "Section":
        """A new Section with ``entries`` (and keyword entries) added or replaced."""
        merged = dict(self._entries)
        merged.update(Section(entries))
        merged.update(Section(more))
        return Section(merged)


TYPES[Section.TAG] = Section


def _element(element_type: "type[Value]", item: Any) -> "Value":
    if isinstance(item, element_type):
        return item
    if element_type is Section and isinstance(item, Mapping):
        return Section(item)
    if element_type is Array or element_type is Section:
        raise ValueOutOfRangeError("array of {} cannot hold {!r}".format(
            element_type.__name__, item))
    if isinstance(item, (Section, Array)) or type(item) in TYPES.values():
        raise ValueOutOfRangeError("array of {} cannot hold {!r}".format(
            element_type.__name__, item))
    return element_type(item)



def _element_type(instance
: object, attribute: "Attribute[type[Value]]",
                  value: "type[Value]") -> None:
    if value is not Array and value not in TYPES.values():
        raise ValueOutOfRangeError("unknown array element type {!r}".format(value))


@frozen
class Array:
    """
    A typed array (tag ``0x80 | element tag``).

    ``Array(Uint32, [7, 9])`` wraps plain items in ``element_type``; items
    already of that type are kept.  ``element_type`` is kept even for an
    empty array, because it is written on the wire.  An array of arrays
    (``Array(Array, [...])``, epee tag 13) holds arrays of any element types.
    """

    TAG: ClassVar[int] = 13
    element_type: "type[Value]" = field(validator=_element_type)
    items: "tuple[Any, ...]" = field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        items = tuple(_element(self.element_type, item) for item in self.items)
        object.__setattr__(self, "items", items)

    @property
    def tag(self) -> int:
        """The array's type byte as written on the wire."""
        return 0x80 | self.element_type.TAG


    def __len__(self) -> int:
        return len(self.items)

    # Items read as Any, like a Section's entries.
    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]



TYPES[Array.TAG] = Array
