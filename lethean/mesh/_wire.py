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

from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementedBy, implementer, providedBy

from lethean.mesh._errors import DroppedError

__all__ = ["Wire", "WireFactory", "DroppedError"]


#: transport class -> the interfaces its instances provide, TLS left out
_CLASS_INTERFACES: dict[type, tuple] = {}


def _interfaces_without_tls(transport):
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


def _without_tls(provided):
    return tuple(interface for interface in provided.interfaces()
                 if not interface.isOrExtends(ISSLTransport))


@implementer(IPushProducer)
class _WriteWatch:
    """The producer the real transport pauses when its write buffer is full."""

    def __init__(self, wire):
        self._wire = wire

    def pauseProducing(self):
        self._wire.write_paused(True)

    def resumeProducing(self):
        self._wire.write_paused(False)

    def stopProducing(self):
        pass


class Wire(ProtocolWrapper):
    """
    One connection's bytes, wrapping the Autobahn protocol.

    ``owner`` provides ``ILinkOwner`` (its ``config.max_send_buffer_bytes``).  :meth:`drop` aborts the connection and hands the
    wrapped protocol a :class:`DroppedError` saying why.
    """

    def __init__(self, factory, wrapped, owner):
        super().__init__(factory, wrapped)
        self.owner = owner
        self.unsent_bytes = 0
        self._paused = False
        self._watch = None
        self._producer = None
        self._dropped = None

    def makeConnection(self, transport):
        # Look like the transport underneath, except for TLS: Autobahn would
        # then ask this wrapper for TLS channel bindings the mesh never uses.
        directlyProvides(self, *_interfaces_without_tls(transport))
        Protocol.makeConnection(self, transport)

    def connectionMade(self):
        self._watch = _WriteWatch(self)
        try:
            self.transport.registerProducer(self._watch, True)
        except RuntimeError:
            self._watch = None
        if self.wrappedProtocol is not None:
            self.wrappedProtocol.makeConnection(self)

    # -- the send budget ------------------------------------------------------

    def write_paused(self, paused):
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
    def registerProducer(self, producer, streaming):
        self._producer = producer
        if not streaming:
            producer.resumeProducing()

    def unregisterProducer(self):
        self._producer = None

    def write(self, data):
        if self._dropped is not None:
            return
        if self._paused:
            self.unsent_bytes += len(data)
            if self.unsent_bytes > self.owner.config.max_send_buffer_bytes:
                self.drop("dropped_slow_reader", "send buffer over {} bytes: peer is not reading"
                          .format(self.owner.config.max_send_buffer_bytes))
                return
        self.transport.write(data)

    def writeSequence(self, data):
        self.write(b"".join(data))

    # -- closing ----------------------------------------------------------------

    def _release(self):
        # A transport with a registered producer waits for it before closing
        # (TLS would never send its close_notify).
        if self._watch is not None:
            self._watch = None
            self.transport.unregisterProducer()

    def loseConnection(self):
        self.disconnecting = 1
        self._release()
        self.transport.loseConnection()

    def abortConnection(self):
        self.disconnecting = 1
        self._release()
        self.transport.abortConnection()

    def drop(self, reason, text):
        """
        Abort at once; the wrapped protocol's ``connectionLost`` gets a
        :class:`DroppedError` with ``reason`` (a counter name) and ``text``.
        """
        if self._dropped is not None:
            return
        self._dropped = DroppedError(reason, text)
        self.abortConnection()

    def connectionLost(self, reason):
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

    def __init__(self, wrapped, owner):
        self.wrapped = wrapped
        self.owner = owner

    def buildProtocol(self, addr):
        inner = self.wrapped.buildProtocol(addr)
        if inner is None:
            return None
        return self.protocol(self, inner, self.owner)

    def clientConnectionFailed(self, connector, reason):
        self.wrapped.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector, reason):
        self.wrapped.clientConnectionLost(connector, reason)
