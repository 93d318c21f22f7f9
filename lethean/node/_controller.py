"""
The controller: sends requests to workers and waits for their replies
(controller-worker.md 2).

Requests are correlated with replies by ``replyTo``.  Each pending request
is a Deferred with a timeout on the injected clock; it fails cleanly on
timeout, when the link to the peer is lost, and on :meth:`Controller.stop`.
Replies nobody is waiting for are logged and dropped.  The controller is an
``IMessageConsumer`` like the worker, so both can share one transport
(weakness 8).  Unlike the reference it scores peers by every request's
outcome and it can deploy bundles, in ``deploy_chunk`` parts when one
frame cannot carry them.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from lethean.errors import LetheanError
from lethean.identity import LocalIdentity, NoIdentityError
from lethean.interfaces import IMeshConnection, IMeshTransport, IMessageConsumer, IPeerRegistry
from lethean.mesh import DIAL_ERRORS, Message, NotConnectedError, new_message
from lethean.mesh._envelope import (
    DEPLOY,
    DEPLOY_ACK,
    ERROR,
    ERROR_UNKNOWN,
    GET_LOGS,
    GET_STATS,
    LOGS,
    MINER_ACK,
    PING,
    PONG,
    START_MINER,
    STATS,
    STOP_MINER,
)
from lethean.mesh._capabilities import DEPLOY_CHUNKS
from lethean._gojson import RawJSON, marshal
from lethean._gostruct import GoStruct
from lethean.node._deploy_chunks import Progress, send_chunks
from lethean.node._errors import (
    ConnectFailedError,
    ControllerError,
    DeployFailedError,
    DeployTooLargeError,
    MinerCommandError,
    RemoteError,
    RequestAbortedError,
    RequestTimeoutError,
    SendFailedError,
    UnexpectedResponseError,
    UnknownPeerError,
)
from lethean.node._payloads import (
    DeployAckPayload,
    DeployPayload,
    ErrorPayload,
    GetLogsPayload,
    InvalidPayloadError,
    LogsPayload,
    MinerAckPayload,
    PingPayload,
    PongPayload,
    StartMinerPayload,
    StatsPayload,
    StopMinerPayload,
)

__all__ = [
    "Controller",
    "ANSWERED",
    "STATS_TIMEOUT_S",
    "MINER_TIMEOUT_S",
    "LOGS_TIMEOUT_S",
    "PING_TIMEOUT_S",
    "DEPLOY_TIMEOUT_S",
    "SINGLE_DEPLOY_MAX_BYTES",
]

if TYPE_CHECKING:
    from lethean.bundles import Bundle

_log = Logger()

_T = TypeVar("_T")
_G = TypeVar("_G", bound=GoStruct)

STATS_TIMEOUT_S = 10.0
MINER_TIMEOUT_S = 30.0
LOGS_TIMEOUT_S = 10.0
PING_TIMEOUT_S = 5.0
#: Deploy has no timeout in the reference (it has no deploy helper);
#: extraction of a large miner can take a while.
DEPLOY_TIMEOUT_S = 120.0
#: Bundles up to this size travel as one ``deploy`` a Go worker understands
#: (base64 makes ~767 KiB the most a 1 MiB frame can carry).
SINGLE_DEPLOY_MAX_BYTES = 700 * 1024


#: Failures that are the peer's answer: it works, the request was wrong
#: (an unknown miner, a missing profile), so its score stays as it was.
ANSWERED = (RemoteError, MinerCommandError, DeployFailedError)


class _Pending:
    """One request waiting for its reply."""

    __slots__ = ("connection", "deferred", "timer")

    def __init__(self, connection: IMeshConnection, deferred: defer.Deferred[Message],
                 timer: IDelayedCall) -> None:
        self.connection = connection
        self.deferred = deferred
        self.timer = timer


@implementer(IMessageConsumer)
class Controller:
    """
    Ask workers for stats, logs, miner starts and stops, and deploys.

    :param reactor: ``IReactorTime``: timeouts and RTTs.
    :param transport: the ``IMeshTransport`` (its ``identity`` is ours).
    :param registry: an ``IPeerRegistry`` for auto-connect, metrics and
        scores, or None.

    Add the controller to the transport with ``transport.add_consumer``.
    Every public method returns a Deferred (:meth:`stop` and the
    ``IMessageConsumer`` methods return nothing).
    """

    def __init__(self, reactor: IReactorTime, transport: IMeshTransport,
                 registry: IPeerRegistry | None = None) -> None:
        self._reactor = reactor
        self.transport = transport
        self.registry = registry
        self._pending: dict[str, _Pending] = {}
        #: connection -> ids of its pending requests, so a lost link fails
        #: its own requests without a scan of every link's.
        self._by_connection: dict[IMeshConnection, set[str]] = {}
        self._watched: set[IMeshConnection] = set()
        self._stopped = False

    # -- IMessageConsumer --------------------------------------------------

    def messageReceived(self, connection: IMeshConnection, message: Message) -> None:
        """Hand a reply to the request waiting for it; drop stray replies."""
        if not message.reply_to:
            return
        pending = self._take(message.reply_to)
        if pending is None:
            _log.info("dropped {intent} from {peer_id}: {reason}", intent=message.type,
                      peer_id=connection.peer_id,
                      reason="reply to no pending request {}".format(message.reply_to[:64]))
            return
        pending.timer.cancel()
        _log.debug("{reply} from {peer_id} answers request {request}", reply=message.type,
                   peer_id=connection.peer_id, request=message.reply_to[:64])
        pending.deferred.callback(message)

    def connectionLost(self, connection: IMeshConnection) -> None:
        """
        Fail the requests sent on ``connection``: their replies can only
        come back on it.  The controller watches the connections it uses
        (``when_lost``), so transports need not call this.
        """
        self._watched.discard(connection)
        self._abort(self._by_connection.get(connection, ()),
                    "connection to {} lost".format(connection.peer_id))

    def stop(self) -> None:
        """Fail every pending request; later requests fail at once."""
        self._stopped = True
        self._abort(self._pending, "controller stopped")

    def _abort(self, message_ids: Iterable[str], reason: str) -> None:
        for message_id in list(message_ids):
            pending = self._take(message_id)
            if pending is not None:
                pending.timer.cancel()
                pending.deferred.errback(RequestAbortedError(reason))

    def _add(self, message_id: str, pending: _Pending) -> None:
        self._pending[message_id] = pending
        self._by_connection.setdefault(pending.connection, set()).add(message_id)

    def _take(self, message_id: str) -> _Pending | None:
        """Remove and return the pending request ``message_id``, or None."""
        pending = self._pending.pop(message_id, None)
        if pending is not None:
            ids = self._by_connection[pending.connection]
            ids.discard(message_id)
            if not ids:
                del self._by_connection[pending.connection]
        return pending

    # -- correlation -------------------------------------------------------

    def _identity(self) -> LocalIdentity:
        identity = getattr(self.transport, "identity", None)
        if identity is None:
            raise NoIdentityError("node identity not initialized")
        return identity

    async def _connection(self, peer_id: str) -> IMeshConnection:
        connection = self.transport.connection(peer_id)
        if connection is not None:
            return connection
        peer = self.registry.get_peer(peer_id) if self.registry is not None else None
        if peer is None:
            raise UnknownPeerError("peer not found: {}".format(peer_id))
        try:
            dialled: IMeshConnection = await self.transport.connect(peer.address,
                                                                    peer_id=peer_id)
            return dialled
        except DIAL_ERRORS as e:
            raise ConnectFailedError("failed to connect to peer: {}".format(e)) from None

    def _watch(self, connection: IMeshConnection) -> None:
        when_lost = getattr(connection, "when_lost", None)
        if when_lost is None or connection in self._watched:
            return
        self._watched.add(connection)
        when_lost().addCallback(lambda _: self.connectionLost(connection))

    def request(self, peer_id: str, message_type: str, payload: Any,
                timeout_s: float) -> defer.Deferred[Message]:
        """
        Send one request to ``peer_id``; a Deferred firing with the reply
        ``Message``.

        Connects first when needed (that time is not part of ``timeout_s``).
        An ``error`` reply, a timeout, a lost link or :meth:`stop` fail it
        with a :class:`ControllerError`; the reply's type is not checked.
        """
        return defer.Deferred.fromCoroutine(
            self._request(peer_id, message_type, payload, timeout_s))

    async def _request(self, peer_id: str, message_type: str, payload: Any,
                       timeout_s: float) -> Message:
        if self._stopped:
            raise RequestAbortedError("controller stopped")
        identity = self._identity()
        connection = await self._connection(peer_id)
        message = new_message(message_type, identity.id, connection.peer_id, payload,
                              clock=self._reactor)
        waiting: defer.Deferred[Message] = defer.Deferred(lambda _: self._forget(message.id))
        timer = self._reactor.callLater(timeout_s, self._timed_out, message.id, timeout_s)
        self._add(message.id, _Pending(connection, waiting, timer))
        self._watch(connection)
        try:
            connection.send(message)
        except LetheanError as e:
            pending = self._take(message.id)
            if pending is not None:
                pending.timer.cancel()
            waiting.addErrback(lambda _: None)  # already aborted if the link went
            raise SendFailedError("failed to send message: {}".format(e)) from None
        response = await waiting
        if response.type == ERROR:
            try:
                error = ErrorPayload.from_json_value(response.payload)
            except InvalidPayloadError:
                raise RemoteError(ERROR_UNKNOWN, "unable to parse error response") from None
            raise RemoteError(error.code, error.message)
        return response

    def _forget(self, message_id: str) -> None:
        """The caller cancelled: stop waiting for the reply."""
        pending = self._take(message_id)
        if pending is not None:
            pending.timer.cancel()

    def _timed_out(self, message_id: str, timeout_s: float) -> None:
        pending = self._take(message_id)
        if pending is not None:
            pending.deferred.errback(RequestTimeoutError(
                "request timeout after {} s".format(timeout_s)))

    async def _call(self, peer_id: str, message_type: str, payload: Any, expected: str,
                    payload_class: type[_G], timeout_s: float) -> _G:
        response = await self._request(peer_id, message_type, payload, timeout_s)
        if response.type != expected:
            raise UnexpectedResponseError("unexpected response type: expected {}, got {}".format(
                expected, response.type))
        try:
            return payload_class.from_json_value(response.payload)
        except InvalidPayloadError as e:
            raise UnexpectedResponseError("invalid {} payload: {}".format(expected, e)) from None

    def _scored(self, peer_id: str,
                coroutine: Coroutine[Any, Any, _T]) -> defer.Deferred[_T]:
        """
        The request's Deferred, scoring the peer by its outcome; an answered
        refusal (:data:`ANSWERED`) is the caller's mistake, not the peer's.
        """
        if self.registry is None or self.registry.get_peer(peer_id) is None:
            return defer.Deferred.fromCoroutine(coroutine)

        registry = self.registry

        async def scored() -> _T:
            try:
                value = await coroutine
            except ANSWERED:
                raise
            except BaseException:
                await registry.record_outcome(peer_id, defer.fail()).addErrback(
                    lambda failure: None)
                raise
            registry.record_success(peer_id)
            return value
        return defer.Deferred.fromCoroutine(scored())

    # -- operations --------------------------------------------------------

    def get_remote_stats(self, peer_id: str) -> defer.Deferred[StatsPayload]:
        """A Deferred firing with the worker's :class:`StatsPayload`."""
        return self._scored(peer_id, self._call(
            peer_id, GET_STATS, None, STATS, StatsPayload, STATS_TIMEOUT_S))

    def start_remote_miner(self, peer_id: str, miner_type: str, profile_id: str = "",
                           config: Any = None) -> defer.Deferred[str]:
        """
        Start a miner; fires with its instance name.

        ``config`` (any JSON value, or a ``RawJSON``) overrides the worker's
        profile ``profile_id``.
        """
        if not miner_type:
            return defer.fail(ControllerError("miner type is required"))
        if config is not None and not isinstance(config, RawJSON):
            config = RawJSON(marshal(config, html=False))
        payload = StartMinerPayload(miner_type=miner_type, profile_id=profile_id, config=config)
        return self._scored(peer_id, self._miner_command(
            peer_id, START_MINER, payload, "miner start failed"))

    def stop_remote_miner(self, peer_id: str, miner_name: str) -> defer.Deferred[str]:
        """Stop a miner; fires with its name."""
        return self._scored(peer_id, self._miner_command(
            peer_id, STOP_MINER, StopMinerPayload(miner_name=miner_name), "miner stop failed"))

    async def _miner_command(self, peer_id: str, message_type: str, payload: GoStruct,
                             failure: str) -> str:
        ack = await self._call(peer_id, message_type, payload, MINER_ACK, MinerAckPayload,
                               MINER_TIMEOUT_S)
        if not ack.success:
            raise MinerCommandError("{}: {}".format(failure, ack.error), ack.error)
        return ack.miner_name

    def get_remote_logs(self, peer_id: str, miner_name: str, lines: int,
                        since: datetime | int | None = None) -> defer.Deferred[list[str]]:
        """
        A Deferred firing with the miner's last ``lines`` console lines (a
        list; empty when there are none).  ``since`` (an aware ``datetime``
        or Unix milliseconds) keeps only newer lines.
        """
        if isinstance(since, datetime):
            since = int(since.timestamp() * 1000)
        payload = GetLogsPayload(miner_name=miner_name, lines=lines, since=since or 0)

        async def logs() -> list[str]:
            result = await self._call(peer_id, GET_LOGS, payload, LOGS, LogsPayload,
                                      LOGS_TIMEOUT_S)
            return list(result.lines or ())
        return self._scored(peer_id, logs())

    def ping_peer(self, peer_id: str) -> defer.Deferred[float]:
        """
        A Deferred firing with the round-trip time in ms (auto-connect
        included); the registry's metrics are updated with it.
        """
        async def ping() -> float:
            started = self._reactor.seconds()
            sent_at = int(started * 1000)
            await self._call(peer_id, PING, PingPayload(sent_at=sent_at), PONG, PongPayload,
                             PING_TIMEOUT_S)
            rtt_ms = (self._reactor.seconds() - started) * 1000.0
            if self.registry is not None:
                peer = self.registry.get_peer(peer_id)
                if peer is not None:
                    self.registry.update_metrics(peer_id, rtt_ms, peer.geo_km, peer.hops)
            return rtt_ms
        return self._scored(peer_id, ping())

    def connect_to_peer(self, peer_id: str) -> defer.Deferred[IMeshConnection]:
        """Connect to a registered peer; fires with the connection."""
        return defer.Deferred.fromCoroutine(self._connection(peer_id))

    def disconnect_from_peer(self, peer_id: str) -> defer.Deferred[Any]:
        """Close the link to ``peer_id`` (fails if there is none)."""
        connection = self.transport.connection(peer_id)
        if connection is None:
            return defer.fail(NotConnectedError("peer not connected: {}".format(peer_id)))
        return defer.maybeDeferred(connection.close)

    def get_all_stats(self) -> defer.Deferred[dict[str, StatsPayload]]:
        """
        Stats of every connected registry peer, asked in parallel: a
        Deferred firing with ``{peer_id: StatsPayload}``; failing peers are
        left out.
        """
        peers = self.registry.connected_peers() if self.registry is not None else []
        requests = [self.get_remote_stats(peer.id) for peer in peers]

        def collect(results: list[tuple[bool, Any]]) -> dict[str, StatsPayload]:
            stats = {}
            for peer, (ok, value) in zip(peers, results):
                if ok:
                    stats[peer.id] = value
                else:
                    _log.debug("no stats from {peer_id} ({peer}): {error}", peer_id=peer.id,
                               peer=peer.name, error=value.getErrorMessage())
            return stats
        return defer.DeferredList(requests, consumeErrors=True).addCallback(collect)

    def deploy_bundle(self, peer_id: str, bundle: Bundle, timeout_s: float = DEPLOY_TIMEOUT_S,
                      progress: Progress | None = None) -> defer.Deferred[DeployAckPayload]:
        """
        Send a :class:`~lethean.bundles.Bundle` (made with
        ``frame_password(connection.bundle_secret)`` of the link to that
        peer as password: the v2 session's bundle secret, or the static
        pair secret a Go peer uses); fires with the
        :class:`DeployAckPayload`, or fails when ``success`` is false.

        Bundles up to :data:`SINGLE_DEPLOY_MAX_BYTES` go as one ``deploy``
        (any worker); larger ones as ``deploy_chunk`` parts, which only
        workers that announced ``deploy_chunks`` accept: to any other (a Go
        worker) such a deploy fails at once with :class:`DeployTooLargeError`.  ``progress(sent_bytes, total_bytes)``, if
        given, is called at the start, after each acknowledged chunk, and
        on success.
        """
        return self._scored(peer_id, self._deploy(peer_id, bundle, timeout_s, progress))

    async def _deploy(self, peer_id: str, bundle: Bundle, timeout_s: float,
                      progress: Progress | None) -> DeployAckPayload:
        progress = progress or _no_progress
        progress(0, len(bundle.data))
        if len(bundle.data) <= SINGLE_DEPLOY_MAX_BYTES:
            payload = DeployPayload(type=bundle.type, data=bundle.data,
                                    checksum=bundle.checksum, name=bundle.name)
            ack = await self._call(peer_id, DEPLOY, payload, DEPLOY_ACK, DeployAckPayload,
                                   timeout_s)
        else:
            connection = await self._connection(peer_id)
            if DEPLOY_CHUNKS not in connection.features:
                raise DeployTooLargeError(
                    "bundle of {} bytes for peer {}: a single deploy carries at most {} bytes, "
                    "and the peer did not announce {} (a Go node takes no larger "
                    "bundle)".format(len(bundle.data), connection.peer_id,
                                     SINGLE_DEPLOY_MAX_BYTES, DEPLOY_CHUNKS))
            ack = await send_chunks(self._reactor, self._call, peer_id, bundle, timeout_s,
                                    progress)
        if not ack.success:
            raise DeployFailedError("deploy failed: {}".format(ack.error), ack.error)
        progress(len(bundle.data), len(bundle.data))
        return ack


def _no_progress(sent: int, total: int) -> None:
    """Progress nobody follows."""
