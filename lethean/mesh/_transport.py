"""
The mesh transport: a Twisted service that listens, dials, and delivers
sealed messages and UEPS packets to consumers.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping
from typing import Any, cast

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory

from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorTCP,
    IReactorTime,

    IStreamClientEndpoint,
)
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from lethean import ueps
from lethean.errors import LetheanError
from lethean.identity import LocalIdentity
from lethean.interfaces import (
    ILinkOwner,
    IMeshTransport,
    IMessageConsumer,
    IPacketConsumer,
    IPeerRegistry,
)
from lethean.mesh._connection import MeshConnection
from lethean.mesh._config import TransportConfig
from lethean.mesh._delivery import Consumers
from lethean.mesh._owner import UEPS, LinkOwner, link_secret
from lethean.mesh._dialing import DIAL_ERRORS, dial_target

from lethean.mesh._envelope import DISCONNECT_SHUTDOWN, Message, new_message

from lethean.mesh._capabilities import UEPS_FEATURE
from lethean.mesh._errors import (
    CertificateRejectedError, FeatureNotAnnouncedError, ListenError, NotConnectedError,
    SelfConnectionError)
from lethean.mesh._limits import DedupCache, Offenders
from lethean.mesh._listener import MeshListener
from lethean.mesh._logs import LogLimiter, clean
from lethean.mesh._protocol import MeshClientFactory, MeshServerFactory
from lethean.mesh._stacking import stacked_server_factory
from lethean.mesh._tls import certificate_problem, wrap_client_factory, wrap_server_factory
from lethean.mesh._wire import WireFactory

__all__ = ["MeshTransport", "UEPS", "SHUTDOWN_REASON"]

_log = Logger()

#: The graceful-close reason every peer gets when the transport stops.
SHUTDOWN_REASON = "server shutdown"
#: How often the de-duplication cache forgets expired ids.
DEDUP_SWEEP_S = 60.0


def _listen_reason(failure: Failure) -> str:
    error = failure.value
    socket_error = getattr(error, "socketError", None)
    if socket_error is not None and getattr(socket_error, "strerror", None):
        return socket_error.strerror
    return str(error) or type(error).__name__


@implementer(IMeshTransport, ILinkOwner)
class MeshTransport(LinkOwner, Service):
    """
    This node's mesh: a WebSocket listener and outbound links, one per peer.

    ``registry`` is an ``IPeerRegistry`` (who may connect, which keys are
    pinned); ``routes`` maps extra WebSocket paths (``"/ueps"``) to stream
    protocol factories sharing the listening port.  ``counters`` counts
    what happened: every refusal (``refused_*``) and drop (``dropped_*``)
    by reason, and the rest (docs/transport.md lists the names).

    It is the ``ILinkOwner`` of its links: they report to it through that
    interface only.
    """

    def __init__(self, reactor: IReactorTime, identity: LocalIdentity, registry: IPeerRegistry,
                 config: TransportConfig | None = None, *,
                 routes: Mapping[str, IProtocolFactory] | None = None) -> None:
        self.reactor = reactor
        self.identity = identity
        self.registry = registry
        self.config = config if config is not None else TransportConfig()
        self.features = self.config.features
        self.routes = dict(routes or {})
        self.counters: Counter[str] = Counter()
        self.limiter = LogLimiter(reactor)
        self.dedup = DedupCache(reactor, self.config.dedup_ttl_s, self.config.dedup_max_entries)
        self.offenders = Offenders(reactor, strikes=self.config.offender_strikes,
                                   backoff_s=self.config.offender_backoff_s)
        self.port: IListeningPort | None = None
        self.listener: MeshListener | None = None
        self._listening: Deferred[IListeningPort] | None = None
        self._links: dict[str, MeshConnection] = {}
        self._unproven: set[MeshConnection] = set()
        self._consumers = Consumers()
        self._sweeper = LoopingCall(self.dedup.sweep)
        self._sweeper.clock = reactor

    # -- service ---------------------------------------------------------------

    def privilegedStartService(self) -> None:
        """Listen before privileges are dropped; raises ListenError when it cannot."""
        super().privilegedStartService()
        self._listen()

    def startService(self) -> None:
        """Listen (unless already listening) and start the housekeeping timers."""
        super().startService()
        self._listen()
        self._sweeper.start(DEDUP_SWEEP_S, now=False)

    def server_factory(self) -> MeshListener:
        """
        The factory this node listens with (plain, without TLS): the mesh at
        ``config.ws_path`` and the stacked ``routes`` beside it.
        """
        if self.listener is None:
            scheme = self.config.scheme
            mesh = MeshServerFactory(self, url="{}://localhost{}".format(scheme, self.config.ws_path))
            routes = {path: stacked_server_factory(
                factory, reactor=self.reactor, url="{}://localhost{}".format(scheme, path),
                max_message_bytes=self.config.max_message_bytes,
                max_connections=self.config.max_connections)
                for path, factory in self.routes.items()}
            self.listener = MeshListener(self, mesh, routes)
        return self.listener

    def _listen(self) -> None:
        if self.config.listen is None or self._listening is not None:
            return
        listener = self.server_factory()
        factory: Factory[Any] = listener
        cert, key = self.config.tls_cert, self.config.tls_key
        try:
            if cert and key is not None:  # the config holds both or neither
                factory = wrap_server_factory(factory, cert, key)
            factory = listener.address_filter(factory)
            d = serverFromString(self.reactor, self.config.listen).listen(factory)
        except (LetheanError, ValueError) as e:
            raise ListenError("cannot listen on {}: {}".format(self.config.listen, e)) from None
        self._listening = d
        outcome: list[IListeningPort | Failure] = []
        d.addBoth(outcome.append)
        if outcome:
            result = outcome[0]
            if isinstance(result, Failure):
                raise ListenError("cannot listen on {}: {}".format(
                    self.config.listen, _listen_reason(result)))
            self.port = result
            _log.info("mesh listening on {listen} (port {port})", listen=self.config.listen,
                      port=getattr(result.getHost(), "port", "?"))
            return

        def listening(port: IListeningPort) -> IListeningPort:
            self.port = port
            return port

        def failed(failure: Failure) -> None:
            _log.critical("cannot listen on {listen}: {reason}", listen=self.config.listen,
                          reason=_listen_reason(failure))

        d.addCallbacks(listening, failed)

    def stopService(self) -> Deferred[None]:
        """Close every link with ``server shutdown`` (1004), stop listening."""
        super().stopService()
        if self._sweeper.running:
            self._sweeper.stop()
        closing = [link.close(SHUTDOWN_REASON, DISCONNECT_SHUTDOWN)
                   for link in list(self._links.values()) + list(self._unproven)]
        if self.listener is not None:
            self.listener.abort_pending()
        if self.port is not None:
            port, self.port = self.port, None
            # stopListening returns a Deferred or None; maybeDeferred takes both.
            closing.append(defer.maybeDeferred(port.stopListening))  # type: ignore[call-overload]
        self._listening = None
        self.limiter.stop()
        return defer.DeferredList(closing, consumeErrors=True).addCallback(lambda _: None)

    @property
    def pending(self) -> int:
        """Connections that have not authenticated yet (the pending pool)."""
        return self.listener.pending if self.listener is not None else 0

    # -- IMeshTransport -----------------------------------------------------------

    def connect(self, address: str | IStreamClientEndpoint, *, peer_id: str | None = None,
                scheme: str | None = None) -> Deferred[MeshConnection]:
        """
        Dial ``address`` (``HOST:PORT``, a client endpoint string or an
        ``IStreamClientEndpoint``) and perform the handshake: a Deferred
        firing with the link (an existing one is reused) or failing with one
        of :data:`~lethean.mesh.DIAL_ERRORS`.
        """
        existing = self._links.get(peer_id) if peer_id else None
        if existing is not None:
            return defer.succeed(existing)
        return defer.Deferred.fromCoroutine(self._connect(address, peer_id, scheme))

    async def _connect(self, address: str | IStreamClientEndpoint, peer_id: str | None,
                       scheme: str | None) -> MeshConnection:
        # The transport's reactor is a whole reactor: it connects too.
        target = dial_target(cast(IReactorTCP, self.reactor), address,
                             self.config.handshake_timeout_s)
        label = target.address or repr(target.endpoint)
        expected_key = None
        if peer_id is not None:
            expected_key = self.registry.known_key(peer_id)
        elif target.address is not None:
            for record in self.registry.list_peers():
                if record.address == target.address and record.public_key:
                    peer_id, expected_key = record.id, record.public_key
                    break
        existing = self._links.get(peer_id) if peer_id else None
        if existing is not None:
            return existing
        scheme = scheme or self.config.scheme
        url = "{}://{}{}".format(scheme, target.url_authority, self.config.ws_path)
        factory = MeshClientFactory(self, url, address=label, expected_id=peer_id,
                                    expected_key=expected_key, record_address=target.address)
        wire: IProtocolFactory = WireFactory(factory, self)
        if scheme == "wss":
            wire = wrap_client_factory(wire, target.host, self.config.tls_verify)
        try:
            await target.endpoint.connect(wire)
            link = await factory.result
        except SelfConnectionError:
            raise  # counted and logged as refused_self by the link
        except DIAL_ERRORS as e:
            if scheme == "wss":
                rejected = certificate_problem(wire, str(e))
                if rejected is not None:
                    e = rejected
            self.count("connect_failed")
            # Debug: the caller says it (the dialler summarised, the command in one line).
            _log.debug("could not connect to {peer} ({peer_id}): {reason}", peer=label,
                      peer_id=peer_id or "id not known yet",
                      reason=clean(str(e) or type(e).__name__, 400))
            if isinstance(e, CertificateRejectedError):
                raise e from None
            raise
        # Fires once the peer's features are known (a lethean peer announces
        # them at once; a Go peer's first frame, or a short deadline, says
        # it will not).
        await link.when_announced()
        winner = self._links.get(link.peer_id)
        if winner is None:
            raise NotConnectedError("peer {} not connected: {}".format(
                link.peer_id, link.reason or "link closed"))
        return winner

    def send(self, peer_id: str, message: Message) -> None:
        """Seal and send ``message`` to ``peer_id``; NotConnectedError without a link."""
        connection = self._links.get(peer_id)
        if connection is None:
            raise NotConnectedError("peer {} not connected".format(peer_id))
        connection.send(message)

    def broadcast(self, message: Message) -> None:
        """Send to every peer but ``message.from_``; the last error is raised."""
        error = None
        for connection in list(self._links.values()):
            if connection.peer_id == message.from_:
                continue
            try:
                connection.send(message)
            except LetheanError as e:
                error = e
        if error is not None:
            raise error

    def connection(self, peer_id: str) -> MeshConnection | None:
        """The link to ``peer_id``, or None."""
        return self._links.get(peer_id)

    def connections(self) -> list[MeshConnection]:
        """Every live link, as a new list."""
        return list(self._links.values())

    def add_consumer(self, consumer: IMessageConsumer) -> None:
        """Deliver every incoming message to ``consumer``."""
        self._consumers.add(consumer)

    def remove_consumer(self, consumer: IMessageConsumer) -> None:
        """Stop delivering to ``consumer``."""
        self._consumers.remove(consumer)

    def add_packet_consumer(self, consumer: IPacketConsumer) -> None:
        """Deliver every verified UEPS packet to ``consumer``."""
        self._consumers.add_packets(consumer)

    def remove_packet_consumer(self, consumer: IPacketConsumer) -> None:
        """Stop delivering packets to ``consumer``."""
        self._consumers.remove_packets(consumer)

    def send_packet(self, peer_id: str, packet: ueps.Packet) -> None:
        """Sign ``packet`` with the link's shared secret and send it to ``peer_id``."""
        connection = self._links.get(peer_id)
        if connection is None:
            raise NotConnectedError("peer {} not connected".format(peer_id))
        if UEPS_FEATURE not in connection.features:
            raise FeatureNotAnnouncedError("peer {} did not announce {!r}".format(
                peer_id, UEPS_FEATURE))
        frame = ueps.encode(packet, link_secret(connection))
        message = new_message(UEPS, self.identity.id, peer_id,
                              {"frame": base64.b64encode(frame).decode("ascii")},
                              clock=self.reactor)
        connection.send(message)

