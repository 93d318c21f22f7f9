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
    DEPLOY,
    DEPLOY_ACK,
    DISCONNECT,
    DISCONNECT_GOING_AWAY,
    DISCONNECT_IDLE_TIMEOUT,
    DISCONNECT_NORMAL,
    DISCONNECT_PROTOCOL_ERROR,
    DISCONNECT_SHUTDOWN,
    ERROR,
    ERROR_INVALID_MESSAGE,
    ERROR_NOT_FOUND,
    ERROR_OPERATION_FAILED,
    ERROR_TIMEOUT,
    ERROR_UNAUTHORIZED,
    ERROR_UNKNOWN,
    GET_LOGS,
    GET_STATS,
    HANDSHAKE,
    HANDSHAKE_ACK,
    InvalidMessageJSONError,
    InvalidTimestampError,
    LOGS,
    MESSAGE_TYPES,
    MINER_ACK,
    Message,
    PING,
    PONG,
    PROTOCOL_VERSION,
    RawJSON,
    START_MINER,
    STATS,
    STOP_MINER,
    SUPPORTED_PROTOCOL_VERSIONS,
    Timestamp,
    decode_base64,
    decode_message,
    encode_message,
    error_reply,
    new_message,
    open_message,
    reply,
)
from lethean.mesh._capabilities import (
    CAPABILITIES,
    DEPLOY_CHUNKS,
    FEATURES,
    SESSION_V2,
    UEPS_FEATURE,
)
from lethean.mesh._config import TransportConfig
from lethean.mesh._counters import COUNTER_NAMES
from lethean.mesh._connection import MeshConnection
from lethean.mesh._inbound import InboundLink
from lethean.mesh._outbound import OutboundLink
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
)
from lethean.mesh._handshake import REASON_UNAUTHORIZED
from lethean.mesh._listener import MeshListener
from lethean.mesh._payloads import PingPayload, PongPayload, answer_ping
from lethean.mesh._protocol import MeshClientProtocol, MeshServerProtocol
from lethean.mesh._transport import SHUTDOWN_REASON, UEPS, MeshTransport
from lethean.mesh._tls import (
    CertificateRejectedError, TLSConfigError, parse_fingerprint, tls_verify_setting)
from lethean.mesh._stacking import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ReactorTimer,
    WebSocketTransport,
    stacked_client_factory,
    stacked_server_factory,
    use_reactor_timers,
)

__all__ = [
    "CertificateRejectedError",
    "COUNTER_NAMES",
    "DEPLOY",
    "DEPLOY_ACK",
    "DISCONNECT",
    "DISCONNECT_GOING_AWAY",
    "DISCONNECT_IDLE_TIMEOUT",
    "DISCONNECT_NORMAL",
    "DISCONNECT_PROTOCOL_ERROR",
    "DISCONNECT_SHUTDOWN",
    "ERROR",
    "ERROR_INVALID_MESSAGE",
    "ERROR_NOT_FOUND",
    "ERROR_OPERATION_FAILED",
    "ERROR_TIMEOUT",
    "ERROR_UNAUTHORIZED",
    "ERROR_UNKNOWN",
    "GET_LOGS",
    "GET_STATS",
    "HANDSHAKE",
    "HANDSHAKE_ACK",
    "InvalidMessageJSONError",
    "InvalidTimestampError",
    "LOGS",
    "MESSAGE_TYPES",
    "MINER_ACK",
    "Message",
    "PING",
    "PONG",
    "PROTOCOL_VERSION",
    "RawJSON",
    "START_MINER",
    "STATS",
    "STOP_MINER",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "Timestamp",
    "decode_base64",
    "decode_message",
    "encode_message",
    "error_reply",
    "new_message",
    "open_message",
    "reply",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ReactorTimer",
    "WebSocketTransport",
    "use_reactor_timers",
    "stacked_client_factory",
    "stacked_server_factory",
    "TransportConfig",
    "MeshConnection",
    "InboundLink",
    "OutboundLink",
    "MeshListener",
    "MeshTransport",
    "MeshServerProtocol",
    "MeshClientProtocol",
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
    "CAPABILITIES",
    "DEPLOY_CHUNKS",
    "FEATURES",
    "SESSION_V2",
    "UEPS_FEATURE",
    "REASON_UNAUTHORIZED",
    "PingPayload",
    "PongPayload",
    "answer_ping",
    "SHUTDOWN_REASON",
    "UEPS",
    "TLSConfigError",
    "parse_fingerprint",
    "tls_verify_setting",
]
