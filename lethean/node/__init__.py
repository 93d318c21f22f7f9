"""
A mesh node's application layer: the controller, the worker and the
payloads they exchange, the miners and profiles the worker manages, and
the assembly ``twistd lethean-node`` runs (:func:`assemble_node`).

:class:`Controller` sends requests (stats, miners, logs, deploys) and waits
for replies; :class:`Worker` answers them.  Both are message consumers of
one mesh transport, so a node can play both roles at once.
"""

from lethean.node._controller import (
    DEPLOY_CHUNK_BYTES,
    DEPLOY_WINDOW,
    DEPLOY_TIMEOUT_S,
    LOGS_TIMEOUT_S,
    MINER_TIMEOUT_S,
    PING_TIMEOUT_S,
    SINGLE_DEPLOY_MAX_BYTES,
    STATS_TIMEOUT_S,
    ConnectFailedError,
    Controller,
    ControllerError,
    MinerCommandError,
    PeerNotConnectedError,
    RemoteError,
    RequestAbortedError,
    RequestTimeoutError,
    SendFailedError,
    UnexpectedResponseError,
    UnknownPeerError,
)
from lethean.node._payloads import (
    DEPLOY_CHUNK,
    DEPLOY_CHUNK_ACK,
    DeployAckPayload,
    DeployChunkAckPayload,
    DeployChunkPayload,
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
    MAX_LOG_LINES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOADS_PER_PEER,
    UPLOAD_IDLE_TIMEOUT_S,
    Worker,
    WorkerError,
    default_miners_root,
)

from lethean.node._assembly import (
    NodeService,
    RegistryService,
    assemble_node,
)
from lethean.node._dialler import (
    PeerDialler,
)
from lethean.node._operations import (
    CONNECT_TIMEOUT_S,
    InvalidRequestError,
    NodeOperations,
    TargetError,
)
from lethean.node._status import (
    NodeStatus,
)
from lethean.node._control import (
    CONTROL_SOCKET_NAME,
    CONTROL_TOKEN_NAME,
    ControlService,
    control_socket_path,
    control_token_path,
)
from lethean.node._control_api import (
    ControlBusyError,
)
from lethean.node._miners import (
    MinerError,
    MinerNotFoundError,
    MinerProcess,
    ProcessMinerManager,
)
from lethean.node._profiles import (
    DirectoryProfileManager,
    ProfileError,
    ProfileNotFoundError,
    default_profiles_root,
)

__all__ = [
    "Controller",
    "ControllerError",
    "ConnectFailedError",
    "MinerCommandError",
    "PeerNotConnectedError",
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
