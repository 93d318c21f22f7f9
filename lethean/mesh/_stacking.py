"""
Run an ordinary byte-stream ``Protocol`` inside a WebSocket connection.

UEPS and Levin are stream protocols: they read bytes split anywhere and write
bytes.  Stacked under WebSocket, each ``transport.write`` of the inner
protocol becomes one binary message and each binary message received is fed
to the inner protocol's ``dataReceived``; the stream parsers do not care where
the message boundaries fall.

This is deliberately not Autobahn's ``WrappingWebSocket*Factory``: that one
passes ``None`` as the peer address and negotiates permessage-deflate, which
let compressed messages evade the size limit (autobahn #1909).  Here every
Autobahn limit is set explicitly and compression is never negotiated.
"""

from collections.abc import Sequence

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IPushProducer, ITransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from lethean._compat import set_autobahn_timer

__all__ = [
    "WebSocketTransport",
    "ReactorTimer",
    "use_reactor_timers",
    "QuietOptions",
    "StackedServerProtocol",
    "StackedClientProtocol",
    "stacked_server_factory",
    "stacked_client_factory",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "OPEN_HANDSHAKE_TIMEOUT_S",
    "AUTO_PING_INTERVAL_S",
    "AUTO_PING_TIMEOUT_S",
]

_log = Logger()

#: Largest WebSocket message (and frame) a stacked connection accepts.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
#: A peer must finish the HTTP upgrade within this time.
OPEN_HANDSHAKE_TIMEOUT_S = 10.0
#: WebSocket-level ping interval and how long to wait for the pong.
AUTO_PING_INTERVAL_S = 30.0
AUTO_PING_TIMEOUT_S = 20.0

#: Close code for a text frame on a binary-only connection (RFC 6455 7.4.1).
CLOSE_UNSUPPORTED_DATA = 1003


@implementer(ITransport, IPushProducer)
class WebSocketTransport:
    """
    The ``ITransport`` an inner protocol sees on a WebSocket connection.

    ``write`` sends one binary message, ``loseConnection`` starts the
    WebSocket closing handshake, ``abortConnection`` drops the TCP connection
    at once; producer calls go to the TCP transport underneath, so
    backpressure works as on plain TCP.
    """

    disconnecting = False

    def __init__(self, websocket):
        self._websocket = websocket

    def write(self, data):
        if not self.disconnecting and data:
            self._websocket.sendMessage(bytes(data), isBinary=True)

    def writeSequence(self, data):
        self.write(b"".join(data))

    def loseConnection(self):
        if not self.disconnecting:
            self.disconnecting = True
            self._websocket.sendClose(code=1000)

    def abortConnection(self):
        self.disconnecting = True
        self._websocket.dropConnection(abort=True)

    def getPeer(self):
        return self._websocket.transport.getPeer()

    def getHost(self):
        return self._websocket.transport.getHost()

    def registerProducer(self, producer, streaming):
        self._websocket.transport.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self._websocket.transport.unregisterProducer()

    def pauseProducing(self):
        self._websocket.transport.pauseProducing()

    def resumeProducing(self):
        self._websocket.transport.resumeProducing()

    def stopProducing(self):
        self.abortConnection()


class _ReactorCall:
    """One Autobahn timer; cancelling it twice or after it ran is harmless."""

    def __init__(self, delayed_call):
        self._delayed_call = delayed_call

    def cancel(self):
        if self._delayed_call.active():
            self._delayed_call.cancel()


class ReactorTimer:
    """
    Autobahn's ``IBatchedTimer`` on a reactor of our choosing.

    Autobahn schedules its handshake, ping and close timeouts on txaio's
    global loop through a batched timer whose cancelled calls stay pending.
    Installing this on a factory puts those timers on the injected reactor
    (a ``Clock`` in tests) and really cancels them.
    """

    def __init__(self, reactor):
        self._reactor = reactor

    def call_later(self, delay, func, *args, **kwargs):
        return _ReactorCall(self._reactor.callLater(delay, func, *args, **kwargs))


def use_reactor_timers(factory, reactor):
    """Run ``factory``'s Autobahn timers on ``reactor`` (see ReactorTimer)."""
    set_autobahn_timer(factory, ReactorTimer(reactor))


class QuietOptions:
    """
    Copies the factory's Autobahn options onto each connection itself.

    Autobahn's own copy also pretty-prints all fifty of them for a debug
    line it builds on every connection, logged or not: a quarter of what
    accepting a WebSocket costs.  A protocol class mixing this in before
    its Autobahn base names the options in ``OPTIONS`` (that base's
    ``CONFIG_ATTRS``), and Autobahn is left nothing to copy or print.
    """

    CONFIG_ATTRS: Sequence[str] = ()
    OPTIONS: Sequence[str] = ()

    def connectionMade(self):
        factory = self.factory
        for name in self.OPTIONS:
            setattr(self, name, getattr(factory, name))
        super().connectionMade()


