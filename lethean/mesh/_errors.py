"""Errors of the mesh transport; each docstring's first line is the user-facing text."""

from twisted.internet.error import ConnectionLost

from lethean.errors import LetheanError, LimitExceededError, MalformedError

__all__ = [
    "MeshError",
    "NotConnectedError",
    "MessageTooLargeError",
    "HandshakeError",
    "HandshakeRejectedError",
    "PeerKeyMismatchError",
    "SelfConnectionError",
    "HandshakeTimeoutError",
    "ListenError",
    "FeatureNotAnnouncedError",
    "SessionError",
    "SessionPendingError",
    "InvalidMessageJSONError",
    "TLSConfigError",
    "CertificateRejectedError",
    "DroppedError",
]


class MeshError(LetheanError):
    """The mesh transport failed."""

    kind = "mesh"


class NotConnectedError(MeshError):
    """The peer is not connected."""

    kind = "not_connected"


class MessageTooLargeError(MeshError, LimitExceededError):
    """The sealed message is larger than the peer accepts."""

    kind = "limit_exceeded"


class HandshakeError(MeshError):
    """The mesh handshake failed."""

    kind = "handshake"


class HandshakeRejectedError(HandshakeError):
    """The peer rejected the handshake."""

    kind = "handshake_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__("handshake rejected: {}".format(reason))
        self.reason = reason


class PeerKeyMismatchError(HandshakeError):
    """The peer answered with a key other than the one pinned for it."""

    kind = "key_mismatch"


class SelfConnectionError(HandshakeError):
    """The peer is this node itself: it answered with this node's own key."""

    kind = "self_connection"


class HandshakeTimeoutError(HandshakeError):
    """The mesh handshake did not finish in time."""

    kind = "timeout"


class ListenError(MeshError):
    """The node cannot listen on its endpoint."""

    kind = "listen"


class FeatureNotAnnouncedError(MeshError):
    """The peer did not announce this lethean extension (a Go peer announces none)."""

    kind = "feature_not_announced"


class SessionError(MeshError):
    """The v2 session with the peer failed."""

    kind = "session"

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        #: The drop reason (a ``dropped_session_*`` counter name).
        self.reason = reason


class SessionPendingError(MeshError):
    """The v2 session with the peer is still being set up; try again shortly."""

    kind = "session_pending"


class InvalidMessageJSONError(MalformedError):
    """The message is not a valid mesh envelope."""

    kind = "invalid_message_json"


class TLSConfigError(LetheanError):
    """The TLS certificate or key could not be used."""


class CertificateRejectedError(LetheanError):
    """The peer's TLS certificate was not trusted; ``problem`` says why and what to do."""

    kind = "certificate_rejected"

    def __init__(self, problem: str) -> None:
        super().__init__("TLS certificate refused: " + problem)
        self.problem = problem


class DroppedError(ConnectionLost):
    """We dropped the connection; ``reason`` is the counter name, the message says why."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text

    def __str__(self) -> str:
        return self.text
