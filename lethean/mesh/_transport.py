"""
The mesh transport: a Twisted service that listens, dials, and delivers
sealed messages and UEPS packets to consumers.
"""

import base64
from collections import Counter

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from lethean import ueps
from lethean._gojson import decode_base64
from lethean.errors import LetheanError
from lethean.interfaces import IMeshTransport
from lethean.mesh._config import TransportConfig
from lethean.mesh._envelope import (
    DISCONNECT_NORMAL,
    DISCONNECT_SHUTDOWN,
    PING,
    new_message,
)
from lethean.mesh._errors import NotConnectedError
from lethean.mesh._limits import DedupCache
from lethean.mesh._payloads import answer_ping
from lethean.mesh._protocol import MeshClientFactory, MeshServerFactory
from lethean.mesh._tls import wrap_client_factory, wrap_server_factory
from lethean.peers import Peer, sanitise_peer_name

__all__ = ["MeshTransport", "UEPS", "SHUTDOWN_REASON", "parse_address"]

_log = Logger()

#: lethean's extension message type: ``{"frame": base64 UEPS frame}`` signed
#: with the link's shared secret.  A Go peer ignores unknown types.
UEPS = "ueps"
#: The graceful-close reason every peer gets when the transport stops.
SHUTDOWN_REASON = "server shutdown"
#: How often the de-duplication cache forgets expired ids.
DEDUP_SWEEP_S = 60.0


