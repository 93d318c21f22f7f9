"""
The encrypted WebSocket mesh, its message envelope, and WebSocket stacking
for stream protocols.

:class:`Message` and its helpers are the JSON envelope every mesh peer
exchanges, encoded byte for byte as the Go reference does.

:func:`stacked_server_factory` and :func:`stacked_client_factory` run any
byte-stream ``Protocol`` (UEPS, Levin, your own) inside a WebSocket
connection, with every Autobahn limit set and compression refused.

:class:`MeshTransport` is the encrypted mesh itself: the reference's
handshake, then SMSG-sealed messages to and from authenticated peers.  Its
:class:`MeshListener` reads each upgrade request under a byte budget and a
deadline and routes it by path; each link is an :class:`InboundLink` or
:class:`OutboundLink`, an explicit state machine behind a thin Autobahn
protocol, reporting to the transport through ``ILinkOwner``.  Lethean peers
announce their :data:`FEATURES` to each other right after the handshake,
and upgrade their links to v2 sessions (forward secrecy, ordering, replay
and reflection protection; docs/security.md).
"""

from lethean.mesh._envelope import (
    Message,
    Timestamp,
    decode_message,
    encode_message,
    error_reply,
    new_message,
    open_message,
    reply,
)
from lethean.mesh._capabilities import FEATURES, SESSION_V2
from lethean.mesh._config import TransportConfig
from lethean.mesh._counters import COUNTER_NAMES
from lethean.mesh._connection import MeshConnection
from lethean.mesh._errors import (
    HandshakeError,
    HandshakeRejectedError,
    FeatureNotAnnouncedError,
    HandshakeTimeoutError,
    ListenError,
    SelfConnectionError,
    MeshError,
    SessionError,
    SessionPendingError,
    MessageTooLargeError,
    NotConnectedError,
    PeerKeyMismatchError,
    InvalidMessageJSONError,
    TLSConfigError,
    CertificateRejectedError,
)
from lethean.mesh._listener import MeshListener
from lethean.mesh._transport import MeshTransport
from lethean.mesh._stacking import stacked_client_factory, stacked_server_factory
from lethean.mesh._dialing import DIAL_ERRORS

__all__ = [
    "CertificateRejectedError",
    "COUNTER_NAMES",
    "InvalidMessageJSONError",
    "Message",
    "Timestamp",
    "decode_message",
    "encode_message",
    "error_reply",
    "new_message",
    "open_message",
    "reply",
    "stacked_client_factory",
    "stacked_server_factory",
    "TransportConfig",
    "MeshConnection",
    "MeshListener",
    "MeshTransport",
    "DIAL_ERRORS",
    "MeshError",
    "NotConnectedError",
    "MessageTooLargeError",
    "HandshakeError",
    "HandshakeRejectedError",
    "HandshakeTimeoutError",
    "ListenError",
    "SelfConnectionError",
    "FeatureNotAnnouncedError",
    "SessionError",
    "SessionPendingError",
    "PeerKeyMismatchError",
    "FEATURES",
    "SESSION_V2",
    "TLSConfigError",
]
