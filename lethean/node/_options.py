"""
Checks of ``twistd lethean-node`` options, made while parsing them.

Every value is checked before anything starts: endpoint strings, names,
keys, the miner command, TLS files and the data folder.  A bad one is a
``usage.UsageError`` whose one line says what is wrong and what would do,
so twistd prints it under the usage instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil

from twisted.python import usage

from lethean._compat import server_endpoint_types

__all__ = [
    "listen_endpoint",
    "check_endpoint",
    "check_name",
    "check_allow",
    "check_peer",
    "check_data_dir",
    "check_miner_command",
    "check_tls",
]

_PORT = re.compile(r"[0-9]{1,5}")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})")


def _endpoint_types() -> set[str]:
    """The prefixes Twisted reads as server endpoint types (tcp, unix, plugins...)."""
    from twisted.internet.interfaces import IStreamServerEndpointStringParser
    from twisted.plugin import getPlugins

    names = server_endpoint_types()
    names.update({"tcp6", "systemd"})
    # getPlugins logs and skips a plugin module that fails to import.
    names.update(p.prefix.lower() for p in getPlugins(IStreamServerEndpointStringParser)
                 if isinstance(getattr(p, "prefix", None), str))
    return names


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def _port(text: str, option: str, given: str) -> int:
    port = int(text)
    if not 0 <= port < 65536:
        raise usage.UsageError("{} {}: the port must be 0 (any free port) to 65535".format(
            option, given))
    return port


def check_endpoint(option: str, description: str) -> str:
    """Refuse a server endpoint string Twisted cannot build; returns it."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(reactor, description)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        kind = description.split(":", 1)[0]
        if kind.lower() not in _endpoint_types():
            reason = "{!r} is not an endpoint type".format(kind)
        else:
            reason = "{}: {}".format(type(e).__name__, e)
        raise usage.UsageError(
            "{} {!r} is not a server endpoint ({}); e.g. tcp:9091, "
            "tcp:9091:interface=127.0.0.1".format(option, description[:200], reason)) from None
    return description


def listen_endpoint(text: str) -> str:
    """
    The endpoint string of ``--listen``: an endpoint string as it is; a
    bare ``PORT`` as ``tcp:PORT``; ``HOST:PORT`` as
    ``tcp:PORT:interface=HOST`` (``[V6]:PORT`` on tcp6).
    """
    given = text.strip()
    if _PORT.fullmatch(given):
        return "tcp:{}".format(_port(given, "--listen", given))
    match = _HOST_PORT.fullmatch(given)
    kind = given.split(":", 1)[0].lower()
    if match is not None and kind not in _endpoint_types():
        port = _port(match["port"], "--listen", given)
        if match["v6"]:
            try:
                ipaddress.IPv6Address(match["v6"])
            except ValueError:
                raise usage.UsageError("--listen {}: {!r} is not an IPv6 address".format(
                    given, match["v6"])) from None
            return "tcp6:{}:interface={}".format(port, _escape(match["v6"]))
        return "tcp:{}:interface={}".format(port, _escape(match["host"]))
    return check_endpoint("--listen", given)


def check_name(name: str) -> str:
    """Refuse a node name peers would not register."""
    from lethean._names import is_valid_name

    if not is_valid_name(name):
        raise usage.UsageError(
            "--name {!r}: a name is 1 to 64 letters, digits, '-', '_' or spaces, starting and "
            "ending with a letter or digit".format(name[:100]))
    return name


def check_allow(public_key: str) -> str:
    """Refuse a value that is not a base64 X25519 public key."""
    from lethean.errors import LetheanError
    from lethean.identity import decode_public_key

    try:
        decode_public_key(public_key)
    except LetheanError:
        raise usage.UsageError(
            "--allow {!r} is not a public key: give the base64 key that 'lethean identity "
            "show' prints on that node".format(public_key[:100])) from None
    return public_key


def check_peer(target: str) -> str:
    """Refuse a ``--peer`` that is none of the target forms."""
    from lethean.node._targets import parse_target
    from lethean.node._errors import TargetFormError

    try:
        parse_target(target)
    except TargetFormError as e:
        raise usage.UsageError("--peer: " + e.line) from None
    return target


def check_data_dir(path: str) -> str:
    """The data folder, absolute; refused when it cannot be made or written."""
    path = os.path.abspath(os.path.expanduser(path))
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        raise usage.UsageError("--data-dir {}: {} is not a folder".format(path, existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise usage.UsageError(
            "--data-dir {}: {} is not writable by this user; choose another folder or run the "
            "node as its owner".format(path, existing))
    return path


def check_miner_command(command: str) -> str:
    """Refuse a miner command that does not split into words or names no program."""
    try:
        words = shlex.split(command)
    except ValueError as e:
        raise usage.UsageError("--miner-command {!r}: {} (quote it as a shell "
                               "would)".format(command[:200], e)) from None
    if not words:
        raise usage.UsageError("--miner-command is empty")
    program = words[0]
    found = shutil.which(program)
    if found is None:
        raise usage.UsageError("--miner-command: {!r} is not an executable program (give its "
                               "path, or put it on PATH)".format(program[:200]))
    return command


def _readable(option: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise usage.UsageError("{} {}: {}".format(option, path, e.strerror)) from None


def check_tls(cert: str | None, key: str | None, ca: str | None,
              fingerprint: str | None) -> str:
    """
    Check the TLS options (files readable and usable, one way of trusting
    peers); the ``tls_verify`` setting they make.
    """
    from lethean.mesh._errors import TLSConfigError
    from lethean.mesh._tls import client_tls_options, server_tls_options, tls_verify_setting

    if (cert is None) != (key is None):
        raise usage.UsageError("give both --tls-cert and --tls-key, or neither")
    if cert is not None and key is not None:  # both or neither, as checked
        _readable("--tls-cert", cert)
        _readable("--tls-key", key)
        try:
            server_tls_options(cert, key)
        except TLSConfigError as e:
            raise usage.UsageError("--tls-cert/--tls-key: {}".format(e)) from None
    if ca is not None:
        _readable("--tls-ca", ca)
    try:
        verify = tls_verify_setting(ca, fingerprint)
        if ca is not None:
            client_tls_options("localhost", verify)
    except TLSConfigError as e:
        raise usage.UsageError(str(e)) from None
    return verify
