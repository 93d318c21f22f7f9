"""
Thin Autobahn protocols for the mesh: each forwards its events to its
link (``_connection``), which holds the state machine and the policy.
"""

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import defer
from twisted.internet.error import ConnectionDone

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


def _options(config):
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


class _Forward:
    """What both protocols forward to their link as frames arrive."""

    link = None

    def onMessageBegin(self, isBinary):
        super().onMessageBegin(isBinary)
        self.link.message_begins()

    def onMessageFrameBegin(self, length):
        super().onMessageFrameBegin(length)
        self.link.fragment_begins(length)

    def onPing(self, payload):
        if self.link.control_frame():
            super().onPing(payload)

    def onPong(self, payload):
        self.link.control_frame()

    def onMessageEnd(self):
        # Autobahn's own also fires its "message" observers through a new
        # future for every message; the mesh registers none.
        if not self.failedByMe:
            self.onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None

    def onMessage(self, payload, isBinary):
        self.link.message_received(payload, isBinary)

    def sendData(self, data, sync=False, chopsize=None):
        # Autobahn's own formats a debug line (its arguments highlighted
        # through click) for every write, logged or not: a tenth of a
        # message's cost.  The same write and counters, without it.
        if sync or chopsize or self.send_queue or self.logOctets or self.state != _OPEN:
            super().sendData(data, sync, chopsize)
            return
        self.transport.write(data)
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    def onOpen(self):
        self.link.opened()

    def connectionLost(self, reason=ConnectionDone()):
        super().connectionLost(reason)
        if self.failedByMe:
            # Autobahn failed the connection: a WebSocket protocol violation.
            self.link.protocol_error(self.wasNotCleanReason or "WebSocket protocol error")
        self.link.lost(reason)


class MeshServerProtocol(_Forward, QuietOptions, WebSocketServerProtocol):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """The responder's WebSocket: every event goes to its :class:`InboundLink`."""

    OPTIONS = WebSocketServerProtocol.CONFIG_ATTRS

    def connectionMade(self):
        self.log = AutobahnLog(self.factory.owner.limiter, peer_text(self.transport.getPeer()))
        super().connectionMade()
        self.link = InboundLink(self.factory.owner, self)

    def failHandshake(self, reason, code=400, responseHeaders=None):
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

    def connectionMade(self):
        factory = self.factory
        self.log = AutobahnLog(factory.owner.limiter, factory.address)
        super().connectionMade()
        self.link = OutboundLink(factory.owner, self, factory.result,
                                 dialled=factory.record_address,
                                 expected_id=factory.expected_id,
                                 expected_key=factory.expected_key)

    def failHandshake(self, reason):
        """The upgrade failed (HTTP 503 over the responder's cap, 404, a bad answer): say so."""
        super().failHandshake(reason)
        self.link.failed(HandshakeError(reason))


class MeshServerFactory(WebSocketServerFactory):
    """The mesh's Autobahn factory; ``owner`` provides ``ILinkOwner``."""

    protocol = MeshServerProtocol
    noisy = False

    def __init__(self, owner, url=None):
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

    def __init__(self, owner, url, *, address, expected_id=None, expected_key=None,
                 record_address=_SAME):
        super().__init__(url=url, reactor=owner.reactor)
        self.owner = owner
        self.address = address
        self.record_address = address if record_address is _SAME else record_address
        self.expected_id = expected_id
        self.expected_key = expected_key
        self.result = defer.Deferred()
        use_reactor_timers(self, owner.reactor)
        # No Origin, no sub-protocol, no compression offered (handshake.md 1).
        self.setProtocolOptions(perMessageCompressionOffers=[], **_options(owner.config))

    def clientConnectionFailed(self, connector, reason):
        if not self.result.called:
            self.result.errback(reason)
