"""
A running node's status document: who it is, where it listens, its links
with their figures, the transport's counters and its miners.

``GET /api/status``, the status page, ``/metrics`` and ``lethean status``
all read this one document, so they never disagree.  Times are UTC ISO
8601 strings; durations are seconds.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from lethean import __version__
from lethean._gojson import marshal
from lethean.errors import LetheanError
from lethean.interfaces import IMeshConnection, IMessageConsumer, IPeerRegistry
from lethean._deferreds import returns_deferred

if TYPE_CHECKING:
    from lethean.mesh import MeshTransport, Message
    from lethean.node._worker import Worker

__all__ = ["TrafficTally", "NodeStatus", "iso_time", "listen_urls"]

_log = Logger()

_FIGURES = ("frames_in", "frames_out", "bytes_in", "bytes_out")


def iso_time(seconds: float | None) -> str | None:
    """``seconds`` since the epoch as ``2024-05-01T12:00:00.123Z``, or None."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def listen_urls(transport: MeshTransport) -> list[str]:
    """The mesh URLs the transport's listener serves, from its bound port."""
    port = getattr(transport, "port", None)
    if port is None:
        return []
    host = port.getHost()
    address = getattr(host, "host", None)
    if address is None:
        return [str(host)]
    if ":" in address:
        address = "[{}]".format(address)
    config = transport.config
    return ["{}://{}:{}{}".format(config.scheme, address, host.port, config.ws_path)]


@implementer(IMessageConsumer)
class TrafficTally:
    """
    Frames and bytes of every link since the node started.

    A link's figures live on the link; when it closes they are added to
    the closed total, so the totals only grow (Prometheus counters).  As a
    message consumer it hears of every link the transport reports lost;
    links it has seen are also watched through ``when_lost``.
    """

    def __init__(self, transport: MeshTransport) -> None:
        self.transport = transport
        self.closed = dict.fromkeys(_FIGURES, 0)
        self._counted: weakref.WeakSet[IMeshConnection] = weakref.WeakSet()
        self._watched: weakref.WeakSet[IMeshConnection] = weakref.WeakSet()

    def messageReceived(self, connection: IMeshConnection, message: Message) -> None:
        """Messages are not counted here (the links count them)."""

    def connectionLost(self, connection: IMeshConnection) -> None:
        """Add the closed link's figures to the closed total, once."""
        if connection in self._counted:
            return
        self._counted.add(connection)
        for name in _FIGURES:
            self.closed[name] += getattr(connection, name, 0) or 0

    def _watch(self, connection: IMeshConnection) -> None:
        if connection in self._watched or connection in self._counted:
            return
        self._watched.add(connection)
        connection.when_lost().addBoth(lambda _: self.connectionLost(connection))

    def totals(self) -> dict[str, int]:
        """``{"framesIn", "framesOut", "bytesIn", "bytesOut"}`` over all links."""
        totals = dict(self.closed)
        for connection in self.transport.connections():
            if connection in self._counted:
                continue
            self._watch(connection)
            for name in _FIGURES:
                totals[name] += getattr(connection, name, 0) or 0
        return {"framesIn": totals["frames_in"], "framesOut": totals["frames_out"],
                "bytesIn": totals["bytes_in"], "bytesOut": totals["bytes_out"]}


def _peer(connection: IMeshConnection, registry: IPeerRegistry | None,
          now: float) -> dict[str, Any]:
    record = registry.get_peer(connection.peer_id) if registry is not None else None
    identity = connection.peer
    rtt_s = connection.rtt_s
    return {
        "id": connection.peer_id,
        "name": (record.name if record is not None and record.name else identity.name) or "",
        "role": identity.role or "",
        "address": connection.address or "",
        "direction": "outbound" if connection.outbound else "inbound",
        "connectedAt": iso_time(connection.connected_at),
        "connectedForS": max(0.0, round(now - connection.connected_at, 3)),
        "lastActivity": iso_time(connection.last_activity),
        "idleS": max(0.0, round(now - connection.last_activity, 3)),
        "rttMs": None if rtt_s is None else round(rtt_s * 1000.0, 3),
        "score": None if record is None else record.score,
        "framesIn": connection.frames_in,
        "framesOut": connection.frames_out,
        "bytesIn": connection.bytes_in,
        "bytesOut": connection.bytes_out,
        "features": sorted(connection.features or ()),
        "session": connection.session,
    }


class NodeStatus:
    """
    Builds the status document of one node.

    :param reactor: ``IReactorTime``: now and the start time.
    :param transport: the node's ``IMeshTransport`` (``config``, ``port``
        and ``counters`` are read too).
    :param registry: its ``IPeerRegistry``: names, scores, auth mode.
    :param worker: its :class:`~lethean.node.Worker` (miner stats), or None.
    :param control: ``() -> [endpoint description]``, the control API's
        endpoints, shown in the document.

    :meth:`miners` and :meth:`document` return Deferreds.
    """

    def __init__(self, reactor: IReactorTime, transport: MeshTransport,
                 registry: IPeerRegistry, worker: Worker | None = None,
                 control: Callable[[], Iterable[str]] = lambda: []) -> None:
        self._reactor = reactor
        self.transport = transport
        self.registry = registry
        self.worker = worker
        self.control = control
        self.traffic = TrafficTally(transport)
        self.started_at = reactor.seconds()
        #: Requests the control API refused (missing or wrong token).
        self.unauthorized = 0

    def node(self) -> dict[str, Any]:
        """The ``node`` section: identity, version, uptime, endpoints, auth."""
        identity = self.transport.identity
        config = self.transport.config
        now = self._reactor.seconds()
        return {
            "id": identity.id,
            "name": identity.identity.name,
            "role": identity.identity.role,
            "publicKey": identity.identity.public_key,
            "version": __version__,
            "startedAt": iso_time(self.started_at),
            "uptimeS": int(now - self.started_at),
            "listen": {"endpoint": config.listen, "urls": listen_urls(self.transport)},
            "tls": bool(config.tls_cert),
            "auth": str(self.registry.auth_mode),
            "allowlisted": len(self.registry.allowed_public_keys()),
            "registeredPeers": len(self.registry),
            "control": list(self.control()),
        }

    def peers(self) -> list[dict[str, Any]]:
        """The ``peers`` section: each live link, oldest first."""
        now = self._reactor.seconds()
        connections = sorted(self.transport.connections(),
                             key=lambda c: (c.connected_at, c.peer_id))
        return [_peer(c, self.registry, now) for c in connections]

    @returns_deferred
    async def miners(self) -> list[Any]:
        """The ``miners`` section: the worker's miners and their figures."""
        if self.worker is None or self.worker.miner_manager is None:
            return []
        try:
            stats = await self.worker.stats()
        except LetheanError as e:
            _log.warn("no miner figures for the status: {reason}", reason=str(e))
            return []
        except Exception:
            _log.failure("bug collecting the miner figures for the status")
            return []
        return json.loads(marshal(stats)).get("miners") or []

    def counters(self) -> dict[str, int]:
        """The ``counters`` section: every known counter (0 until it moves), and any other."""
        from lethean.mesh import COUNTER_NAMES

        counters = dict.fromkeys(COUNTER_NAMES, 0)
        counters.update(self.transport.counters)
        return dict(sorted(counters.items()))

    @returns_deferred
    async def document(self) -> dict[str, Any]:
        """The whole status document (``GET /api/status``)."""
        return {
            "node": self.node(),
            "peers": self.peers(),
            "traffic": self.traffic.totals(),
            "counters": self.counters(),
            "control": {"unauthorized": self.unauthorized},
            "miners": await self.miners(),
        }
