"""
Reading a stand-alone bundle from a stream, its base64 decoded as it comes.

A bundle file is JSON whose ``data`` string is the base64 of the STIM
container, a third larger than the data.  Parsed whole, as
:meth:`Bundle.from_json` does, the file, its text, the string and the
decoded bytes are all held at once: six times the data.  :func:`read_bundle`
scans the stream instead.  The top-level ``data`` string, when it is plain
base64 (what every writer writes), is decoded a piece at a time and stands
in the JSON as a placeholder; the rest -- a few hundred bytes -- is parsed
by the same code as :meth:`Bundle.from_json`, so the result and every error
are the same.  A ``data`` string with escapes, line breaks or anything else
unusual is kept as text and decoded the slow way, exactly as before.
"""

import binascii
import io
import json
import os
import re
from collections.abc import Callable
from typing import IO, Any

from lethean.bundles._bundle import (
    MAX_BUNDLE_DATA_BYTES,
    bundle_from_mapping,
    check_decoded_size,
    check_encoded_size,
    decode_data,
    Bundle,
    max_json_bytes,
)
from lethean.bundles._errors import BundleTooLargeError, InvalidBundleError

__all__ = ["read_bundle"]

#: Bytes asked of the stream at once.
READ_BYTES = 1024 * 1024
#: JSON outside the streamed strings that is scanned token by token; a
#: bundle has a few hundred bytes of it.  Past this the rest is only kept
#: and left to the parser (in C): odd input never costs a Python loop per
#: byte.
SCAN_LIMIT_BYTES = 64 * 1024

_STRUCTURE = re.compile(rb'[{}\[\]:,"]')
_STRING_STOP = re.compile(rb'["\\]')
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]*")
#: ``_BASE64_RUN.match``, which always matches (maybe nothing).
_skip_base64: Callable[[bytes, int], "re.Match[bytes]"]
_skip_base64 = _BASE64_RUN.match  # type: ignore[assignment]
_JSON_SPACE = b" \t\r\n"


