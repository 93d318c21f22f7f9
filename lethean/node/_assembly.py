"""
Wire the layers into one node: registry, transport, worker, controller,
dispatcher and diallers, as the ``MultiService`` ``twistd`` runs.

Kept apart from ``tap.py`` (which only parses options and loads files) so
an application can build the same node from its own configuration.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from lethean.identity import LocalIdentity
from lethean.interfaces import IMinerManager, IPacketConsumer, IPeerRegistry
from lethean.mesh import ListenError, MeshTransport, TransportConfig
from lethean.node._control import ControlService, control_token_path
from lethean.node._controller import Controller
from lethean.node._dialler import PeerDialler
from lethean.node._operations import NodeOperations
from lethean.node._status import NodeStatus, listen_urls
from lethean.node._worker import Worker

if TYPE_CHECKING:
    from twisted.logger import LogLevel

    from lethean.node._lock import DataFolderLock
    from lethean.node._miners import ProcessMinerManager
    from lethean.node._profiles import DirectoryProfileManager
    from lethean.ueps import Dispatcher

__all__ = ["NodeService", "RegistryService", "assemble_node"]

#: ``twistd lethean-node``'s options by their long names (``"data-dir"``).
Options = Mapping[str, Any]


class _Node(service.MultiService):
    """
    The whole node.  Listening is part of starting it: a node that cannot
    bind logs one line naming the endpoint and why, and the process exits
    with status 1 (under ``twistd``, before the reactor runs).
    """

    #: The data folder's :class:`~lethean.node._lock.DataFolderLock`, held
    #: until the node has stopped (its registry written), or None.
    folder_lock: DataFolderLock | None = None
    #: The ``LogLevel`` below which the process's log drops events (twistd's
    #: ``--log-level``), or None to leave the log observers alone.
    log_level: LogLevel | None = None

    def privilegedStartService(self) -> None:
        if self.log_level is not None:
            # twistd's observers are in place by now.
            from lethean.node._loglevel import filter_log_observers

            filter_log_observers(self.log_level)
        if self.folder_lock is not None:
            self.folder_lock.record_pid()  # twistd may have forked since it was taken
        try:
            super().privilegedStartService()
        except ListenError as e:
            _log.critical("{error}", error=str(e))
            self._release()
            raise SystemExit(1) from None

    def stopService(self) -> defer.Deferred[None]:
        def released(result: Failure | None) -> Failure | None:
            self._release()
            return result
        d: defer.Deferred[None] = super().stopService()
        return d.addBoth(released)

    def _release(self) -> None:
        if self.folder_lock is not None:
            self.folder_lock.release()

_log = Logger()


class RegistryService(service.Service):
    """Owns the peer registry: its pending writes are flushed on stop."""

    def __init__(self, registry: IPeerRegistry) -> None:
        self.registry = registry

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.registry.close()


class NodeService(service.Service):
    """
    The application layer of a node: the worker and the controller as
    consumers of the transport (both at once: the ``dual`` role works), the
    UEPS dispatcher as its packet consumer, and the miners the worker runs.
    """

    def __init__(self, transport: MeshTransport, worker: Worker, controller: Controller,
                 dispatcher: IPacketConsumer | None = None,
                 miner_manager: IMinerManager | None = None,
                 control: ControlService | None = None) -> None:
        self.transport = transport
        self.worker = worker
        self.controller = controller
        self.dispatcher = dispatcher
        self.miner_manager = miner_manager
        self.control = control

    def startService(self) -> None:
        super().startService()
        self.transport.add_consumer(self.worker)
        self.transport.add_consumer(self.controller)
        if self.dispatcher is not None:
            self.transport.add_packet_consumer(self.dispatcher)
        identity = self.transport.identity
        registry = self.transport.registry  # whose auth mode the transport applies
        control = self.control.describe() if self.control is not None else []
        _log.info("node {node_id} ({name}, {role}) is up: mesh on {listen}, auth {auth} "
                  "({allowlisted} allowlisted keys), control on {control}",
                  node_id=identity.id, name=identity.identity.name, role=identity.identity.role,
                  listen=", ".join(listen_urls(self.transport)) or "no listener",
                  auth=str(registry.auth_mode), allowlisted=len(registry.allowed_public_keys()),
                  control=", ".join(control) or "none")

    def stopService(self) -> defer.Deferred[Any] | None:
        super().stopService()
        self.transport.remove_consumer(self.worker)
        self.transport.remove_consumer(self.controller)
        if self.dispatcher is not None:
            self.transport.remove_packet_consumer(self.dispatcher)
        self.controller.stop()
        self.worker.stop()
        if self.miner_manager is not None:
            return self.miner_manager.stop_all()
        return None


def _data_path(options: Options, name: str) -> str | None:
    """A folder under ``--data-dir``, or None for the library default."""
    if options.get("data-dir") is None:
        return None
    return os.path.join(options["data-dir"], name)


def _miner_manager(reactor: Any, options: Options) -> ProcessMinerManager:
    from lethean.node._miners import ProcessMinerManager

    command = options.get("miner-command")
    argv = shlex.split(command) if command else None
    return ProcessMinerManager(reactor, miner_command=argv)


def _profile_manager(reactor: Any, options: Options) -> DirectoryProfileManager:
    from lethean.node._profiles import DirectoryProfileManager, default_profiles_root

    path = _data_path(options, "profiles")
    return DirectoryProfileManager(path if path is not None else default_profiles_root(), reactor)


def _dispatcher(reactor: Any) -> Dispatcher:
    from lethean.ueps import Dispatcher

    return Dispatcher(reactor)


def assemble_node(reactor: Any, identity: LocalIdentity, registry: IPeerRegistry,
                  options: Options, *,
                  folder_lock: DataFolderLock | None = None) -> _Node:
    """
    The node's ``MultiService``.

    ``reactor`` provides what the parts need: ``IReactorTime``,
    ``IReactorTCP`` (and the other listeners of the endpoints),
    ``IReactorProcess`` (miners) and ``IReactorThreads`` (bundles).

    Start order is registry, transport, control API, application,
    diallers; stopping runs backwards, so peers are told ``server
    shutdown`` before the registry's last write.  ``options["control"]``
    lists the control API's endpoint strings (none when missing).
    ``folder_lock`` (a held :class:`~lethean.node._lock.DataFolderLock`) is
    released once the node has stopped.
    """
    config = TransportConfig(
        listen=options.get("listen", "tcp:9091"),
        tls_cert=options.get("tls-cert"),
        tls_key=options.get("tls-key"),
        tls_verify=options.get("tls-verify") or "system",
        max_connections=options.get("max-conns", 100),
        max_pending=options.get("max-pending", 128),
        max_connections_per_address=options.get("max-conns-per-address", 16),
        max_pending_per_address=options.get("max-pending-per-address", 8),
        connect_per_s=options.get("connect-rate", 5.0),
        connect_burst=max(1, int(4 * options.get("connect-rate", 5.0))),
        rate_per_s=options.get("rate-limit", 50.0),
        rate_burst=max(1, int(2 * options.get("rate-limit", 50.0))),
        rate_bytes_per_s=options.get("rate-limit-bytes", 16.0) * 1024 * 1024,
        offender_backoff_s=options.get("offender-backoff", 60.0),
        max_clock_skew_s=options.get("max-clock-skew", 300.0),
        # Ids are remembered for twice the window, so a replay inside it is a duplicate.
        dedup_ttl_s=max(600.0, 2 * options.get("max-clock-skew", 300.0)),
    )
    miner_manager = _miner_manager(reactor, options)
    worker = Worker(reactor, identity, miner_manager=miner_manager,
                    max_upload_total_bytes=options.get("max-uploads-mb", 256) * 1024 * 1024,
                    profile_manager=_profile_manager(reactor, options),
                    miners_root=_data_path(options, "miners"))
    transport = MeshTransport(reactor, identity, registry, config)
    controller = Controller(reactor, transport, registry)
    status = NodeStatus(reactor, transport, registry, worker)
    operations = NodeOperations(reactor, transport, registry, controller,
                                data_dir=options.get("data-dir"))
    control = ControlService(reactor, options.get("control") or (), operations, status,
                             control_token_path(options.get("data-dir")))
    status.control = control.describe

    node = _Node()
    node.folder_lock = folder_lock
    RegistryService(registry).setServiceParent(node)
    transport.setName("transport")
    transport.setServiceParent(node)
    control.setName("control")
    control.setServiceParent(node)
    application = NodeService(transport, worker, controller, _dispatcher(reactor), miner_manager,
                              control)
    application.setName("application")
    application.setServiceParent(node)
    PeerDialler(reactor, transport, options.get("peer", ()),
                resolve=operations.resolve).setServiceParent(node)
    return node
