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
import hashlib
import json
import re

from attrs import field, frozen, validators

from lethean.bundles._errors import (
    BundleTooLargeError,
    ChecksumMismatchError,
    InvalidBundleError,
    UnknownBundleTypeError,
)

__all__ = [
    "BUNDLE_PROFILE",
    "BUNDLE_MINER",
    "BUNDLE_FULL",
    "BUNDLE_TYPES",
    "MAX_BUNDLE_DATA_BYTES",
    "Bundle",
    "checksum_of",
    "is_plain_json",
    "read_bundle",
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

_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def checksum_of(data):
    """The bundle checksum of ``data``: lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def is_plain_json(data):
    """
    Whether ``data`` is an unencrypted profile, by the reference's test.

    The reference trims white space and looks for ``{`` or ``[``; a STIM
    container always starts with ``STIM``, so the two never overlap.
    """
    start = _GO_LEADING_SPACE.match(data).end()
    return data[start:start + 1] in (b"{", b"[")


def _go_json_string(text):
    """``text`` as Go's encoding/json writes it with HTML escaping on."""
    # Go strings hold UTF-8; a lone surrogate has no UTF-8 form and Go
    # would write U+FFFD in its place.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _HTML_ESCAPES:
        out = out.replace(raw, escaped)
    return out


def _max_json_bytes(max_data_bytes):
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
    def _check_type(self, attribute, value):
        if value not in BUNDLE_TYPES:
            raise UnknownBundleTypeError("unknown bundle type: {!r}".format(value))

    @classmethod
    def seal(cls, type, name, data):
        """A bundle of ``data`` with its checksum computed."""
        return cls(type=type, name=name, data=data, checksum=checksum_of(data))

    @property
    def is_plain(self):
        """Whether ``data`` is plain profile JSON rather than STIM."""
        return is_plain_json(self.data)

    def verify(self):
        """
        Raise :class:`ChecksumMismatchError` unless the checksum holds.

        The comparison is exact, as in the reference: an uppercase digest
        of the right bytes is a mismatch.
        """
        if checksum_of(self.data) != self.checksum:
            # The reference's exact text: workers send it to controllers.
            raise ChecksumMismatchError("checksum mismatch - bundle may be corrupted")

    def to_json(self):
        """The stand-alone form: compact JSON then ``\\n``, as UTF-8 bytes."""
        text = '{{"type":{},"name":{},"data":{},"checksum":{}}}\n'.format(
            _go_json_string(self.type),
            _go_json_string(self.name),
            '"' + base64.b64encode(self.data).decode("ascii") + '"',
            _go_json_string(self.checksum),
        )
        return text.encode("utf-8")

    def to_deploy_payload(self):
        """The ``deploy`` message payload (mesh key order: type, data, checksum, name)."""
        return {
            "type": self.type,
            "data": base64.b64encode(self.data).decode("ascii"),
            "checksum": self.checksum,
            "name": self.name,
        }

    @classmethod
    def from_mapping(cls, obj, *, max_data_bytes=MAX_BUNDLE_DATA_BYTES):
        """
        The bundle in a parsed JSON object (a ``deploy`` payload or file).

        Raises :class:`InvalidBundleError` for a missing or mistyped key or
        bad base64, :class:`UnknownBundleTypeError` for an unknown type and
        :class:`BundleTooLargeError` when ``data`` is over the cap; the
        checksum is not verified here.
        """
        if not isinstance(obj, dict):
            raise InvalidBundleError("a bundle must be a JSON object")
        values = {}
        for key in ("type", "name", "checksum"):
            value = obj.get(key)
            if not isinstance(value, str):
                raise InvalidBundleError("bundle key {!r} must be a string".format(key))
            values[key] = value
        if values["type"] not in BUNDLE_TYPES:
            raise UnknownBundleTypeError("unknown bundle type: {!r}".format(values["type"]))
        return cls(data=_decode_data(obj.get("data", _MISSING), max_data_bytes), **values)

    @classmethod
    def from_json(cls, text, *, max_data_bytes=MAX_BUNDLE_DATA_BYTES):
        """
        Parse the stand-alone JSON form (bytes or str).

        One JSON object, optionally surrounded by white space; anything
        else raises :class:`InvalidBundleError`.
        """
        if isinstance(text, bytes):
            if len(text) > _max_json_bytes(max_data_bytes):
                raise BundleTooLargeError("bundle JSON is {} bytes".format(len(text)))
            # Go's decoder puts U+FFFD in place of invalid UTF-8.
            text = text.decode("utf-8", "replace")
        elif len(text) > _max_json_bytes(max_data_bytes):
            raise BundleTooLargeError("bundle JSON is {} characters".format(len(text)))
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise InvalidBundleError("bundle is not valid JSON: {}".format(e)) from None
        return cls.from_mapping(obj, max_data_bytes=max_data_bytes)


_MISSING = object()


def _decode_data(value, max_data_bytes):
    """Go's []byte JSON decoding: base64 with CR/LF ignored, null is empty."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise InvalidBundleError("bundle key 'data' must be a base64 string")
    if len(value) // 4 * 3 > max_data_bytes + 3:
        raise BundleTooLargeError(
            "bundle data is about {} bytes, over the {} byte limit".format(
                len(value) // 4 * 3, max_data_bytes))
    try:
        data = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidBundleError("bundle data is not valid base64: {}".format(e)) from None
    if len(data) > max_data_bytes:
        raise BundleTooLargeError(
            "bundle data is {} bytes, over the {} byte limit".format(len(data), max_data_bytes))
    return data


def write_bundle(bundle, fileobj):
    """Write ``bundle`` in its stand-alone form to a binary file object."""
    fileobj.write(bundle.to_json())


def read_bundle(fileobj, *, max_data_bytes=MAX_BUNDLE_DATA_BYTES):
    """
    Read one stand-alone bundle from a binary file object.

    Reads at most the JSON size the data cap allows (plus one byte to
    notice an oversized stream), so a hostile stream cannot exhaust memory.
    """
    limit = _max_json_bytes(max_data_bytes)
    chunks = []
    size = 0
    while size <= limit:
        chunk = fileobj.read(limit + 1 - size)
        if not chunk:
            break
        if not isinstance(chunk, bytes):
            raise InvalidBundleError("bundles are read from binary streams")
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BundleTooLargeError("bundle stream is over {} bytes".format(limit))
    return Bundle.from_json(b"".join(chunks), max_data_bytes=max_data_bytes)
