"""
The worker: answers a controller's requests (controller-worker.md 3).

:class:`Worker` is an ``IMessageConsumer``; add it to a mesh transport and
it replies to ``get_stats``, ``start_miner``, ``stop_miner``, ``get_logs``
and ``deploy`` exactly as the Go reference does, including its ``error``
replies (code 1004) and their texts.  Every other type is ignored, so a
controller sharing the transport sees its responses (weakness 8).  The
transport answers ``ping`` itself; the worker does not, unless asked.

Deploys get the fixes of weakness 7: the bundle name is validated, the
miner is executable, a default TIM config is not saved as a profile,
extraction runs in a thread with size limits, plaintext profiles are
refused unless enabled, and bundles too large for one frame arrive as
``deploy_chunk`` messages from lethean controllers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from lethean.bundles import (
    BUNDLE_FULL,
    BUNDLE_MINER,
    BUNDLE_PROFILE,
    Bundle,
    extract_profile_bundle,
    install_miner_bundle,
)
from lethean.bundles._threads import in_thread
from lethean.errors import LetheanError
from lethean.identity import LocalIdentity
from lethean.interfaces import IMeshConnection, IMessageConsumer, IMinerManager, IProfileManager
from lethean.mesh import Message, error_reply, reply
from lethean.mesh._envelope import (
    DEPLOY,
    DEPLOY_ACK,
    GET_LOGS,
    GET_STATS,
    LOGS,
    MINER_ACK,
    PING,
    START_MINER,
    STATS,
    STOP_MINER,
)
from lethean.mesh._payloads import answer_ping
from lethean._gojson import loads_strict
from lethean._gostruct import GoStruct
from lethean._paths import data_path
from lethean._deferreds import returns_deferred
from lethean.node._errors import WorkerError
from lethean.node._payloads import (
    DEPLOY_CHUNK,
    DEPLOY_CHUNK_ACK,
    DeployAckPayload,
    DeployChunkAckPayload,
    DeployChunkPayload,
    DeployPayload,
    GetLogsPayload,
    InvalidPayloadError,
    LogsPayload,
    MinerAckPayload,
    MinerStatsItem,
    StartMinerPayload,
    StatsPayload,
    StopMinerPayload,
)
from lethean.node._upload import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_TOTAL_BYTES,
    UPLOAD_IDLE_TIMEOUT_S,
    UploadAssembly,
)
from lethean.smsg import DecryptionError, frame_password

__all__ = [
    "Worker",
    "default_miners_root",
    "MAX_LOG_LINES",
]

_log = Logger()

#: The most log lines one ``get_logs`` returns (and what 0 or less means).
MAX_LOG_LINES = 10000


#: What a handler answers: ``(reply_type, payload)``, or None for no reply.
Answer = tuple[str, Any] | None
#: ``handler(connection, message)``: a Deferred (or awaitable) of its :data:`Answer`.
Handler = Callable[[IMeshConnection, Message], Awaitable[Answer]]

_T = TypeVar("_T")
_G = TypeVar("_G", bound=GoStruct)


def default_miners_root() -> str:
    """``<XDG data home>/lethean-desktop/miners``, where the reference installs miners."""
    return data_path("miners")


def _call(method: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    """
    A Deferred of a manager call.  Managers (``IMinerManager``,
    ``IProfileManager`` and miner instances) follow Twisted's one
    convention, ``maybeDeferred``'s: a method returns its result or a
    Deferred of it, and fails by raising or by a failed Deferred alike.
    A :class:`~lethean.errors.LetheanError` is the manager's answer (a
    miner not found, a start refused); anything else is a bug.
    """
    return defer.maybeDeferred(method, *args)


def _number(value: object) -> bool:
    return type(value) is not bool and isinstance(value, (int, float))


def _stats_item(name: str, miner_type: str, stats: Any) -> MinerStatsItem:
    """A MinerStatsItem from a miner's stats, mapped as the reference does."""
    if hasattr(stats, "to_json_value"):
        stats = stats.to_json_value()
    fields: dict[str, Any] = {}
    if isinstance(stats, dict) and all(isinstance(key, str) for key in stats):
        if _number(stats.get("hashrate")):
            fields["hashrate"] = float(stats["hashrate"])
        for key in ("shares", "rejected", "uptime"):
            if _number(stats.get(key)):
                fields[key] = int(stats[key])
        for key in ("pool", "algorithm"):
            if isinstance(stats.get(key), str):
                fields[key] = stats[key]
    return MinerStatsItem(name=name, type=miner_type, **fields)


