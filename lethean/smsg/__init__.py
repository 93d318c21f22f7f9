"""
SMSG: the encrypted frame every post-handshake mesh message travels in.

:class:`FrameCipher` (one per connection) seals a mesh message into a frame
and opens frames back into their :class:`Body` (``lethean.mesh`` decodes
the envelope it carries).  Layers, outside in: a Trix container (:func:`pack_trix`,
:func:`unpack_trix`), the Enchantrix sigil cipher (:func:`encrypt`,
:func:`decrypt`, :func:`derive_key`) and the SMSG message object whose
``body`` carries the mesh envelope.  Deploy bundles reuse the container
and the cipher; :func:`seal_pieces` and :class:`SigilReader` give the
cipher's bytes a piece at a time, for payloads too large to copy.
"""

from lethean.smsg._errors import (
    BadHeaderJSONError,
    BadMagicError,
    ContainerVersionError,
    ContainerChecksumError,
    ContainerError,
    DecryptionError,
    FrameTooLargeError,
    HeaderTooLargeError,
    InvalidSMSGPayloadError,
    PayloadTooLargeError,
    PlaintextTooLargeError,
    TruncatedContainerError,
    UnsupportedFormatError,
)
from lethean.smsg._frame import MAX_FRAME_BYTES, Body, FrameCipher, frame_password
from lethean._gotime import InvalidTimestampError, Timestamp
from lethean.smsg._sigil import decrypt, derive_key, encrypt
from lethean.smsg._sigil_stream import SigilReader, seal_pieces
from lethean.smsg._trix import pack_trix, unpack_trix

__all__ = [
    "Body",
    "FrameCipher",
    "FrameTooLargeError",
    "MAX_FRAME_BYTES",
    "frame_password",
    "BadHeaderJSONError",
    "BadMagicError",
    "ContainerVersionError",
    "ContainerChecksumError",
    "ContainerError",
    "DecryptionError",
    "HeaderTooLargeError",
    "InvalidSMSGPayloadError",
    "InvalidTimestampError",
    "PayloadTooLargeError",
    "PlaintextTooLargeError",
    "SigilReader",
    "Timestamp",
    "TruncatedContainerError",
    "UnsupportedFormatError",
    "decrypt",
    "derive_key",
    "encrypt",
    "pack_trix",
    "seal_pieces",
    "unpack_trix",
]
