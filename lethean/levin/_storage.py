"""
The epee portable-storage codec (binary key-value sections).

Layout: a 9-byte header (``01 11 01 01 01 01 02 01 01``), then the root
section: a varint entry count, then entries of ``u8 name length, name,
u8 type tag, value``.  See :mod:`lethean.levin._values` for the typed values.

The decoder never trusts a count: packed arrays are checked against the
bytes present before they are sliced, sections and arrays of strings or
objects are read element by element (each element takes at least one byte,
so a lying count ends in ``truncated`` after at most ``len(data)`` steps), and
the total number of items and the nesting depth are capped.

By default arrays are limited to what the Go reference reads (uint64,
uint32, string, object) so that we agree with it on every input; pass
``epee_arrays=True`` to read and write every epee array type as Monero does.
"""

import struct
from collections.abc import Callable, Mapping

from lethean._accel import shortcut, speedups
from lethean._types import Buffer

from ._errors import (
    BadSignatureError,
    BadVersionError,
    LevinLimitError,
    LevinTruncatedError,
    UnknownTypeError,
)
from ._values import (
    SCALARS,
    Array,
    Bool,
    Double,
    Section,
    String,
    Uint32,
    Uint64,
    Scalar,
    Value,
    check_name_length,
    decode_name,
    name_bytes,
)
from ._varint import decode_varint, encode_varint

__all__ = [
    "encode_storage",
    "decode_storage",
    "STORAGE_HEADER",
    "STORAGE_SIGNATURE_A",
    "STORAGE_SIGNATURE_B",
    "STORAGE_VERSION",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "REFERENCE_ARRAY_TYPES",
]

STORAGE_SIGNATURE_A = 0x01011101
STORAGE_SIGNATURE_B = 0x01020101
STORAGE_VERSION = 1
#: The 9 bytes every portable-storage blob starts with.
STORAGE_HEADER = struct.pack("<IIB", STORAGE_SIGNATURE_A, STORAGE_SIGNATURE_B, STORAGE_VERSION)

#: Deepest nesting of sections and arrays accepted (epee's recursion limit).
MAX_DEPTH = 100
#: Most entries plus array elements accepted in one blob.
MAX_ITEMS = 65536

#: Array element types the Go reference reads and writes.
REFERENCE_ARRAY_TYPES: frozenset[type[Value]] = frozenset({Uint64, Uint32, String, Section})

_ARRAY_FLAG = 0x80
_STRUCTS = {tag: struct.Struct("<" + cls.FORMAT) for tag, cls in SCALARS.items()}


def encode_storage(section: Section | Mapping[str, object], *, epee_arrays: bool = False,
                   max_depth: int = MAX_DEPTH) -> bytes:
    """
    The portable-storage bytes of ``section`` (a :class:`Section` or a dict
    of typed values), entries sorted by the bytes of their names.

    Arrays other than :data:`REFERENCE_ARRAY_TYPES` need ``epee_arrays=True``
    (Go peers cannot read them).  Raises :class:`UnknownTypeError`,
    :class:`NameTooLongError` or :class:`LevinLimitError` (too deep).
    """
    root = section if isinstance(section, Section) else Section(section)
    encoded = _encode_common(root, max_depth)
    if encoded is not None:
        return encoded
    out = bytearray(STORAGE_HEADER)
    try:
        _Writer(out, epee_arrays, max_depth).section(root, 1)
    except RecursionError:
        raise LevinLimitError("nesting too deep for this Python") from None
    return bytes(out)


class _Walker:
    """What the writer and the reader share: the array mode and the depth cap."""

    def __init__(self, epee_arrays: bool, max_depth: int) -> None:
        self.epee_arrays = epee_arrays
        self.max_depth = max_depth

    def deeper(self, depth: int) -> None:
        if depth > self.max_depth:
            raise LevinLimitError("nesting deeper than {} levels".format(self.max_depth))


