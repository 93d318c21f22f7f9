"""
The bundle object and its JSON form.

A bundle is ``{"type","name","data","checksum"}``: ``data`` travels as
base64 and ``checksum`` is the lowercase hex SHA-256 of the decoded bytes.
The stand-alone form (the reference's ``StreamBundle``) is that object in
exactly that key order, with Go's HTML-safe string escaping, then one
``\\n``; :meth:`Bundle.to_json` reproduces it byte for byte.
"""

import base64
import binascii
import builtins
import hashlib
import io
import json
import re
from collections.abc import Callable
from typing import IO, Any, TypeVar

from attrs import Attribute, field, frozen, validators

from lethean.bundles._errors import (
    BundleTooLargeError,
    ChecksumMismatchError,
    InvalidBundleError,
    UnknownBundleTypeError,
)
from lethean._types import Buffer, JSONValue

__all__ = [
    "BUNDLE_PROFILE",
    "BUNDLE_MINER",
    "BUNDLE_FULL",
    "BUNDLE_TYPES",
    "MAX_BUNDLE_DATA_BYTES",
    "Bundle",
    "checksum_of",
    "is_plain_json",
    "reads_as_plain_json",
    "write_bundle",
]

BUNDLE_PROFILE = "profile"
BUNDLE_MINER = "miner"
#: Handled exactly like ``miner`` on receipt; the reference has no creator.
BUNDLE_FULL = "full"
BUNDLE_TYPES = frozenset([BUNDLE_PROFILE, BUNDLE_MINER, BUNDLE_FULL])

#: Default cap on a bundle's decoded ``data``.  The mesh's 1 MiB frame
#: limit already stops bundles above ~767 KiB on the wire; files handed to
#: the CLI may be larger, but never unbounded.
MAX_BUNDLE_DATA_BYTES = 128 * 1024 * 1024

#: Room for the JSON punctuation, type, checksum and a long name.
_JSON_OVERHEAD_BYTES = 64 * 1024

# Go's strings.TrimSpace: ASCII white space plus the Unicode White_Space
# characters, as UTF-8.  One regex so a megabyte of padding costs nothing.
_GO_LEADING_SPACE = re.compile(
    rb"(?:[\t\n\v\f\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    rb"|\xe2\x81\x9f|\xe3\x80\x80)*"
)
#: ``_GO_LEADING_SPACE.match``, which always matches (maybe nothing).
_skip_space: Callable[[bytes], "re.Match[bytes]"]
_skip_space = _GO_LEADING_SPACE.match  # type: ignore[assignment]

_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


_B = TypeVar("_B", bound="Bundle")


