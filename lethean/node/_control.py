"""
The node's control API as a service: where it listens, its bearer token,
and the site it serves (``_control_site``) with its paths
(``_control_api``).

Paths: ``GET /`` (the status page), ``GET /metrics``, ``GET /api/node``,
``GET /api/status``, ``GET /api/peers`` and the operations of
:class:`~lethean.node.NodeOperations` as ``POST /api/...`` with a JSON
object (see docs/control.md).  The unix socket is mode 0600 in the node's
0700 data folder; a TCP endpoint requires the bearer token kept in
``control.token``.
"""

import os
import secrets

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from lethean._paths import data_path
from lethean.errors import LetheanError
from lethean.node._errors import ControlSetupError

__all__ = [
    "ControlService",
    "CONTROL_SOCKET_NAME",
    "CONTROL_TOKEN_NAME",
    "control_socket_path",
    "control_token_path",
    "default_control_endpoints",
    "is_unix_endpoint",
    "load_or_create_token",
    "unix_endpoint",
]

_log = Logger()

#: The control socket's file name in the node's data folder.
CONTROL_SOCKET_NAME = "control.sock"
#: The file holding the bearer token of TCP control endpoints.
CONTROL_TOKEN_NAME = "control.token"


def control_socket_path(data_dir=None):
    """``DIR/control.sock``, or in the XDG data folder without ``data_dir``."""
    if data_dir is None:
        return data_path(CONTROL_SOCKET_NAME)
    return os.path.join(data_dir, CONTROL_SOCKET_NAME)


def control_token_path(data_dir=None):
    """``DIR/control.token``, or in the XDG data folder without ``data_dir``."""
    if data_dir is None:
        return data_path(CONTROL_TOKEN_NAME)
    return os.path.join(data_dir, CONTROL_TOKEN_NAME)


def _escape(value):
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def unix_endpoint(path):
    """The server endpoint string of a 0600 control socket at ``path``."""
    return "unix:{}:mode=600:lockfile=1".format(_escape(os.path.abspath(path)))


def default_control_endpoints(data_dir=None):
    """The control endpoints of a node with no ``--control``: its socket."""
    return [unix_endpoint(control_socket_path(data_dir))]


def is_unix_endpoint(description):
    """True for a ``unix:`` endpoint string."""
    return description.split(":", 1)[0].strip().lower() == "unix"


def _unix_path(description):
    """The socket path of a ``unix:`` endpoint string."""
    import re

    first = re.split(r"(?<!\\):", description.split(":", 1)[1])[0]
    if first.startswith("address="):
        first = first[len("address="):]
    return re.sub(r"\\(.)", r"\1", first)


def _with_unix_defaults(description):
    """A unix endpoint string with mode 0600 and a lock file unless it says otherwise."""
    if ":mode=" not in description:
        description += ":mode=600"
    if ":lockfile=" not in description:
        description += ":lockfile=1"
    return description


def load_or_create_token(path):
    """The bearer token in ``path``, created (0600) when missing or empty."""
    try:
        with open(path, "r", encoding="ascii") as f:
            token = f.read(1024).strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as e:
        raise ControlSetupError("cannot read {}: {}".format(path, e)) from None
    token = secrets.token_urlsafe(32)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    temporary = path + ".tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    os.replace(temporary, path)
    return token


class ControlService(service.Service):
    """
    Serve the control API on ``endpoints`` (server endpoint strings).

    :param reactor: the reactor to listen with.
    :param operations: the node's :class:`~lethean.node.NodeOperations`.
    :param status: its :class:`~lethean.node._status.NodeStatus`.
    :param token_path: where TCP endpoints' bearer token is kept.

    A unix endpoint gets mode 0600 and a lock file (so a stale socket of a
    node that died is replaced, and a live one is never stolen) unless its
    string says otherwise.  An endpoint that cannot listen is one error
    line; the node runs on without it.
    """

    def __init__(self, reactor, endpoints, operations, status, token_path):
        self._reactor = reactor
        self.endpoints = list(endpoints)
        self.operations = operations
        self.status = status
        self.token_path = token_path
        self.ports = []
        self._listening = []
        from lethean.node._control_api import build_tree

        self._root = build_tree(operations, status)

    def startService(self):
        super().startService()
        self.status.transport.add_consumer(self.status.traffic)
        for description in self.endpoints:
            self._listen(description)

    def _listen(self, description):
        token = None
        if is_unix_endpoint(description):
            description = _with_unix_defaults(description)
            folder = os.path.dirname(os.path.abspath(_unix_path(description)))
            try:
                os.makedirs(folder, mode=0o700, exist_ok=True)
            except OSError:
                pass  # listening says what is wrong
        else:
            try:
                token = load_or_create_token(self.token_path).encode("utf-8")
            except (LetheanError, OSError) as e:
                _log.error("control API not started on {endpoint}: {reason}",
                           endpoint=description, reason=str(e))
                return
        from lethean.node._control_site import ControlSite

        site = ControlSite(self._root, self.status, self._reactor, token)
        try:
            d = serverFromString(self._reactor, description).listen(site)
        except (ValueError, TypeError, KeyError, OSError) as e:  # a bad endpoint string
            d = defer.fail(e)

        def listening(port):
            self.ports.append((description, port))
            return port

        def failed(failure):
            reason = failure.getErrorMessage()
            if "Cannot acquire lock" in reason:
                reason = "another running node holds its lock file (one node per data folder)"
            _log.error("control API not started on {endpoint}: {reason}; the lethean command "
                       "cannot reach this node (choose another with --control)",
                       endpoint=description, reason=reason)
        self._listening.append(d.addCallbacks(listening, failed))

    def describe(self):
        """Where the control API listens: ``unix:PATH`` or ``tcp:HOST:PORT (token)``."""
        described = []
        for _, port in self.ports:
            host = port.getHost()
            name = getattr(host, "name", None)
            if name is not None:
                described.append("unix:" + os.fsdecode(name))
            else:
                described.append("tcp:{}:{} (token)".format(host.host, host.port))
        return described

    def stopService(self):
        super().stopService()
        self.status.transport.remove_consumer(self.status.traffic)
        ports, self.ports = self.ports, []
        return defer.DeferredList([defer.maybeDeferred(port.stopListening) for _, port in ports],
                                  consumeErrors=True).addCallback(lambda _: None)