class _Writer(_Walker):
    def __init__(self, out: bytearray, epee_arrays: bool, max_depth: int) -> None:
        super().__init__(epee_arrays, max_depth)
        self.out = out

    def section(self, section: Section, depth: int) -> None:
        self.deeper(depth)
        entries = sorted(((name_bytes(name), value) for name, value in section.items()),
                         key=lambda entry: entry[0])
        self.out += encode_varint(len(entries))
        # Go's order: each entry's name is checked when its turn comes, so
        # a bad value sorted before an over-long name is reported first.
        for raw, value in entries:
            check_name_length(raw)
            self.out.append(len(raw))
            self.out += raw
            if isinstance(value, Array):
                self.out.append(self.array_tag(value))
                self.array_body(value, depth + 1)
            else:
                self.out.append(value.TAG)
                self.value(value, depth)

    def value(self, value: Scalar | String | Section, depth: int) -> None:
        if isinstance(value, Section):
            self.section(value, depth + 1)
        elif isinstance(value, String):
            self.out += encode_varint(len(value.value))
            self.out += value.value
        else:
            self.out += _STRUCTS[value.TAG].pack(value.value)


    def array_tag(self, array: Array) -> int:
        if not self.epee_arrays and array.element_type not in REFERENCE_ARRAY_TYPES:
            raise UnknownTypeError(
                "array of {} is not readable by the Go reference "
                "(pass epee_arrays=True)".format(array.element_type.__name__))
        return array.tag

    def array_body(self, array: Array, depth: int) -> None:
        self.deeper(depth)
        self.out += encode_varint(len(array.items))
        if array.element_type is Array:
            for inner in array.items:
                self.out.append(self.array_tag(inner))
                self.array_body(inner, depth + 1)
        else:
            for item in array.items:
                self.value(item, depth)


def decode_storage(data: Buffer, *, epee_arrays: bool = False, max_depth: int = MAX_DEPTH,
                   max_items: int = MAX_ITEMS) -> Section:
    """
    Decode portable-storage bytes into a :class:`Section`.

    Accepts what the Go reference accepts (entries in any order, duplicate
    names with the last one winning, any non-zero bool byte as true,
    non-minimal varints, trailing bytes after the root section, empty
    names).  Raises only :class:`lethean.levin.LevinError` subclasses:
    ``truncated``, ``bad_signature``, ``bad_version``, ``unknown_type``
    and ``limit_exceeded``.
    """
    blob = bytes(data)
    if blob[:len(STORAGE_HEADER)] != STORAGE_HEADER:
        _check_header(blob)  # raises: the header is one fixed string
    section = _decode_common(blob, len(STORAGE_HEADER), max_depth, max_items)
    if section is not None:
        return section
    reader = _Reader(blob, len(STORAGE_HEADER), epee_arrays, max_depth, max_items)
    try:
        return reader.section(1)
    except RecursionError:
        # Only reachable with a max_depth far above the default.
        raise LevinLimitError("nesting too deep for this Python") from None


def _check_header(data: bytes) -> None:
    if len(data) < len(STORAGE_HEADER):
        raise LevinTruncatedError("truncated storage header: {} of {} bytes".format(
            len(data), len(STORAGE_HEADER)))
    signature_a, signature_b, version = struct.unpack_from("<IIB", data)
    if signature_a != STORAGE_SIGNATURE_A or signature_b != STORAGE_SIGNATURE_B:
        raise BadSignatureError("bad storage signature {}".format(data[:8].hex()))
    if version != STORAGE_VERSION:
        raise BadVersionError("unsupported storage version {}".format(version))


def _truncated(need: int, offset: int, size: int) -> LevinTruncatedError:
    return LevinTruncatedError("truncated storage data: need {} bytes at offset {}, "
                               "have {}".format(need, offset, size - offset))


# Values the reader makes from bytes are in range by construction, so it
# skips the classes' validators (the Section._trusted idea, for scalars).
_new = object.__new__
_set = object.__setattr__


