"""
What a mesh dial may be given, and how it may fail.

A dial target is a ``HOST:PORT`` (``[v6]:PORT``) as the reference writes
peer addresses, any Twisted client endpoint string (``tcp6:host=::1:
port=9091``, ``unix:path=/run/lethean.sock``, ``tor:...`` with txtorcon
installed), or an ``IStreamClientEndpoint`` already made.  The WebSocket
upgrade names a host and port in its URL: the endpoint's own where it has
them, ``localhost`` otherwise (the Go node and lethean ignore it).
"""

from __future__ import annotations

import re

import attrs
from twisted.internet import defer, error
from twisted.internet.endpoints import TCP6ClientEndpoint, clientFromString
from twisted.internet.interfaces import IReactorTCP, IStreamClientEndpoint

from lethean.errors import LetheanError

__all__ = ["DIAL_ERRORS", "DialTarget", "dial_target", "parse_address"]

#: Every way a dial can fail that is not a bug: the mesh's own errors, the
#: socket's, a refused or cancelled connection, a timeout, a bad target.
DIAL_ERRORS = (
    LetheanError,
    error.ConnectError,
    error.ConnectingCancelledError,
    error.ConnectionClosed,
    defer.CancelledError,
    defer.TimeoutError,
    OSError,
    ValueError,
)

_UNESCAPED_COLON = re.compile(r"(?<!\\):")


def parse_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port`` or ``[v6]:port``; ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, got {!r}".format(address[:200]))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # as Go's net.SplitHostPort: an IPv6 host needs brackets
        raise ValueError("expected host:port ([v6]:port for IPv6), got {!r}".format(address[:200]))
    return host, int(port)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


@attrs.frozen
class DialTarget:
    """Where a dial goes: the endpoint, the URL's host and port, what to record."""

    endpoint: IStreamClientEndpoint
    host: str
    port: int | None
    #: The text the registry keeps as the peer's address (None: keep its own).
    address: str | None

    @property
    def url_authority(self) -> str:
        host = "[{}]".format(self.host) if ":" in self.host else self.host
        return host if self.port is None else "{}:{}".format(host, self.port)


def _tcp6(reactor: IReactorTCP, host: str | None, port: str | None,
          named: dict[str, str]) -> TCP6ClientEndpoint:
    """``tcp6:host=H:port=P[:timeout=S]``, which Twisted reads only for servers."""
    if not host or port is None or not str(port).isdigit():
        raise ValueError("tcp6: needs host=ADDRESS and port=NUMBER")
    return TCP6ClientEndpoint(reactor, host, int(port), timeout=float(named.get("timeout", 30)))


def _string_target(reactor: IReactorTCP, description: str) -> DialTarget:
    """A target from a client endpoint string; ValueError if Twisted cannot read it."""
    kind, _, rest = description.partition(":")
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in _UNESCAPED_COLON.split(rest) if rest else []:
        key, equals, value = part.partition("=")
        if equals and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            named[key] = _unescape(value)
        else:
            positional.append(_unescape(part))
    host, port = named.get("host"), named.get("port")
    if kind.lower() in ("tcp", "tcp6", "ssl", "tls"):
        host = host or (positional[0] if positional else None)
        port = port or (positional[1] if len(positional) > 1 else None)
    if kind.lower() == "tcp6":
        endpoint = _tcp6(reactor, host, port, named)
    else:
        endpoint = clientFromString(reactor, description)
    return DialTarget(endpoint=endpoint, host=host or "localhost",
                      port=int(port) if port is not None and str(port).isdigit() else None,
                      address=description)


def dial_target(reactor: IReactorTCP, target: str | IStreamClientEndpoint,
                timeout_s: float) -> DialTarget:
    """
    The :class:`DialTarget` of ``target`` (see the module's text); a
    ``HOST:PORT`` gets a TCP connect timeout of ``timeout_s``.  Raises
    ValueError for text that is neither an address nor an endpoint.
    """
    if IStreamClientEndpoint.providedBy(target):
        return DialTarget(endpoint=target, host="localhost", port=None, address=None)
    if not isinstance(target, str):
        raise ValueError("expected host:port or an endpoint, got {!r}".format(target))
    try:
        host, port = parse_address(target)
    except ValueError:
        pass
    else:
        endpoint = clientFromString(reactor, "tcp:host={}:port={}:timeout={}".format(
            _escape(host), port, int(timeout_s)))
        return DialTarget(endpoint=endpoint, host=host, port=port, address=target)
    try:
        return _string_target(reactor, target)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError("expected host:port or a client endpoint string "
                         "(tcp6:host=H:port=P, unix:path=P), got {!r}: {}".format(
                             target[:200], e)) from None
