"""
The errors a UEPS frame can fail with, and those of dispatching its packet.

Each ``kind`` is the ``error_kind`` string of the shared conformance vectors,
and each docstring's first line is the text a user sees.  Catch
:class:`UEPSError` for "this UEPS frame is bad, whatever the reason", and
:class:`DispatchError` for "this packet was not dispatched".
"""

from __future__ import annotations

from typing import Any

from lethean.errors import (
    IntegrityError,
    LetheanError,
    LimitExceededError,
    MalformedError,
    TruncatedError,
)

__all__ = [
    "UEPSError",
    "FrameTruncatedError",
    "MalformedFrameError",
    "MissingHMACError",
    "HMACMismatchError",
    "ValueTooLargeError",
    "UEPSFrameTooLargeError",
    "TooManyElementsError",
    "DispatchError",
    "NilPacketError",
    "ThreatScoreExceededError",
    "UnknownIntentError",
    "PeerQuarantinedError",
]


class UEPSError(LetheanError):
    """The UEPS frame was refused."""

    #: Packets a :class:`~lethean.ueps.UEPSDecoder` verified in the same
    #: ``feed()`` call before it met the bad bytes.  They are genuine, so a
    #: receiver may still act on them before it drops the connection.
    packets: tuple[Any, ...] = ()


class FrameTruncatedError(UEPSError, TruncatedError):
    """The UEPS frame ends before its payload element is complete."""

    kind = "truncated"


class MalformedFrameError(UEPSError, MalformedError):
    """A UEPS header element is too short for its field."""

    kind = "malformed"


class MissingHMACError(UEPSError, IntegrityError):
    """The UEPS frame carries no HMAC signature."""

    kind = "missing_hmac"


class HMACMismatchError(UEPSError, IntegrityError):
    """The UEPS frame's HMAC does not match: wrong secret or altered data."""

    kind = "hmac_mismatch"


class ValueTooLargeError(UEPSError):
    """A UEPS value is over 65535 bytes, the most a 2-byte length can declare."""

    kind = "value_too_large"


class UEPSFrameTooLargeError(UEPSError, LimitExceededError):
    """The UEPS frame is larger than the configured frame-size limit."""

    kind = "frame_too_large"


class TooManyElementsError(UEPSError, LimitExceededError):
    """The UEPS frame has more elements than the configured limit."""

    kind = "too_many_elements"


class DispatchError(LetheanError):
    """The packet was not dispatched."""

    kind = "dispatch"


class NilPacketError(DispatchError):
    """Dispatcher.Dispatch: nil packet"""

    kind = "nil_packet"


class ThreatScoreExceededError(DispatchError):
    """Dispatcher.Dispatch: packet rejected: threat score exceeds safety threshold (50000)"""

    kind = "threat_score_exceeded"


class UnknownIntentError(DispatchError):
    """Dispatcher.Dispatch: packet dropped: unknown intent"""

    kind = "unknown_intent"


class PeerQuarantinedError(DispatchError):
    """The peer's packets are ignored for a while after repeated threat drops."""

    kind = "peer_quarantined"
