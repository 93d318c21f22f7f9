"""
JSON text exactly as Go's ``encoding/json`` writes it.

The Go reference signs nothing over JSON, but golden files, conformance
vectors and byte-for-byte interoperability tests compare the text, so the
details matter: compact separators, raw UTF-8, ``\\u2028``/``\\u2029``
always escaped, ``<``, ``>`` and ``&`` escaped when HTML escaping is on,
shortest round-trip floats in Go's notation, ``[]byte`` as padded base64
and map keys sorted (struct fields keep their declaration order, which in
Python is the ``dict`` insertion order).

Values understood by :func:`marshal`: ``dict`` (keys are strings),
``list``/``tuple``, ``str``, ``bool``, ``int``, ``float``, ``None``,
``bytes``-like (base64), :class:`RawJSON` (inserted compacted, like Go's
``json.RawMessage``), :class:`~lethean.smsg.Timestamp`, and any object
with a ``to_json_value()`` method returning one of those.  Floats read by
:func:`loads_strict` are :class:`ReadFloat` and are written back with the
text they were read from.
"""

import base64
import binascii
import codecs
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from lethean._accel import pick
from lethean._types import JSONValue

__all__ = [
    "RawJSON",
    "ReadFloat",
    "Pairs",
    "go_float",
    "go_string",
    "marshal",
    "utf8",
    "compact",
    "loads_strict",
    "fold_key",
    "top_level_pairs",
    "top_level_raw",
    "loads_pairs",
    "decode_base64",
]

_encode_basestring = json.encoder.encode_basestring  # C: no ASCII escaping


def _fffd(error: UnicodeEncodeError) -> tuple[bytes, int]:
    """Codec error handler: a lone surrogate becomes U+FFFD, as in Go."""
    return (b"\xef\xbf\xbd" * (error.end - error.start), error.end)


# Registered for encoding only, so the error is always a UnicodeEncodeError.
codecs.register_error("lethean.go-fffd", _fffd)  # type: ignore[arg-type]


def utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates become U+FFFD (Go's rune error)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "lethean.go-fffd")


def _html_escape(text: str) -> str:
    if "<" in text:
        text = text.replace("<", "\\u003c")
    if ">" in text:
        text = text.replace(">", "\\u003e")
    if "&" in text:
        text = text.replace("&", "\\u0026")
    return text


def _line_sep_escape(text: str) -> str:
    if "\u2028" in text:
        text = text.replace("\u2028", "\\u2028")
    if "\u2029" in text:
        text = text.replace("\u2029", "\\u2029")
    return text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def pure_go_string(value: str, html: bool = True) -> str:
    """
    A JSON string literal for ``value`` as Go writes it; lone surrogates
    (not valid UTF-8) become U+FFFD, as Go writes invalid text.
    """
    if type(value) is str and value.isascii():
        # No surrogates, no U+2028/U+2029: skip those scans.
        text = _encode_basestring(value)
    else:
        text = _line_sep_escape(_encode_basestring(_LONE_SURROGATE.sub("\ufffd", value)))
    return _html_escape(text) if html else text


#: :func:`pure_go_string`, compiled when the accelerator is built.
go_string = pick(pure_go_string, "go_string")


def go_float(value: float) -> str:
    """
    A float in Go's JSON notation: shortest round-trip digits, plain decimal
    for 1e-6 <= |x| < 1e21, otherwise ``1e-7`` / ``1e+21`` style.
    """
    if value != value or value in (_INF, -_INF):
        raise ValueError("NaN and infinities cannot be written as JSON")
    text = repr(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # repr() already uses the exponent form in this range ("1e-07");
        # Go drops the exponent's leading zero ("1e-7").
        mantissa, _, exponent = text.partition("e")
        return "{}e{}{}".format(mantissa, exponent[0], exponent[1:].lstrip("0"))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


_INF = float("inf")


@attrs.frozen
class RawJSON:
    """
    Pre-encoded JSON inserted as is (after compaction), like Go's
    ``json.RawMessage``; use it for values that must keep their exact text.
    """

    text: str = attrs.field()

    @text.validator
    def _check(self, attribute: "attrs.Attribute[str]", value: object) -> None:
        if not isinstance(value, str):
            raise TypeError("RawJSON text must be str")
        loads_strict(value, keep_overflow=True)  # ValueError when it is not JSON


_WHITESPACE_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.DOTALL)


def compact(text: str, html: bool = False) -> str:
    """
    ``text`` (valid JSON) with the whitespace between tokens removed, as Go
    writes a ``json.RawMessage``: escapes are kept as they are, U+2028 and
    U+2029 are escaped, and with ``html`` ``<``, ``>`` and ``&`` too.
    """
    text = _line_sep_escape(_WHITESPACE_OR_STRING.sub(
        lambda m: m.group(0) if m.group(0)[0] == '"' else "", text))
    return _html_escape(text) if html else text


def _reject_constant(name: str) -> float:
    raise ValueError("{} is not JSON".format(name))


class ReadFloat(float):
    """
    A float read from JSON that remembers its text, so that a received
    payload is written back exactly as it came (``4.0`` stays ``4.0``, as
    Go's ``json.RawMessage`` keeps it).  Arithmetic gives plain floats.
    """

    __slots__ = ("text",)

    text: str


def _go_float_literal(text: str) -> ReadFloat:
    value = ReadFloat(text)
    if value in (_INF, -_INF):
        raise ValueError("number {} overflows a float64".format(text[:40]))
    value.text = text
    return value


def _kept_float_literal(text: str) -> ReadFloat:
    # A number beyond float64 is still JSON: Go skips it in an unknown
    # field and keeps its text in a json.RawMessage.  It reads as +-inf
    # here and is written back as its text.
    value = ReadFloat(text)
    value.text = text
    return value


def _go_int_literal(text: str) -> int | ReadFloat:
    # "-0" is negative zero to Go's float64: keep it a float (and its text).
    return int(text) if text != "-0" else _go_float_literal(text)


_HOOKS: dict[str, Any] = dict(parse_constant=_reject_constant,
                              parse_float=_go_float_literal, parse_int=_go_int_literal)
_KEEP_OVERFLOW_HOOKS = dict(_HOOKS, parse_float=_kept_float_literal)
_DECODER = json.JSONDecoder(**_HOOKS)
_KEEP_OVERFLOW_DECODER = json.JSONDecoder(**_KEEP_OVERFLOW_HOOKS)


def loads_strict(text: str,
                 object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None, *,
                 keep_overflow: bool = False) -> JSONValue:
    """
    ``json.loads`` that rejects what Go rejects (``NaN``, ``Infinity``,
    floats beyond float64) and turns deep nesting into ``ValueError``
    rather than ``RecursionError``.

    ``keep_overflow=True`` reads a number beyond float64 as a
    :class:`ReadFloat` of value +-inf that keeps its text: for documents Go
    decodes into a struct, which skips such a number in an unknown field
    and keeps it in a ``json.RawMessage`` (a typed reader must still
    refuse it, as Go's decoder does).
    """
    hooks = _KEEP_OVERFLOW_HOOKS if keep_overflow else _HOOKS
    try:
        if object_pairs_hook is None:
            return (_KEEP_OVERFLOW_DECODER if keep_overflow else _DECODER).decode(text)
        return json.JSONDecoder(object_pairs_hook=object_pairs_hook, **hooks).decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def decode_base64(text: object) -> bytes:
    """
    The bytes of a JSON ``[]byte`` string, read as Go reads it: padded
    standard base64, CR and LF ignored anywhere, nothing else tolerated.
    ``ValueError`` otherwise, with Go's text (``illegal base64 data at
    input byte 4``).
    """
    if not isinstance(text, str):
        raise ValueError("base64 data must be a string")
    data = utf8(text)
    offset = _base64_error_offset(data)
    if offset is not None:
        raise ValueError("illegal base64 data at input byte {}".format(offset))
    # Checked: digits, CR/LF (which a2b_base64 skips) and proper padding.
    return binascii.a2b_base64(data)


_BASE64_OR_NEWLINE = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                      b"\r\n")
_NEWLINES = re.compile(rb"[\r\n]*")
#: ``_NEWLINES.match``, which always matches (maybe nothing).
_skip_newlines: Callable[[bytes, int], re.Match[bytes]]
_skip_newlines = _NEWLINES.match  # type: ignore[assignment]
_PAD = ord("=")


def _base64_error_offset(src: bytes) -> int | None:
    """
    Where Go's ``base64.StdEncoding.Decode`` stops on ``src`` (its
    ``CorruptInputError``), or None.  Go reads quanta of four digits,
    skipping CR and LF; up to the first other byte nothing can fail, so
    only that byte and the padding after it need a closer look.
    """
    end = len(src)
    others = src.translate(None, _BASE64_OR_NEWLINE)
    stop = src.find(others[:1]) if others else end
    # Digits already read in the quantum the scan stops in.
    j = (stop - src.count(b"\r", 0, stop) - src.count(b"\n", 0, stop)) % 4
    if not others:
        return None if j == 0 else end - j
    if src[stop] != _PAD or j < 2:
        return stop
    si = stop + 1
    if j == 2:  # "==" expected: the second "=" may follow newlines
        si = _skip_newlines(src, si).end()
        if si == end:
            return end
        if src[si] != _PAD:
            return si - 1
        si += 1
    si = _skip_newlines(src, si).end()
    return si if si < end else None


def fold_key(key: str) -> str:
    """
    A key folded the way Go matches JSON keys to struct fields: ASCII case
    plus the two non-ASCII letters that fold to ASCII (Kelvin sign, long s).
    """
    return key.lower().replace("\u212a", "k").replace("\u017f", "s")


class Pairs(list[tuple[str, Any]]):
    """
    A JSON object as its ``(key, value)`` pairs in document order, repeated
    keys kept: Go's decoder visits each of them.
    """


def loads_pairs(text: str) -> JSONValue:
    """:func:`loads_strict` with every object, at any depth, read as :class:`Pairs`."""
    return loads_strict(text, object_pairs_hook=Pairs, keep_overflow=True)


