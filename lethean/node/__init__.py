"""
A mesh node's application layer: the controller, the worker and the
payloads they exchange, the miners and profiles the worker manages, and
the assembly ``twistd lethean-node`` runs (:func:`assemble_node`).

:class:`Controller` sends requests (stats, miners, logs, deploys) and waits
for replies; :class:`Worker` answers them.  Both are message consumers of
one mesh transport, so a node can play both roles at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The names below are loaded on first use (PEP 562), so a command that
# needs one part of the node (the control API's client, the targets) does
# not import them all: the web server, metrics, miners, bundles.
_MODULES = {
    "lethean.node._controller": (
        "Controller",
    ),
    "lethean.node._errors": (
        "AmbiguousTargetError", "ConnectFailedError", "ControlBusyError", "ControllerError",
        "DeployFailedError", "DeployTooLargeError", "HostNotFoundError", "InvalidRequestError",
        "MinerCommandError", "MinerError", "MinerNotFoundError", "NoAddressError", "NoAnswerError",
        "NotLetheanError", "NothingListensError", "PeerKeyChangedError", "ProfileError",
        "ProfileNotFoundError", "RefusedByPeerError", "RemoteError", "RequestAbortedError",
        "RequestFailedError", "RequestRefusedError", "RequestTimeoutError",
        "RequestUnansweredError", "SelfTargetError", "SendFailedError", "TLSFailedError",
        "TargetError", "TargetFormError", "UnexpectedResponseError", "UnknownPeerError",
        "UnknownTargetError", "WorkerError",
    ),
    "lethean.node._payloads": (
        "DeployAckPayload", "DeployPayload", "DisconnectPayload", "ErrorPayload", "GetLogsPayload",
        "InvalidPayloadError", "LogsPayload", "MinerAckPayload", "MinerStatsItem", "PingPayload",
        "PongPayload", "StartMinerPayload", "StatsPayload", "StopMinerPayload",
    ),
    "lethean.node._worker": (
        "Worker", "default_miners_root",
    ),
    "lethean.node._assembly": (
        "NodeService", "RegistryService", "assemble_node",
    ),
    "lethean.node._dialler": (
        "PeerDialler",
    ),
    "lethean.node._operations": (
        "NodeOperations",
    ),
    "lethean.node._status": (
        "NodeStatus",
    ),
    "lethean.node._control": (
        "ControlService", "control_socket_path", "control_token_path",
    ),
    "lethean.node._miners": (
        "ProcessMinerManager",
    ),
    "lethean.node._profiles": (
        "DirectoryProfileManager", "default_profiles_root",
    ),
}
if TYPE_CHECKING:  # the names as the type checker sees them (loaded lazily below)
    from lethean.node._controller import Controller
    from lethean.node._errors import (
        AmbiguousTargetError,
        ConnectFailedError,
        ControlBusyError,
        ControllerError,
        DeployFailedError,
        DeployTooLargeError,
        HostNotFoundError,
        InvalidRequestError,
        MinerCommandError,
        MinerError,
        MinerNotFoundError,
        NoAddressError,
        NoAnswerError,
        NotLetheanError,
        NothingListensError,
        PeerKeyChangedError,
        ProfileError,
        ProfileNotFoundError,
        RefusedByPeerError,
        RemoteError,
        RequestAbortedError,
        RequestFailedError,
        RequestRefusedError,
        RequestTimeoutError,
        RequestUnansweredError,
        SelfTargetError,
        SendFailedError,
        TLSFailedError,
        TargetError,
        TargetFormError,
        UnexpectedResponseError,
        UnknownPeerError,
        UnknownTargetError,
        WorkerError,
    )
    from lethean.node._payloads import (
        DeployAckPayload,
        DeployPayload,
        DisconnectPayload,
        ErrorPayload,
        GetLogsPayload,
        InvalidPayloadError,
        LogsPayload,
        MinerAckPayload,
        MinerStatsItem,
        PingPayload,
        PongPayload,
        StartMinerPayload,
        StatsPayload,
        StopMinerPayload,
    )
    from lethean.node._worker import (
        Worker,
        default_miners_root,
    )
    from lethean.node._assembly import (
        NodeService,
        RegistryService,
        assemble_node,
    )
    from lethean.node._dialler import PeerDialler
    from lethean.node._operations import NodeOperations
    from lethean.node._status import NodeStatus
    from lethean.node._control import (
        ControlService,
        control_socket_path,
        control_token_path,
    )
    from lethean.node._miners import ProcessMinerManager
    from lethean.node._profiles import (
        DirectoryProfileManager,
        default_profiles_root,
    )

_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "Controller",
    "ControllerError",
    "ConnectFailedError",
    "DeployTooLargeError",
    "MinerCommandError",
    "DeployFailedError",
    "RemoteError",
    "RequestAbortedError",
    "RequestTimeoutError",
    "SendFailedError",
    "UnexpectedResponseError",
    "UnknownPeerError",
    "Worker",
    "WorkerError",
    "default_miners_root",
    "InvalidPayloadError",
    "PingPayload",
    "PongPayload",
    "DisconnectPayload",
    "StartMinerPayload",
    "StopMinerPayload",
    "MinerAckPayload",
    "MinerStatsItem",
    "StatsPayload",
    "GetLogsPayload",
    "LogsPayload",
    "DeployPayload",
    "DeployAckPayload",
    "ErrorPayload",
    "NodeService",
    "RegistryService",
    "assemble_node",
    "PeerDialler",
    "InvalidRequestError",
    "NodeOperations",
    "TargetError",
    "HostNotFoundError",
    "NoAddressError",
    "NoAnswerError",
    "NotLetheanError",
    "NothingListensError",
    "PeerKeyChangedError",
    "RefusedByPeerError",
    "SelfTargetError",
    "TLSFailedError",
    "RequestFailedError",
    "RequestRefusedError",
    "RequestUnansweredError",
    "AmbiguousTargetError",
    "TargetFormError",
    "UnknownTargetError",
    "NodeStatus",
    "ControlBusyError",
    "ControlService",
    "control_socket_path",
    "control_token_path",
    "MinerError",
    "MinerNotFoundError",
    "ProcessMinerManager",
    "DirectoryProfileManager",
    "ProfileError",
    "ProfileNotFoundError",
    "default_profiles_root",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError("module 'lethean.node' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