def checksum_of(data: Buffer) -> str:
    """The bundle checksum of ``data``: lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def is_plain_json(data: bytes) -> bool:
    """
    Whether ``data`` is an unencrypted profile, by the reference's test.

    The reference trims white space and looks for ``{`` or ``[``; a STIM
    container always starts with ``STIM``, so the two never overlap.
    """
    start = _skip_space(data).end()
    return data[start:start + 1] in (b"{", b"[")


#: Longest white space character in UTF-8 that :data:`_GO_LEADING_SPACE` skips.
_LONGEST_SPACE_BYTES = 3
_PIECE_BYTES = 64 * 1024


def reads_as_plain_json(read: Callable[[int], bytes], length: int) -> bool:
    """
    :func:`is_plain_json` of the ``length`` bytes ``read(n)`` gives, read
    only as far as the first character that is not white space.
    """
    pending = b""
    while True:
        piece = read(min(length, _PIECE_BYTES)) if length else b""
        length -= len(piece)
        ended = not piece or not length
        pending += piece
        start = _skip_space(pending).end()
        # A multi-byte character may still be arriving: decide on an ASCII
        # byte, on enough bytes for the longest space, or at the end.
        if start < len(pending) and (pending[start] < 0x80 or ended
                                     or len(pending) - start >= _LONGEST_SPACE_BYTES):
            return pending[start:start + 1] in (b"{", b"[")
        if ended:
            return False
        pending = pending[start:]


def _go_json_string(text: str) -> str:
    """``text`` as Go's encoding/json writes it with HTML escaping on."""
    # Go strings hold UTF-8; a lone surrogate has no UTF-8 form and Go
    # would write U+FFFD in its place.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _HTML_ESCAPES:
        out = out.replace(raw, escaped)
    return out


def max_json_bytes(max_data_bytes: int) -> int:
    """The longest stand-alone form a bundle of at most ``max_data_bytes`` may have."""
    return 4 * -(-max_data_bytes // 3) + _JSON_OVERHEAD_BYTES


@frozen
class Bundle:
    """
    A deployment bundle: a profile, or a miner (``full`` is a miner too).

    ``data`` holds STIM bytes, or for an unencrypted profile the profile
    JSON itself.  Construction does not verify ``checksum``: bundles come
    off the wire with whatever checksum the sender wrote, so callers run
    :meth:`verify` (every extraction does) before trusting ``data``.
    """

    type: str = field(validator=validators.instance_of(str))
    name: str = field(validator=validators.instance_of(str))
    data: bytes = field(repr=False, validator=validators.instance_of(bytes))
    checksum: str = field(validator=validators.instance_of(str))

    @type.validator
    def _check_type(self, attribute: "Attribute[str]", value: str) -> None:
        if value not in BUNDLE_TYPES:
            raise UnknownBundleTypeError("unknown bundle type: {!r}".format(value))

    @classmethod
    # ``builtins.type``: in this class, ``type`` is the bundle's field.
    def seal(cls: builtins.type[_B], type: str, name: str, data: bytes) -> _B:
        """A bundle of ``data`` with its checksum computed."""
        return cls(type=type, name=name, data=data, checksum=checksum_of(data))

    @property
    def is_plain(self) -> bool:
        """Whether ``data`` is plain profile JSON rather than STIM."""
        return is_plain_json(self.data)

    def verify(self) -> None:
        """
        Raise :class:`ChecksumMismatchError` unless the checksum holds.

        The comparison is exact, as in the reference: an uppercase digest
        of the right bytes is a mismatch.
        """
        if checksum_of(self.data) != self.checksum:
            # The reference's exact text: workers send it to controllers.
            raise ChecksumMismatchError("checksum mismatch - bundle may be corrupted")

    def to_json(self) -> bytes:
        """The stand-alone form: compact JSON then ``\\n``, as UTF-8 bytes."""
        out = io.BytesIO()
        write_bundle(self, out)
        return out.getvalue()  # the buffer itself, not a copy (CPython)

    def to_deploy_payload(self) -> dict[str, str]:
        """The ``deploy`` message payload (mesh key order: type, data, checksum, name)."""
        return {
            "type": self.type,
            "data": base64.b64encode(self.data).decode("ascii"),
            "checksum": self.checksum,
            "name": self.name,
        }

    @classmethod
    def from_mapping(cls: builtins.type[_B], obj: JSONValue, *,
                     max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> _B:
        """
        The bundle in a parsed JSON object (a ``deploy`` payload or file).

        Raises :class:`InvalidBundleError` for a missing or mistyped key or
        bad base64, :class:`UnknownBundleTypeError` for an unknown type and
        :class:`BundleTooLargeError` when ``data`` is over the cap; the
        checksum is not verified here.
        """
        return bundle_from_mapping(
            obj, lambda value: decode_data(value, max_data_bytes), bundle_class=cls)

    @classmethod
    def from_json(cls: builtins.type[_B], text: bytes | str, *,
                  max_data_bytes: int = MAX_BUNDLE_DATA_BYTES) -> _B:
        """
        Parse the stand-alone JSON form (bytes or str).

        One JSON object, optionally surrounded by white space; anything
        else raises :class:`InvalidBundleError`.
        """
        if isinstance(text, bytes):
            if len(text) > max_json_bytes(max_data_bytes):
                raise BundleTooLargeError("bundle JSON is {} bytes".format(len(text)))
            # Go's decoder puts U+FFFD in place of invalid UTF-8.
            text = text.decode("utf-8", "replace")
        elif len(text) > max_json_bytes(max_data_bytes):
            raise BundleTooLargeError("bundle JSON is {} characters".format(len(text)))
        return cls.from_mapping(parse_json(text), max_data_bytes=max_data_bytes)


_MISSING = object()


def parse_json(text: str) -> JSONValue:
    """``text`` (a str) parsed as JSON, or :class:`InvalidBundleError`."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise InvalidBundleError("bundle is not valid JSON: {}".format(e)) from None


def bundle_from_mapping(obj: JSONValue, decode: Callable[[Any], bytes],
                        bundle_class: type[_B] = Bundle) -> _B:  # type: ignore[assignment]
    """
    The bundle in a parsed JSON object; ``decode(value)`` turns its
    ``data`` value (absent: a sentinel) into bytes.  The checks and their
    order are :meth:`Bundle.from_mapping`'s.
    """
    if not isinstance(obj, dict):
        raise InvalidBundleError("a bundle must be a JSON object")
    values: dict[str, str] = {}
    for key in ("type", "name", "checksum"):
        value = obj.get(key)
        if not isinstance(value, str):
            raise InvalidBundleError("bundle key {!r} must be a string".format(key))
        values[key] = value
    if values["type"] not in BUNDLE_TYPES:
        raise UnknownBundleTypeError("unknown bundle type: {!r}".format(values["type"]))
    return bundle_class(data=decode(obj.get("data", _MISSING)), **values)


def check_encoded_size(length: int, max_data_bytes: int) -> None:
    """Refuse base64 text of ``length`` characters that must decode to too much."""
    if length // 4 * 3 > max_data_bytes + 3:
        raise BundleTooLargeError(
            "bundle data is about {} bytes, over the {} byte limit".format(
                length // 4 * 3, max_data_bytes))


def check_decoded_size(length: int, max_data_bytes: int) -> None:
    """Refuse decoded data of ``length`` bytes over the cap."""
    if length > max_data_bytes:
        raise BundleTooLargeError(
            "bundle data is {} bytes, over the {} byte limit".format(length, max_data_bytes))


def decode_data(value: JSONValue, max_data_bytes: int) -> bytes:
    """Go's []byte JSON decoding: base64 with CR/LF ignored, null is empty."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise InvalidBundleError("bundle key 'data' must be a base64 string")
    check_encoded_size(len(value), max_data_bytes)
    try:
        data = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidBundleError("bundle data is not valid base64: {}".format(e)) from None
    check_decoded_size(len(data), max_data_bytes)
    return data


def write_bundle(bundle: Bundle, fileobj: IO[bytes]) -> None:
    """
    Write ``bundle`` in its stand-alone form to a binary file object, the
    base64 a piece at a time (never the whole text in memory).
    """
    fileobj.write('{{"type":{},"name":{},"data":"'.format(
        _go_json_string(bundle.type), _go_json_string(bundle.name)).encode("utf-8"))
    data = memoryview(bundle.data)
    step = 3 * _PIECE_BYTES  # whole base64 quads: the pieces join up exactly
    for start in range(0, len(data), step):
        fileobj.write(base64.b64encode(data[start:start + step]))
    fileobj.write('","checksum":{}}}\n'.format(_go_json_string(bundle.checksum)).encode("utf-8"))
