"""
Errors of the node layer: what a request to a remote node, the control
API, a target, a miner or a profile can meet.

Each class's docstring is the text a user sees; ``kind`` is its stable
machine-readable name (the control API sends it).
"""

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
]


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

    def __init__(self, code, message):
        super().__init__("remote error ({}): {}".format(code, message))
        self.code = code
        self.message = message


class UnexpectedResponseError(ControllerError):
    """The peer answered with a message of the wrong type or shape."""

    kind = "unexpected_response"


class MinerCommandError(ControllerError):
    """The worker could not start or stop the miner."""

    kind = "miner_command_failed"

    def __init__(self, text, remote_message=""):
        super().__init__(text)
        #: The worker's own words.
        self.remote_message = remote_message


class DeployFailedError(ControllerError):
    """The worker could not install the bundle."""

    kind = "deploy_failed"

    def __init__(self, text, remote_message=""):
        super().__init__(text)
        #: The worker's own words.
        self.remote_message = remote_message


class DeployTooLargeError(ControllerError):
    """The bundle is too large for one deploy, and the peer cannot take it in chunks."""

    kind = "deploy_too_large"


class ControlSetupError(LetheanError):
    """The control API cannot be set up."""

    kind = "control_setup"


class ControlBusyError(LetheanError):
    """The node is busy with other deploys: try again when they are done."""

    kind = "control_busy"


class InvalidRequestError(LetheanError):
    """The request cannot run as given."""

    kind = "invalid_request"
    exit_code = 2

    def __init__(self, line):
        super().__init__(line)
        self.line = line


class ProfileError(LetheanError):
    """The profile could not be stored or read."""


class ProfileNotFoundError(ProfileError):
    """No profile has that id."""


class WorkerError(LetheanError):
    """The worker could not handle the request."""

    kind = "worker"
