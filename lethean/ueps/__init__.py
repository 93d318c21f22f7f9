"""
UEPS: small TLV packets signed with HMAC-SHA256, wire-compatible with the Go
reference's ``ueps`` package.

:func:`encode` and :func:`decode` handle one frame; :class:`UEPSDecoder`
reads a stream of them without I/O; :class:`UEPSProtocol` and
:class:`UEPSFactory` carry them over TCP or (stacked) WebSocket.
"""

from lethean.ueps._codec import MAX_BUILT_FRAME_BYTES, decode, encode, read_frame
from lethean.ueps._decoder import UEPSDecoder
from lethean.ueps._errors import (
    DispatchError,
    UEPSFrameTooLargeError,
    FrameTruncatedError,
    HMACMismatchError,
    MalformedFrameError,
    MissingHMACError,
    NilPacketError,
    PeerQuarantinedError,
    ThreatScoreExceededError,
    TooManyElementsError,
    UEPSError,
    UnknownIntentError,
    ValueTooLargeError,
)
from lethean.ueps._packet import Header, Packet
from lethean.ueps._protocol import UEPSFactory, UEPSProtocol

from lethean.ueps._dispatcher import (
    Dispatcher,
    INTENT_COMPUTE,
    INTENT_CUSTOM,
    INTENT_HANDSHAKE,
    INTENT_REHAB,
)

__all__ = [
    "DispatchError",
    "Dispatcher",
    "INTENT_COMPUTE",
    "INTENT_CUSTOM",
    "INTENT_HANDSHAKE",
    "INTENT_REHAB",
    "NilPacketError",
    "PeerQuarantinedError",
    "ThreatScoreExceededError",
    "UnknownIntentError",
    "Header",
    "Packet",
    "encode",
    "decode",
    "read_frame",
    "UEPSDecoder",
    "UEPSProtocol",
    "UEPSFactory",
    "UEPSError",
    "FrameTruncatedError",
    "MalformedFrameError",
    "MissingHMACError",
    "HMACMismatchError",
    "ValueTooLargeError",
    "UEPSFrameTooLargeError",
    "TooManyElementsError",
    "MAX_BUILT_FRAME_BYTES",
]
