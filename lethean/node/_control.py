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

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from lethean._paths import data_path
from lethean.errors import LetheanError
from lethean.node._errors import ControlSetupError

if TYPE_CHECKING:
    from lethean.node._operations import NodeOperations
    from lethean.node._status import NodeStatus

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


def control_socket_path(data_dir: str | None = None) -> str:
    """``DIR/control.sock``, or in the XDG data folder without ``data_dir``."""
    if data_dir is None:
        return data_path(CONTROL_SOCKET_NAME)
    return os.path.join(data_dir, CONTROL_SOCKET_NAME)


def control_token_path(data_dir: str | None = None) -> str:
    """``DIR/control.token``, or in the XDG data folder without ``data_dir``."""
    if data_dir is None:
        return data_path(CONTROL_TOKEN_NAME)
    return os.path.join(data_dir, CONTROL_TOKEN_NAME)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def unix_endpoint(path: str) -> str:
    """The server endpoint string of a 0600 control socket at ``path``."""
    return "unix:{}:mode=600:lockfile=1".format(_escape(os.path.abspath(path)))


def default_control_endpoints(data_dir: str | None = None) -> list[str]:
    """The control endpoints of a node with no ``--control``: its socket."""
    return [unix_endpoint(control_socket_path(data_dir))]


def is_unix_endpoint(description: str) -> bool:
    """True for a ``unix:`` endpoint string."""
    return description.split(":", 1)[0].strip().lower() == "unix"


def _unix_path(description: str) -> str:
    """The socket path of a ``unix:`` endpoint string."""
    import re

    first = re.split(r"(?<!\\):", description.split(":", 1)[1])[0]
    if first.startswith("address="):
        first = first[len("address="):]
    return re.sub(r"\\(.)", r"\1", first)


def _with_unix_defaults(description: str) -> str:
    """A unix endpoint string with mode 0600 and a lock file unless it says otherwise."""
    if ":mode=" not in description:
        description += ":mode=600"
    if ":lockfile=" not in description:
        description += ":lockfile=1"
    return description


def load_or_create_token(path: str) -> str:
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

    def __init__(self, reactor: Any, endpoints: Iterable[str], operations: NodeOperations,
                 status: NodeStatus, token_path: str) -> None:
        # reactor: IReactorTime and the reactor interfaces of the endpoints.
        self._reactor = reactor
        self.endpoints = list(endpoints)
        self.operations = operations
        self.status = status
        self.token_path = token_path
        #: ``(endpoint string, listening port)`` of every endpoint that listens.
        self.ports: list[tuple[str, IListeningPort]] = []
        self._listening: list[defer.Deferred[Any]] = []
        from lethean.node._control_api import build_tree

        self._root = build_tree(operations, status)

    def startService(self) -> None:
        super().startService()
        self.status.transport.add_consumer(self.status.traffic)
        for description in self.endpoints:
            self._listen(description)

    def _listen(self, description: str) -> None:
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

        def listening(port: IListeningPort) -> IListeningPort:
            self.ports.append((description, port))
            return port

        def failed(failure: Failure) -> None:
            reason = failure.getErrorMessage()
            if "Cannot acquire lock" in reason:
                reason = "another running node holds its lock file (one node per data folder)"
            _log.error("control API not started on {endpoint}: {reason}; the lethean command "
                       "cannot reach this node (choose another with --control)",
                       endpoint=description, reason=reason)
        self._listening.append(d.addCallbacks(listening, failed))

    def describe(self) -> list[str]:
        """Where the control API listens: ``unix:PATH`` or ``tcp:HOST:PORT (token)``."""
        described = []
        for _, port in self.ports:
            host = port.getHost()
            if isinstance(host, UNIXAddress) and host.name is not None:
                described.append("unix:" + os.fsdecode(host.name))
            elif isinstance(host, (IPv4Address, IPv6Address)):
                described.append("tcp:{}:{} (token)".format(host.host, host.port))
        return described

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self.status.transport.remove_consumer(self.status.traffic)
        ports, self.ports = self.ports, []
        return defer.DeferredList([defer.maybeDeferred(port.stopListening) for _, port in ports],
                                  consumeErrors=True).addCallback(lambda _: None)
