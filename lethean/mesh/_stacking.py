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

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IProducer,
    IProtocol,
    IProtocolFactory,
    IPushProducer,
    IReactorTime,
    ITransport,
)

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

    def __init__(self, websocket: WebSocketServerProtocol | WebSocketClientProtocol) -> None:
        self._websocket = websocket

    def write(self, data: bytes) -> None:
        if not self.disconnecting and data:
            self._websocket.sendMessage(bytes(data), isBinary=True)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if not self.disconnecting:
            self.disconnecting = True
            self._websocket.sendClose(code=1000)

    def abortConnection(self) -> None:
        self.disconnecting = True
        self._websocket.dropConnection(abort=True)

    @property
    def _tcp(self) -> Any:
        """The transport under the WebSocket (TCP or TLS: a consumer and a producer)."""
        return self._websocket.transport

    def getPeer(self) -> IAddress:
        return self._tcp.getPeer()

    def getHost(self) -> IAddress:
        return self._tcp.getHost()

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        self._tcp.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._tcp.unregisterProducer()

    def pauseProducing(self) -> None:
        self._tcp.pauseProducing()

    def resumeProducing(self) -> None:
        self._tcp.resumeProducing()

    def stopProducing(self) -> None:
        self.abortConnection()


class _ReactorCall:
    """One Autobahn timer; cancelling it twice or after it ran is harmless."""

    def __init__(self, delayed_call: IDelayedCall) -> None:
        self._delayed_call = delayed_call

    def cancel(self) -> None:
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

    def __init__(self, reactor: IReactorTime) -> None:
        self._reactor = reactor

    def call_later(self, delay: float, func: Callable[..., object], *args: object,
                   **kwargs: object) -> _ReactorCall:
        return _ReactorCall(self._reactor.callLater(delay, func, *args, **kwargs))


def use_reactor_timers(factory: WebSocketServerFactory | WebSocketClientFactory,
                       reactor: IReactorTime) -> None:
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
    factory: Any

    def connectionMade(self) -> None:
        factory = self.factory
        for name in self.OPTIONS:
            setattr(self, name, getattr(factory, name))
        super().connectionMade()  # type: ignore[misc]  # the Autobahn base's, after this mixin


if TYPE_CHECKING:
    # What the mixin is mixed into (the server's and the client's share it).
    _WebSocket = WebSocketServerProtocol
else:
    _WebSocket = object


class _StackedMixin(_WebSocket):
    """What server and client connections share: drive the inner protocol."""

    _inner: IProtocol | None = None
    _inner_lost = False

    def _start_inner(self, wrapped_factory: IProtocolFactory) -> None:
        transport = self.transport
        assert transport is not None, "the inner protocol starts once the WebSocket is open"
        inner = wrapped_factory.buildProtocol(transport.getPeer())
        if inner is None:
            self.sendClose(code=1000)
            return
        self._inner = inner
        inner.makeConnection(WebSocketTransport(self))

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
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

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
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

    def onConnect(self, request: ConnectionRequest) -> None:
        self._wrapped_factory = self.factory.route(request.path)
        if self._wrapped_factory is None:
            raise ConnectionDeny(ConnectionDeny.NOT_FOUND, "no service at this path")
        return None

    def onOpen(self) -> None:
        self._start_inner(self._wrapped_factory)


class StackedClientProtocol(_StackedMixin, QuietOptions, WebSocketClientProtocol):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """Client side: relay between the inner protocol and the WebSocket."""

    OPTIONS = WebSocketClientProtocol.CONFIG_ATTRS

    def onOpen(self) -> None:
        self._start_inner(self.factory.wrapped_factory)


class _StackedServerFactory(WebSocketServerFactory):
    protocol = StackedServerProtocol
    noisy = False

    def __init__(self, routes: Mapping[str | None, IProtocolFactory | None],
                 **kwargs: Any) -> None:

        super().__init__(**kwargs)
        self.routes = routes

    def route(self, path: str) -> IProtocolFactory | None:
        """The inner factory serving ``path``, or ``None``."""
        if None in self.routes:
            return self.routes[None]
        return self.routes.get(path)


class _StackedClientFactory(WebSocketClientFactory):
    protocol = StackedClientProtocol
    noisy = False

    def __init__(self, wrapped_factory: IProtocolFactory, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wrapped_factory = wrapped_factory


def _limits(max_message_bytes: int, open_handshake_timeout_s: float,
            auto_ping_interval_s: float, auto_ping_timeout_s: float) -> dict[str, Any]:
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
    wrapped_factory: IProtocolFactory | None = None,
    *,
    reactor: IReactorTime,
    url: str | None = None,
    routes: Mapping[str, IProtocolFactory] | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_connections: int = 0,
    open_handshake_timeout_s: float = OPEN_HANDSHAKE_TIMEOUT_S,
    auto_ping_interval_s: float = AUTO_PING_INTERVAL_S,
    auto_ping_timeout_s: float = AUTO_PING_TIMEOUT_S,
) -> WebSocketServerFactory:
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
    table: Mapping[str | None, IProtocolFactory | None] = (
        {None: wrapped_factory} if routes is None
        else cast("Mapping[str | None, IProtocolFactory | None]", routes))
    factory = _StackedServerFactory(table, url=url, reactor=reactor)
    use_reactor_timers(factory, reactor)
    factory.setProtocolOptions(
        webStatus=False,
        maxConnections=max_connections,
        **_limits(max_message_bytes, open_handshake_timeout_s,
                  auto_ping_interval_s, auto_ping_timeout_s),
    )
    return factory


def stacked_client_factory(
    wrapped_factory: IProtocolFactory,
    url: str,
    *,
    reactor: IReactorTime,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    open_handshake_timeout_s: float = OPEN_HANDSHAKE_TIMEOUT_S,
    auto_ping_interval_s: float = AUTO_PING_INTERVAL_S,
    auto_ping_timeout_s: float = AUTO_PING_TIMEOUT_S,
) -> WebSocketClientFactory:
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
