"""
The errors of the Levin layer.

Each class's ``kind`` is the ``error_kind`` string of the conformance vectors;
the first line of its docstring is what a user sees.  Decoders raise only
these (all are :class:`lethean.errors.LetheanError`).
"""

from __future__ import annotations

from lethean.errors import (
    LetheanError,
    LimitExceededError,
    MalformedError,
    TruncatedError,
)

__all__ = [
    "LevinError",
    "LevinTruncatedError",
    "LevinMalformedError",
    "BadSignatureError",
    "BadVersionError",
    "UnknownTypeError",
    "PayloadTooBigError",
    "NameTooLongError",
    "LevinLimitError",
    "ValueOutOfRangeError",
    "ReturnCodeError",
    "InvokeTimeoutError",
    "ConnectionLostError",
    "UnexpectedReplyError",
    "PeerUnreachableError",
    "LevinHandshakeRejectedError",
    "NotLevinError",
    "UnknownNetworkError",
]


class LevinError(LetheanError):
    """A Levin or portable-storage operation failed."""

    kind = "levin"


class LevinMalformedError(LevinError, MalformedError):
    """The Levin or portable-storage data is malformed."""

    kind = "malformed"


class LevinTruncatedError(LevinMalformedError, TruncatedError):
    """The Levin or portable-storage data ends before the structure it declares."""

    kind = "truncated"


class BadSignatureError(LevinMalformedError):
    """The data does not start with the Levin or portable-storage signature."""

    kind = "bad_signature"


class BadVersionError(LevinMalformedError):
    """The portable-storage data has an unsupported format version."""

    kind = "bad_version"


class UnknownTypeError(LevinMalformedError):
    """The portable-storage data uses a type tag this decoder does not accept."""

    kind = "unknown_type"


class PayloadTooBigError(LevinMalformedError):
    """The Levin packet declares a payload larger than allowed."""

    kind = "payload_too_big"


class NameTooLongError(LevinMalformedError):
    """A portable-storage entry name is longer than 255 bytes."""

    kind = "name_too_long"


class LevinLimitError(LevinMalformedError, LimitExceededError):
    """The portable-storage data exceeds a decoder limit (nesting depth or item count)."""

    kind = "limit_exceeded"


class ValueOutOfRangeError(LevinError):
    """A value does not fit the Levin or portable-storage field it is meant for."""

    kind = "out_of_range"


class ReturnCodeError(LevinError):
    """The Levin peer answered with an error return code."""

    kind = "return_code"

    def __init__(self, return_code: int, command: int | None = None,
                 message: str | None = None) -> None:
        self.return_code = return_code
        self.command = command
        if message is None:
            message = "command {} returned {}".format(command, return_code)
        super().__init__(message)


class InvokeTimeoutError(LevinError):
    """The Levin peer did not answer in time."""

    kind = "timeout"


class ConnectionLostError(LevinError):
    """The Levin connection closed before the answer arrived."""

    kind = "connection_lost"


class UnexpectedReplyError(LevinMalformedError):
    """The peer's reply does not have the shape of the command's answer."""

    kind = "bad_reply"


class PeerUnreachableError(LevinError):
    """Could not connect to the Levin peer."""

    kind = "unreachable"


class LevinHandshakeRejectedError(LevinError):
    """The peer rejected the Levin handshake."""

    kind = "handshake_rejected"


class NotLevinError(BadSignatureError):
    """The peer does not speak Levin; is that its P2P port?"""


class UnknownNetworkError(LevinError):
    """Unknown network: give mainnet, testnet, stagenet or a 32-digit hex network id."""

    kind = "unknown_network"
