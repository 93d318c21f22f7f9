"""
Errors of the node layer: what a request to a remote node, the control
API, a target, a miner or a profile can meet.

Each class's docstring is the text a user sees; ``kind`` is its stable
machine-readable name (the control API sends it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from twisted.internet import defer

from lethean.errors import LetheanError

__all__ = [
    "ControllerError",
    "UnknownPeerError",
    "ConnectFailedError",
    "SendFailedError",
    "RequestTimeoutError",
    "RequestAbortedError",
    "RemoteError",
    "UnexpectedResponseError",
    "MinerCommandError",
    "DeployFailedError",
    "DeployTooLargeError",
    "ControlSetupError",
    "ControlBusyError",
    "InvalidRequestError",
    "ProfileError",
    "ProfileNotFoundError",
    "WorkerError",
    "TargetError",
    "NothingListensError",
    "HostNotFoundError",
    "NoAnswerError",
    "NotLetheanError",
    "TLSFailedError",
    "RefusedByPeerError",
    "PeerKeyChangedError",
    "SelfTargetError",
    "NoAddressError",
    "RequestFailedError",
    "RequestRefusedError",
    "RequestUnansweredError",
    "TargetFormError",
    "UnknownTargetError",
    "AmbiguousTargetError",
    "MinerError",
    "MinerNotFoundError",
    "DataFolderLockedError",
]


class _WordedError(LetheanError):
    """Base of the errors worded whole for their situation: ``line`` is what a user reads."""

    line: str

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


class ControllerError(LetheanError):
    """A request to a remote node failed."""

    kind = "controller"


class UnknownPeerError(ControllerError):
    """The peer is neither connected nor in the registry."""

    kind = "unknown_peer"


class ConnectFailedError(ControllerError):
    """Could not connect to the peer."""

    kind = "connect_failed"


class SendFailedError(ControllerError):
    """Could not send the request to the peer."""

    kind = "send_failed"


class RequestTimeoutError(ControllerError, defer.TimeoutError):
    """The peer did not answer in time."""

    kind = "request_timeout"


class RequestAbortedError(ControllerError):
    """The request was abandoned: the link closed or the controller stopped."""

    kind = "request_aborted"


class RemoteError(ControllerError):
    """The peer answered with an error."""

    kind = "remote_error"

    def __init__(self, code: int, message: str) -> None:
        super().__init__("remote error ({}): {}".format(code, message))
        self.code = code
        self.message = message


class UnexpectedResponseError(ControllerError):
    """The peer answered with a message of the wrong type or shape."""

    kind = "unexpected_response"


class _WorkerWordsError(ControllerError):
    """Base of the refusals that carry the worker's own words."""

    def __init__(self, text: str, remote_message: str = "") -> None:
        super().__init__(text)
        #: The worker's own words.
        self.remote_message = remote_message


class MinerCommandError(_WorkerWordsError):
    """The worker could not start or stop the miner."""

    kind = "miner_command_failed"


class DeployFailedError(_WorkerWordsError):
    """The worker could not install the bundle."""

    kind = "deploy_failed"


class DeployTooLargeError(ControllerError):
    """The bundle is too large for one deploy, and the peer cannot take it in chunks."""

    kind = "deploy_too_large"


class ControlSetupError(LetheanError):
    """The control API cannot be set up."""

    kind = "control_setup"


class ControlBusyError(LetheanError):
    """The node is busy with other deploys: try again when they are done."""

    kind = "control_busy"


class InvalidRequestError(_WordedError):
    """The request cannot run as given."""

    kind = "invalid_request"
    exit_code = 2


class ProfileError(LetheanError):
    """The profile could not be stored or read."""


class ProfileNotFoundError(ProfileError):
    """No profile has that id."""


class WorkerError(LetheanError):
    """The worker could not handle the request."""

    kind = "worker"


class TargetError(_WordedError):
    """The target node cannot be reached."""

    kind = "target_unreachable"

    def __init__(self, line: str, peer: Mapping[str, Any] | None = None,
                 reason: str | None = None) -> None:
        super().__init__(line)
        #: ``{"id", "name", "address"}`` of the peer, as far as known.
        self.peer = peer or {}
        #: The transport's own text, kept for ``--json``.
        self.reason = reason


class NothingListensError(TargetError):
    """Nothing listens at the target's address."""

    kind = "connection_refused"


class HostNotFoundError(TargetError):
    """The target's host name has no address."""

    kind = "host_not_found"


class NoAnswerError(TargetError):
    """The target did not answer in time."""

    kind = "no_answer"


class NotLetheanError(TargetError):
    """The target is not a lethean node (or speaks TLS when we did not, or the reverse)."""

    kind = "not_a_lethean_node"


class TLSFailedError(TargetError):
    """The target's TLS certificate is not trusted."""

    kind = "tls_failed"


class RefusedByPeerError(TargetError):
    """The target refused our handshake."""

    kind = "refused_by_peer"


class PeerKeyChangedError(TargetError):
    """The target holds another key than the one pinned for it."""

    kind = "peer_key_changed"


class SelfTargetError(TargetError):
    """The target is this node itself."""

    kind = "self_target"
    exit_code = 2


class NoAddressError(TargetError):
    """The registered peer has no address to dial."""

    kind = "no_address"


class RequestFailedError(_WordedError):
    """The request to the peer failed."""

    kind = "request_failed"

    def __init__(self, line: str, peer: Mapping[str, Any] | None = None,
                 remote: Mapping[str, Any] | None = None) -> None:
        super().__init__(line)
        #: ``{"id", "name", "address"}`` of the peer.
        self.peer = peer or {}
        #: ``{"code", "message"}``: what the peer itself said, if it said anything.
        self.remote = remote


class RequestRefusedError(RequestFailedError):
    """The peer refused the request."""

    kind = "request_refused"


class RequestUnansweredError(RequestFailedError):
    """The peer did not answer the request."""

    kind = "request_unanswered"


class TargetFormError(_WordedError):
    """That is not a way to name a node."""

    kind = "bad_target"
    exit_code = 2


class UnknownTargetError(_WordedError):
    """No registered peer has that name or id."""

    kind = "unknown_target"


class AmbiguousTargetError(_WordedError):
    """More than one registered peer has that name or id prefix."""

    kind = "ambiguous_target"
    exit_code = 2

    def __init__(self, line: str, candidates: Iterable[Any]) -> None:
        super().__init__(line)
        #: The matching peers.
        self.candidates = list(candidates)


class MinerError(LetheanError):
    """The miner could not be started or stopped."""


class MinerNotFoundError(MinerError):
    """No miner runs under that name."""


class DataFolderLockedError(LetheanError):
    """Another node is running for this data folder."""

    kind = "data_folder_locked"