class _StackedMixin:
    """What server and client connections share: drive the inner protocol."""

    _inner = None
    _inner_lost = False

    def _start_inner(self, wrapped_factory):
        inner = wrapped_factory.buildProtocol(self.transport.getPeer())
        if inner is None:
            self.sendClose(code=1000)
            return
        self._inner = inner
        inner.makeConnection(WebSocketTransport(self))

    def onMessage(self, payload, isBinary):
        if self._inner is None or self._inner_lost:
            return
        if not isBinary:
            _log.warn(
                "dropped {peer}: {reason}",
                peer=self.peer,
                reason="text frame on a binary-only connection",
            )
            # sendClose() only takes application codes; 1003 is a protocol one.
            self.sendCloseFrame(
                code=CLOSE_UNSUPPORTED_DATA, reasonUtf8=b"binary frames only")
            return
        self._inner.dataReceived(payload)

    def onClose(self, wasClean, code, reason):
        if self._inner is None or self._inner_lost:
            return
        self._inner_lost = True
        if wasClean:
            failure = Failure(ConnectionDone("WebSocket closed with code {}".format(code)))
        else:
            failure = Failure(ConnectionLost(reason or "WebSocket connection lost"))
        self._inner.connectionLost(failure)


class StackedServerProtocol(_StackedMixin, QuietOptions, WebSocketServerProtocol):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """Server side: pick the inner factory by request path, then relay."""

    OPTIONS = WebSocketServerProtocol.CONFIG_ATTRS

    def onConnect(self, request):
        self._wrapped_factory = self.factory.route(request.path)
        if self._wrapped_factory is None:
            raise ConnectionDeny(ConnectionDeny.NOT_FOUND, "no service at this path")
        return None

    def onOpen(self):
        self._start_inner(self._wrapped_factory)


class StackedClientProtocol(_StackedMixin, QuietOptions, WebSocketClientProtocol):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """Client side: relay between the inner protocol and the WebSocket."""

    OPTIONS = WebSocketClientProtocol.CONFIG_ATTRS

    def onOpen(self):
        self._start_inner(self.factory.wrapped_factory)


class _StackedServerFactory(WebSocketServerFactory):
    protocol = StackedServerProtocol
    noisy = False

    def __init__(self, routes, **kwargs):
        super().__init__(**kwargs)
        self.routes = routes

    def route(self, path):
        """The inner factory serving ``path``, or ``None``."""
        if None in self.routes:
            return self.routes[None]
        return self.routes.get(path)


class _StackedClientFactory(WebSocketClientFactory):
    protocol = StackedClientProtocol
    noisy = False

    def __init__(self, wrapped_factory, **kwargs):
        super().__init__(**kwargs)
        self.wrapped_factory = wrapped_factory


def _limits(max_message_bytes, open_handshake_timeout_s, auto_ping_interval_s,
            auto_ping_timeout_s):
    return dict(
        maxMessagePayloadSize=max_message_bytes,
        maxFramePayloadSize=max_message_bytes,
        openHandshakeTimeout=open_handshake_timeout_s,
        autoPingInterval=auto_ping_interval_s,
        autoPingTimeout=auto_ping_timeout_s,
        # Never negotiate permessage-deflate: a compressed message could
        # expand past the size limit (autobahn #1909).
        perMessageCompressionAccept=lambda offers: None,
    )


def stacked_server_factory(
    wrapped_factory=None,
    *,
    reactor,
    url=None,
    routes=None,
    max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
    max_connections=0,
    open_handshake_timeout_s=OPEN_HANDSHAKE_TIMEOUT_S,
    auto_ping_interval_s=AUTO_PING_INTERVAL_S,
    auto_ping_timeout_s=AUTO_PING_TIMEOUT_S,
):
    """
    A WebSocket server factory whose connections each run an inner protocol.

    Give either ``wrapped_factory`` (served at every path) or ``routes``, a
    mapping of request path (``"/ueps"``) to inner factory; other paths are
    refused with HTTP 404.  ``max_connections`` (0 for none) counts
    connections still in the HTTP upgrade too, and answers HTTP 503 over it.
    Listen on the result with any Twisted server endpoint.
    """
    if (wrapped_factory is None) == (routes is None):
        raise TypeError("give exactly one of wrapped_factory and routes")
    if routes is None:
        routes = {None: wrapped_factory}
    factory = _StackedServerFactory(routes, url=url, reactor=reactor)
    use_reactor_timers(factory, reactor)
    factory.setProtocolOptions(
        webStatus=False,
        maxConnections=max_connections,
        **_limits(max_message_bytes, open_handshake_timeout_s,
                  auto_ping_interval_s, auto_ping_timeout_s),
    )
    return factory


def stacked_client_factory(
    wrapped_factory,
    url,
    *,
    reactor,
    max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
    open_handshake_timeout_s=OPEN_HANDSHAKE_TIMEOUT_S,
    auto_ping_interval_s=AUTO_PING_INTERVAL_S,
    auto_ping_timeout_s=AUTO_PING_TIMEOUT_S,
):
    """
    A WebSocket client factory that runs ``wrapped_factory``'s protocol.

    ``url`` is the WebSocket URL to request (``ws://host:port/ueps``); connect
    the result with a Twisted client endpoint to the same host and port.
    """
    factory = _StackedClientFactory(wrapped_factory, url=url, reactor=reactor)
    use_reactor_timers(factory, reactor)
    options = _limits(max_message_bytes, open_handshake_timeout_s,
                      auto_ping_interval_s, auto_ping_timeout_s)
    del options["perMessageCompressionAccept"]
    # A client that offers no compression is never sent compressed frames.
    factory.setProtocolOptions(perMessageCompressionOffers=[], **options)
    return factory
