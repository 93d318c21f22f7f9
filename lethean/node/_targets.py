"""
Targets: the ways an operator names a node, and how they are resolved.

A target is a registered node id, a unique prefix of one (4 or more hex
digits), a peer name, ``HOST:PORT`` (``[V6]:PORT``), or a WebSocket URL
``ws://HOST:PORT[/ws]`` or ``wss://HOST:PORT[/ws]``.  :func:`parse_target`
checks the form alone (a command line refuses a malformed one at once);
:func:`resolve_target` finds the peer in a registry.  ``lethean`` commands
and ``twistd lethean-node --peer`` read targets the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from lethean.node._errors import AmbiguousTargetError, TargetFormError, UnknownTargetError

if TYPE_CHECKING:
    from lethean.interfaces import IPeerRegistry
    from lethean.peers import Peer

__all__ = [
    "Command",
    "Target",
    "parse_target",
    "resolve_target",
    "lethean_command",
    "peer_label",
    "printable",
    "same_endpoint",
    "MIN_PREFIX_DIGITS",
    "TARGET_FORMS",
]

#: The shortest id prefix accepted as a target.
MIN_PREFIX_DIGITS = 4
#: How help texts and messages list the forms.
TARGET_FORMS = ("a node id (or 4+ of its first hex digits), a peer name, HOST:PORT, or "
                "ws[s]://HOST:PORT")
#: The mesh's WebSocket path: the only one a URL target may give.
WS_PATH = "/ws"

_HEX = re.compile(r"[0-9a-f]+", re.ASCII)
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Za-z:.%]+)\]|(?P<host>[^:\[\]/@\s]+))"
                        r":(?P<port>[0-9]+)", re.ASCII)
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9\-_]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9\-_]{0,61}[A-Za-z0-9])?)*\.?", re.ASCII)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.S)
_ENDPOINT = re.compile(r"(tcp|tcp6|ssl|tls|unix|tor|onion):", re.I)
_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}

#: ``command(words)``: the ``lethean`` command line a hint names.
Command = Callable[[str], str]


@attrs.frozen
class Target:
    """
    A parsed target: an address to dial (``host``, ``port``, ``scheme``
    None for "the node's default", ``ws`` or ``wss``), or a name or id to
    look up (``key``).
    """

    text: str
    host: str | None = None
    port: int | None = None
    scheme: str | None = None
    key: str | None = None

    @property
    def is_address(self) -> bool:
        return self.host is not None

    @property
    def address(self) -> str | None:
        """``HOST:PORT`` as the registry keeps it (``[V6]:PORT`` for IPv6)."""
        if self.host is None:
            return None
        host = "[{}]".format(self.host) if ":" in self.host else self.host
        return "{}:{}".format(host, self.port)


def _valid_host(host: str) -> bool:
    if _HOSTNAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(text: str, host: str, port_text: str, scheme: str | None) -> Target:
    port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else 0
    if not 0 < port < 65536:
        raise TargetFormError("{!r} has no valid port: give a port from 1 to 65535".format(text))
    if not _valid_host(host):
        raise TargetFormError("{!r} does not name a host".format(text))
    return Target(text=text, host=host, port=port, scheme=scheme)


def parse_target(text: object) -> Target:
    """
    The :class:`Target` of ``text``; TargetFormError (one line saying
    which forms exist) when it is none of them.
    """
    if not isinstance(text, str) or not text.strip():
        raise TargetFormError("give a target: " + TARGET_FORMS)
    text = text.strip()
    url = _URL.fullmatch(text)
    if url is not None:
        scheme = url["scheme"].lower()
        if scheme not in ("ws", "wss"):
            raise TargetFormError("{!r}: only ws:// and wss:// URLs name a node".format(text))
        rest = url["rest"]
        location, slash, path = rest.partition("/")
        if slash and "/" + path.rstrip("/") not in (WS_PATH, "/"):
            raise TargetFormError("{!r}: the mesh is at the path {} (give {}://{}{})".format(
                text, WS_PATH, scheme, location, WS_PATH))
        match = _HOST_PORT.fullmatch(location)
        if match is None:
            raise TargetFormError("{!r} has no port: give {}://HOST:PORT{}".format(
                text, scheme, WS_PATH))
        return _address(text, match["v6"] or match["host"], match["port"], scheme)
    if _ENDPOINT.match(text):
        raise TargetFormError("{!r} is an endpoint string: give HOST:PORT or ws[s]://HOST:PORT "
                              "instead".format(text))
    if ":" in text:
        match = _HOST_PORT.fullmatch(text)
        if match is None:
            raise TargetFormError("{!r} is not HOST:PORT ([V6]:PORT for IPv6)".format(text))
        return _address(text, match["v6"] or match["host"], match["port"], None)
    if "." in text or "/" in text:
        host = text.rstrip("/")
        example = host if _valid_host(host) else "10.0.0.2"
        raise TargetFormError("{!r} has no port: give HOST:PORT, e.g. {}:9091".format(
            text, example))
    from lethean._names import is_valid_name

    if not is_valid_name(text):
        raise TargetFormError("{!r} is not a target: {}".format(text, TARGET_FORMS))
    return Target(text=text, key=text)


def printable(text: object, limit: int = 300) -> str:
    """
    Text a peer chose, safe on one terminal line: control characters (and
    other line breaks) escaped, cut at ``limit`` characters.
    """
    text = str(text)
    cut = len(text) > limit
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + ("... (cut)" if cut else "")


def peer_label(peer_id: str | None = None, name: str | None = None,
               address: str | None = None) -> str:
    """How messages name a peer: ``bravo (6105b23c... at 10.0.0.2:9091)``."""
    details = []
    if peer_id:
        details.append(peer_id)
    if address:
        details.append(("at " if details else "") + address)
    inside = " ".join(details)
    if name:
        return "{} ({})".format(name, inside) if inside else name
    return inside or "the peer"


def lethean_command(words: str, data_dir: str | None = None) -> str:
    """
    A ``lethean`` command line for a hint: ``words`` with ``--data-dir``
    when the data folder is not the default, so the hint acts on the same
    node's registry as the command that printed it.
    """
    import shlex

    if data_dir:
        words += " --data-dir " + shlex.quote(data_dir)
    return "lethean " + words


def _record_label(peer: Peer | _Connected) -> str:
    return peer_label(peer.id, peer.name, peer.address)


def resolve_target(registry: IPeerRegistry, target: Target, connected: Iterable[str] = (),
                   command: Command = lethean_command) -> tuple[str, Peer | None]:
    """
    The registry record a name or id target means: an exact id, then an
    exact name, then a unique id prefix of 4+ hex digits.  ``connected``
    lists ids of live links, which count as known even when unregistered
    (the record is then None and the id is returned).  Returns
    ``(peer_id, record)``.  ``command(words)`` writes the ``lethean``
    command a hint names.
    """
    key = target.key
    assert key is not None, "an address target is dialled, not resolved"
    peers: list[Peer] = registry.list_peers()
    lowered = key.lower()
    for peer in peers:
        if peer.id == lowered:
            return peer.id, peer
    if lowered in connected:
        return lowered, None
    named = [p for p in peers if p.name == key]
    if len(named) == 1:
        return named[0].id, named[0]
    if len(named) > 1:
        raise AmbiguousTargetError("{} peers are named {!r}: {}; give the id instead".format(
            len(named), key, "; ".join(_record_label(p) for p in named)), named)
    if _HEX.fullmatch(lowered):
        if len(lowered) < MIN_PREFIX_DIGITS:
            raise TargetFormError("{!r} is too short an id prefix: give at least {} hex "
                                  "digits".format(key, MIN_PREFIX_DIGITS))
        matches: list[Peer | _Connected] = [p for p in peers if p.id.startswith(lowered)]
        matches += [_Connected(i) for i in connected
                    if i.startswith(lowered) and all(p.id != i for p in matches)]
        if len(matches) == 1:
            match = matches[0]
            return match.id, (match if not isinstance(match, _Connected) else None)
        if len(matches) > 1:
            raise AmbiguousTargetError("{!r} is the start of {} peers' ids: {}; give more "
                                       "digits".format(key, len(matches), "; ".join(
                                           _record_label(p) for p in matches)), matches)
    hint = "'{}' shows the registered peers; to dial an address give HOST:PORT".format(
        command("peers list"))
    if key.isdigit() and len(key) <= 5:
        hint = "to dial port {} on this machine give 127.0.0.1:{}".format(key, key)
    raise UnknownTargetError("no registered peer is named {!r} or has an id starting with it: "
                             "{}".format(key, hint))


@attrs.frozen
class _Connected:
    """A live link's peer that the registry does not hold."""

    id: str
    name: str = ""
    address: str = ""


def _normal_host(host: str) -> str:
    host = host.lower().strip("[]")
    if host in _LOOPBACK_NAMES:
        return "loopback"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return "loopback"
    except ValueError:
        pass
    return host.rstrip(".")


def same_endpoint(a: str, b: str) -> bool:
    """
    Whether addresses ``a`` and ``b`` surely reach the same listener: the
    same port on the same host, every loopback name counting as one.
    """
    try:
        first, second = parse_target(a), parse_target(b)
    except TargetFormError:
        return a == b
    if first.host is None or second.host is None:  # not both addresses
        return a == b
    return first.port == second.port and _normal_host(first.host) == _normal_host(second.host)
