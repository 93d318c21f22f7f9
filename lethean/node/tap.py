"""
``twistd lethean-node``: a whole mesh node as one ``MultiService``.

The services, in start order: the peer registry (flushed last on stop), the
mesh transport (listening on ``--listen``), the control API (``--control``),
the dispatcher, worker and controller as its message consumers, and one
dialler per ``--peer``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from twisted.python import usage

from lethean.node._options import (
    check_allow,
    check_data_dir,
    check_endpoint,
    check_miner_command,
    check_name,
    check_peer,
    check_tls,
    listen_endpoint,
)

from lethean.identity import ROLES, ROLE_DUAL, NodeManager
from lethean.peers import AuthMode, PeerRegistry, default_peers_path

if TYPE_CHECKING:
    from twisted.application.service import MultiService
    from lethean.node._lock import DataFolderLock

__all__ = ["Options", "makeService", "OPTION_GROUPS"]

#: How ``--help`` groups the options, in order (a test checks every option is here).
OPTION_GROUPS = (
    ("Identity and files", ("data-dir", "name", "role")),
    ("Network", ("listen", "peer", "auth", "allow")),
    ("TLS", ("tls-cert", "tls-key", "tls-ca", "tls-fingerprint")),
    ("Control API and log", ("control", "log-level")),
    ("Limits", ("max-conns", "max-pending", "max-conns-per-address",
                "max-pending-per-address", "connect-rate", "rate-limit", "rate-limit-bytes",
                "offender-backoff", "max-clock-skew", "max-uploads-mb")),
    ("Miners", ("miner-command",)),
    ("Other", ("version", "help")),
)

#: The value each option takes, as ``--help`` names it.
_VALUE_NAMES = {
    "data-dir": "DIR", "name": "NAME", "role": "ROLE", "listen": "ENDPOINT", "peer": "TARGET",
    "auth": "MODE", "allow": "KEY", "tls-cert": "PEM", "tls-key": "PEM", "tls-ca": "PEM",
    "tls-fingerprint": "SHA256", "control": "ENDPOINT", "log-level": "LEVEL",
    "connect-rate": "PER_S", "rate-limit": "PER_S", "rate-limit-bytes": "MIB",
    "offender-backoff": "S", "max-clock-skew": "S", "max-uploads-mb": "MIB",
    "miner-command": "CMD",
}


class Options(usage.Options):
    """Command-line options of ``twistd lethean-node``."""

    synopsis = "[options]"
    longdesc = (
        "Run a Lethean mesh node: an encrypted WebSocket listener that peers "
        "reach at ws[s]://HOST:PORT/ws, a worker answering controllers "
        "(stats, miners, logs, deploys) and a UEPS dispatcher. With no "
        "options it listens on tcp:9091 and keeps its identity and peers in "
        "the XDG locations the Go reference uses; the first start creates the "
        "identity and logs the node ID."
    )

    # No short options: twistd's own (-n, -d, -l, -r, -u, -g, -p, -b, ...)
    # come before the plugin name and would be confused with ours.
    optParameters = [
        ["listen", None, "tcp:9091",
         "Twisted endpoint to listen on (e.g. tcp:9091:interface=127.0.0.1, tcp:0); "
         "PORT and HOST:PORT are read as tcp:PORT and tcp:PORT:interface=HOST."],
        ["name", None, None,
         "Node name used when the identity is first created (default: host name)."],
        ["role", None, ROLE_DUAL,
         "Role when the identity is first created: controller, worker or dual."],
        ["data-dir", None, None,
         "Keep private.key, node.json and peers.json in this folder instead "
         "of the XDG locations."],
        ["auth", None, None,
         "Who may connect: 'open' (anyone with a valid key) or 'allowlist' "
         "(registered peers and --allow keys). Saved; default: the saved "
         "mode, else open."],
        ["tls-cert", None, None, "PEM certificate: serve wss instead of ws."],
        ["tls-key", None, None, "PEM private key for --tls-cert."],
        ["tls-ca", None, None,
         "PEM file of certificates to trust when dialling wss peers (a peer's "
         "self-signed certificate, or your CA); default: the system's CAs. Host "
         "names are checked."],
        ["tls-fingerprint", None, None,
         "Accept a wss peer whose certificate has this SHA-256 fingerprint "
         "(hex, colons allowed), whatever signed it."],
        ["max-conns", None, 100,
         "Most authenticated inbound peers (HTTP 503 beyond).", int],
        ["max-pending", None, 128,
         "Most inbound connections not yet authenticated (handshaking or "
         "proving their key); when full, the busiest address's connection "
         "stalled longest is evicted.", int],
        ["max-conns-per-address", None, 16,
         "Most inbound connections from one address, authenticated or not "
         "(127.0.0.1 and ::1 excepted); beyond, new ones are closed at once.", int],
        ["max-pending-per-address", None, 8,
         "Most connections from one address not yet authenticated "
         "(127.0.0.1 and ::1 excepted).", int],
        ["connect-rate", None, 5.0,
         "New connections per second one address may open (bursts of four "
         "times that; 127.0.0.1 and ::1 excepted); beyond, they are closed "
         "as they are accepted.", float],
        ["rate-limit", None, 50.0,
         "Messages per second a peer may send (bursts of twice that); "
         "excess messages are dropped, a sustained flood drops the peer.", float],
        ["rate-limit-bytes", None, 16.0,
         "MiB per second a peer may send; beyond it, reading from the peer "
         "pauses.", float],
        ["offender-backoff", None, 60.0,
         "Seconds a peer (by key, or by address for unknown keys) is refused "
         "after three offences (floods, bad frames, protocol errors); "
         "doubles with each further offence.", float],
        ["max-clock-skew", None, 300.0,
         "Seconds a message's timestamp may be from this node's clock; "
         "messages further off are dropped (replays).", float],
        ["max-uploads-mb", None, 256,
         "MiB that chunked deploys in progress may declare together.", int],
        ["miner-command", None, None,
         "Program (with arguments, shell-style) the worker runs as a miner."],
        ["log-level", None, "info",
         "Log events at this level and above: debug (each request served), info "
         "(links up and down, start and stop), warn (refusals and drops), error or "
         "critical."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self._failed = False
        self["peer"] = []
        self["allow"] = []
        self["control"] = None

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        try:
            super().parseOptions(options)
        except usage.UsageError:
            # twistd prints our usage above the error: keep it to a pointer.
            self._failed = True
            raise

    def getUsage(self, width: int | None = None) -> str:
        """The options by group, each with its value and explanation."""
        import textwrap

        if self._failed:
            return "'twistd lethean-node --help' lists the options."
        width = min(width or int(os.environ.get("COLUMNS", "80")), 100)
        takes_value = {name[:-1] for name in self.longOpt if name.endswith("=")}
        lines = []
        for title, names in OPTION_GROUPS:
            lines.append(title + ":")
            for name in names:
                flag = "--" + name
                if name in takes_value:
                    flag += "=" + _VALUE_NAMES.get(name, "N")
                text = " ".join((self.docs.get(name) or "").split())
                default = self.defaults.get(name)
                if name in takes_value and default is not None:
                    text += " [default: {}]".format(default)
                lines.append("  " + flag)
                lines.extend(textwrap.wrap(text, width, initial_indent="      ",
                                           subsequent_indent="      "))
            lines.append("")
        lines.extend(textwrap.wrap(self.longdesc, width))
        return "\n".join(lines) + "\n"

    def opt_help(self) -> NoReturn:
        """Display this help and exit."""
        import sys

        try:
            print(self.__str__())
            sys.stdout.flush()
        except BrokenPipeError:  # a reader such as 'head' stopped early
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)

    def opt_control(self, endpoint: str) -> None:
        """
        Serve the control API (status, metrics, the status page, the
        lethean command's requests) on this endpoint; repeatable. Default:
        the unix socket control.sock in the data folder, mode 0600. A TCP
        endpoint (e.g. tcp:9190:interface=127.0.0.1) requires the bearer
        token the node writes to control.token there. 'none' turns it off.
        """
        if self["control"] is None:
            self["control"] = []
        self["control"].append(endpoint)

    def opt_peer(self, target: str) -> None:
        """
        Dial this peer at start and keep the link up (repeatable): HOST:PORT,
        ws[s]://HOST:PORT, or a registered peer's id, id prefix or name.
        """
        self["peer"].append(check_peer(target))

    def opt_allow(self, public_key: str) -> None:
        """Add this base64 public key to the allowlist (repeatable)."""
        self["allow"].append(check_allow(public_key))

    def opt_version(self) -> NoReturn:
        """Display lethean's and Twisted's versions and exit."""
        import sys

        from twisted import version

        from lethean import __version__

        print("lethean {} (Twisted {})".format(__version__, version.short()))
        sys.exit(0)

    def postOptions(self) -> None:
        self["listen"] = listen_endpoint(self["listen"])
        if self["name"] is not None:
            check_name(self["name"])
        if self["data-dir"] is not None:
            self["data-dir"] = check_data_dir(self["data-dir"])
        if self["miner-command"] is not None:
            check_miner_command(self["miner-command"])
        self["tls-verify"] = check_tls(self["tls-cert"], self["tls-key"], self["tls-ca"],
                                       self["tls-fingerprint"])
        from lethean.node._loglevel import parse_log_level

        try:
            self["log-level"] = parse_log_level(self["log-level"])
        except ValueError as e:
            raise usage.UsageError("--log-level {!r}: {}".format(self["log-level"][:40], e)) from None
        if self["role"] not in ROLES:
            raise usage.UsageError("--role must be one of: {}".format(", ".join(ROLES)))
        if self["auth"] not in (None, "open", "allowlist"):
            raise usage.UsageError("--auth must be 'open' or 'allowlist'")
        for name in ("max-conns", "max-pending", "max-conns-per-address",
                     "max-pending-per-address", "max-uploads-mb"):
            if self[name] < 1:
                raise usage.UsageError("--{} must be at least 1".format(name))
        for name in ("rate-limit", "rate-limit-bytes", "offender-backoff", "connect-rate",
                     "max-clock-skew"):
            if not self[name] > 0:
                raise usage.UsageError("--{} must be positive".format(name))
        self["control"] = _control_endpoints(self["control"], self["data-dir"])


# twistd --help shows these docstrings as they are: one paragraph each.
for _option in (Options.opt_control, Options.opt_peer, Options.opt_allow):
    _option.__doc__ = " ".join((_option.__doc__ or "").split())
del _option


def _control_endpoints(values: list[str] | None, data_dir: str | None) -> list[str]:
    """The control API's endpoint strings for the --control values given."""
    from lethean.node._control import default_control_endpoints

    if values is None:
        return default_control_endpoints(data_dir)
    if "none" in values:
        if len(values) > 1:
            raise usage.UsageError("--control none turns the control API off: give it alone")
        return []
    for value in values:
        if ":" not in value:
            raise usage.UsageError(
                "--control takes an endpoint such as unix:/run/lethean/control.sock or "
                "tcp:9190:interface=127.0.0.1, or none (got {!r})".format(value[:100]))
        check_endpoint("--control", value)
    return list(values)


def _paths(data_dir: str | None) -> tuple[NodeManager, str]:
    """(identity manager, peers.json path) for ``--data-dir`` or XDG."""
    if data_dir is None:
        return NodeManager(), default_peers_path()
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    return NodeManager.in_directory(data_dir), os.path.join(data_dir, "peers.json")


def _lock_data_folder(data_dir: str | None) -> DataFolderLock:
    """
    The held lock of the node's data folder (``--data-dir``, else the XDG
    data folder); another node holding it ends the process with one line.
    """
    from lethean._paths import data_path
    from lethean.node._errors import DataFolderLockedError
    from lethean.node._lock import DataFolderLock

    lock = DataFolderLock(data_dir if data_dir is not None else data_path())
    try:
        lock.acquire()
    except DataFolderLockedError as e:
        raise SystemExit(str(e)) from None
    except OSError as e:
        raise SystemExit("cannot lock the data folder {}: {}".format(
            lock.folder, e.strerror or e)) from None
    return lock


def makeService(options: Options | dict[str, Any], reactor: Any = None) -> MultiService:
    """The node's ``MultiService`` for ``options`` (an :class:`Options`)."""
    if reactor is None:
        from twisted.internet import reactor
    from lethean.node._assembly import assemble_node

    folder_lock = _lock_data_folder(options["data-dir"])
    manager, peers_path = _paths(options["data-dir"])
    identity = manager.load_or_create(name=options["name"], role=options["role"])
    registry = PeerRegistry(reactor, peers_path)
    if options["auth"] is not None:
        registry.set_auth_mode(AuthMode[options["auth"].upper()])
    for public_key in options["allow"]:
        registry.allow_public_key(public_key)
    node = assemble_node(reactor, identity, registry, options, folder_lock=folder_lock)
    node.log_level = options["log-level"]
    return node
