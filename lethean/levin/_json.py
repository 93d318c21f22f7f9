"""
Typed portable-storage values to and from JSON-able Python.

Two forms:

* :func:`to_json_value` is for people: numbers, booleans, lists and dicts,
  with strings as text or hex (see ``strings``).  It loses the type tags.
* :func:`to_typed_json` / :func:`from_typed_json` are lossless: every value
  is ``{"type", "tag", ...}`` exactly as in the conformance vectors, so a
  section can be written to JSON and read back bit for bit.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any

from ._errors import LevinMalformedError
from ._values import (
    SCALARS,
    Array,
    Bool,
    Double,
    Int8,
    Int16,
    Int32,
    Int64,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
)

__all__ = ["to_json_value", "to_typed_json", "from_typed_json", "TYPE_NAMES"]

#: The vectors' name of each value class.
TYPE_NAMES = {
    Int64: "int64", Int32: "int32", Int16: "int16", Int8: "int8",
    Uint64: "uint64", Uint32: "uint32", Uint16: "uint16", Uint8: "uint8",
    Double: "double", String: "string", Bool: "bool", Section: "object",
    Array: "array",
}
_CLASSES = {name: cls for cls, name in TYPE_NAMES.items()}
_STRING_MODES = ("auto", "hex", "utf8")


def to_json_value(value: object, *, strings: str = "auto") -> Any:
    """
    Plain JSON-able Python for a typed value or a :class:`Section`.

    Integers become ``int``, bools ``bool``, sections ``dict``, arrays
    ``list``; a finite double becomes ``float`` and NaN/infinity the strings
    ``"nan"``, ``"inf"``, ``"-inf"``.  Strings follow ``strings``:

    * ``"auto"`` (default): the text when the bytes are UTF-8 made of
      printable characters (plus tab and newline), otherwise lowercase hex;
      hashes and ids show as hex, versions and statuses as text.
    * ``"hex"``: always lowercase hex (unambiguous).
    * ``"utf8"``: always text, undecodable bytes replaced by U+FFFD.

    Entry names that are not UTF-8 show their odd bytes as ``\\xNN``, so the
    result always encodes as UTF-8 (use :func:`to_typed_json` to keep them).
    """
    if strings not in _STRING_MODES:
        raise ValueError("strings must be one of {}".format(", ".join(_STRING_MODES)))
    return _plain(value, strings)


def _plain(value: Any, strings: str) -> Any:
    if isinstance(value, Section):
        return {_display_name(name): _plain(item, strings) for name, item in value.items()}
    if isinstance(value, Array):
        return [_plain(item, strings) for item in value.items]
    if isinstance(value, String):
        return _string(value.value, strings)
    if isinstance(value, Double):
        if math.isfinite(value.value):
            return value.value
        return "nan" if math.isnan(value.value) else ("inf" if value.value > 0 else "-inf")
    return value.value


def _display_name(name: str) -> str:
    # Bytes of a name that are not UTF-8 show as \xNN, so the result can
    # always be written out as UTF-8.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _string(raw: bytes, strings: str) -> str:
    if strings == "hex":
        return raw.hex()
    if strings == "utf8":
        return raw.decode("utf-8", "replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    if all(_printable(c) for c in text):
        return text
    return raw.hex()


def _printable(character: str) -> bool:
    # Control, format, unassigned and separator characters (but the plain
    # space, tab and newline) suggest binary data rather than text.
    return character in " \t\n" or unicodedata.category(character)[0] not in "CZ"


def to_typed_json(section: Section) -> dict[str, Any]:
    """The lossless ``{name: {"type", "tag", ...}}`` form of a :class:`Section`."""
    return {name: _typed(value) for name, value in section.items()}


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, Array):
        return {"type": _array_type_name(value), "tag": value.tag,
                "value": [_typed_element(item) for item in value.items]}
    out = {"type": TYPE_NAMES[type(value)], "tag": value.TAG}
    out.update(_typed_body(value))
    return out


def _array_type_name(array: Array) -> str:
    return "array_" + TYPE_NAMES[array.element_type]


def _typed_body(value: Any) -> dict[str, Any]:
    if isinstance(value, Section):
        return {"value": to_typed_json(value)}
    if isinstance(value, String):
        body = {"hex": value.value.hex()}
        try:
            body["utf8"] = value.value.decode("utf-8")
        except UnicodeDecodeError:
            pass
        return body
    if isinstance(value, Double):
        double: dict[str, Any] = {"bits_hex": "{:016x}".format(value.bits)}
        if math.isfinite(value.value):
            double["value"] = value.value
        return double
    return {"value": value.value}


def _typed_element(item: Any) -> Any:
    if isinstance(item, Section):
        return to_typed_json(item)
    if isinstance(item, Array):
        return _typed(item)
    if isinstance(item, (String, Double)):
        return _typed_body(item)
    return item.value


def from_typed_json(document: Mapping[str, Any]) -> Section:
    """
    The :class:`Section` described by :func:`to_typed_json`'s form.

    Raises :class:`LevinMalformedError` for a description it cannot read.
    """
    try:
        return Section({name: _from_typed(value) for name, value in document.items()})
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LevinMalformedError("bad typed JSON: {}".format(e)) from None


def _from_typed(value: Any) -> Any:
    type_name = value["type"]
    if type_name.startswith("array_"):
        element = _CLASSES[type_name[len("array_"):]]
        return Array(element, [_from_element(element, item) for item in value["value"]])
    return _from_body(_CLASSES[type_name], value)


def _from_element(element: type, item: Any) -> Any:
    if element is Section:
        return from_typed_json(item)
    if element is Array:
        return _from_typed(item)
    if element in (String, Double):
        return _from_body(element, item)
    return element(item)


def _from_body(cls: Any, body: Any) -> Any:
    if cls is Section:
        return from_typed_json(body["value"])
    if cls is String:
        return String(bytes.fromhex(body["hex"]))
    if cls is Double:
        return Double.from_bits(int(body["bits_hex"], 16))
    if cls in SCALARS.values():
        return cls(body["value"])
    raise LevinMalformedError("bad typed JSON value {!r}".format(body))