def read_bundle(fileobj: IO[bytes], *, max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> Bundle:
    """
    Read one stand-alone bundle from a binary file object.

    Reads at most the JSON size the data cap allows (plus one byte to
    notice an oversized stream), so a hostile stream cannot exhaust
    memory; the data is decoded as it arrives, so a bundle costs about its
    data's size, not six times that.  Same result and same errors as
    :meth:`Bundle.from_json` on the whole stream.
    """
    limit = max_json_bytes(max_data_bytes)
    scanner = _Scanner(max_data_bytes)
    size = 0
    while size <= limit:
        chunk = fileobj.read(min(READ_BYTES, limit + 1 - size))
        if not chunk:
            break
        if not isinstance(chunk, bytes):
            raise InvalidBundleError("bundles are read from binary streams")
        size += len(chunk)
        if size <= limit:
            scanner.feed(chunk)
    if size > limit:
        raise BundleTooLargeError("bundle stream is over {} bytes".format(limit))
    return scanner.bundle()


class _StreamedData:
    """One top-level ``data`` string decoded on the fly: plain base64 only."""

    def __init__(self) -> None:
        self.decoded = io.BytesIO()
        self.characters = 0
        self.tail = b""  # the last 0-3 characters of an unfinished quad
        self.padding = 0

    def take(self, run: bytes) -> None:
        """Decode a run of base64 alphabet characters (no padding)."""
        self.characters += len(run)
        quads = self.tail + run
        whole = len(quads) // 4 * 4
        if whole:
            self.decoded.write(binascii.a2b_base64(quads[:whole], strict_mode=True))
        self.tail = quads[whole:]

    def text(self) -> bytes:
        """The string as it was in the stream (for the slow path)."""
        return (binascii.b2a_base64(self.decoded.getbuffer(), newline=False)
                + self.tail + b"=" * self.padding)

    def value(self, max_data_bytes: int) -> bytes:
        """The bytes, with :func:`decode_data`'s checks and errors in its order."""
        check_encoded_size(self.characters, max_data_bytes)
        try:
            last = binascii.a2b_base64(self.tail + b"=" * self.padding, strict_mode=True)
        except binascii.Error:
            # Refused: let the reference path say why, in its own words.
            return decode_data(self.text().decode("ascii"), max_data_bytes)
        self.decoded.write(last)
        check_decoded_size(self.decoded.tell(), max_data_bytes)
        return self.decoded.getvalue()  # no copy (CPython)


class _Scanner:
    """
    Splits a bundle's JSON into the streamed ``data`` strings and the rest
    (the skeleton, parsed at the end with placeholders for those strings).

    It follows only what it needs: string boundaries, nesting depth, and at
    depth 1 of a top-level object whether a key or a value comes next and
    the last key.  On malformed JSON it may stream nothing, or something
    the parser then refuses anyway; the parser has the last word.
    """

    def __init__(self, max_data_bytes: int) -> None:
        self.max_data_bytes = max_data_bytes
        self.skeleton = bytearray()
        self.mode: Callable[[bytes, int], int] = self._outside
        self.depth = 0
        self.top: bytes | None = None
        self.expect: str | None = None
        self.key: Any = None
        self.key_text: bytearray | None = None
        self.escaped = False
        self.streamed: dict[str, _StreamedData] = {}  # placeholder -> _StreamedData
        # (placeholder, length of the original string)
        self.placeholders: list[tuple[str, int]] = []
        #: The ``data`` string being streamed: set while the mode is ``_data``.
        self.current: _StreamedData | None = None
        self.token = os.urandom(8).hex()

    def feed(self, chunk: bytes) -> None:
        position = 0
        while position < len(chunk):
            if len(self.skeleton) > SCAN_LIMIT_BYTES and self.mode != self._data:
                self.mode = self._kept
            position = self.mode(chunk, position)

    def _kept(self, chunk: bytes, position: int) -> int:
        """Past the scan limit: keep the text as it is, stream nothing more."""
        self.skeleton += chunk[position:]
        return len(chunk)

    # -- modes: each consumes from ``position`` and returns where it stopped

    def _outside(self, chunk: bytes, position: int) -> int:
        match = _STRUCTURE.search(chunk, position)
        end = match.start() if match else len(chunk)
        if end > position:
            if chunk[position:end].strip(_JSON_SPACE) and self.depth == 1:
                self.expect = None  # a number or literal value
            self.skeleton += chunk[position:end]
        if match is None:
            return end
        char = chunk[end:end + 1]
        if char == b'"':
            self._string_starts()
            return end + 1
        self.skeleton += char
        if char in b"{[":
            self.depth += 1
            if self.depth == 1 and self.top is None:
                self.top = char
            self.expect = "key" if self.depth == 1 and char == b"{" else None
        elif char in b"}]":
            self.depth -= 1
            self.expect = None
        elif self.depth == 1 and char == b":":
            self.expect = "value"
        elif self.depth == 1 and char == b",":
            self.expect = "key"
        return end + 1

    def _string_starts(self) -> None:
        at_top = self.depth == 1 and self.top == b"{"
        if at_top and self.expect == "key":
            self.key_text = bytearray(b'"')
        elif at_top and self.expect == "value" and self.key == "data":
            self.current = _StreamedData()
            self.mode = self._data
            return
        self.skeleton += b'"'
        self.mode = self._string

    def _string(self, chunk: bytes, position: int) -> int:
        """Inside a string kept as text (and a key, remembered)."""
        start = position
        if self.escaped:
            position += 1
            self.escaped = False
        while True:
            match = _STRING_STOP.search(chunk, position)
            if match is None:
                self._keep(chunk[start:])
                return len(chunk)
            position = match.end()
            if match.group() == b"\\":
                if position == len(chunk):
                    self.escaped = True
                    self._keep(chunk[start:])
                    return position
                position += 1
                continue
            self._keep(chunk[start:position])
            self._string_ends()
            return position

    def _keep(self, text: bytes) -> None:
        self.skeleton += text
        if self.key_text is not None:
            self.key_text += text

    def _string_ends(self) -> None:
        self.mode = self._outside
        if self.key_text is not None:
            try:
                self.key = json.loads(self.key_text.decode("utf-8", "replace"))
            except ValueError:
                self.key = None
            self.key_text = None
            if self.key == "data":
                # A later "data" wins: earlier decoded strings are of no use.
                for streamed in self.streamed.values():
                    streamed.decoded = io.BytesIO()
        elif self.depth == 1:
            self.expect = None

    def _data(self, chunk: bytes, position: int) -> int:
        """Inside the top-level ``data`` string, while it is plain base64."""
        data: _StreamedData = self.current  # type: ignore[assignment]  # set in this mode
        if not data.padding:
            end = _skip_base64(chunk, position).end()
            if end > position:
                data.take(chunk[position:end])
                position = end
            if position == len(chunk):
                return position
        char = chunk[position:position + 1]
        if char == b'"':
            self._data_ends()
            return position + 1
        if char == b"=" and data.padding < 2:
            data.padding += 1
            data.characters += 1
            return position + 1
        # Not plain base64 after all: keep the string as text from here on.
        self.skeleton += b'"' + data.text()
        self.current = None
        self.mode = self._string
        return position

    def _data_ends(self) -> None:
        data: _StreamedData = self.current  # type: ignore[assignment]  # set in _data mode
        placeholder = "\\u0000{}-{}".format(self.token, len(self.placeholders))
        self.skeleton += b'"' + placeholder.encode("ascii") + b'"'
        self.streamed[json.loads('"' + placeholder + '"')] = data
        self.placeholders.append((placeholder, data.characters + 2))
        self.current = None
        self.mode = self._outside
        self.expect = None

    # -- the end ----------------------------------------------------------

    def bundle(self) -> Bundle:
        """The bundle, or the error :meth:`Bundle.from_json` would raise."""
        if self.mode == self._data:
            # Unterminated: hand the text over, the parser says what is wrong.
            self.skeleton += b'"' + self.current.text()  # type: ignore[union-attr]
            self.current = None
        # Go's decoder puts U+FFFD in place of invalid UTF-8.
        text = self.skeleton.decode("utf-8", "replace")
        self.skeleton = None  # type: ignore[assignment]  # read: free it
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidBundleError("bundle is not valid JSON: {}".format(
                self._as_in_stream(e, text))) from None
        except (ValueError, RecursionError) as e:
            raise InvalidBundleError("bundle is not valid JSON: {}".format(e)) from None

        def decode(value: Any) -> bytes:
            streamed = self.streamed.get(value) if type(value) is str else None
            if streamed is not None:
                return streamed.value(self.max_data_bytes)
            return decode_data(value, self.max_data_bytes)
        return bundle_from_mapping(obj, decode)

    def _as_in_stream(self, error: json.JSONDecodeError, text: str) -> str:
        """The parser's message with positions as in the stream, not the skeleton."""
        position, column = error.pos, error.colno
        for placeholder, length in self.placeholders:
            start = text.find('"' + placeholder + '"')
            if 0 <= start < error.pos:
                shift = length - (len(placeholder) + 2)
                position += shift
                if "\n" not in text[start:error.pos]:
                    column += shift
        return "%s: line %d column %d (char %d)" % (error.msg, error.lineno, column, position)
