"""
Thin Autobahn protocols for the mesh: each forwards its events to its
link (``_connection``), which holds the state machine and the policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IConnector
from twisted.python.failure import Failure

from lethean.interfaces import ILinkOwner
from lethean.mesh._config import TransportConfig
from lethean.mesh._errors import HandshakeError

from lethean.mesh._inbound import InboundLink
from lethean.mesh._outbound import OutboundLink
from lethean.mesh._listener import TOO_MANY_CONNECTIONS
from lethean.mesh._logs import AutobahnLog, peer_text
from lethean.mesh._stacking import QuietOptions, use_reactor_timers

__all__ = [
    "MeshServerProtocol",
    "MeshClientProtocol",
    "MeshServerFactory",
    "MeshClientFactory",
]


def _options(config: TransportConfig) -> dict[str, Any]:
    return dict(
        maxMessagePayloadSize=config.max_message_bytes,
        maxFramePayloadSize=config.max_message_bytes,
        # Our own deadlines cover the upgrade and the mesh handshake
        # together; Autobahn's is only a backstop behind them.
        openHandshakeTimeout=config.handshake_timeout_s + 1,
        # The reference never sends WebSocket pings and they would not keep
        # a Go peer alive anyway: keepalive is the sealed ``ping`` message.
        autoPingInterval=0,
    )


_OPEN = WebSocketProtocol.STATE_OPEN


if TYPE_CHECKING:
    # What the mixin is mixed into (the server's and the client's share it).
    _WebSocket = WebSocketServerProtocol
else:
    _WebSocket = object


class _Forward(_WebSocket):
    """What both protocols forward to their link as frames arrive."""

    link: Any = None
    #: The TCP (or TLS) transport underneath, once connected.
    transport: Any
    #: Set from the factory's options on connecting.
    logOctets: bool

    def onMessageBegin(self, isBinary: bool) -> None:
        super().onMessageBegin(isBinary)
        self.link.message_begins()

    def onMessageFrameBegin(self, length: int) -> None:
        super().onMessageFrameBegin(length)
        self.link.fragment_begins(length)

    def onPing(self, payload: bytes) -> None:
        if self.link.control_frame():
            super().onPing(payload)

    def onPong(self, payload: bytes) -> None:
        self.link.control_frame()

    def onMessageEnd(self) -> None:
        # Autobahn's own also fires its "message" observers through a new
        # future for every message; the mesh registers none.
        if not self.failedByMe:
            self.onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None  # type: ignore[assignment]  # as Autobahn's own

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.link.message_received(payload, isBinary)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Autobahn's own formats a debug line (its arguments highlighted
        # through click) for every write, logged or not: a tenth of a
        # message's cost.  The same write and counters, without it.
        if sync or chopsize or self.send_queue or self.logOctets or self.state != _OPEN:
            super().sendData(data, sync, chopsize)
            return
        self.transport.write(data)
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    def onOpen(self) -> None:
        self.link.opened()

    def connectionLost(self, reason: Failure = ConnectionDone()) -> None:  # type: ignore[assignment]  # as Autobahn's
        super().connectionLost(reason)
        if self.failedByMe:
            # Autobahn failed the connection: a WebSocket protocol violation.
            self.link.protocol_error(self.wasNotCleanReason or "WebSocket protocol error")
        self.link.lost(reason)


class MeshServerProtocol(_Forward, QuietOptions, WebSocketServerProtocol):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """The responder's WebSocket: every event goes to its :class:`InboundLink`."""

    OPTIONS = WebSocketServerProtocol.CONFIG_ATTRS

    link: InboundLink

    def connectionMade(self) -> None:
        self.log = AutobahnLog(self.factory.owner.limiter, peer_text(self.transport.getPeer()))
        super().connectionMade()
        self.link = InboundLink(self.factory.owner, self)

    def failHandshake(self, reason: str, code: int = 400,
                      responseHeaders: list[tuple[str, str]] | None = None) -> None:
        """Refusals are counted and logged by the link; over the cap, the reference's 503."""
        self.wasNotCleanReason = reason
        if code == 503:
            self.factory.owner.count("refused_capacity")
            self.sendData(TOO_MANY_CONNECTIONS)
        else:
            if code != 403:
                self.factory.owner.report("refused_bad_request", reason, peer=self.link.address)
            self.sendHttpErrorResponse(code, reason, responseHeaders)
        self.dropConnection(abort=False)


class MeshClientProtocol(_Forward, QuietOptions, WebSocketClientProtocol):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """The initiator's WebSocket: every event goes to its :class:`OutboundLink`."""

    OPTIONS = WebSocketClientProtocol.CONFIG_ATTRS

    link: OutboundLink

    def connectionMade(self) -> None:
        factory = self.factory
        self.log = AutobahnLog(factory.owner.limiter, factory.address)
        super().connectionMade()
        self.link = OutboundLink(factory.owner, self, factory.result,
                                 dialled=factory.record_address,
                                 expected_id=factory.expected_id,
                                 expected_key=factory.expected_key)

    def failHandshake(self, reason: str) -> None:  # type: ignore[override]  # the client base's
        """The upgrade failed (HTTP 503 over the responder's cap, 404, a bad answer): say so."""
        super().failHandshake(reason)
        self.link.failed(HandshakeError(reason))


class MeshServerFactory(WebSocketServerFactory):
    """The mesh's Autobahn factory; ``owner`` provides ``ILinkOwner``."""

    protocol = MeshServerProtocol
    noisy = False

    def __init__(self, owner: ILinkOwner, url: str | None = None) -> None:
        super().__init__(url=url, reactor=owner.reactor)
        self.owner = owner
        use_reactor_timers(self, owner.reactor)
        config = owner.config
        self.setProtocolOptions(
            webStatus=False,
            # The listener's pool and link caps come first; this is a backstop.
            maxConnections=config.max_connections + config.max_pending,
            perMessageCompressionAccept=lambda offers: None,
            **_options(config),
        )


_SAME = object()


class MeshClientFactory(WebSocketClientFactory):
    """
    One dial of ``address``: ``result`` fires with the ``OutboundLink`` or
    fails.  ``record_address`` is what the registry keeps for the peer
    (None, as for an endpoint object, keeps the record's own).
    """

    protocol = MeshClientProtocol
    noisy = False

    def __init__(self, owner: ILinkOwner, url: str, *, address: str,
                 expected_id: str | None = None, expected_key: str | None = None,
                 record_address: str | None | object = _SAME) -> None:
        super().__init__(url=url, reactor=owner.reactor)
        self.owner = owner
        self.address = address
        self.record_address = address if record_address is _SAME else record_address
        self.expected_id = expected_id
        self.expected_key = expected_key
        self.result: defer.Deferred[OutboundLink] = defer.Deferred()
        use_reactor_timers(self, owner.reactor)
        # No Origin, no sub-protocol, no compression offered (handshake.md 1).
        self.setProtocolOptions(perMessageCompressionOffers=[], **_options(owner.config))

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if not self.result.called:
            self.result.errback(reason)
