"""
A mesh node's application layer: the controller, the worker and the
payloads they exchange, the miners and profiles the worker manages, and
the assembly ``twistd lethean-node`` runs (:func:`assemble_node`).

:class:`Controller` sends requests (stats, miners, logs, deploys) and waits
for replies; :class:`Worker` answers them.  Both are message consumers of
one mesh transport, so a node can play both roles at once.
"""

import importlib

# The names below are loaded on first use (PEP 562), so a command that
# needs one part of the node (the control API's client, the targets) does
# not import them all: the web server, metrics, miners, bundles.
_MODULES = {
    "lethean.node._controller": (
        "DEPLOY_TIMEOUT_S", "LOGS_TIMEOUT_S", "MINER_TIMEOUT_S", "PING_TIMEOUT_S",
        "SINGLE_DEPLOY_MAX_BYTES", "STATS_TIMEOUT_S", "Controller",
    ),
    "lethean.node._deploy_chunks": (
        "DEPLOY_CHUNK_BYTES", "DEPLOY_WINDOW",
    ),
    "lethean.node._errors": (
        "AmbiguousTargetError", "ConnectFailedError", "ControlBusyError", "ControllerError",
        "DeployFailedError", "DeployTooLargeError", "HostNotFoundError", "InvalidRequestError",
        "MinerCommandError", "MinerError", "MinerNotFoundError", "NoAddressError",
        "NoAnswerError", "NotLetheanError", "NothingListensError", "PeerKeyChangedError",
        "ProfileError", "ProfileNotFoundError", "RefusedByPeerError", "RemoteError",
        "RequestAbortedError", "RequestFailedError", "RequestRefusedError",
        "RequestTimeoutError", "RequestUnansweredError", "SelfTargetError", "SendFailedError",
        "TLSFailedError", "TargetError", "TargetFormError", "UnexpectedResponseError",
        "UnknownPeerError", "UnknownTargetError", "WorkerError",
    ),
    "lethean.node._payloads": (
        "DEPLOY_CHUNK", "DEPLOY_CHUNK_ACK", "DeployAckPayload", "DeployChunkAckPayload",
        "DeployChunkPayload", "DeployPayload", "DisconnectPayload", "ErrorPayload",
        "GetLogsPayload", "InvalidPayloadError", "LogsPayload", "MinerAckPayload",
        "MinerStatsItem", "PingPayload", "PongPayload", "StartMinerPayload", "StatsPayload",
        "StopMinerPayload",
    ),
    "lethean.node._worker": (
        "MAX_LOG_LINES", "Worker", "default_miners_root",
    ),
    "lethean.node._upload": (
        "MAX_UPLOAD_BYTES", "MAX_UPLOADS_PER_PEER", "UPLOAD_IDLE_TIMEOUT_S",
    ),
    "lethean.node._assembly": (
        "NodeService", "RegistryService", "assemble_node",
    ),
    "lethean.node._dialler": (
        "PeerDialler",
    ),
    "lethean.node._operations": (
        "CONNECT_TIMEOUT_S", "NodeOperations",
    ),
    "lethean.node._status": (
        "NodeStatus",
    ),
    "lethean.node._control": (
        "CONTROL_SOCKET_NAME", "CONTROL_TOKEN_NAME", "ControlService",
        "control_socket_path", "control_token_path",
    ),
    "lethean.node._targets": (
        "Target", "parse_target", "peer_label",
    ),
    "lethean.node._miners": (
        "MinerProcess", "ProcessMinerManager",
    ),
    "lethean.node._profiles": (
        "DirectoryProfileManager", "default_profiles_root",
    ),
}
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
    "STATS_TIMEOUT_S",
    "MINER_TIMEOUT_S",
    "LOGS_TIMEOUT_S",
    "PING_TIMEOUT_S",
    "DEPLOY_TIMEOUT_S",
    "SINGLE_DEPLOY_MAX_BYTES",
    "DEPLOY_CHUNK_BYTES",
    "DEPLOY_WINDOW",
    "Worker",
    "WorkerError",
    "default_miners_root",
    "MAX_LOG_LINES",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOADS_PER_PEER",
    "UPLOAD_IDLE_TIMEOUT_S",
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
    "DeployChunkPayload",
    "DeployChunkAckPayload",
    "DEPLOY_CHUNK",
    "DEPLOY_CHUNK_ACK",
    "NodeService",
    "RegistryService",
    "assemble_node",
    "PeerDialler",
    "CONNECT_TIMEOUT_S",
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
    "Target",
    "TargetFormError",
    "UnknownTargetError",
    "parse_target",
    "peer_label",
    "NodeStatus",
    "CONTROL_SOCKET_NAME",
    "CONTROL_TOKEN_NAME",
    "ControlBusyError",
    "ControlService",
    "control_socket_path",
    "control_token_path",
    "MinerError",
    "MinerNotFoundError",
    "MinerProcess",
    "ProcessMinerManager",
    "DirectoryProfileManager",
    "ProfileError",
    "ProfileNotFoundError",
    "default_profiles_root",
]


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError("module 'lethean.node' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
