"""Mesh transport settings, with the reference's defaults."""

from __future__ import annotations

import attrs

from lethean.mesh._capabilities import FEATURES

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
    #: Authenticated inbound links (HTTP 503 over it, as the reference).
    #: Outbound links are not counted.
    max_connections: int = 100
    #: Inbound connections that have not authenticated yet: reading the
    #: upgrade request, handshaking, or accepted but not yet proven.  When
    #: full, the busiest address's connection that has waited longest since
    #: its last step is evicted.
    max_pending: int = 128
    #: Per remote address (127.0.0.1 and ::1 excepted): inbound connections
    #: open at once, of those not yet authenticated, and new connections
    #: (burst and per second).  Past any of them a connection is closed as
    #: it is accepted, so that one address cannot take every place.
    max_connections_per_address: int = 16
    max_pending_per_address: int = 8
    connect_burst: int = 20
    connect_per_s: float = 5.0
    #: Bytes of the HTTP upgrade request line and headers read before the
    #: request is refused (431).
    max_request_bytes: int = 8 * 1024
    #: Largest WebSocket message accepted, and sent (a Go peer drops a larger one).
    max_message_bytes: int = 1024 * 1024
    #: Keepalive: an encrypted ``ping`` every interval; a peer silent for
    #: interval + grace is dropped.
    ping_interval_s: float = 30.0
    pong_timeout_s: float = 10.0
    #: Both handshake steps (the upgrade and the mesh handshake) must finish
    #: within this time.
    handshake_timeout_s: float = 10.0
    #: An accepted initiator must prove its key (its first sealed frame)
    #: within this time.  A Go initiator may stay silent until its first
    #: keepalive, 30 s after the handshake.
    prove_timeout_s: float = 40.0
    #: After dialling, how long to wait for the peer's ``capabilities``
    #: before treating it as a peer that announces none (a Go peer).
    capabilities_timeout_s: float = 2.0
    #: The lethean extensions this node announces.  With ``session_v2``
    #: among them, links to lethean peers that have it too upgrade to a v2
    #: session (docs/security.md).
    features: frozenset[str] = FEATURES
    #: A v2 upgrade must be done (the peer's first v2 frame opened) this
    #: long after the handshake, or the link is dropped.
    session_timeout_s: float = 10.0
    #: Messages whose ``ts`` is further than this from our clock are
    #: dropped (generous: real clocks drift); None turns the check off.
    max_clock_skew_s: float | None = 300.0
    #: Per-peer token bucket: burst and sustained frames per second.
    rate_burst: int = 100
    rate_per_s: float = 50.0
    #: Messages past the bucket are dropped unread (as the reference does);
    #: a peer sending more than ``rate_excess_drop`` of them within
    #: ``rate_excess_window_s`` is flooding and is dropped itself.
    rate_excess_drop: int = 500
    rate_excess_window_s: float = 10.0
    #: Bytes a peer may send: burst and sustained bytes per second.  Over
    #: it, reading from the peer pauses until the budget refills.
    rate_bytes_burst: int = 8 * 1024 * 1024
    rate_bytes_per_s: float = 16 * 1024 * 1024
    #: Fragments one message may have: this many, plus one for every
    #: ``fragment_bytes`` of its payload (a Go client writes 4 KiB
    #: fragments, a Go server 1 KiB ones).  Over it, the peer is dropped.
    max_fragments: int = 64
    fragment_bytes: int = 512
    #: WebSocket control frames (ping, pong) a peer may send: burst and per
    #: second (Go peers send none).  Over it, the peer is dropped.
    control_burst: int = 10
    control_per_s: float = 1.0
    #: Frames that do not decrypt a link tolerates (one more every minute);
    #: past it, the peer is dropped.
    max_bad_frames: int = 10
    #: Messages of one link whose consumers have not finished; above it,
    #: reading from the peer pauses.
    max_in_flight: int = 32
    #: Repeat offenders (floods, bad frames, protocol errors), by address
    #: and by key, are refused after this many offences, for this long
    #: (doubling with each further offence).
    offender_strikes: int = 3
    offender_backoff_s: float = 60.0
    #: Seen-message cache for de-duplication: ids are remembered for at
    #: least twice ``max_clock_skew_s``, so that a replayed message is
    #: either still remembered or already outside the time window.
    dedup_ttl_s: float = 600.0
    dedup_max_entries: int = 100_000
    #: Bytes queued for a peer that stopped reading before it is dropped.
    max_send_buffer_bytes: int = 8 * 1024 * 1024
    #: Origins allowed to open the mesh WebSocket (no Origin header is
    #: always allowed); the reference allows loopback names only.
    allowed_origin_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


    def __attrs_post_init__(self) -> None:
        if self.ping_interval_s <= 0:
            raise ValueError("ping_interval_s must be positive")
        if self.max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        if min(self.max_pending, self.max_connections, self.max_pending_per_address,
               self.max_connections_per_address, self.connect_burst) < 1:
            raise ValueError("max_pending, max_connections, max_pending_per_address, "
                             "max_connections_per_address and connect_burst must be at least 1")
        if not (self.connect_per_s > 0 and self.rate_excess_window_s > 0):
            raise ValueError("connect_per_s and rate_excess_window_s must be positive")
        if self.prove_timeout_s < self.ping_interval_s:
            raise ValueError("prove_timeout_s must allow a peer's first keepalive "
                             "(at least ping_interval_s)")
        if self.session_timeout_s <= 0:
            raise ValueError("session_timeout_s must be positive")
        if self.max_clock_skew_s is not None and self.dedup_ttl_s < 2 * self.max_clock_skew_s:
            raise ValueError("dedup_ttl_s must be at least twice max_clock_skew_s, or a "
                             "replayed message could outlive the memory of its id")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")

    @property
    def idle_limit_s(self) -> float:
        """A connection silent for longer than this is dropped."""
        return self.ping_interval_s + self.pong_timeout_s

    @property
    def scheme(self) -> str:
        """``wss`` when this node serves TLS, else ``ws``."""
        return "wss" if self.tls_cert else "ws"
