"""
What an operator asks of a node: ping, stats, logs, miners, deploys and
registry edits, each carried out with one node's own transport, controller
and registry, and answered as a JSON-ready value.

The node's control API calls these for the ``lethean`` command line, so a
command run beside a node goes through that node's links and registry.
With no node running, the command builds its own short-lived transport and
calls the very same operations, so both paths answer alike.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from lethean._gojson import marshal
from lethean.errors import LetheanError
from lethean.bundles._threads import in_thread
from lethean.interfaces import IMeshConnection
from lethean._deferreds import returns_deferred
from lethean.node._worker import MAX_LOG_LINES
from lethean.node._deploy_source import Source, build_bundle, build_bundle_file, check_deploy
from lethean.node._errors import InvalidRequestError, NoAddressError, SelfTargetError
from lethean.node._reach import explain_dial_failure
from lethean.node._registry_edits import Registry, RegistryEdits
from lethean.node._targets import (
    TARGET_FORMS,
    parse_target,
    peer_label,
    resolve_target,
    same_endpoint,
)

if TYPE_CHECKING:
    from lethean.bundles import Bundle
    from lethean.mesh import MeshTransport
    from lethean.node._controller import Controller
    from lethean.node._deploy_chunks import Progress
    from lethean.peers import Peer

__all__ = [
    "NodeOperations",
    "CONNECT_TIMEOUT_S",
    "error_json",
]

#: Seconds allowed for dialling a target and the mesh handshake.
CONNECT_TIMEOUT_S = 20.0
#: The longest a caller may ask to wait for that.
MAX_CONNECT_TIMEOUT_S = 3600.0
#: Peers ``stats`` with ``every`` dials at once: a fleet links in parallel,
#: and a silent peer holds up only its own slot.
DIAL_CONCURRENCY = 100

_T = TypeVar("_T")

#: JSON data as an answer holds it.
JSON = Any
#: ``{"id", "name", "address"}`` of a peer, as far as known.
PeerFields = dict[str, Any]


def error_json(error: BaseException, peer: PeerFields | None = None) -> dict[str, JSON]:
    """
    An error as the API and ``--json`` show it: ``kind``, ``message`` (the
    line a person reads), ``exitCode``, and where known the ``peer`` and
    the ``remote`` text the peer sent or the transport's raw ``reason``.
    """
    from lethean.errors import describe

    # ``error`` is a LetheanError; another exception is shown as the root's kind.
    document: dict[str, JSON] = {"kind": getattr(error, "kind", LetheanError.kind),
                                 "message": describe(error),
                                 "exitCode": getattr(error, "exit_code", LetheanError.exit_code)}
    peer = getattr(error, "peer", None) or peer
    if peer:
        document["peer"] = peer
    remote = getattr(error, "remote", None)
    if remote is not None:
        document["remote"] = remote
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        document["reason"] = reason
    return document


class NodeOperations(RegistryEdits[Registry]):
    """
    The operator's requests, carried out through one node's parts.

    :param reactor: ``IReactorTime`` (timeouts) and ``IReactorThreads``
        (bundles are built in the thread pool).
    :param transport: the node's ``IMeshTransport``.
    :param registry: its ``IPeerRegistry``.
    :param controller: its :class:`~lethean.node.Controller`.
    :param data_dir: the data folder the operator names with ``--data-dir``
        (None: the default one), so the commands hints name act on it.

    ``reactor``, ``transport`` and ``controller`` may all be None for an
    object that only edits the registry (the ``lethean peers`` commands
    with no node running); the remote operations then cannot be used.

    Remote operations return Deferreds; registry edits return at once (the
    registry saves them itself, shortly after).
    """

    def __init__(self, reactor: IReactorTime | None, transport: MeshTransport | None,
                 registry: Registry, controller: Controller | None,
                 data_dir: str | None = None) -> None:
        super().__init__(registry, data_dir)
        # Typed as present: only registry edits run without them.
        self._reactor = cast("IReactorTime", reactor)
        self.transport = cast("MeshTransport", transport)
        self.controller = cast("Controller", controller)

    # -- targets -----------------------------------------------------------

    def connect(self, target: str,
                timeout_s: float = CONNECT_TIMEOUT_S) -> defer.Deferred[IMeshConnection]:
        """
        A Deferred firing with the ``IMeshConnection`` to ``target``: a
        node id, a unique id prefix (4+ hex digits), a peer name,
        ``HOST:PORT`` or ``ws[s]://HOST:PORT[/ws]`` (an address is dialled;
        a new peer is registered, a registered one's key is pinned).
        """
        return defer.Deferred.fromCoroutine(self._connect(target, timeout_s))

    def resolve(self, target: str) -> tuple[str, str | None, str | None, str, PeerFields]:
        """
        ``(address, peer_id, scheme, label, peer)`` for dialling ``target``:
        the one place where a target becomes an address.  ``peer`` is
        ``{"id", "name", "address"}`` as far as known; raises
        TargetFormError, UnknownTargetError, AmbiguousTargetError or
        NoAddressError.
        """
        parsed = parse_target(target)
        if parsed.address is not None:
            address, peer_id, name = parsed.address, None, ""
            # A registered peer at the same endpoint (localhost:9101 for a saved
            # 127.0.0.1:9101) is dialled as saved, so its record stays as it is.
            for record in self.registry.list_peers():
                if record.address and same_endpoint(record.address, address):
                    address, peer_id, name = record.address, record.id, record.name
                    break
            peer = {"id": peer_id, "name": name, "address": address}
            return address, peer_id, parsed.scheme, peer_label(peer_id, name, address), peer
        connected = [c.peer_id for c in self.transport.connections()]
        peer_id, record = resolve_target(self.registry, parsed, connected, self.command)
        name = record.name if record is not None else ""
        address = record.address if record is not None else ""
        peer = {"id": peer_id, "name": name, "address": address}
        label = peer_label(peer_id, name, address)
        if not address and self.transport.connection(peer_id) is None:
            raise NoAddressError(
                "{} has no address to dial and is not connected: it may connect to this node "
                "by itself, or dial it once by HOST:PORT".format(label), peer)
        return address, peer_id, None, label, peer

    async def _connect(self, target: str, timeout_s: float) -> IMeshConnection:
        if not isinstance(target, str) or not target:
            raise InvalidRequestError("give a target: " + TARGET_FORMS)
        if (timeout_s is None or isinstance(timeout_s, bool)
                or not 0 < timeout_s <= MAX_CONNECT_TIMEOUT_S):
            raise InvalidRequestError("the timeout must be more than 0 and at most {:g} "
                                      "seconds".format(MAX_CONNECT_TIMEOUT_S))
        address, peer_id, scheme, label, peer = self.resolve(target)
        if peer_id is not None:
            connection = self.transport.connection(peer_id)
            if connection is not None:
                return connection
        if peer_id is None and self._is_own_address(address):
            raise SelfTargetError("{} is this node itself".format(address), peer)
        d = self.transport.connect(address, peer_id=peer_id, scheme=scheme)
        d.addTimeout(timeout_s, self._reactor)
        try:
            connection = await d
        except Exception as e:
            explained = explain_dial_failure(
                e, label, peer, scheme or self._default_scheme(), timeout_s,
                self.transport.identity.identity.public_key, self.command)
            if explained is None:
                raise
            raise explained from None
        if connection.peer_id == self.transport.identity.id:
            await self._forget_self(connection)
            raise SelfTargetError("{} is this node itself".format(address), peer)
        return connection

    def _default_scheme(self) -> str:
        config = getattr(self.transport, "config", None)
        return getattr(config, "scheme", "ws")

    def _is_own_address(self, target: str) -> bool:
        """True when ``target`` is surely this node's own listener (a loopback dial)."""
        port = getattr(self.transport, "port", None)
        host, _, port_text = target.rpartition(":")
        if port is None or not port_text.isdigit():
            return False
        bound = port.getHost()
        own = {getattr(bound, "host", None), "localhost", "127.0.0.1", "::1", "[::1]"}
        return int(port_text) == getattr(bound, "port", None) and host.lower() in own

    async def _forget_self(self, connection: IMeshConnection) -> None:
        """A dial that reached this very node: close it, and keep no record of it."""
        from lethean.peers import PeerNotFoundError

        lost = connection.when_lost()
        connection.close()
        await lost
        try:
            self.registry.remove_peer(connection.peer_id)
        except PeerNotFoundError:
            pass

    # -- remote operations -------------------------------------------------

    def _described(self, connection: IMeshConnection) -> tuple[str, PeerFields]:
        """``(label, peer)`` of a live link, for messages."""
        record = self.registry.get_peer(connection.peer_id)
        name = record.name if record is not None else ""
        address = (record.address if record is not None and record.address
                   else getattr(connection, "address", "") or "")
        peer = {"id": connection.peer_id, "name": name, "address": address}
        return peer_label(connection.peer_id, name, address), peer

    def _result(self, connection: IMeshConnection, **fields: JSON) -> dict[str, JSON]:
        """An answer about ``connection``'s peer: its id, ``peer`` (id, name, address), fields."""
        _, peer = self._described(connection)
        result: dict[str, JSON] = {"peerId": peer["id"], "peer": peer}
        result.update(fields)
        return result

    async def _ask(self, connection: IMeshConnection, target: str, what: str,
                   request: Awaitable[_T]) -> _T:
        """
        ``await request``, a controller request to ``connection``'s peer;
        its failure becomes one line naming the peer (``what`` says what
        was asked, e.g. "start the miner").
        """
        from lethean.node._remote import explain_request_failure

        try:
            return await request
        except LetheanError as e:
            label, peer = self._described(connection)
            explained = explain_request_failure(e, label, peer, target, what, self.command)
            if explained is None:
                raise
            raise explained from None

    @returns_deferred
    async def ping(self, target: str, timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, JSON]:
        """``{"peerId", "rttMs"}``: the round trip of one ping (ms, to the microsecond)."""
        connection = await self._connect(target, timeout_s)
        rtt_ms = await self._ask(connection, target, "answer the ping",
                                 self.controller.ping_peer(connection.peer_id))
        return self._result(connection, rttMs=round(rtt_ms, 3))

    @returns_deferred
    async def stats(self, target: str | None = None, every: bool = False,
                    timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, JSON]:
        """
        ``{"stats": {peer_id: stats}, "failed": {peer_id: error}}`` of
        ``target``, or with ``every`` of each registered peer that has an
        address or a link (controllers, which answer no stats, left out);
        ``error`` is as :func:`error_json` makes it.
        """
        if every and target:
            raise InvalidRequestError("give a target or --all, not both")
        if not every:
            if not target:
                raise InvalidRequestError("give a target, or --all")
            connection = await self._connect(target, timeout_s)
            stats = await self._ask(connection, target, "report its stats",
                                    self.controller.get_remote_stats(connection.peer_id))
            return {"stats": {connection.peer_id: json.loads(marshal(stats))}, "failed": {}}
        results: dict[str, JSON] = {}
        failed: dict[str, JSON] = {}

        @returns_deferred
        async def ask(peer: Peer) -> None:
            try:
                connection = await self._connect(peer.id, timeout_s)
                stats = await self._ask(connection, peer.id, "report its stats",
                                        self.controller.get_remote_stats(connection.peer_id))
            except LetheanError as e:
                failed[peer.id] = error_json(e, {"id": peer.id, "name": peer.name,
                                                 "address": peer.address})
            else:
                results[peer.id] = json.loads(marshal(stats))

        slots = defer.DeferredSemaphore(DIAL_CONCURRENCY)
        await defer.DeferredList([
            slots.run(ask, peer)
            for peer in self.registry.list_peers()
            if peer.role != "controller"
            and (peer.address or self.transport.connection(peer.id) is not None)])
        return {"stats": dict(sorted(results.items())), "failed": dict(sorted(failed.items()))}

    @returns_deferred
    async def logs(self, target: str, miner: str, lines: int,
                   timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, JSON]:
        """``{"peerId", "miner", "lines"}``: a miner's last console lines."""
        if not isinstance(miner, str) or not miner:
            raise InvalidRequestError("give the miner's name")
        if isinstance(lines, bool) or not isinstance(lines, int) \
                or not 0 < lines <= MAX_LOG_LINES:
            raise InvalidRequestError("lines must be a whole number from 1 to {}".format(
                MAX_LOG_LINES))
        connection = await self._connect(target, timeout_s)
        got = await self._ask(connection, target, "show the miner's lines",
                              self.controller.get_remote_logs(connection.peer_id, miner, lines))
        return self._result(connection, miner=miner, lines=got)

    @returns_deferred
    async def start_miner(self, target: str, miner_type: str, profile: str = "",
                          config: JSON = None,
                          timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, JSON]:
        """``{"peerId", "started"}``; ``config`` (JSON data) overrides the profile."""
        if not isinstance(miner_type, str) or not miner_type:
            raise InvalidRequestError("give the miner type, e.g. xmrig")
        if not profile and config is None:
            raise InvalidRequestError("give --profile NAME (a profile deployed to the "
                                      "node) or --config JSON")
        connection = await self._connect(target, timeout_s)
        name = await self._ask(connection, target, "start the miner",
                               self.controller.start_remote_miner(
                                   connection.peer_id, miner_type, profile or "", config))
        return self._result(connection, started=name)

    @returns_deferred
    async def stop_miner(self, target: str, name: str,
                         timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, JSON]:
        """``{"peerId", "stopped"}``."""
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("give the miner's name")
        connection = await self._connect(target, timeout_s)
        stopped = await self._ask(connection, target, "stop the miner",
                                  self.controller.stop_remote_miner(connection.peer_id, name))
        return self._result(connection, stopped=stopped)

    @returns_deferred
    async def deploy(self, target: str, source: Source, kind: str = "bundle",
                     name: str | None = None, miner_file_name: str | None = None,
                     progress: Progress | None = None,
                     timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, JSON]:
        """
        Deploy ``source`` (a path or a binary file) to ``target``: a bundle
        file as it is, or
        (``kind`` ``profile`` or ``miner``) a profile JSON or a miner binary,
        bundled in the thread pool and sealed for that link.  Fires with
        ``{"peerId", "name", "success", "bytes"}``; ``progress(sent, total)``
        follows the acknowledged chunks.
        """
        from lethean.smsg import frame_password

        check_deploy(target, kind, name)
        connection = await self._connect(target, timeout_s)
        # A v2 link's own bundle secret; a Go peer's is the static pair secret.
        password = frame_password(connection.bundle_secret)
        bundle = await in_thread(self._reactor, build_bundle, source, kind, name,
                                 miner_file_name, password)
        total = len(bundle.data)
        ack = await self._ask(connection, target, "install the " + kind,
                              self.controller.deploy_bundle(connection.peer_id, bundle,
                                                            progress=progress))
        return self._result(connection, name=ack.name or bundle.name, success=ack.success,
                            bytes=total)

    def bundle_for(self, target: str, source: Source, kind: str, name: str | None,
                   miner_file_name: str | None = None,
                   timeout_s: float = CONNECT_TIMEOUT_S) -> defer.Deferred[tuple[PeerFields, Bundle]]:
        """
        A Deferred firing with ``(peer_json_fields, bundle)``: ``source`` (a
        profile JSON or a miner binary, a path or a binary file) bundled and
        encrypted for this node's link to ``target``, as ``deploy`` would
        send it, for deploying later (``lethean bundle create --for``).  A
        registered peer with a known key is not dialled.
        """
        return defer.Deferred.fromCoroutine(self._bundle_for(
            target, source, kind, name, miner_file_name, timeout_s, build_bundle))

    def bundle_file_for(self, target: str, source: Source, kind: str, name: str | None,
                        miner_file_name: str | None = None,
                        timeout_s: float = CONNECT_TIMEOUT_S) -> defer.Deferred[tuple[PeerFields, bytes]]:
        """
        As :meth:`bundle_for`, firing with ``(peer_json_fields, file_bytes)``:
        the bundle's stand-alone JSON, written in the thread pool with the
        bundle (the control API's answer).
        """
        return defer.Deferred.fromCoroutine(self._bundle_for(
            target, source, kind, name, miner_file_name, timeout_s, build_bundle_file))

    async def _bundle_for(self, target: str, source: Source, kind: str, name: str | None,
                          miner_file_name: str | None, timeout_s: float,
                          build: Callable[..., _T]) -> tuple[PeerFields, _T]:
        from lethean.smsg import frame_password

        if kind not in ("profile", "miner"):
            raise InvalidRequestError("a bundle is made of a profile or a miner")
        check_deploy(target, kind, name)
        _, peer_id, _, label, peer = self.resolve(target)
        record = self.registry.get_peer(peer_id) if peer_id else None
        if record is not None and record.public_key:
            secret = self.transport.identity.shared_secret(record.public_key)
        else:
            connection = await self._connect(target, timeout_s)
            secret = connection.shared_secret
            _, peer = self._described(connection)
        built = await in_thread(self._reactor, build, source, kind, name, miner_file_name,
                                frame_password(secret))
        return peer, built
