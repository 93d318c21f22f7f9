"""
Sealing and opening mesh frames: the envelope text goes into the ``body``
of an SMSG message object, which is encrypted with the sigil and wrapped in
an ``SMSG`` Trix container (smsg.md).

A :class:`FrameCipher` is built once per connection from the peers' shared
secret; it derives the frame key (``SHA-256(base64(secret))``) once, so
sealing a frame costs one JSON string escape, one key stream and one AEAD
call.
"""

import base64
import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from lethean.smsg._errors import (
    FrameTooLargeError,
    InvalidSMSGPayloadError,
    PlaintextTooLargeError,
    UnsupportedFormatError,
)
from lethean._accel import shortcut
from lethean._gojson import loads_pairs, loads_strict, utf8
from lethean._gostruct import Collapsed, schema_of
from lethean._gotypes import Mismatch
from lethean._types import Buffer
from lethean.smsg._message import SmsgMessage
from lethean.smsg._sigil import (
    KEY_BYTES,
    NONCE_BYTES,
    OVERHEAD_BYTES,
    open_obfuscated,
    seal_obfuscated,
)
from lethean.smsg._trix import check_checksum, pack_trix, unpack_trix

__all__ = [
    "Body",
    "FrameCipher",
    "MAX_FRAME_BYTES",
    "SMSG_MAGIC",
    "SMSG_HEADER",
    "FRAME_OVERHEAD_BYTES",
    "frame_password",
    "frame_key",
    "seal",
    "open_frame",
    "encode_plaintext",
    "decode_plaintext",
    "decode_body",
]

#: The container magic of mesh frames.
SMSG_MAGIC = b"SMSG"
#: The header every reference sender writes (and the only one we write).
SMSG_HEADER = {"algorithm": "chacha20poly1305", "version": "1.0"}
#: Largest frame sealed or opened by default: the Go receiver's WebSocket
#: read limit (``MaxMessageSize``, 1 MiB); a bigger frame kills the
#: connection on the Go side.
MAX_FRAME_BYTES = 1024 * 1024

# Container prefix up to the sigil payload: magic, version, length, header.
_PREFIX = pack_trix(SMSG_MAGIC, SMSG_HEADER, b"")
_PREFIX_LEN = len(_PREFIX)
#: Bytes a frame adds to its plaintext (97).
FRAME_OVERHEAD_BYTES = _PREFIX_LEN + OVERHEAD_BYTES
_U32 = struct.Struct(">I")


class _Envelope(Protocol):
    """What :meth:`FrameCipher.seal` takes besides text: a ``lethean.mesh.Message``."""

    def to_json(self) -> str: ...


def frame_password(shared_secret: Buffer) -> str:
    """The SMSG password of a shared secret: its padded standard base64."""
    return base64.b64encode(shared_secret).decode("ascii")


def frame_key(shared_secret: Buffer) -> bytes:
    """The frame (and deploy bundle) key: SHA-256 of :func:`frame_password`."""
    return hashlib.sha256(base64.b64encode(shared_secret)).digest()


def encode_plaintext(body: str, timestamp: int | float) -> bytes:
    """
    The SMSG message object as Go's ``json.Marshal`` writes it:
    ``{"body":"...","timestamp":N}`` with HTML escaping on (``timestamp``
    is omitted when 0, as Go's ``omitempty`` does).
    """
    return utf8(_write_plaintext(True, body, int(timestamp)))


_SCHEMA = schema_of(SmsgMessage)
_write_plaintext = _SCHEMA.writer("body", "timestamp")
_read_collapsed = _SCHEMA.read_collapsed
_BODY, _TIMESTAMP = (_SCHEMA.aliases.index(alias) for alias in ("body", "timestamp"))
_FAST_KEYS = frozenset(("body", "timestamp"))


@attrs.frozen
class Body:
    """What a frame carries: the ``body`` text (a mesh envelope) and the SMSG ``timestamp``."""

    text: str
    timestamp: int = 0


def decode_plaintext(plaintext: bytes) -> str:
    """
    The ``body`` of an SMSG message object (``""`` when absent or ``null``).

    Raises :class:`InvalidSMSGPayloadError` when the plaintext is not a JSON
    object or ``null``, or a known field (at any depth) has the wrong JSON
    type, as Go's ``json.Unmarshal`` into ``smsg.Message`` fails then.
    """
    return decode_body(plaintext).text


