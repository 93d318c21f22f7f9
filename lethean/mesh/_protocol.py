"""
Thin Autobahn protocols for the mesh: HTTP checks, the handshake state
machine, then binary frames handed to a :class:`MeshConnection`.

The decisions live elsewhere (``_handshake`` decides, ``_connection``
polices frames); these classes only move bytes and keep the 10 s handshake
deadline on the injected reactor.
"""

from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger

from lethean.errors import LetheanError
from lethean.identity import generate_challenge
from lethean.mesh._connection import MeshConnection
from lethean.mesh._errors import HandshakeError, HandshakeTimeoutError
from lethean.mesh._handshake import Accept, Reject, handshake_message, respond, verify_ack
from lethean.mesh._stacking import StackedServerProtocol, _StackedServerFactory, use_reactor_timers

__all__ = [
    "MeshServerProtocol",
    "MeshClientProtocol",
    "MeshServerFactory",
    "MeshClientFactory",
    "origin_allowed",
]

_log = Logger()

#: The reference's answer past MaxConns (Go net/http's http.Error).
_TOO_MANY_BODY = b"Too many connections\n"
_TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n\r\n" % len(_TOO_MANY_BODY)
) + _TOO_MANY_BODY

AWAIT_HANDSHAKE = "await_handshake"
AWAIT_ACK = "await_ack"
OPEN = "open"
CLOSED = "closed"


def origin_allowed(origin, hosts):
    """The reference's Origin rule: absent, or a URL whose host is one of ``hosts``."""
    if not origin:
        # Autobahn reports a missing header as "".
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    return host is not None and host in hosts


def _options(config):
    return dict(
        maxMessagePayloadSize=config.max_message_bytes,
        maxFramePayloadSize=config.max_message_bytes,
        # Our own deadline (``_arm``) covers the upgrade and the mesh
        # handshake together; Autobahn's is only a backstop behind it.
        openHandshakeTimeout=config.handshake_timeout_s + 1,
        # The reference never sends WebSocket pings and they would not keep
        # a Go peer alive anyway: keepalive is the sealed ``ping`` message.
        autoPingInterval=0,
    )


class _MeshMixin:
    """What both sides share: deadline, frame routing, loss."""

    _state = None
    _timer = None
    connection = None

    def _arm(self):
        self._timer = self.factory.owner.reactor.callLater(
            self.factory.owner.config.handshake_timeout_s, self._timed_out)
        self.factory.owner.handshaking.add(self)

    def _disarm(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.factory.owner.handshaking.discard(self)

    def _timed_out(self):
        self._timer = None
        self._fail("handshake_timeout", "no mesh handshake within {} s".format(
            self.factory.owner.config.handshake_timeout_s), HandshakeTimeoutError)

    def _fail(self, counter, reason, error=HandshakeError, peer_id=""):
        """Handshake failure: one warning, one count, drop the TCP connection."""
        owner = self.factory.owner
        owner.count(counter)
        # Reasons may quote attacker input: keep log lines bounded.
        _log.warn("dropped {peer} ({peer_id}): {reason}", peer=self.peer, peer_id=peer_id[:64],
                  reason=reason[:300])
        self._state = CLOSED
        self._disarm()
        self._handshake_failed(error(reason))
        if self.transport is not None:
            self.transport.abortConnection()

    def _handshake_failed(self, error):
        pass

    def _open_link(self, peer, secret, outbound):
        self._disarm()
        self._state = OPEN
        self.connection = MeshConnection(self.factory.owner, self, peer, secret, outbound=outbound)
        self.connection.start()
        return self.connection

    def _mesh_message(self, payload, is_binary):
        try:
            self._route_frame(payload, is_binary)
        except Exception:
            # A bug, not bad input (that is handled below): never let it
            # escape into Autobahn; drop this peer only.
            _log.failure("mesh frame handling failed for {peer}", peer=self.peer)
            if self.transport is not None:
                self.transport.abortConnection()

    def _route_frame(self, payload, is_binary):
        if self._state == OPEN:
            if not is_binary:
                self.connection._drop("text frame after the handshake")
                self.factory.owner.count("dropped_text_frame")
                return
            self.connection.frame_received(payload)
        elif self._state is not None and self._state != CLOSED:
            self._handshake_frame(payload, is_binary)

    def _mesh_lost(self, reason):
        self._disarm()
        state, self._state = self._state, CLOSED
        if self.connection is not None:
            self.connection.connection_lost()
        elif state != CLOSED:
            self._handshake_failed(HandshakeError("connection lost during the handshake: {}".format(
                reason.getErrorMessage())))


class MeshServerProtocol(_MeshMixin, StackedServerProtocol):
    """
    The responder: the mesh at ``ws_path``; other paths go to the stacked
    routes (``/ueps``, ``/levin``) sharing the port, else HTTP 404.
    """

    _mesh = False

    def connectionMade(self):
        super().connectionMade()
        self._arm()

    def failHandshake(self, reason, code=400, responseHeaders=None):
        """Over the cap, answer as the reference does: 503, plain text."""
        if code != 503:
            return super().failHandshake(reason, code, responseHeaders)
        self.wasNotCleanReason = reason
        self.factory.owner.count("rejected_capacity")
        _log.info("refused {peer}: {reason}", peer=self.peer, reason="too many connections")
        self.sendData(_TOO_MANY_CONNECTIONS)
        self.dropConnection(abort=False)
        return None

    def onConnect(self, request):
        owner = self.factory.owner
        if request.path != owner.config.ws_path:
            self._disarm()
            return super().onConnect(request)
        if not origin_allowed(request.origin, owner.config.allowed_origin_hosts):
            owner.count("rejected_origin")
            _log.warn("refused {peer}: {reason}", peer=self.peer, peer_id="",
                      reason="origin {!r} not allowed".format(request.origin[:200]))
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "origin not allowed")
        self._mesh = True
        return None

    def onOpen(self):
        if not self._mesh:
            return super().onOpen()
        self._state = AWAIT_HANDSHAKE

    def onMessage(self, payload, isBinary):
        if not self._mesh:
            return super().onMessage(payload, isBinary)
        self._mesh_message(payload, isBinary)

    def _handshake_frame(self, payload, is_binary):
        if is_binary:
            self._fail("handshake_dropped", "binary frame during the handshake")
            return
        owner = self.factory.owner
        decision = respond(owner.identity, owner.registry, payload, clock=owner.reactor)
        if isinstance(decision, Accept):
            self.sendMessage(decision.ack.to_bytes(), isBinary=False)
            owner.count("handshake_accepted")
            owner.pending(self._open_link(decision.peer, decision.shared_secret, False))
        elif isinstance(decision, Reject):
            self.sendMessage(decision.ack.to_bytes(), isBinary=False)
            owner.count("handshake_rejected:" + decision.kind)
            _log.warn("rejected {peer} ({peer_id}): {reason}", peer=self.peer,
                      peer_id=decision.peer_id, reason=decision.reason)
            self._state = CLOSED
            self._disarm()
            # The ack is already in the socket buffer; loseConnection sends it first.
            self.transport.loseConnection()
        else:
            self._fail("handshake_dropped", decision.reason, peer_id=decision.peer_id)

    def connectionLost(self, reason=ConnectionDone()):
        super().connectionLost(reason)
        self._disarm()
        if self._mesh:
            self._mesh_lost(reason)