@implementer(IMessageConsumer)
class Worker:
    """
    Handle controller requests arriving on a mesh transport.

    :param reactor: ``IReactorTime`` (and ``IReactorThreads`` for real
        deploys): timestamps, uptime, upload timeouts.
    :param identity: this node's ``LocalIdentity``, or None (then stats and
        error replies are refused, as in the reference).
    :param miner_manager: an ``IMinerManager`` or None.
    :param profile_manager: an ``IProfileManager`` or None.
    :param miners_root: where miner bundles are installed (default
        :func:`default_miners_root`).
    :param allow_plain_profiles: accept unencrypted profile bundles (the
        reference does, from any peer).
    :param answer_pings: reply ``pong`` to ``ping``; leave off when the
        transport answers pings itself (lethean's does).
    :param run_in_thread: ``run_in_thread(reactor, f, *args)`` -> Deferred;
        extraction runs there (tests pass a synchronous one).

    Every handler and :meth:`stats` and :meth:`deploy` return Deferreds.
    """

    def __init__(self, reactor: IReactorTime, identity: LocalIdentity | None, *,
                 miner_manager: IMinerManager | None = None,
                 profile_manager: IProfileManager | None = None,
                 miners_root: str | None = None, allow_plain_profiles: bool = False,
                 answer_pings: bool = False,
                 run_in_thread: Callable[..., defer.Deferred[Any]] = in_thread,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES,
                 upload_idle_timeout_s: float = UPLOAD_IDLE_TIMEOUT_S,
                 max_upload_total_bytes: int = MAX_UPLOAD_TOTAL_BYTES) -> None:
        self._reactor = reactor
        self.identity = identity
        self.miner_manager = miner_manager
        self.profile_manager = profile_manager
        self.miners_root = miners_root
        self.allow_plain_profiles = allow_plain_profiles
        self._in_thread = run_in_thread
        self.max_upload_bytes = max_upload_bytes
        self.upload_idle_timeout_s = upload_idle_timeout_s
        self.max_upload_total_bytes = max_upload_total_bytes
        self.started_at = reactor.seconds()
        self._uploads = UploadAssembly(reactor)
        #: Message type -> ``handler(connection, message)``, a Deferred of
        #: ``(reply_type, payload)`` or None (an ``async def`` handler works
        #: too: its result is awaited); add entries to serve more types.
        self.handlers: dict[str, Handler] = {
            GET_STATS: self.handle_get_stats,
            START_MINER: self.handle_start_miner,
            STOP_MINER: self.handle_stop_miner,
            GET_LOGS: self.handle_get_logs,
            DEPLOY: self.handle_deploy,
            DEPLOY_CHUNK: self.handle_deploy_chunk,
        }
        if answer_pings:
            self.handlers[PING] = self.handle_ping

    # -- IMessageConsumer --------------------------------------------------

    def messageReceived(self, connection: IMeshConnection,
                        message: Message) -> defer.Deferred[None] | None:
        """Run the handler for ``message.type``, if any, and send its reply."""
        handler = self.handlers.get(message.type)
        if handler is None:
            return None
        return defer.Deferred.fromCoroutine(self._handle(handler, connection, message))

    def connectionLost(self, connection: IMeshConnection) -> None:
        """Drop the chunked deploys of a link that closed."""
        self._uploads.drop_peer(connection.peer_id)

    def stop(self) -> None:
        """Drop every unfinished chunked deploy (call on service stop)."""
        self._uploads.drop_all()

    async def _handle(self, handler: Handler, connection: IMeshConnection,
                      message: Message) -> None:
        try:
            result = await handler(connection, message)
        except WorkerError as e:
            if self.identity is not None:
                _log.info("refused {intent} from {peer_id}: {reason}", intent=message.type,
                          peer_id=connection.peer_id, reason=str(e))
            self._send_error(connection, message, str(e))
            return
        except Exception as e:
            _log.failure("worker handler for {intent} from {peer_id} failed",
                         intent=message.type, peer_id=connection.peer_id)
            self._send_error(connection, message, "Worker: {}: {}".format(message.type, e))
            return
        if result is None:
            return
        reply_type, payload = result
        from_ = self.identity.id if self.identity is not None else None
        self._send(connection, reply(message, reply_type, payload, clock=self._reactor, from_=from_))
        _log.debug("served {intent} to {peer_id}: {reply}", intent=message.type,
                   peer_id=connection.peer_id, reply=reply_type)

    def _send_error(self, connection: IMeshConnection, request: Message, text: str) -> None:
        if self.identity is None:
            _log.warn("no identity: cannot send error reply to {peer_id}: {reason}",
                      peer_id=connection.peer_id, reason=text)
            return
        self._send(connection, error_reply(request, text, from_=self.identity.id,
                                           clock=self._reactor))

    def _send(self, connection: IMeshConnection, message: Message) -> None:
        try:
            connection.send(message)
        except LetheanError as e:
            _log.warn("failed to send {intent} to {peer_id}: {reason}",
                      intent=message.type, peer_id=connection.peer_id, reason=str(e))

    def _need_miner_manager(self) -> IMinerManager:
        if self.miner_manager is None:
            raise WorkerError("node: miner manager not configured")
        return self.miner_manager

    @staticmethod
    def _parse(cls: type[_G], message: Message, what: str) -> _G:
        try:
            return cls.from_json_value(message.payload)
        except InvalidPayloadError as e:
            raise WorkerError("{}: {}".format(what, e)) from None

    # -- handlers ----------------------------------------------------------

    @returns_deferred
    async def handle_ping(self, connection: IMeshConnection, message: Message) -> Answer:
        """``ping`` -> ``pong``, or the reference's error (only with ``answer_pings``)."""
        # Only its type and payload are used: _handle addresses the reply.
        answer = answer_ping(message, clock=self._reactor, from_=None)
        return answer.type, answer.payload

    @returns_deferred
    async def handle_get_stats(self, connection: IMeshConnection, message: Message) -> Answer:
        """``get_stats`` -> ``stats``: identity, uptime and every miner whose stats load."""
        return STATS, await self.stats()

    @returns_deferred
    async def stats(self) -> StatsPayload:
        """This node's :class:`StatsPayload` (also what its status shows)."""
        if self.identity is None:
            raise WorkerError("node: node identity not initialized")
        miners: list[MinerStatsItem] = []
        if self.miner_manager is not None:
            for instance in await _call(self.miner_manager.list_miners):
                try:
                    stats = await _call(instance.get_stats)
                except LetheanError as e:
                    _log.debug("skipping miner {miner} in stats: {reason}",
                               miner=instance.get_name(), reason=str(e))
                    continue
                miners.append(_stats_item(instance.get_name(), instance.get_type(), stats))
        identity = self.identity.identity
        return StatsPayload(node_id=identity.id, node_name=identity.name, miners=tuple(miners),
                            uptime=int(self._reactor.seconds() - self.started_at))

    @returns_deferred
    async def handle_start_miner(self, connection: IMeshConnection, message: Message) -> Answer:
        """``start_miner`` -> ``miner_ack``; the config comes from the request or the profile."""
        manager = self._need_miner_manager()
        request = self._parse(StartMinerPayload, message,
                              "Worker.handleStartMiner: invalid start miner payload")
        if not request.miner_type:
            raise WorkerError("Worker.handleStartMiner: miner type is required")
        if request.config is not None:
            config = loads_strict(request.config.text)
        elif self.profile_manager is not None:
            try:
                config = await _call(self.profile_manager.get_profile, request.profile_id)
            except LetheanError:
                config = None
            if config is None:
                raise WorkerError("Worker.handleStartMiner: profile not found: {}".format(
                    request.profile_id))
        else:
            raise WorkerError("Worker.handleStartMiner: no config provided and no profile "
                              "manager configured")
        try:
            instance = await _call(manager.start_miner, request.miner_type, config)
        except LetheanError as e:
            return MINER_ACK, MinerAckPayload(success=False, error=str(e))
        return MINER_ACK, MinerAckPayload(success=True, miner_name=instance.get_name())

    @returns_deferred
    async def handle_stop_miner(self, connection: IMeshConnection, message: Message) -> Answer:
        """``stop_miner`` -> ``miner_ack`` with the outcome."""
        manager = self._need_miner_manager()
        request = self._parse(StopMinerPayload, message,
                              "Worker.handleStopMiner: invalid stop miner payload")
        try:
            await _call(manager.stop_miner, request.miner_name)
        except LetheanError as e:
            return MINER_ACK, MinerAckPayload(success=False, miner_name=request.miner_name,
                                              error=str(e))
        return MINER_ACK, MinerAckPayload(success=True, miner_name=request.miner_name)

    @returns_deferred
    async def handle_get_logs(self, connection: IMeshConnection, message: Message) -> Answer:
        """``get_logs`` -> ``logs``; ``since`` is Unix milliseconds."""
        manager = self._need_miner_manager()
        request = self._parse(GetLogsPayload, message,
                              "Worker.handleGetLogs: invalid get logs payload")
        lines = request.lines
        if lines <= 0 or lines > MAX_LOG_LINES:
            lines = MAX_LOG_LINES
        try:
            instance = await _call(manager.get_miner, request.miner_name)
        except LetheanError:
            instance = None
        if instance is None:
            raise WorkerError("Worker.handleGetLogs: miner not found: {}".format(
                request.miner_name))
        since = None
        if request.since > 0:
            since = datetime.fromtimestamp(request.since / 1000, timezone.utc)
        history = await _call(instance.get_console_history_since, lines, since)
        history = None if history is None else tuple(history)
        return LOGS, LogsPayload(miner_name=request.miner_name, lines=history,
                                 has_more=history is not None and len(history) >= lines)

    @returns_deferred
    async def handle_deploy(self, connection: IMeshConnection, message: Message) -> Answer:
        """``deploy`` -> ``deploy_ack`` (profile, miner or full bundle)."""
        request = self._parse(DeployPayload, message,
                              "Worker.handleDeploy: invalid deploy payload")
        return await self.deploy(connection, request)

    @returns_deferred
    async def deploy(self, connection: IMeshConnection, request: DeployPayload) -> Answer:
        """Install the bundle of a ``deploy`` (or a finished chunked upload)."""
        passwords = _bundle_passwords(connection)
        if request.type == BUNDLE_PROFILE:
            return await self._deploy_profile(request, passwords)
        if request.type in (BUNDLE_MINER, BUNDLE_FULL):
            return await self._deploy_miner(request, passwords)
        raise WorkerError("Worker.handleDeploy: unknown bundle type: {}".format(request.type))

    async def _open_bundle(self, function: Callable[..., _T], bundle: Bundle,
                           passwords: Sequence[str], *args: Any, **kwargs: Any) -> _T:
        """``function(bundle, password, ...)`` in a thread, with each password until one opens it."""
        for password in passwords[:-1]:
            try:
                return await self._in_thread(self._reactor, function, bundle, password,
                                             *args, **kwargs)
            except DecryptionError:
                pass
        return await self._in_thread(self._reactor, function, bundle, passwords[-1],
                                     *args, **kwargs)

    async def _deploy_profile(self, request: DeployPayload, passwords: Sequence[str]) -> Answer:
        if self.profile_manager is None:
            raise WorkerError("Worker.handleDeploy: profile manager not configured")
        bundle = Bundle(type=request.type, name=request.name, data=request.data,
                        checksum=request.checksum)
        try:
            data = await self._open_bundle(extract_profile_bundle, bundle, passwords,
                                           allow_plain=self.allow_plain_profiles)
        except LetheanError as e:
            raise WorkerError("Worker.handleDeploy: failed to extract profile bundle: "
                              "ExtractProfileBundle: {}".format(e)) from None
        try:
            profile = loads_strict(data.decode("utf-8", "replace"))
        except ValueError as e:
            raise WorkerError("Worker.handleDeploy: invalid profile data JSON: {}".format(e)) from None
        try:
            await _call(self.profile_manager.save_profile, profile)
        except LetheanError as e:
            return DEPLOY_ACK, DeployAckPayload(success=False, name=request.name, error=str(e))
        return DEPLOY_ACK, DeployAckPayload(success=True, name=request.name)

    async def _deploy_miner(self, request: DeployPayload, passwords: Sequence[str]) -> Answer:
        bundle = Bundle(type=request.type, name=request.name, data=request.data,
                        checksum=request.checksum)
        root = self.miners_root or default_miners_root()
        try:
            installed = await self._open_bundle(install_miner_bundle, bundle, passwords, root)
        except LetheanError as e:
            raise WorkerError("Worker.handleDeploy: failed to extract miner bundle: "
                              "ExtractMinerBundle: {}".format(e)) from None
        profile_json = installed.profile_json
        if profile_json is not None and self.profile_manager is not None:
            try:
                profile = loads_strict(profile_json.decode("utf-8", "replace"))
                await _call(self.profile_manager.save_profile, profile)
            except (LetheanError, ValueError) as e:
                _log.warn("could not save the profile bundled with {bundle}: {reason}",
                          bundle=request.name, reason=str(e))
        return DEPLOY_ACK, DeployAckPayload(success=True, name=request.name)

    # -- chunked deploys (lethean extension) --------------------------------

    @returns_deferred
    async def handle_deploy_chunk(self, connection: IMeshConnection, message: Message) -> Answer:
        """
        ``deploy_chunk`` -> ``deploy_chunk_ack``, or for the last chunk the
        ``deploy_ack`` of the whole bundle.
        """
        chunk = self._parse(DeployChunkPayload, message,
                            "Worker.handleDeployChunk: invalid deploy chunk payload")
        whole = self._uploads.take(connection.peer_id, chunk,
                                   max_bytes=self.max_upload_bytes,
                                   max_total_bytes=self.max_upload_total_bytes,
                                   idle_timeout_s=self.upload_idle_timeout_s)
        if whole is None:
            return DEPLOY_CHUNK_ACK, DeployChunkAckPayload(upload_id=chunk.upload_id,
                                                           index=chunk.index)
        return await self.deploy(connection, whole)


def _bundle_passwords(connection: IMeshConnection) -> list[str]:
    """
    The passwords a bundle from ``connection`` may be sealed with: the
    link's bundle secret (a v2 session's own), and on a v2 link also the
    static pair secret, for a bundle made ahead of time for this pair.
    """
    passwords = [frame_password(connection.bundle_secret)]
    if connection.bundle_secret != connection.shared_secret:
        passwords.append(frame_password(connection.shared_secret))
    return passwords
