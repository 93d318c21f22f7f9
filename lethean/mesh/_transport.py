"""
The mesh transport: a Twisted service that listens, dials, and delivers
sealed messages and UEPS packets to consumers.
"""

import base64
from collections import Counter
from types import CoroutineType

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from lethean import ueps
from lethean._gojson import decode_base64
from lethean.errors import LetheanError
from lethean.interfaces import ILinkOwner, IMeshTransport
from lethean.mesh._config import TransportConfig
from lethean.mesh._dialing import DIAL_ERRORS, dial_target
from lethean.mesh._envelope import DISCONNECT_NORMAL, DISCONNECT_SHUTDOWN, new_message
from lethean.mesh._admission import own_address
from lethean.mesh._capabilities import UEPS_FEATURE
from lethean.mesh._errors import (
    FeatureNotAnnouncedError, ListenError, NotConnectedError, SelfConnectionError)
from lethean.mesh._limits import DedupCache, Offenders
from lethean.mesh._listener import MeshListener
from lethean.mesh._logs import LogLimiter, clean
from lethean.mesh._protocol import MeshClientFactory, MeshServerFactory
from lethean.mesh._stacking import stacked_server_factory
from lethean.mesh._tls import (
    CertificateRejectedError, certificate_problem, wrap_client_factory, wrap_server_factory)
from lethean.mesh._wire import WireFactory
from lethean.peers import Peer, sanitise_peer_name

__all__ = ["MeshTransport", "UEPS", "SHUTDOWN_REASON"]

_log = Logger()

#: lethean's extension message type: ``{"frame": base64 UEPS frame}`` signed
#: with the link's shared secret.  A Go peer ignores unknown types.
UEPS = "ueps"
#: The graceful-close reason every peer gets when the transport stops.
SHUTDOWN_REASON = "server shutdown"
#: How often the de-duplication cache forgets expired ids.
DEDUP_SWEEP_S = 60.0


def _listen_reason(failure):
    error = failure.value
    socket_error = getattr(error, "socketError", None)
    if socket_error is not None and getattr(socket_error, "strerror", None):
        return socket_error.strerror
    return str(error) or type(error).__name__