def decode_body(plaintext: bytes) -> Body:
    """The :class:`Body` of an SMSG message object; see :func:`decode_plaintext`."""
    common = _common_plaintext(plaintext)
    if common is not None:
        return Body(*common)
    text = plaintext.decode("utf-8", "replace")
    try:
        document = loads_strict(text, keep_overflow=True)
    except ValueError as e:
        raise InvalidSMSGPayloadError("plaintext is not JSON: {}".format(e)) from None
    if document is None:
        return Body("")
    if type(document) is not dict:
        raise InvalidSMSGPayloadError("plaintext is a JSON {}, not an object".format(
            type(document).__name__))
    if (document.keys() <= _FAST_KEYS and text.count('"body"') < 2
            and text.count('"timestamp"') < 2):
        # No key repeats, so the parsed dict is the whole document.
        try:
            values = _read_collapsed(document)
        except Collapsed:
            pass
        else:
            return Body(values[_BODY], values[_TIMESTAMP])
    # Other keys, spellings, duplicates or nulls: replay the pairs in order
    # as Go does (the first wrong type fails, the last value wins).
    try:
        fields = _SCHEMA.fields_of(loads_pairs(text))
    except Mismatch as e:
        raise InvalidSMSGPayloadError("SMSG field {!r} has the wrong type".format(
            e.path[0])) from None
    return Body(fields["body"], fields["timestamp"])


# What every sender writes, read in C when the accelerator is built; None
# for anything else, which the JSON module then reads.
_common_plaintext: Callable[[bytes], tuple[str, int] | None] = shortcut("smsg_body")


def _gunzip(data: bytes, limit: int) -> bytes:
    """Concatenated gzip members, refusing to produce more than ``limit`` bytes."""
    out = []
    total = 0
    try:
        while True:
            inflater = zlib.decompressobj(31)
            chunk = inflater.decompress(data, limit - total + 1)
            total += len(chunk)
            if total > limit:
                raise PlaintextTooLargeError("gzip plaintext over {} bytes".format(limit))
            if not inflater.eof:
                raise InvalidSMSGPayloadError("truncated gzip plaintext")
            out.append(chunk)
            data = inflater.unused_data
            if not data:
                return b"".join(out)
    except zlib.error as e:
        raise InvalidSMSGPayloadError("bad gzip plaintext: {}".format(e)) from None


