"""
An in-memory mesh: several nodes in one process, linked without sockets.

:class:`MemoryMesh` is the network; :meth:`MemoryMesh.add_node` gives each
node a :class:`MemoryMeshTransport` that provides ``IMeshTransport``, so a
controller, a worker or your own ``IMessageConsumer`` can be tested exactly
as it runs on the real transport.  Messages really are sealed into SMSG
frames with the pair's shared secret and opened again on the other side,
so a payload that Go could not decode, or a frame over the 1 MiB limit,
fails here too.

Links between two nodes that both announce ``session_v2`` (the default)
are v2 sessions, as between two real lethean nodes: frames are sealed with
per-direction session keys (``secretstream``), ``session`` is ``"v2"`` and
``bundle_secret`` is the session's own; the upgrade itself is modelled as
done when the link opens.  A node added with ``features=frozenset()``
(a Go peer) gets v1 links.  Every message's ``from``, ``to`` and ``ts``
are checked as the real transport checks them: a message that fails is
logged, kept in the receiving transport's ``rejected`` and not delivered.

Delivery is synchronous but never re-entrant: a message sent while another
is being delivered is queued and delivered when the current one returns,
so by the time a ``send`` made outside a consumer returns, every message
it caused has been delivered.  Pass ``autoflush=False`` to queue instead,
and deliver with :meth:`MemoryMesh.flush` (as ``iosim``'s ``pump.flush``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.logger import Logger
from zope.interface import implementer

from lethean.interfaces import IMeshConnection, IMeshTransport
from lethean.mesh import FEATURES, SESSION_V2, decode_message, new_message, open_message
from lethean.mesh._envelope import DISCONNECT, PING
from lethean.mesh._capabilities import UEPS_FEATURE
from lethean.mesh._payloads import answer_ping
from lethean.smsg import FrameCipher, FrameTooLargeError, MAX_FRAME_BYTES

from lethean.mesh._checks import envelope_problem
from lethean.mesh._errors import (
    FeatureNotAnnouncedError, MessageTooLargeError, NotConnectedError, SelfConnectionError)
from lethean.mesh._session import Session, transcript_hash

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from lethean.identity import LocalIdentity, NodeIdentity
    from lethean.interfaces import IMessageConsumer, IPacketConsumer
    from lethean.mesh import Message
    from lethean.ueps import Packet

__all__ = [
    "MemoryMesh",
    "MemoryMeshTransport",
    "MemoryMeshConnection",
]

_log = Logger()


class MemoryMesh:
    """
    The in-memory network.

    :param reactor: ``IReactorTime`` for message timestamps and pongs
        (a ``task.Clock`` in tests).
    :param max_frame_bytes: the largest sealed frame a node accepts.
    :param autoflush: deliver at once (default) or only on :meth:`flush`.
    :param max_clock_skew_s: how far a message's ``ts`` may be from the
        reactor's clock (None: not checked), as ``TransportConfig``'s.
    """

    def __init__(self, reactor: IReactorTime, *, max_frame_bytes: int = MAX_FRAME_BYTES,
                 autoflush: bool = True, max_clock_skew_s: float | None = 300.0) -> None:
        self.reactor = reactor
        self.max_frame_bytes = max_frame_bytes
        self.max_clock_skew_s = max_clock_skew_s
        self.autoflush = autoflush
        self._nodes: dict[str, MemoryMeshTransport] = {}
        self._queue: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._delivering = False

    def add_node(self, identity: LocalIdentity, address: str | None = None, *,
                 answer_pings: bool = True,
                 features: Iterable[str] = FEATURES) -> MemoryMeshTransport:
        """
        A new node with ``identity`` (a ``LocalIdentity``) reachable at
        ``address`` (default ``"memory:<node id>"``).

        With ``answer_pings`` the transport answers ``ping`` with ``pong``
        itself and does not deliver it, as the real transport does.
        ``features`` is what the node announces to its peers (a lethean
        node's by default; ``frozenset()`` simulates a Go peer).
        """
        address = address or "memory:" + identity.id
        if address in self._nodes:
            raise ValueError("address {!r} is taken".format(address))
        node = MemoryMeshTransport(self, identity, address, answer_pings, frozenset(features))
        self._nodes[address] = node
        return node

    def node_at(self, address: str) -> MemoryMeshTransport | None:
        """The transport listening at ``address``, or None."""
        return self._nodes.get(address)

    def _enqueue(self, call: Callable[..., object], *args: Any) -> None:
        self._queue.append((call, args))
        if self.autoflush:
            self.flush()

    def flush(self) -> None:
        """Deliver queued messages (and what they cause) until none are left."""
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                call, args = self._queue.popleft()
                call(*args)
        finally:
            self._delivering = False


@implementer(IMeshConnection)
class MemoryMeshConnection:
    """One end of an in-memory link."""

    def __init__(self, local: MemoryMeshTransport, remote: MemoryMeshTransport,
                 outbound: bool) -> None:
        self._local = local
        self._remote = remote
        self.peer: NodeIdentity = remote.identity.identity
        self.peer_id = self.peer.id
        self.outbound = outbound
        self.shared_secret = local.identity.shared_secret(self.peer.public_key)
        self._cipher = FrameCipher(self.shared_secret, max_frame_bytes=local.mesh.max_frame_bytes)
        #: The link's other end (``MemoryMeshTransport.connect`` makes and pairs both).
        self.other_end: MemoryMeshConnection
        self.closed = False
        self._waiters: list[defer.Deferred[None]] = []
        self.address = remote.address
        self.connected_at = self.last_activity = local.mesh.reactor.seconds()
        self.rtt_s: float | None = None
        #: What the other node announced, as a real link learns it.
        self.features = remote.features
        self.session = "v1"
        self._session: Session | None = None
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0

    def __repr__(self) -> str:
        return "<MemoryMeshConnection {} -> {}>".format(self._local.identity.id, self.peer_id)

    @property
    def bundle_secret(self) -> bytes:
        """The v2 session's bundle secret, or the static pair secret on a v1 link."""
        if self._session is not None:
            assert self._session.bundle_secret is not None, "linked sessions are keyed"
            return self._session.bundle_secret
        return self.shared_secret

    def _key_session(self, session: Session) -> None:
        self._session = session
        self.session = "v2"

    def send(self, message: Message) -> None:
        """Seal ``message`` and queue it for the other end."""
        if self.closed:
            raise NotConnectedError("not connected to {}".format(self.peer_id))
        if self._session is not None:
            assert self._session.cipher is not None, "linked sessions are keyed"
            frame = self._session.cipher.seal(message.to_bytes())
        else:
            try:
                frame = self._cipher.seal(message,
                                          timestamp=int(self._local.mesh.reactor.seconds()))
            except FrameTooLargeError as e:
                raise MessageTooLargeError(str(e)) from None
        self.frames_out += 1
        self.bytes_out += len(frame)
        self._local.mesh._enqueue(self.other_end._frame_received, frame)

    def _frame_received(self, frame: bytes) -> None:
        if self.closed:
            return
        if self._session is not None:
            assert self._session.cipher is not None, "linked sessions are keyed"
            message = decode_message(self._session.cipher.open(frame))

        else:
            message = open_message(self._cipher, frame)
        self.frames_in += 1
        self.bytes_in += len(frame)
        mesh = self._local.mesh
        self.last_activity = mesh.reactor.seconds()
        problem = envelope_problem(message, peer_id=self.peer_id,
                                   local_id=self._local.identity.id, now=mesh.reactor.seconds(),
                                   max_skew_s=mesh.max_clock_skew_s)
        if problem is not None:
            self._local.rejected.append((problem[0], message))
            _log.warn("{reason} {peer_id}: dropped message: {text}", reason=problem[0],
                      peer_id=self.peer_id, text=problem[1])
            return
        self._local._message_received(self, message)

    def close(self, reason: str | None = None, code: int | None = None) -> defer.Deferred[None]:
        """Close both ends; with a ``reason``, send a ``disconnect`` first."""
        if self.closed:
            return self.when_lost()
        if reason is not None:
            message = new_message(DISCONNECT, self._local.identity.id, self.peer_id,
                                  {"reason": reason, "code": code or 0},
                                  clock=self._local.mesh.reactor)
            self.send(message)
        lost = self.when_lost()
        self._local.mesh._enqueue(self._lose)
        return lost

    def when_lost(self) -> defer.Deferred[None]:
        """A Deferred firing (with None) once this end is closed."""
        if self.closed:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(d)
        return d

    def _lose(self) -> None:
        for end in (self, self.other_end):
            if not end.closed:
                end.closed = True
                end._local._connection_lost(end)
                waiters, end._waiters = end._waiters, []
                for d in waiters:
                    d.callback(None)


@implementer(IMeshTransport)
class MemoryMeshTransport:
    """
    One node of a :class:`MemoryMesh`.  Consumers are told when a link
    closes (``IMessageConsumer.connectionLost``), as on the real transport.
    """

    def __init__(self, mesh: MemoryMesh, identity: LocalIdentity, address: str,
                 answer_pings: bool, features: frozenset[str] = FEATURES) -> None:
        self.mesh = mesh
        self.identity = identity
        self.address = address
        self.answer_pings = answer_pings
        self.features = features
        self._links: dict[str, MemoryMeshConnection] = {}
        self._consumers: list[IMessageConsumer] = []
        self._packet_consumers: list[IPacketConsumer] = []
        #: Every message this node received, in order (handy in tests).
        self.received: list[Message] = []
        #: ``(reason, message)`` of every message the envelope checks dropped.
        self.rejected: list[tuple[str, Message]] = []

    def __repr__(self) -> str:
        return "<MemoryMeshTransport {} at {}>".format(self.identity.id, self.address)

    def connect(self, address: str, *, peer_id: str | None = None,
                scheme: str | None = None) -> defer.Deferred[MemoryMeshConnection]:
        """Link to the node at ``address``; a Deferred firing with our end."""
        remote = self.mesh.node_at(address)
        if remote is None:
            return defer.fail(ConnectionRefusedError(address))
        if remote.identity.identity.public_key == self.identity.identity.public_key:
            return defer.fail(SelfConnectionError("the node dialled itself"))
        if peer_id is not None and peer_id != remote.identity.id:
            return defer.fail(ConnectionRefusedError(
                "{} is {}, not {}".format(address, remote.identity.id, peer_id)))
        existing = self._links.get(remote.identity.id)
        if existing is not None:
            return defer.succeed(existing)
        ours = MemoryMeshConnection(self, remote, outbound=True)
        theirs = MemoryMeshConnection(remote, self, outbound=False)
        ours.other_end, theirs.other_end = theirs, ours
        if SESSION_V2 in self.features and SESSION_V2 in remote.features:
            ends = _linked_sessions(self.mesh, ours, theirs)
            ours._key_session(ends[0])
            theirs._key_session(ends[1])
        self._links[ours.peer_id] = ours
        remote._links[theirs.peer_id] = theirs
        return defer.succeed(ours)

    def send(self, peer_id: str, message: Message) -> None:
        connection = self._links.get(peer_id)
        if connection is None:
            raise NotConnectedError("not connected to {}".format(peer_id))
        connection.send(message)

    def broadcast(self, message: Message) -> None:
        for connection in self.connections():
            if connection.peer_id != message.from_:
                connection.send(message)

    def connection(self, peer_id: str) -> MemoryMeshConnection | None:
        return self._links.get(peer_id)

    def connections(self) -> list[MemoryMeshConnection]:
        return list(self._links.values())

    def add_consumer(self, consumer: IMessageConsumer) -> None:
        self._consumers.append(consumer)

    def remove_consumer(self, consumer: IMessageConsumer) -> None:
        self._consumers.remove(consumer)

    def add_packet_consumer(self, consumer: IPacketConsumer) -> None:
        self._packet_consumers.append(consumer)

    def remove_packet_consumer(self, consumer: IPacketConsumer) -> None:
        self._packet_consumers.remove(consumer)

    def send_packet(self, peer_id: str, packet: Packet) -> None:
        connection = self._links.get(peer_id)
        if connection is None:
            raise NotConnectedError("not connected to {}".format(peer_id))
        if UEPS_FEATURE not in connection.features:
            raise FeatureNotAnnouncedError("peer {} did not announce {!r}".format(
                peer_id, UEPS_FEATURE))
        self.mesh._enqueue(connection.other_end._local._packet_received,
                           connection.other_end, packet)

    def disconnect(self, peer_id: str, reason: str | None = None,
                   code: int | None = None) -> None:
        """Close the link to ``peer_id`` (a no-op when there is none)."""
        connection = self._links.get(peer_id)
        if connection is not None:
            connection.close(reason, code)

    def _packet_received(self, connection: MemoryMeshConnection, packet: Packet) -> None:
        for consumer in list(self._packet_consumers):
            _call(consumer.packetReceived, connection, packet)

    def _message_received(self, connection: MemoryMeshConnection, message: Message) -> None:
        self.received.append(message)
        if message.type == PING and self.answer_pings:
            connection.send(answer_ping(message, clock=self.mesh.reactor,
                                        from_=self.identity.id))
            return  # as the real transport: answered, not delivered
        for consumer in list(self._consumers):
            _call(consumer.messageReceived, connection, message)

    def _connection_lost(self, connection: MemoryMeshConnection) -> None:
        if self._links.get(connection.peer_id) is connection:
            del self._links[connection.peer_id]
        for consumer in list(self._consumers):
            lost = getattr(consumer, "connectionLost", None)
            if lost is not None:
                _call(lost, connection)


def _linked_sessions(mesh: MemoryMesh, initiator: MemoryMeshConnection,
                     responder: MemoryMeshConnection) -> list[Session]:
    """
    Both ends of a v2 session, keyed by the real upgrade (each side's
    ephemeral key, then the key derivation); the transcript stands for the
    handshake a memory link does not have.
    """
    keys = (initiator._local.identity.identity.raw_public_key,
            responder._local.identity.identity.raw_public_key)
    transcript = transcript_hash(keys[0], keys[1])
    ends = [Session(mesh.reactor, initiator=outbound, shared_secret=end.shared_secret,
                    initiator_key=keys[0], responder_key=keys[1], transcript=transcript,
                    max_frame_bytes=mesh.max_frame_bytes)
            for outbound, end in ((True, initiator), (False, responder))]
    offers = [end.start() for end in ends]
    ends[0].upgrade(offers[1])
    ends[1].upgrade(offers[0])
    return ends


def _call(function: Callable[..., object], *args: Any) -> None:
    result = defer.maybeDeferred(function, *args)
    result.addErrback(lambda failure: _log.failure(
        "consumer {consumer} failed", failure, consumer=function))
