"""
What a mesh link knows about itself: its owner, its peer, its counters and
its budgets, and the inputs its state machine (``_inbound``, ``_outbound``)
gives it.  Each of the link's behaviours (``_sealing``, ``_linkbounds``,
``_keepalive``, ``_announcement``, ``_upgrade``, ``_closing``, and
``_connection`` for receiving) builds on this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall

from lethean.mesh._capabilities import SESSION_V2
from lethean.mesh._checks import envelope_problem
from lethean.mesh._config import TransportConfig
from lethean.mesh._envelope import Message
from lethean.mesh._errors import NotConnectedError
from lethean.mesh._limits import TokenBucket
from lethean.mesh._logs import clean, peer_text
from lethean.mesh._session import Session

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from lethean.identity import NodeIdentity
    from lethean.interfaces import ILinkOwner
    from lethean.smsg import FrameCipher

__all__ = ["LinkState", "LinkSocket", "BAD_FRAME_REFILL_S"]

#: A link's allowance of undecryptable frames grows by one this often.
BAD_FRAME_REFILL_S = 60.0


class LinkSocket(Protocol):
    """What a link needs of the Autobahn protocol carrying its frames."""

    #: The connection's ``Wire`` (None before it is connected).
    transport: Any

    def sendMessage(self, payload: bytes, isBinary: bool = False) -> None:
        """Send one WebSocket message."""

    def dropConnection(self, abort: bool = False) -> None:
        """Drop the TCP connection (through Autobahn, which stops parsing)."""


class LinkState:
    """
    The state every mesh link keeps.

    ``owner`` provides ``ILinkOwner``; ``websocket`` is the Autobahn
    protocol carrying the frames (its ``transport`` is the connection's
    ``Wire``).
    """

    outbound: bool | None = None
    #: What the registry keeps as the address of a dialled peer (outbound links).
    dialled: str | None = None


    def __init__(self, owner: ILinkOwner, websocket: LinkSocket) -> None:
        self._owner = owner
        self._websocket = websocket
        self._clock: IReactorTime = owner.reactor
        self._config: TransportConfig = owner.config
        self.peer: NodeIdentity | None = None
        self.peer_id = ""
        self.shared_secret: bytes | None = None
        self._cipher: FrameCipher | None = None
        #: True once the link is closed (or failed before opening).
        self.closed = False
        self.reason: str | None = None
        self.connected_at = self.last_activity = self._clock.seconds()
        self.rtt_s: float | None = None
        #: lethean extensions the peer announced; a Go peer announces none.
        self.features: frozenset[str] = frozenset()
        self.peer_version = ""
        #: ``"v1"`` (the reference's static pair key) or ``"v2"`` (a session).
        self.session = "v1"
        self._session: Session | None = None
        self._session_deadline: IDelayedCall | None = None
        self._hello = b""
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0
        config = self._config
        self._bucket = TokenBucket(self._clock, config.rate_burst, config.rate_per_s)
        self._bytes = TokenBucket(self._clock, config.rate_bytes_burst, config.rate_bytes_per_s)
        self._control = TokenBucket(self._clock, config.control_burst, config.control_per_s)
        self._bad = TokenBucket(self._clock, config.max_bad_frames, 1 / BAD_FRAME_REFILL_S)
        self._excess = TokenBucket(self._clock, config.rate_excess_drop,
                                   config.rate_excess_drop / config.rate_excess_window_s)
        self._skip = False
        self._fragments = 0
        self._message_bytes = 0
        self._in_flight = 0
        self._pauses: set[str] = set()
        #: Reading pauses until each of these timers fires (by reason).
        self._resume_calls: dict[str, IDelayedCall] = {}
        self._proven = False
        self._announced = False
        self._capabilities_seen = False
        #: Fires (with the link) once the peer's features are known.
        self._announcement: defer.Deferred[object] | None = defer.Deferred()
        self._announce_timer: IDelayedCall | None = None
        self._lost: list[defer.Deferred[None]] = []
        self._gone = False
        self._keepalive_pings: dict[str, float] = {}
        self._keepalive = LoopingCall(self._tick)
        self._keepalive.clock = self._clock

    def __repr__(self) -> str:
        return "<{} {}>".format(type(self).__name__, self.peer_id or self.address)

    @property
    def address(self) -> str:
        """The peer's ``host:port`` as seen on the socket."""
        transport = self._websocket.transport
        return peer_text(transport.getPeer()) if transport is not None else "?"

    @property
    def direction(self) -> str:
        return "outbound" if self.outbound else "inbound"

    @property
    def bundle_secret(self) -> bytes | None:
        """
        The 32-byte secret deploy bundles on this link are keyed from: the
        v2 session's own, or the static ``shared_secret`` (what a Go peer uses).
        """
        session = self._session
        if session is None:
            return self.shared_secret
        if session.bundle_secret is None:
            raise NotConnectedError("the v2 session with {} is not keyed".format(self.peer_id))
        return session.bundle_secret

    @property
    def _sessions(self) -> bool:
        """Whether this node offers and accepts v2 sessions."""
        return SESSION_V2 in self._owner.features

    def _opened(self, frame: bytes) -> None:
        """A frame from the peer opened: it counts as activity."""
        self.last_activity = self._clock.seconds()
        self.frames_in += 1
        self.bytes_in += len(frame)

    def _envelope_problem(self, message: Message) -> tuple[str, str] | None:
        return envelope_problem(message, peer_id=self.peer_id, local_id=self._owner.identity.id,
                                now=self._clock.seconds(),
                                max_skew_s=self._config.max_clock_skew_s)

    def _log_up(self) -> None:
        self._owner.event("link", "link up: {} {} {} {}, session {}".format(
            clean(self._peer_name(), 64), self.peer_id, self.address, self.direction,
            self.session), peer=self.address, peer_id=self.peer_id)

    def _log_down(self, reason: str) -> None:
        self._owner.event("link", "link down: {} {} {} {}: {}".format(
            clean(self._peer_name(), 64), self.peer_id, self.address, self.direction, reason),
            peer=self.address, peer_id=self.peer_id)

    def _peer_name(self) -> str:
        peer = self.peer
        assert peer is not None, "a link is logged up or down once its handshake is done"
        return peer.name

    if TYPE_CHECKING:
        # The inputs of the state machine each direction defines (automat
        # builds them), and what the later layers of the link define.
        message_received: Callable[[bytes, bool], None]

        def proved(self) -> None: ...
        def drop(self, reason: str, text: str) -> None: ...
        def shutdown(self, reason: str | None = None, code: int | None = None) -> None: ...
        def lost(self, failure: Failure) -> None: ...
        def _tick(self) -> None: ...
        def _accept(self, message: Message) -> None: ...
