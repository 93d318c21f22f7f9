"""
The byte stream under a mesh WebSocket: a send budget every write counts
against, and the reason a connection was dropped.

Autobahn writes more than our messages: handshake answers, close frames and
the pongs it sends by itself for every ping a peer sends.  :class:`Wire`
sits under Autobahn, so every one of those writes passes through it.  It is
the streaming producer of the real transport: while the transport says its
buffer is full, the bytes written meanwhile are counted, and a peer that
lets more than the budget pile up is not reading and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import (
    IAddress,
    IConnector,
    IProtocol,
    IPushProducer,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import ClientFactory, Factory, Protocol, connectionDone

from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementedBy, implementer, providedBy
from zope.interface.interface import InterfaceClass

from lethean.mesh._errors import DroppedError

if TYPE_CHECKING:
    from lethean.interfaces import ILinkOwner


__all__ = ["Wire", "WireFactory"]


#: transport class -> the interfaces its instances provide, TLS left out
_CLASS_INTERFACES: dict[type, tuple[InterfaceClass, ...]] = {}


def _interfaces_without_tls(transport: object) -> tuple[InterfaceClass, ...]:
    """
    What ``transport`` provides, but TLS.  Walking a transport's interfaces
    costs more than the rest of accepting a connection, so it is done once
    per transport class (instances that declare more are walked each time).
    """
    provided = providedBy(transport)
    cls = type(transport)
    if provided is not implementedBy(cls):
        return _without_tls(provided)
    interfaces = _CLASS_INTERFACES.get(cls)
    if interfaces is None:
        interfaces = _CLASS_INTERFACES[cls] = _without_tls(provided)
    return interfaces


def _without_tls(provided: Any) -> tuple[InterfaceClass, ...]:
    # ``provided`` is a zope Declaration, whose stubs say interfaces() returns None.
    return tuple(interface for interface in provided.interfaces()
                 if not interface.isOrExtends(ISSLTransport))


@implementer(IPushProducer)
class _WriteWatch:
    """The producer the real transport pauses when its write buffer is full."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire

    def pauseProducing(self) -> None:
        self._wire.write_paused(True)

    def resumeProducing(self) -> None:
        self._wire.write_paused(False)

    def stopProducing(self) -> None:
        pass


class Wire(ProtocolWrapper):
    """
    One connection's bytes, wrapping the Autobahn protocol.

    ``owner`` provides ``ILinkOwner`` (its ``config.max_send_buffer_bytes``).  :meth:`drop` aborts the connection and hands the
    wrapped protocol a :class:`DroppedError` saying why.
    """

    #: The real transport underneath: TCP or TLS, a consumer with a producer.
    transport: Any
    #: None until an UpgradeGate has routed, and once the connection is lost.
    wrappedProtocol: Any

    def __init__(self, factory: Factory, wrapped: IProtocol | None, owner: ILinkOwner) -> None:
        # A WireFactory (or the listener) is no WrappingFactory, and an
        # UpgradeGate has no wrapped protocol until it has routed.
        super().__init__(factory, wrapped)  # type: ignore[arg-type]
        self.owner = owner
        self.unsent_bytes = 0
        self._paused = False
        self._watch: _WriteWatch | None = None
        self._producer: IPushProducer | None = None
        self._dropped: DroppedError | None = None

    def makeConnection(self, transport: ITransport) -> None:
        # Look like the transport underneath, except for TLS: Autobahn would
        # then ask this wrapper for TLS channel bindings the mesh never uses.
        directlyProvides(self, *_interfaces_without_tls(transport))
        Protocol.makeConnection(self, transport)

    def connectionMade(self) -> None:
        self._watch = _WriteWatch(self)
        try:
            self.transport.registerProducer(self._watch, True)
        except RuntimeError:
            self._watch = None
        if self.wrappedProtocol is not None:
            self.wrappedProtocol.makeConnection(self)

    # -- the send budget ------------------------------------------------------

    def write_paused(self, paused: bool) -> None:
        """The real transport's buffer is full (True) or drained (False)."""
        self._paused = paused
        if not paused:
            self.unsent_bytes = 0
        if self._producer is not None:
            if paused:
                self._producer.pauseProducing()
            else:
                self._producer.resumeProducing()

    # The wrapped protocol's producer hears of the real transport's pauses
    # through us: the real transport has one producer, our watch.
    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        self._producer = producer
        if not streaming:
            producer.resumeProducing()

    def unregisterProducer(self) -> None:
        self._producer = None

    def write(self, data: bytes) -> None:
        if self._dropped is not None:
            return
        if self._paused:
            self.unsent_bytes += len(data)
            if self.unsent_bytes > self.owner.config.max_send_buffer_bytes:
                self.drop("dropped_slow_reader", "send buffer over {} bytes: peer is not reading"
                          .format(self.owner.config.max_send_buffer_bytes))
                return
        self.transport.write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    # -- closing ----------------------------------------------------------------

    def _release(self) -> None:
        # A transport with a registered producer waits for it before closing
        # (TLS would never send its close_notify).
        if self._watch is not None:
            self._watch = None
            self.transport.unregisterProducer()

    def loseConnection(self) -> None:
        self.disconnecting = 1
        self._release()
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        self.disconnecting = 1
        self._release()
        self.transport.abortConnection()

    def drop(self, reason: str, text: str) -> None:
        """
        Abort at once; the wrapped protocol's ``connectionLost`` gets a
        :class:`DroppedError` with ``reason`` (a counter name) and ``text``.
        """
        if self._dropped is not None:
            return
        self._dropped = DroppedError(reason, text)
        self.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._watch = None
        if self._dropped is not None:
            reason = Failure(self._dropped)
        wrapped, self.wrappedProtocol = self.wrappedProtocol, None
        if wrapped is not None:
            wrapped.connectionLost(reason)


class WireFactory(Factory):
    """Wraps each protocol of ``wrapped`` (an Autobahn factory) in a :class:`Wire`."""

    noisy = False
    protocol = Wire

    def __init__(self, wrapped: ClientFactory, owner: ILinkOwner) -> None:
        self.wrapped = wrapped
        self.owner = owner

    def buildProtocol(self, addr: IAddress | None) -> Wire | None:
        inner = self.wrapped.buildProtocol(addr)
        if inner is None:
            return None
        return self.protocol(self, inner, self.owner)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.wrapped.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        self.wrapped.clientConnectionLost(connector, reason)