@implementer(IMeshTransport, ILinkOwner)
class MeshTransport(Service):
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

    def __init__(self, reactor, identity, registry, config=None, *, routes=None):
        self.reactor = reactor
        self.identity = identity
        self.registry = registry
        self.config = config if config is not None else TransportConfig()
        self.features = self.config.features
        self.routes = dict(routes or {})
        self.counters = Counter()
        self.limiter = LogLimiter(reactor)
        self.dedup = DedupCache(reactor, self.config.dedup_ttl_s, self.config.dedup_max_entries)
        self.offenders = Offenders(reactor, strikes=self.config.offender_strikes,
                                   backoff_s=self.config.offender_backoff_s)
        self.port = None
        self.listener = None
        self._listening = None
        self._links = {}
        self._unproven = set()
        self._consumers = []
        self._packet_consumers = []
        self._sweeper = LoopingCall(self.dedup.sweep)
        self._sweeper.clock = reactor

    # -- service ---------------------------------------------------------------

    def privilegedStartService(self):
        """Listen before privileges are dropped; raises ListenError when it cannot."""
        super().privilegedStartService()
        self._listen()

    def startService(self):
        """Listen (unless already listening) and start the housekeeping timers."""
        super().startService()
        self._listen()
        self._sweeper.start(DEDUP_SWEEP_S, now=False)

    def server_factory(self):
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

    def _listen(self):
        if self.config.listen is None or self._listening is not None:
            return
        factory = self.server_factory()
        try:
            if self.config.tls_cert:
                factory = wrap_server_factory(factory, self.config.tls_cert, self.config.tls_key)
            factory = self.listener.address_filter(factory)
            d = serverFromString(self.reactor, self.config.listen).listen(factory)
        except (LetheanError, ValueError) as e:
            raise ListenError("cannot listen on {}: {}".format(self.config.listen, e)) from None
        self._listening = d
        outcome = []
        d.addBoth(outcome.append)
        if outcome and isinstance(outcome[0], Failure):
            raise ListenError("cannot listen on {}: {}".format(
                self.config.listen, _listen_reason(outcome[0])))
        if outcome:
            self.port = outcome[0]
            _log.info("mesh listening on {listen} (port {port})", listen=self.config.listen,
                      port=getattr(self.port.getHost(), "port", "?"))
            return

        def listening(port):
            self.port = port
            return port

        def failed(failure):
            _log.critical("cannot listen on {listen}: {reason}", listen=self.config.listen,
                          reason=_listen_reason(failure))

        d.addCallbacks(listening, failed)

    def stopService(self):
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
            closing.append(defer.maybeDeferred(port.stopListening))
        self._listening = None
        self.limiter.stop()
        return defer.DeferredList(closing, consumeErrors=True).addCallback(lambda _: None)

    @property
    def pending(self):
        """Connections that have not authenticated yet (the pending pool)."""
        return self.listener.pending if self.listener is not None else 0

    # -- ILinkOwner ----------------------------------------------------------------

    def count(self, name):
        """Add one to counter ``name``."""
        self.counters[name] += 1

    def report(self, reason, text, *, peer, peer_id=""):
        """Count ``reason``; log it once, unless a flood of them is being summarised."""
        self.counters[reason] += 1
        if self.limiter.allow(reason):
            peer_id = clean(peer_id, 64)
            _log.warn("{reason} {peer}{named}: {text}", reason=reason, peer=clean(peer, 64),
                      peer_id=peer_id, named=" " + peer_id if peer_id else "", text=clean(text))

    def event(self, name, text, *, peer, peer_id=""):
        """Log ``text`` about a link (up, down), rate-limited by ``name``."""
        if self.limiter.allow(name):
            _log.info("{text}", text=text, peer=peer, peer_id=peer_id)

    def inbound_links(self):
        return sum(1 for link in self._links.values() if not link.outbound)

    def link_accepted(self, link):
        """An inbound link whose initiator has not yet proved its key."""
        self._unproven.add(link)

    def link_proven(self, link):
        """The peer holds its key: remember it and register the link."""
        self._unproven.discard(link)
        if link.outbound:
            self._remember(link, link.dialled)
        else:
            self._auto_register(link)
        self._register(link)

    def link_lost(self, link, reason):
        """Remove ``link``, and only it (weakness 9); tell the consumers."""
        self._unproven.discard(link)
        if self._links.get(link.peer_id) is not link:
            return
        del self._links[link.peer_id]
        self.registry.set_connected(link.peer_id, False)
        self.count("connections_closed")
        for consumer in list(self._consumers):
            lost = getattr(consumer, "connectionLost", None)
            if lost is not None:
                d = defer.maybeDeferred(lost, link)
                d.addErrback(self._consumer_failed, link, "connectionLost")

    def is_duplicate(self, message_id):
        return not self.dedup.check_and_mark(message_id)

    def offence(self, host, public_key):
        """
        A link was dropped for misbehaving: a strike for its address and key.
        127.0.0.1 and ::1 get none: they are this machine's own tools, and
        refusing them by address would lock the operator out.
        """
        if host and not own_address(host):
            self.offenders.strike("address " + host)
        if public_key:
            self.offenders.strike("key " + public_key)

    def refusal(self, host, peer):
        """
        Why an accepted handshake from ``host`` by ``peer`` is refused, or
        None: a key serving a refusal period is refused; from an address
        serving one, only registered peers are let in.
        """
        if self.offenders.refused("key " + peer.public_key):
            return "key refused after repeated offences"
        if (host and self.offenders.refused("address " + host)
                and self.registry.get_peer(peer.id) is None):
            return "address refused after repeated offences"
        return None

    def deliver(self, link, message):
        """
        A decrypted, new message: unwrap UEPS, hand the rest to every
        consumer.  Returns the Deferreds the consumers returned (the link
        bounds how many are pending).
        """
        if message.type == UEPS:
            self._packet(link, message)
            return []
        results = []
        for consumer in list(self._consumers):
            # maybeDeferred's cases, without a Deferred for the consumers
            # that answer at once (most do).
            try:
                result = consumer.messageReceived(link, message)
            except Exception:
                result = Failure()
            if isinstance(result, defer.Deferred):
                pass
            elif isinstance(result, Failure):
                self._consumer_failed(result, link, message.type)
                continue
            elif type(result) is CoroutineType:
                result = defer.Deferred.fromCoroutine(result)
            else:
                continue
            result.addErrback(self._consumer_failed, link, message.type)
            results.append(result)
        return results

    def _auto_register(self, link):
        peer = link.peer
        if self.registry.get_peer(peer.id) is not None:
            return
        try:
            self.registry.add_automatic(Peer(id=peer.id, name=sanitise_peer_name(peer.name),
                                             public_key=peer.public_key, role=peer.role))
        except LetheanError as e:
            self.report("register_failed", "could not register: {}".format(e),
                        peer=link.address, peer_id=peer.id)

    def _register(self, link):
        peer_id = link.peer_id
        old = self._links.get(peer_id)
        if old is not None and old is not link:
            keep = self._prefer(link, old)
            drop = old if keep is link else link
            self.count("dropped_duplicate")
            self.event("duplicate", "closing duplicate link to {}".format(peer_id),
                       peer=drop.address, peer_id=peer_id)
            if keep is old:
                drop.close("duplicate connection", DISCONNECT_NORMAL)
                return
            self._links[peer_id] = link
            old.close("duplicate connection", DISCONNECT_NORMAL)
        self._links[peer_id] = link
        self.registry.set_connected(peer_id, True)
        self.count("connections_opened")

    def _prefer(self, new, old):
        """
        Which of two links to one peer survives, so both ends agree: a
        reconnect in the same direction replaces the old link; of crossed
        dials, the one initiated by the smaller node id wins.
        """
        if new.outbound == old.outbound:
            return new
        initiator_new = self.identity.id if new.outbound else new.peer_id
        initiator_old = self.identity.id if old.outbound else old.peer_id
        return new if initiator_new < initiator_old else old

    @staticmethod
    def _consumer_failed(failure, link, what):
        _log.failure("consumer failed on {type} from {peer_id}", failure,
                     type=what, peer_id=link.peer_id)

    def _packet(self, link, message):
        try:
            frame = message.payload.get("frame") if type(message.payload) is dict else None
            packet = ueps.decode(decode_base64(frame), link.shared_secret)
        except (LetheanError, ValueError) as e:
            self.report("ueps_rejected", "dropped UEPS packet: {}".format(e),
                        peer=link.address, peer_id=link.peer_id)
            return
        self.count("ueps_received")
        for consumer in list(self._packet_consumers):
            d = defer.maybeDeferred(consumer.packetReceived, link, packet)
            d.addErrback(self._consumer_failed, link, message.type)

    # -- IMeshTransport -----------------------------------------------------------

    def connect(self, address, *, peer_id=None, scheme=None):
        existing = self._links.get(peer_id) if peer_id else None
        if existing is not None:
            return defer.succeed(existing)
        return defer.Deferred.fromCoroutine(self._connect(address, peer_id, scheme))

    async def _connect(self, address, peer_id, scheme):
        target = dial_target(self.reactor, address, self.config.handshake_timeout_s)
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
        wire = WireFactory(factory, self)
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

    def _remember(self, link, address):
        """
        Trust on first use, or refresh the record of a pinned peer; an
        ``address`` of None (an endpoint object was dialled) keeps the
        record's own.
        """
        peer = link.peer
        record = self.registry.get_peer(peer.id)
        if address is None:
            address = record.address if record is not None else ""
        try:
            if record is None:
                self.registry.add_peer(Peer(id=peer.id, name=sanitise_peer_name(peer.name),
                                            public_key=peer.public_key, address=address,
                                            role=peer.role))
            else:
                self.registry.update_peer(record.evolve(
                    address=address, role=peer.role, public_key=peer.public_key,
                    name=sanitise_peer_name(peer.name)))
        except LetheanError as e:
            self.report("register_failed", "could not register: {}".format(e),
                        peer=address, peer_id=peer.id)

    def send(self, peer_id, message):
        connection = self._links.get(peer_id)
        if connection is None:
            raise NotConnectedError("peer {} not connected".format(peer_id))
        connection.send(message)

    def broadcast(self, message):
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

    def connection(self, peer_id):
        return self._links.get(peer_id)

    def connections(self):
        return list(self._links.values())

    def add_consumer(self, consumer):
        if consumer not in self._consumers:
            self._consumers.append(consumer)

    def remove_consumer(self, consumer):
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def add_packet_consumer(self, consumer):
        if consumer not in self._packet_consumers:
            self._packet_consumers.append(consumer)

    def remove_packet_consumer(self, consumer):
        if consumer in self._packet_consumers:
            self._packet_consumers.remove(consumer)

    def send_packet(self, peer_id, packet):
        connection = self._links.get(peer_id)
        if connection is None:
            raise NotConnectedError("peer {} not connected".format(peer_id))
        if UEPS_FEATURE not in connection.features:
            raise FeatureNotAnnouncedError("peer {} did not announce {!r}".format(
                peer_id, UEPS_FEATURE))
        frame = ueps.encode(packet, connection.shared_secret)
        message = new_message(UEPS, self.identity.id, peer_id,
                              {"frame": base64.b64encode(frame).decode("ascii")},
                              clock=self.reactor)
        connection.send(message)

