"""
Who holds the listener's room: the pending pool, and per-address limits
checked as a connection is accepted, before a byte of it is read.

Every inbound connection that has not authenticated is in the pending pool
(``max_pending``); when it is full, a new connection evicts, of the address
holding the most places, the connection that has waited longest since its
last step (accepted, upgraded, handshake accepted): under a flood of
connections that never move, a peer that keeps moving is the last to go.
That bounds what all strangers together may hold, but one address could
still fill the pool, or the connection cap, and lock every newcomer out.
So each remote address also has a limit on the connections it holds open
(``max_connections_per_address``), on those not yet authenticated
(``max_pending_per_address``), and a token bucket of new connections
(``connect_burst``, ``connect_per_s``).  A connection past any of them is
refused at once, without a protocol being built for it: a flood of
connections from one address costs an accept and a close each.

127.0.0.1 and ::1 (this machine's own tools), and connections without an
address (a unix socket), are never limited by address.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from twisted.internet.interfaces import IAddress, IProtocol, IReactorTime
from twisted.internet.protocol import Factory

from lethean.mesh._config import TransportConfig
from lethean.mesh._limits import TokenBucket

__all__ = [
    "Admission",
    "AddressFilter",
    "own_address",
    "REFUSED_CONNECT_RATE",
    "REFUSED_ADDRESS_PENDING",
    "REFUSED_ADDRESS_CONNECTIONS",
    "MAX_IDLE_ADDRESSES",
]

#: The counters of the per-address refusals (docs/transport.md).
REFUSED_CONNECT_RATE = "refused_connect_rate"
REFUSED_ADDRESS_PENDING = "refused_address_pending"
REFUSED_ADDRESS_CONNECTIONS = "refused_address_connections"
#: Connection-rate buckets remembered at once; the least recent go first
#: (forgetting one only refills that address's bucket).
MAX_IDLE_ADDRESSES = 10_000

_OWN_ADDRESSES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


class Pending(Protocol):

    """An inbound connection as the pool sees it (an ``UpgradeGate``)."""

    #: Its remote address.
    host: str
    #: When it was accepted, or took its last step.
    since: float

    def evict(self) -> None:
        """Make room in a full pool: the connection goes."""



def own_address(host: str | None) -> bool:
    """This machine's own address (127.0.0.1 or ::1), where the operator's tools connect from."""
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except (TypeError, ValueError):
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address) in _OWN_ADDRESSES


@attrs.define
class Admission:
    """
    The listener's bookkeeping of inbound connections, on ``clock``.

    ``config`` is the ``TransportConfig``.  A connection is an object with
    ``host`` (its remote address), ``since`` (when it was accepted, or took
    its last step) and ``evict()``; the listener asks :meth:`refusal`
    before keeping one, then reports :meth:`opened`, :meth:`progressed`,
    :meth:`left_pool` and :meth:`closed`.
    """

    clock: IReactorTime
    config: TransportConfig
    max_idle: int = MAX_IDLE_ADDRESSES
    #: host -> connections open from it
    _open: dict[str, int] = attrs.field(init=False, factory=dict)
    #: host -> its pending connections, stalled longest first (the pool)
    _pending: dict[str, dict[Pending, None]] = attrs.field(init=False, factory=dict)
    _size: int = attrs.field(init=False, default=0)
    _buckets: OrderedDict[str, TokenBucket] = attrs.field(init=False, factory=OrderedDict)

    @property
    def pending(self) -> int:
        """How many connections have not authenticated now."""
        return self._size

    def held(self, host: str) -> tuple[int, int]:
        """``(open, pending)``: the connections ``host`` holds now."""
        return self._open.get(host, 0), len(self._pending.get(host, ()))

    def refusal(self, host: str | None) -> tuple[str, str] | None:
        """
        ``(counter, why)`` when a new connection from ``host`` must be
        refused, else None; either way it counts against ``host``'s rate.
        """
        if host is None or own_address(host):
            # No address (a unix socket) tells peers apart.
            return None
        config = self.config
        if not self._bucket(host).allow():
            return REFUSED_CONNECT_RATE, "over {:g} new connections/s from one address".format(
                config.connect_per_s)
        connections, pending = self.held(host)
        if connections >= config.max_connections_per_address:
            return REFUSED_ADDRESS_CONNECTIONS, "{} connections from one address".format(
                connections)
        if pending >= config.max_pending_per_address:
            return REFUSED_ADDRESS_PENDING, "{} unauthenticated connections from one address".format(
                pending)
        return None

    def _bucket(self, host: str) -> TokenBucket:
        bucket = self._buckets.pop(host, None)
        if bucket is None:
            bucket = TokenBucket(self.clock, self.config.connect_burst, self.config.connect_per_s)
        self._buckets[host] = bucket
        if len(self._buckets) > self.max_idle:
            self._buckets.popitem(last=False)
        return bucket

    # -- what the listener reports -------------------------------------------------------

    def opened(self, connection: Pending) -> None:
        """``connection`` was kept: it is open, and pending until :meth:`left_pool`."""
        host = connection.host
        self._open[host] = self._open.get(host, 0) + 1
        while self._size >= self.config.max_pending:
            self._victim().evict()
        self._pending.setdefault(host, {})[connection] = None
        self._size += 1

    def progressed(self, connection: Pending) -> None:
        """``connection`` took a step (its ``since`` is now): last in its address's eviction order."""
        pool = self._pending.get(connection.host)
        if pool is None or connection not in pool:
            return
        del pool[connection]
        pool[connection] = None

    def left_pool(self, connection: Pending) -> None:
        """``connection`` is no longer pending (proven, refused, or a stacked route)."""
        pool = self._pending.get(connection.host)
        if pool is None or connection not in pool:
            return
        del pool[connection]
        self._size -= 1
        if not pool:
            del self._pending[connection.host]

    def closed(self, connection: Pending) -> None:
        """``connection`` ended."""
        self.left_pool(connection)
        host = connection.host
        remaining = self._open.get(host, 0) - 1
        if remaining > 0:
            self._open[host] = remaining
        else:
            self._open.pop(host, None)

    def _victim(self) -> Pending:
        """Of the address holding the most places, the pending connection stalled longest."""
        most = max(len(pool) for pool in self._pending.values())
        return min((next(iter(pool)) for pool in self._pending.values() if len(pool) == most),
                   key=lambda connection: connection.since)

    def pending_connections(self) -> list[Pending]:
        """Every pending connection (to abort them when the node stops)."""
        return [connection for pool in self._pending.values() for connection in pool]


if TYPE_CHECKING:
    _AnyFactory = Factory[Any]
else:
    _AnyFactory = Factory  # Twisted 25's Factory is not generic


class AddressFilter(_AnyFactory):
    """
    The outermost listening factory: a connection :meth:`Admission.refusal`
    refuses is closed as it is accepted (no protocol is built, nothing is
    read or written); the others go to ``wrapped`` (the listener, or TLS
    around it).  ``report(counter, why, peer=...)`` counts and logs each
    refusal (rate-limited).
    """

    noisy = False

    def __init__(self, admission: Admission, wrapped: Factory[Any],
                 report: Callable[..., None]) -> None:
        self.admission = admission
        self.wrapped = wrapped
        self._report = report

    def logPrefix(self) -> str:
        return self.wrapped.logPrefix()

    def doStart(self) -> None:
        self.wrapped.doStart()

    def doStop(self) -> None:
        self.wrapped.doStop()

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:
        host = getattr(addr, "host", None)
        refusal = self.admission.refusal(host)
        if refusal is not None:
            self._report(*refusal, peer="{}:{}".format(host, getattr(addr, "port", "?")))
            return None
        return self.wrapped.buildProtocol(addr)
