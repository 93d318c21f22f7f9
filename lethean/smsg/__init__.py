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
from lethean.smsg._frame import (
    FRAME_OVERHEAD_BYTES,
    MAX_FRAME_BYTES,
    Body,
    SMSG_HEADER,
    SMSG_MAGIC,
    FrameCipher,
    decode_body,
    decode_plaintext,
    encode_plaintext,
    frame_key,
    frame_password,
    open_frame,
    seal,
)
from lethean._gojson import RawJSON
from lethean._gotime import ZERO_TIME, InvalidTimestampError, Timestamp
from lethean.smsg._sigil import (
    KEY_BYTES,
    NONCE_BYTES,
    OVERHEAD_BYTES,
    TAG_BYTES,
    decrypt,
    derive_key,
    encrypt,
)
from lethean.smsg._sigil_stream import PIECE_BYTES, SigilReader, seal_pieces
from lethean.smsg._trix import MAX_HEADER_BYTES, TRIX_VERSION, pack_trix, unpack_trix

__all__ = [
    "Body",
    "FRAME_OVERHEAD_BYTES",
    "FrameCipher",
    "FrameTooLargeError",
    "MAX_FRAME_BYTES",
    "SMSG_HEADER",
    "SMSG_MAGIC",
    "decode_body",
    "decode_plaintext",
    "encode_plaintext",
    "frame_key",
    "frame_password",
    "open_frame",
    "seal",
    "BadHeaderJSONError",
    "BadMagicError",
    "ContainerVersionError",
    "ContainerChecksumError",
    "ContainerError",
    "DecryptionError",
    "HeaderTooLargeError",
    "InvalidSMSGPayloadError",
    "InvalidTimestampError",
    "KEY_BYTES",
    "MAX_HEADER_BYTES",
    "NONCE_BYTES",
    "OVERHEAD_BYTES",
    "PIECE_BYTES",
    "PayloadTooLargeError",
    "PlaintextTooLargeError",
    "RawJSON",
    "SigilReader",
    "TAG_BYTES",
    "TRIX_VERSION",
    "Timestamp",
    "TruncatedContainerError",
    "UnsupportedFormatError",
    "ZERO_TIME",
    "decrypt",
    "derive_key",
    "encrypt",
    "pack_trix",
    "seal_pieces",
    "unpack_trix",
]