def top_level_pairs(text: str, *, keep_overflow: bool = False) -> list[tuple[str, JSONValue]]:
    """
    The ``(key, value)`` pairs of a JSON object in document order, duplicates
    included (Go assigns fields in that order, so the last one wins, and a
    ``null`` leaves the field as it was).  ``ValueError`` when ``text`` is not
    JSON or not an object.
    """
    holder: list[list[tuple[str, JSONValue]]] = []

    def hook(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
        holder.append(pairs)
        return dict(pairs)

    if type(loads_strict(text, object_pairs_hook=hook, keep_overflow=keep_overflow)) is not dict:
        raise ValueError("not a JSON object")
    return holder[-1]


_SPACE = re.compile(r"[ \t\n\r]*")
#: ``_SPACE.match``, which always matches (maybe nothing).
_skip_space: Callable[[str, int], re.Match[str]]
_skip_space = _SPACE.match  # type: ignore[assignment]
#: The C string scanner ``json`` uses (not in its type stubs).
_scanstring: Callable[[str, int], tuple[str, int]]
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]



def top_level_raw(text: str) -> list[tuple[str, str]]:
    """
    The ``(key, raw value text)`` pairs of a JSON object in document order,
    duplicates included: what Go's ``json.RawMessage`` fields keep.
    ``text`` must be a JSON object (``ValueError`` otherwise).
    """
    skip = _skip_space
    index = skip(text, 0).end()
    if text[index:index + 1] != "{":
        raise ValueError("not a JSON object")
    index = skip(text, index + 1).end()
    pairs: list[tuple[str, str]] = []
    if text[index:index + 1] == "}":
        return pairs
    while True:
        if text[index:index + 1] != '"':
            raise ValueError("expected a key at {}".format(index))
        key, index = _scanstring(text, index + 1)
        index = skip(text, index).end()
        if text[index:index + 1] != ":":
            raise ValueError("expected ':' at {}".format(index))
        start = skip(text, index + 1).end()
        try:
            _, index = _KEEP_OVERFLOW_DECODER.raw_decode(text, start)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        pairs.append((key, text[start:index]))
        index = skip(text, index).end()
        separator = text[index:index + 1]
        index = skip(text, index + 1).end()
        if separator == "}":
            return pairs
        if separator != ",":
            raise ValueError("expected ',' or '}}' at {}".format(index))


def marshal(value: JSONValue, *, html: bool = True, sort_keys: bool = False) -> str:
    """
    Compact JSON text of ``value`` as Go writes it.

    ``html`` is Go's ``SetEscapeHTML`` (on for ``json.Marshal``);
    ``sort_keys`` sorts every object's keys, as Go does for maps (struct
    fields keep their order, so leave it off for those).  Raises
    ``TypeError``/``ValueError`` for values Go could not encode either.
    """
    parts: list[str] = []
    _encode(value, parts.append, html, sort_keys)
    text = "".join(parts)
    return text


def _encode(value: JSONValue, out: Callable[[str], object], html: bool, sort_keys: bool) -> None:
    kind = type(value)
    if kind is str:
        out(go_string(value, html))
    elif kind is int:
        out(int.__repr__(value))
    elif kind is dict or kind is Pairs:
        # One loop for both (inline: a call per object costs the envelope
        # a few per cent); a Pairs keeps its order and repeated keys.
        if kind is dict:
            members = sorted(value.items()) if sort_keys else value.items()
        else:
            members = value
        if not members:
            out("{}")
            return
        sep = "{"
        for key, item in members:
            if type(key) is not str:
                raise TypeError("JSON object keys must be str, not {}".format(type(key).__name__))
            out(sep)
            out(go_string(key, html))
            out(":")
            _encode(item, out, html, sort_keys)
            sep = ","
        out("}")
    elif value is None:
        out("null")
    elif kind is bool:
        out("true" if value else "false")
    elif kind is float:
        out(go_float(value))
    elif kind is list or kind is tuple:
        if not value:
            out("[]")
            return
        sep = "["
        for item in value:
            out(sep)
            _encode(item, out, html, sort_keys)
            sep = ","
        out("]")
    elif kind is ReadFloat:
        out(value.text)
    elif kind is RawJSON:
        out(compact(value.text, html))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out('"' + base64.b64encode(value).decode("ascii") + '"')
    elif hasattr(value, "__go_json__"):
        out(value.__go_json__(html))
    elif hasattr(value, "to_json_value"):
        _encode(value.to_json_value(), out, html, sort_keys)
    elif isinstance(value, bool):
        out("true" if value else "false")
    elif isinstance(value, int):
        out(int.__repr__(int(value)))
    elif isinstance(value, float):
        out(go_float(float(value)))
    elif isinstance(value, str):
        out(go_string(str(value), html))
    elif isinstance(value, dict):
        _encode(dict(value), out, html, sort_keys)
    elif isinstance(value, (list, tuple)):
        _encode(list(value), out, html, sort_keys)
    else:
        raise TypeError("cannot encode {} as JSON".format(type(value).__name__))