class FrameCipher:
    """
    Seals and opens the SMSG frames of one peer pair.

    Build it once per connection with the shared secret (identity.md 4);
    the key is kept out of ``repr``.  ``max_frame_bytes`` bounds both
    directions: :meth:`seal` refuses to produce a frame the peer would
    drop, and :meth:`open` refuses bigger input before decrypting.
    """

    __slots__ = ("_key", "max_frame_bytes")

    def __init__(self, shared_secret: Buffer, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        if len(shared_secret) != 32:
            raise ValueError("a shared secret is 32 bytes")
        self._key = frame_key(bytes(shared_secret))
        self.max_frame_bytes = max_frame_bytes

    @classmethod
    def from_key(cls, key: Buffer, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> "FrameCipher":
        """A cipher for an already derived 32-byte frame key."""
        if len(key) != KEY_BYTES:
            raise ValueError("a frame key is 32 bytes")
        cipher = cls.__new__(cls)
        cipher._key = bytes(key)
        cipher.max_frame_bytes = max_frame_bytes
        return cipher

    def __repr__(self) -> str:
        return "<FrameCipher max_frame_bytes={}>".format(self.max_frame_bytes)

    def seal(self, message: _Envelope | str | Buffer, *, timestamp: int | float,
             nonce: Buffer | None = None) -> bytes:
        """
        One frame carrying ``message`` (a ``Message``, or its envelope text
        as ``str`` or UTF-8 bytes).

        ``timestamp`` is the SMSG timestamp, Unix seconds; ``nonce`` is for
        reproducible tests only.  Raises :class:`FrameTooLargeError` when
        the frame would exceed ``max_frame_bytes``.
        """
        if isinstance(message, str):
            body = message
        elif isinstance(message, (bytes, bytearray, memoryview)):
            body = bytes(message).decode("utf-8")
        else:
            body = message.to_json()
        if not body:
            raise ValueError("an SMSG body cannot be empty")
        return self.seal_plaintext(encode_plaintext(body, timestamp), nonce)

    def seal_plaintext(self, plaintext: Buffer, nonce: Buffer | None = None) -> bytes:
        """One frame around an already encoded SMSG plaintext."""
        size = FRAME_OVERHEAD_BYTES + len(plaintext)
        if size > self.max_frame_bytes:
            raise FrameTooLargeError("frame of {} bytes, limit {}".format(
                size, self.max_frame_bytes))
        if nonce is None:
            nonce = os.urandom(NONCE_BYTES)
        elif len(nonce) != NONCE_BYTES:
            raise ValueError("a nonce is 24 bytes")
        else:
            nonce = bytes(nonce)
        return seal_obfuscated(_PREFIX, nonce, self._key, plaintext)

    def open_plaintext(self, frame: Buffer) -> bytes:
        """
        The decrypted SMSG plaintext of a frame (decompressed if it was a
        gzip frame, within ``max_frame_bytes``).

        Raises :class:`FrameTooLargeError`, a
        :class:`~lethean.smsg.ContainerError`, :class:`DecryptionError` or
        :class:`InvalidSMSGPayloadError`.
        """
        size = len(frame)
        if size > self.max_frame_bytes:
            raise FrameTooLargeError("frame of {} bytes, limit {}".format(
                size, self.max_frame_bytes))
        if frame[:_PREFIX_LEN] == _PREFIX:
            # What every reference sender writes: no header to parse, and
            # the cipher reads the ciphertext in place.
            header = None
            data = frame
            start = _PREFIX_LEN
        else:
            # A header's checksum is verified after the AEAD: a stranger's
            # frame then costs one authentication, whatever checksum it names.
            header, data = unpack_trix(frame, SMSG_MAGIC, verify_checksum=False)
            start = 0
        plaintext = open_obfuscated(data, start, self._key)
        if header:
            check_checksum(header, data)
            plaintext = self._apply_header(header, plaintext)
        return plaintext

    def _apply_header(self, header: dict[str, Any], plaintext: bytes) -> bytes:
        """Undo the optional ``compression`` and ``format`` a Go receiver honours."""
        compression = header.get("compression")
        if compression == "gzip":
            # Go inflates without any bound (a decompression bomb); we stop
            # at the frame limit, which an honest sender cannot exceed.
            plaintext = _gunzip(plaintext, self.max_frame_bytes)
        elif compression == "zstd":
            raise UnsupportedFormatError("zstd-compressed frames are refused")
        if header.get("format") == "v2":
            if len(plaintext) < 4:
                raise InvalidSMSGPayloadError("v2 plaintext shorter than its length prefix")
            (length,) = _U32.unpack_from(plaintext)
            if length > len(plaintext) - 4:
                raise InvalidSMSGPayloadError("v2 JSON length {} overruns the plaintext".format(length))
            plaintext = plaintext[4:4 + length]
        return plaintext

    def open_body(self, frame: Buffer) -> str:
        """The envelope text a frame carries (see :meth:`open_plaintext`)."""
        return decode_plaintext(self.open_plaintext(frame))

    def open(self, frame: Buffer) -> Body:
        """
        The :class:`Body` a frame carries (``lethean.mesh`` decodes its text).

        Raises only lethean errors: container, decryption or payload errors.
        """
        return decode_body(self.open_plaintext(frame))


def seal(shared_secret: Buffer, message: _Envelope | str | Buffer, *, timestamp: int | float,
         nonce: Buffer | None = None, max_frame_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """One frame for ``message``; build a :class:`FrameCipher` to send many."""
    cipher = FrameCipher(shared_secret, max_frame_bytes=max_frame_bytes)
    return cipher.seal(message, timestamp=timestamp, nonce=nonce)


def open_frame(shared_secret: Buffer, frame: Buffer, *,
               max_frame_bytes: int = MAX_FRAME_BYTES) -> Body:
    """The :class:`Body` in one frame; build a :class:`FrameCipher` to open many."""
    return FrameCipher(shared_secret, max_frame_bytes=max_frame_bytes).open(frame)