class MeshClientProtocol(_MeshMixin, WebSocketClientProtocol):
    """The initiator: send the handshake, verify the ack, then sealed frames."""

    #: Why the HTTP upgrade failed (503 over the responder's cap, 404, ...).
    _refused = None

    def connectionMade(self):
        super().connectionMade()
        self._arm()

    def failHandshake(self, reason):
        """The upgrade failed (an HTTP error such as 503, or a bad answer): fail with why."""
        self._refused = reason
        return super().failHandshake(reason)

    def onOpen(self):
        owner = self.factory.owner
        self._challenge = generate_challenge()
        message = handshake_message(owner.identity, self.factory.expected_id or "",
                                    self._challenge, clock=owner.reactor)
        self._state = AWAIT_ACK
        self.sendMessage(message.to_bytes(), isBinary=False)

    def onMessage(self, payload, isBinary):
        self._mesh_message(payload, isBinary)

    def _handshake_frame(self, payload, is_binary):
        owner = self.factory.owner
        try:
            peer, secret = verify_ack(owner.identity, payload, self._challenge,
                                      max_bytes=owner.config.max_message_bytes,
                                      expected_key=self.factory.expected_key,
                                      expected_id=self.factory.expected_id)
        except LetheanError as e:
            error = e
        else:
            self.factory.handshake_done(self._open_link(peer, secret, True))
            return
        self._fail("handshake_failed:" + error.kind, str(error), lambda _: error,
                   peer_id=self.factory.expected_id or "")

    def _handshake_failed(self, error):
        if self._refused is not None:
            error = HandshakeError(self._refused)
        self.factory.handshake_failed(error)

    def connectionLost(self, reason=ConnectionDone()):
        super().connectionLost(reason)
        self._mesh_lost(reason)


class MeshServerFactory(_StackedServerFactory):
    """Serves the mesh at ``owner.config.ws_path`` and ``routes`` beside it."""

    protocol = MeshServerProtocol

    def __init__(self, owner, routes=None, url=None):
        super().__init__(dict(routes or {}), url=url, reactor=owner.reactor)
        self.owner = owner
        use_reactor_timers(self, owner.reactor)
        self.setProtocolOptions(
            webStatus=False,
            maxConnections=owner.config.max_connections,
            perMessageCompressionAccept=lambda offers: None,
            **_options(owner.config),
        )

    def route(self, path):
        return self.routes.get(path)


class MeshClientFactory(WebSocketClientFactory):
    """One dial: its Deferred fires with the ``MeshConnection`` or fails."""

    protocol = MeshClientProtocol

    def __init__(self, owner, url, *, expected_id=None, expected_key=None):
        super().__init__(url=url, reactor=owner.reactor)
        self.owner = owner
        self.expected_id = expected_id
        self.expected_key = expected_key
        self.result = defer.Deferred()
        use_reactor_timers(self, owner.reactor)
        # No Origin, no sub-protocol, no compression offered (handshake.md 1).
        self.setProtocolOptions(perMessageCompressionOffers=[], **_options(owner.config))

    def handshake_done(self, connection):
        if not self.result.called:
            self.result.callback(connection)

    def handshake_failed(self, error):
        if not self.result.called:
            self.result.errback(error)

    def clientConnectionFailed(self, connector, reason):
        self.handshake_failed(reason)
