"""Mesh transport settings, with the reference's defaults."""

import attrs

__all__ = ["TransportConfig"]


@attrs.frozen
class TransportConfig:
    """
    How a :class:`~lethean.mesh.MeshTransport` listens, dials and polices peers.

    Endpoints are Twisted endpoint strings (``tcp:9091``,
    ``tcp:0:interface=127.0.0.1``); TLS is added on top when both
    ``tls_cert`` and ``tls_key`` are set, hardened as the reference's.
    """

    #: Where to listen; ``None`` for a node that only dials out.
    listen: str | None = "tcp:9091"
    #: The WebSocket path of the mesh (exact match, as the reference).
    ws_path: str = "/ws"
    tls_cert: str | None = None
    tls_key: str | None = None
    #: How dialled ``wss`` peers are verified: ``"system"`` roots, ``"none"``
    #: (the handshake's key pinning then authenticates), or a PEM path to pin.
    tls_verify: str = "system"
    #: Inbound connections, including those still handshaking (HTTP 503 over
    #: it).  Outbound connections are not counted.
    max_connections: int = 100
    #: Largest WebSocket message accepted, and sent (a Go peer drops a larger one).
    max_message_bytes: int = 1024 * 1024
    #: Keepalive: an encrypted ``ping`` every interval; a peer silent for
    #: interval + grace is dropped.
    ping_interval_s: float = 30.0
    pong_timeout_s: float = 10.0
    #: Both handshake steps (the upgrade and the mesh handshake) must finish
    #: within this time.
    handshake_timeout_s: float = 10.0
    #: Per-peer token bucket: burst and sustained frames per second.
    rate_burst: int = 100
    rate_per_s: float = 50.0
    #: A peer that keeps sending after its bucket ran dry for this many
    #: frames is dropped (the reference only drops the frames).
    rate_excess_drop: int = 500
    #: Seen-message cache for de-duplication.
    dedup_ttl_s: float = 300.0
    dedup_max_entries: int = 100_000
    #: Bytes queued for a peer that stopped reading before it is dropped.
    max_send_buffer_bytes: int = 8 * 1024 * 1024
    #: Origins allowed to open the mesh WebSocket (no Origin header is
    #: always allowed); the reference allows loopback names only.
    allowed_origin_hosts: tuple = ("localhost", "127.0.0.1", "::1")

    def __attrs_post_init__(self):
        if self.ping_interval_s <= 0:
            raise ValueError("ping_interval_s must be positive")
        if self.max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")

    @property
    def idle_limit_s(self):
        """A connection silent for longer than this is dropped."""
        return self.ping_interval_s + self.pong_timeout_s

    @property
    def scheme(self):
        """``wss`` when this node serves TLS, else ``ws``."""
        return "wss" if self.tls_cert else "ws"
