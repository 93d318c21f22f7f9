"""
The listening side before WebSocket: read the upgrade request under a byte
budget and a deadline, route it by path, and keep strangers in a bounded
pool until they prove who they are.

Autobahn buffers an upgrade request without limit and answers every path
itself.  Here :class:`UpgradeGate`, a thin ``ProtocolWrapper``, reads the
request line and headers first (at most ``max_request_bytes``), answers a
wrong path, a foreign browser Origin or a full node itself, and only then hands the bytes it buffered
to the Autobahn factory of the path: the mesh at ``ws_path``, or a stacked
stream protocol (``/ueps``, ``/levin``).

Every connection that has not authenticated sits in the pending pool
(``_admission``): reading its request, upgrading, handshaking, and, for a
mesh initiator, until its first sealed frame proves its key; each step it
takes puts it behind the connections that stalled longer, should the full
pool have to evict one.  Before that,
:class:`~lethean.mesh._admission.AddressFilter` has refused, as it was
accepted, a connection from an address over its per-address limits.  One
deadline covers the upgrade and the mesh handshake
(``handshake_timeout_s``); an accepted initiator then has
``prove_timeout_s`` (a Go initiator may stay silent until its first
keepalive, 30 s after the handshake).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.internet.protocol import Factory, connectionDone

from twisted.python.failure import Failure
from zope.interface import implementer

from lethean.interfaces import IAdmission
from lethean.mesh._admission import AddressFilter, Admission
from lethean.mesh._logs import peer_text
from lethean.mesh._wire import Wire

if TYPE_CHECKING:
    from lethean.interfaces import ILinkOwner


__all__ = [
    "MeshListener",
    "UpgradeGate",
    "REQUEST",
    "UPGRADE",
    "PROVING",
    "http_answer",
    "origin_allowed",
    "TOO_MANY_CONNECTIONS",
]

#: Stages of an unauthenticated connection (which deadline applies).
REQUEST, UPGRADE, PROVING = 0, 1, 2

_STATUS = {
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def http_answer(code: int, body: bytes) -> bytes:
    """A plain-text HTTP answer as Go's ``http.Error`` writes it (without Date)."""
    return (b"HTTP/1.1 %d %s\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"X-Content-Type-Options: nosniff\r\n"
            b"Content-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (code, _STATUS[code], len(body))) + body


#: The reference's answer past MaxConns.
TOO_MANY_CONNECTIONS = http_answer(503, b"Too many connections\n")
_NOT_FOUND = http_answer(404, b"404 page not found\n")
_TOO_LARGE = http_answer(431, b"431 Request Header Fields Too Large\n")
_BAD_REQUEST = http_answer(400, b"400 Bad Request\n")
#: The reference's answer to a foreign Origin (gorilla's, through http.Error).
_FORBIDDEN = http_answer(403, b"Forbidden\n")


def _request_path(head: bytes) -> str | None:
    """The path of an HTTP GET request head, or None when it is not one."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or not parts[2].startswith(b"HTTP/1."):
        return None
    target = parts[1].decode("latin-1")
    if not target.startswith("/"):
        return None
    try:
        return urlsplit(target).path
    except ValueError:
        return None


def _header(head: bytes, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case bytes) in a request head, or None."""
    for line in head.split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def origin_allowed(origin: str | None, hosts: Collection[str]) -> bool:
    """The reference's Origin rule: absent, or a URL whose host is one of ``hosts``."""
    if not origin:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    return host is not None and host in hosts


@implementer(IAdmission)
class UpgradeGate(Wire):
    """One inbound TCP connection until it is admitted (see the module docstring)."""

    def __init__(self, listener: MeshListener, addr: IAddress | None) -> None:
        super().__init__(listener, None, listener.owner)
        self.listener = listener
        self.peer = peer_text(addr)
        self.host: str = getattr(addr, "host", self.peer)
        self.stage = REQUEST
        self.since: float = listener.owner.reactor.seconds()
        self._addr = addr
        self._buffer = b""
        self._deadline: IDelayedCall | None = None

    def connectionMade(self) -> None:
        super().connectionMade()
        owner = self.owner
        self._deadline = owner.reactor.callLater(owner.config.handshake_timeout_s, self._expired)
        self.listener.enter(self)

    # -- before WebSocket ------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.wrappedProtocol is not None:
            self.wrappedProtocol.dataReceived(data)
            return
        if self._dropped is not None or self.disconnecting:
            return
        searched = max(0, len(self._buffer) - 3)
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n", searched)
        limit = self.owner.config.max_request_bytes
        if end < 0 and len(self._buffer) <= limit:
            return
        if end < 0 or end + 4 > limit:
            self._refuse("refused_request_too_large", _TOO_LARGE,
                         "upgrade request over {} bytes".format(limit))
            return
        path = _request_path(self._buffer[:end])
        if path is None:
            self._refuse("refused_bad_request", _BAD_REQUEST, "not an HTTP GET request")
            return
        self._route(path, self._buffer[:end])

    def _route(self, path: str, head: bytes) -> None:
        factory, mesh = self.listener.route(path)
        if factory is None:
            self._refuse("refused_path", _NOT_FOUND, "no service at path {}".format(path))
            return
        if mesh:
            origin = _header(head, b"origin")
            if not origin_allowed(origin, self.owner.config.allowed_origin_hosts):
                self._refuse("refused_origin", _FORBIDDEN, "origin {} not allowed".format(origin))
                return
        if mesh and self.owner.inbound_links() >= self.owner.config.max_connections:
            self._refuse("refused_capacity", TOO_MANY_CONNECTIONS, "too many connections")
            return
        if mesh:
            self.stage = UPGRADE
            self._progressed()
        else:
            # Stacked streams leave the pool here; Autobahn's own opening
            # deadline and the route's connection cap bound them.
            self.admitted()
        protocol = factory.buildProtocol(self._addr)
        if protocol is None:
            self.loseConnection()
            return
        buffered, self._buffer = self._buffer, b""
        self.wrappedProtocol = protocol
        # This wrapper provides the transport's interfaces (Wire.makeConnection).
        protocol.makeConnection(self)  # type: ignore[arg-type]
        protocol.dataReceived(buffered)

    def _refuse(self, reason: str, answer: bytes, text: str) -> None:
        self.owner.report(reason, text, peer=self.peer)
        self._buffer = b""
        self._leave()
        self.transport.write(answer)
        self.loseConnection()

    # -- IAdmission ------------------------------------------------------------

    def accepted(self) -> None:
        """The mesh handshake was accepted: the initiator now has to prove its key."""
        if self._deadline is None:
            return
        self.stage = PROVING
        self._deadline.reset(self.owner.config.prove_timeout_s)
        self._progressed()

    def admitted(self) -> None:
        """The connection proved itself: out of the pool, no deadline."""
        self._leave()

    def _progressed(self) -> None:
        """A step forward: a full pool evicts connections that stalled longer first."""
        self.since = self.owner.reactor.seconds()
        self.listener.progressed(self)

    def _leave(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None
        self.listener.leave(self)

    def _expired(self) -> None:
        self._deadline = None
        config = self.owner.config
        if self.stage == PROVING:
            reason, text = "dropped_prove_timeout", "did not prove its key within {} s".format(
                config.prove_timeout_s)
        else:
            reason, text = "refused_timeout", "no mesh handshake within {} s".format(
                config.handshake_timeout_s)
        if self.wrappedProtocol is None:
            self.owner.report(reason, text, peer=self.peer)
        self.drop(reason, text)

    def evict(self) -> None:
        """Make room in a full pool: this connection goes."""
        if self.wrappedProtocol is None:
            self.owner.report("refused_evicted", "evicted to make room", peer=self.peer)
        self.drop("refused_evicted", "evicted to make room for a newer connection")

    def drop(self, reason: str, text: str) -> None:
        self._leave()
        super().drop(reason, text)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._leave()
        self.listener.closed(self)
        super().connectionLost(reason)


class MeshListener(Factory):
    """
    The factory a mesh node listens with: one :class:`UpgradeGate` per
    connection, routing to ``mesh_factory`` at ``owner.config.ws_path`` and
    to ``routes`` (path -> Autobahn factory) beside it.  ``admission``
    holds the pending pool and the per-address counts.
    """

    noisy = False

    def __init__(self, owner: ILinkOwner, mesh_factory: WebSocketServerFactory,
                 routes: Mapping[str, WebSocketServerFactory] | None = None) -> None:
        self.owner = owner
        self.mesh_factory = mesh_factory
        self.routes = dict(routes or {})
        self.admission = Admission(owner.reactor, owner.config)
        self._open: set[UpgradeGate] = set()

    def buildProtocol(self, addr: IAddress | None) -> UpgradeGate:
        return UpgradeGate(self, addr)

    def address_filter(self, factory: Factory[Any]) -> AddressFilter:
        """
        The factory to listen with, around ``factory`` (this listener, or
        TLS around it): it refuses connections over the per-address limits
        as they are accepted.
        """
        return AddressFilter(self.admission, factory, self.owner.report)

    def route(self, path: str) -> tuple[WebSocketServerFactory | None, bool]:
        """``(Autobahn factory, is the mesh)`` for ``path``, or ``(None, False)``."""
        if path == self.owner.config.ws_path:
            return self.mesh_factory, True
        return self.routes.get(path), False

    @property
    def pending(self) -> int:
        """How many connections are unauthenticated now."""
        return self.admission.pending

    def enter(self, gate: UpgradeGate) -> None:
        """``gate`` is open and pending; a full pool evicts another."""
        self._open.add(gate)
        self.admission.opened(gate)

    def progressed(self, gate: UpgradeGate) -> None:
        """``gate`` took a step: in a full pool, stalled connections go before it."""
        self.admission.progressed(gate)

    def leave(self, gate: UpgradeGate) -> None:
        """``gate`` is no longer pending."""
        self.admission.left_pool(gate)

    def closed(self, gate: UpgradeGate) -> None:
        """``gate``'s connection ended."""
        if gate in self._open:
            self._open.discard(gate)
            self.admission.closed(gate)

    def abort_pending(self) -> None:
        """Drop every connection still in the pool (the node is stopping)."""
        for gate in cast("list[UpgradeGate]", self.admission.pending_connections()):
            gate.abortConnection()
            self.leave(gate)