def parse_address(address):
    """``(host, port)`` of ``host:port`` or ``[v6]:port``; ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, got {!r}".format(address[:200]))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _escape(value):
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


@implementer(IMeshTransport)
class MeshTransport(Service):
    """
    This node's mesh: a WebSocket listener and outbound links, one per peer.

    ``registry`` is an ``IPeerRegistry`` (who may connect, which keys are
    pinned); ``routes`` maps extra WebSocket paths (``"/ueps"``) to stream
    protocol factories sharing the listening port.  ``counters`` counts
    what happened (accepted, rejected by reason, rate limited, dropped,
    decrypt failures, duplicates) for the node to report.
    """

    def __init__(self, reactor, identity, registry, config=None, *, routes=None):
        self.reactor = reactor
        self.identity = identity
        self.registry = registry
        self.config = config if config is not None else TransportConfig()
        self.routes = dict(routes or {})
        self.counters = Counter()
        self.dedup = DedupCache(reactor, self.config.dedup_ttl_s, self.config.dedup_max_entries)
        self.port = None
        self._connections = {}
        self._pending = set()
        #: Protocols still in the upgrade or the handshake (aborted on stop).
        self.handshaking = set()
        self._consumers = []
        self._packet_consumers = []
        self._sweeper = LoopingCall(self.dedup.sweep)
        self._sweeper.clock = reactor

    # -- service ---------------------------------------------------------------

    def startService(self):
        super().startService()
        if self.config.listen is not None:
            self._listen()
        self._sweeper.start(DEDUP_SWEEP_S, now=False)

    def _listen(self):
        scheme = self.config.scheme
        factory = MeshServerFactory(self, self.routes, url="{}://localhost{}".format(
            scheme, self.config.ws_path))
        if self.config.tls_cert:
            factory = wrap_server_factory(factory, self.config.tls_cert, self.config.tls_key)
        d = serverFromString(self.reactor, self.config.listen).listen(factory)

        def listening(port):
            self.port = port
            return port

        def failed(failure):
            _log.failure("mesh listener on {listen} failed", failure, listen=self.config.listen)

        self._listening = d.addCallbacks(listening, failed)

    def stopService(self):
        """Close every link with ``server shutdown`` (1004), stop listening."""
        super().stopService()
        if self._sweeper.running:
            self._sweeper.stop()
        closing = [c.close(SHUTDOWN_REASON, DISCONNECT_SHUTDOWN)
                   for c in list(self._connections.values()) + list(self._pending)]
        for protocol in list(self.handshaking):
            protocol.transport.abortConnection()
        if self.port is not None:
            port, self.port = self.port, None
            closing.append(defer.maybeDeferred(port.stopListening))
        return defer.DeferredList(closing, consumeErrors=True).addCallback(lambda _: None)

    # -- bookkeeping used by connections and protocols ---------------------------

    def count(self, name):
        """Add one to counter ``name``."""
        self.counters[name] += 1

    def pending(self, connection):
        """An inbound link whose initiator has not yet proved its key."""
        self._pending.add(connection)

    def authenticated(self, connection):
        """A first frame decrypted: the peer holds its key; register the link."""
        self._pending.discard(connection)
        if not connection.outbound:
            self._auto_register(connection)
        self._register(connection)

    def _auto_register(self, connection):
        peer = connection.peer
        if self.registry.get_peer(peer.id) is not None:
            return
        try:
            self.registry.add_peer(Peer(id=peer.id, name=sanitise_peer_name(peer.name),
                                        public_key=peer.public_key, role=peer.role))
        except LetheanError as e:
            _log.warn("could not register {peer_id}: {reason}", peer=connection.address,
                      peer_id=peer.id, reason=str(e))

    def _register(self, connection):
        peer_id = connection.peer_id
        old = self._connections.get(peer_id)
        if old is not None and old is not connection:
            keep = self._prefer(connection, old)
            drop = old if keep is connection else connection
            self.count("duplicates_closed")
            _log.info("closing duplicate link to {peer_id}", peer_id=peer_id)
            if keep is old:
                drop.close("duplicate connection", DISCONNECT_NORMAL)
                return
            self._connections[peer_id] = connection
            old.close("duplicate connection", DISCONNECT_NORMAL)
        self._connections[peer_id] = connection
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

    def connection_lost(self, connection):
        """Remove ``connection``, and only it (weakness 9)."""
        self._pending.discard(connection)
        if self._connections.get(connection.peer_id) is connection:
            del self._connections[connection.peer_id]
            self.registry.set_connected(connection.peer_id, False)
            self.count("connections_closed")

    def deliver(self, connection, message):
        """
        A decrypted, new message: answer pings, swallow pongs to our own
        keepalive pings, unwrap UEPS, hand the rest to every consumer.
        """
        if message.type == PING:
            self._pong(connection, message)
            return
        if connection.is_keepalive_pong(message):
            return
        if message.type == UEPS:
            self._packet(connection, message)
            return
        for consumer in list(self._consumers):
            d = defer.maybeDeferred(consumer.messageReceived, connection, message)
            d.addErrback(self._consumer_failed, connection, message)

    @staticmethod
    def _consumer_failed(failure, connection, message):
        _log.failure("consumer failed on {type} from {peer_id}", failure,
                     type=message.type, peer_id=connection.peer_id)

    def _pong(self, connection, ping):
        try:
            connection.send(answer_ping(ping, clock=self.reactor, from_=self.identity.id))
        except LetheanError:
            pass

    def _packet(self, connection, message):
        try:
            frame = message.payload.get("frame") if type(message.payload) is dict else None
            packet = ueps.decode(decode_base64(frame), connection.shared_secret)
        except (LetheanError, ValueError) as e:
            self.count("ueps_rejected")
            _log.warn("dropped UEPS packet from {peer_id} ({peer}): {reason}",
                      peer=connection.address, peer_id=connection.peer_id, reason=str(e))
            return
        self.count("ueps_received")
        for consumer in list(self._packet_consumers):
            d = defer.maybeDeferred(consumer.packetReceived, connection, packet)
            d.addErrback(self._consumer_failed, connection, message)

    # -- IMeshTransport -----------------------------------------------------------

    def connect(self, address, *, peer_id=None, scheme=None):
        existing = self._connections.get(peer_id) if peer_id else None
        if existing is not None:
            return defer.succeed(existing)
        return defer.Deferred.fromCoroutine(self._connect(address, peer_id, scheme))

    async def _connect(self, address, peer_id, scheme):
        host, port = parse_address(address)
        expected_key = None
        if peer_id is not None:
            expected_key = self.registry.known_key(peer_id)
        else:
            for record in self.registry.list_peers():
                if record.address == address and record.public_key:
                    peer_id, expected_key = record.id, record.public_key
                    break
        existing = self._connections.get(peer_id) if peer_id else None
        if existing is not None:
            return existing
        scheme = scheme or self.config.scheme
        url_host = "[{}]".format(host) if ":" in host else host
        url = "{}://{}:{}{}".format(scheme, url_host, port, self.config.ws_path)
        factory = MeshClientFactory(self, url, expected_id=peer_id, expected_key=expected_key)
        wire = factory
        if scheme == "wss":
            wire = wrap_client_factory(factory, host, self.config.tls_verify)
        endpoint = clientFromString(self.reactor, "tcp:host={}:port={}:timeout={}".format(
            _escape(host), port, int(self.config.handshake_timeout_s)))
        try:
            await endpoint.connect(wire)
            connection = await factory.result
        except Exception as e:
            self.count("connect_failed")
            _log.warn("could not connect to {peer} ({peer_id}): {reason}", peer=address,
                      peer_id=peer_id or "", reason=str(e) or type(e).__name__)
            raise
        return self.outbound_ready(connection, address)

    def outbound_ready(self, connection, address):
        """
        A dialled link passed the handshake: remember the peer, prove our key
        with a first ping, register the link; returns the surviving link.
        """
        self._remember(connection, address)
        # Prove our key at once so the responder can register us (weakness 2).
        connection._tick()
        self._register(connection)
        winner = self._connections.get(connection.peer_id)
        if winner is None:
            raise NotConnectedError("peer {} not connected".format(connection.peer_id))
        return winner

    def _remember(self, connection, address):
        """Trust on first use, or refresh the record of a pinned peer."""
        peer = connection.peer
        record = self.registry.get_peer(peer.id)
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
            _log.warn("could not register {peer_id}: {reason}", peer=address,
                      peer_id=peer.id, reason=str(e))

    def send(self, peer_id, message):
        connection = self._connections.get(peer_id)
        if connection is None:
            raise NotConnectedError("peer {} not connected".format(peer_id))
        connection.send(message)

    def broadcast(self, message):
        """Send to every peer but ``message.from_``; the last error is raised."""
        error = None
        for connection in list(self._connections.values()):
            if connection.peer_id == message.from_:
                continue
            try:
                connection.send(message)
            except LetheanError as e:
                error = e
        if error is not None:
            raise error

    def connection(self, peer_id):
        return self._connections.get(peer_id)

    def connections(self):
        return list(self._connections.values())

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
        connection = self._connections.get(peer_id)
        if connection is None:
            raise NotConnectedError("peer {} not connected".format(peer_id))
        frame = ueps.encode(packet, connection.shared_secret)
        message = new_message(UEPS, self.identity.id, peer_id,
                              {"frame": base64.b64encode(frame).decode("ascii")},
                              clock=self.reactor)
        connection.send(message)