class _Reader(_Walker):
    def __init__(self, data: bytes, offset: int, epee_arrays: bool, max_depth: int,
                 max_items: int) -> None:
        super().__init__(epee_arrays, max_depth)
        self.data = data
        self.offset = offset
        self.items_left = max_items
        self.max_items = max_items

    def count_items(self, n: int) -> None:
        self.items_left -= n
        if self.items_left < 0:
            raise LevinLimitError("more than {} entries and array elements".format(
                self.max_items))

    def take(self, n: int) -> bytes:
        end = self.offset + n
        if end > len(self.data):
            raise _truncated(n, self.offset, len(self.data))
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        value, consumed = decode_varint(self.data, self.offset)
        self.offset += consumed
        return value

    def section(self, depth: int) -> Section:
        self.deeper(depth)
        count = self.varint()
        data = self.data
        size = len(data)
        pos = self.offset
        names = _names
        entries: dict[str, Value] = {}
        # No allocation from ``count``: every entry consumes bytes, so a
        # count larger than the data fails as truncated when they run out.
        for _ in range(count):
            self.count_items(1)
            if pos >= size:
                raise _truncated(1, pos, size)
            start = pos + 1
            pos = start + data[pos]
            if pos >= size:
                raise _truncated(pos - start, start, size) if pos > size else _truncated(1, pos, size)
            raw = data[start:pos]
            name = names.get(raw)
            if name is None:
                name = _remember_name(raw)
            tag = data[pos]
            pos += 1
            scalar = _SCALAR_READERS.get(tag)
            if scalar is None:
                self.offset = pos
                entries[name] = self.entry_value(tag, depth)
                pos = self.offset
                continue
            unpack, width, cls = scalar
            if pos + width > size:
                raise _truncated(width, pos, size)
            value = _new(cls)
            _set(value, "value", unpack(data, pos)[0])
            entries[name] = value
            pos += width
        self.offset = pos
        return Section._trusted(entries)

    def entry_value(self, tag: int, depth: int) -> Value:
        if tag & _ARRAY_FLAG:
            return self.array(tag & ~_ARRAY_FLAG, depth + 1)
        if tag == Array.TAG and self.epee_arrays:
            # epee reads a bare "array" entry as a type byte plus an array.
            inner = self.byte()
            if not inner & _ARRAY_FLAG:
                raise UnknownTypeError("array entry with non-array type {:#04x}".format(inner))
            return self.array(inner & ~_ARRAY_FLAG, depth + 1)
        return self.scalar(tag, depth)

    def scalar(self, tag: int, depth: int) -> Value:
        if tag == String.TAG:
            value = _new(String)
            _set(value, "value", self.take(self.varint()))
            return value
        if tag == Section.TAG:
            return self.section(depth + 1)
        if tag == Bool.TAG:
            return Bool(self.byte() != 0)
        if tag in _STRUCTS:
            unpacker = _STRUCTS[tag]
            value = unpacker.unpack(self.take(unpacker.size))[0]
            if tag == Double.TAG:
                return Double(value)
            return SCALARS[tag](value)
        raise UnknownTypeError("unknown type tag {:#04x}".format(tag))

    def array(self, element_tag: int, depth: int) -> Array:
        element = _ARRAY_ELEMENT_TYPES.get(element_tag)
        if element is None or not (self.epee_arrays or element in REFERENCE_ARRAY_TYPES):
            raise UnknownTypeError("unknown type tag {:#04x} (array of {:#04x})".format(
                element_tag | _ARRAY_FLAG, element_tag))
        self.deeper(depth)
        count = self.varint()
        if element_tag in _STRUCTS:
            unpacker = _STRUCTS[element_tag]
            # Checked against the bytes present before anything is sliced.
            raw = self.take(_checked_size(count, unpacker.size, len(self.data) - self.offset))
            self.count_items(count)
            # (The ignores: attrs' mypy plugin leaves converter=tuple's type
            # variable unbound, so it accepts no typed list as items.)
            if element is Bool:
                return Array(Bool, [Bool(b != 0) for b in raw])  # type: ignore[misc]
            return Array(element, [element(v) for (v,) in  # type: ignore[misc]
                                   unpacker.iter_unpack(raw)])
        items: list[Value] = []
        for _ in range(count):
            self.count_items(1)
            if element is Array:
                inner = self.byte()
                if not inner & _ARRAY_FLAG:
                    raise UnknownTypeError("array element with non-array type {:#04x}".format(
                        inner))
                items.append(self.array(inner & ~_ARRAY_FLAG, depth + 1))
            else:
                items.append(self.scalar(element_tag, depth))
        return Array(element, items)  # type: ignore[arg-type]


# Entry names by their wire bytes: a peer sends the same few again and
# again.  Bounded (cleared when full) against a stream of fresh names.
_names: dict[bytes, str] = {}
_MAX_CACHED_NAMES = 1024


def _remember_name(raw: bytes) -> str:
    name = decode_name(raw)
    if len(_names) >= _MAX_CACHED_NAMES:
        _names.clear()
    _names[raw] = name
    return name


def _checked_size(count: int, size: int, remaining: int) -> int:
    if count > remaining // size:
        raise LevinTruncatedError("truncated storage data: array of {} x {} bytes, "
                                  "{} bytes left".format(count, size, remaining))
    return count * size


# Entry tag -> (unpack_from, width, class) for the fixed-width numbers,
# which the section loop reads inline (Bool is not one: any non-zero byte
# reads as True).
_SCALAR_READERS = {tag: (_STRUCTS[tag].unpack_from, _STRUCTS[tag].size, cls)
                   for tag, cls in SCALARS.items() if cls is not Bool}

_ARRAY_ELEMENT_TYPES: dict[int, type[Value]] = dict(SCALARS)
_ARRAY_ELEMENT_TYPES[String.TAG] = String
_ARRAY_ELEMENT_TYPES[Section.TAG] = Section
_ARRAY_ELEMENT_TYPES[Array.TAG] = Array


# The compiled codec does the common case (sections of numbers, strings and
# sections) and returns None for anything else, which the Python codec then
# encodes or decodes from the start: every error comes from the code above.
_decode_common: Callable[[bytes, int, int, int], Section | None] = shortcut("levin_decode")
_encode_common: Callable[[Section, int], bytes | None] = shortcut("levin_encode")
if speedups is not None:
    speedups.levin_register(Section, {**SCALARS, String.TAG: String})
