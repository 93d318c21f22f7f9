"""
Every undocumented part of a dependency lethean relies on, in one place.

Each is reached only through this module, and :func:`problems` names
every one that an installed version no longer provides; the suite
(``tests/test_compat.py``) fails with those sentences, so an upstream
change is found by the test that names it, not by a stray
``AttributeError`` deep in the mesh.

- PyNaCl's cffi handle ``nacl._sodium`` (``ffi``, ``lib``): the
  XChaCha20-Poly1305 calls of :mod:`lethean.smsg._aead` and the compiled
  sigil go straight to libsodium through it.  Without it lethean falls back
  to ``nacl.bindings`` (slower, no compiled sigil).
- Autobahn's per-factory timer ``factory._batched_timer`` (an
  ``IBatchedTimer``): every handshake, ping and close timeout is scheduled
  on it, so :func:`set_autobahn_timer` puts those on the injected reactor.
- Autobahn's hooks that lethean overrides or reads, public by name but not
  documented: ``failHandshake`` (server: ``reason, code, responseHeaders``;
  client: ``reason``), ``sendHttpErrorResponse``, ``dropConnection(abort)``,
  ``failedByMe``, ``wasNotCleanReason`` and ``CONFIG_ATTRS`` (the options
  Autobahn copies from the factory onto each connection).
- Twisted's ``ClientService._log``, the logger of its line per retry,
  silenced by :func:`quiet_client_service`.
- Twisted's table of server endpoint parsers
  ``twisted.internet.endpoints._serverParsers``: which ``--listen`` prefixes
  are endpoint types rather than host names.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = [
    "sodium_handle",
    "set_autobahn_timer",
    "server_endpoint_types",
    "quiet_client_service",
    "problems",
]

#: What the compiled path calls through PyNaCl's cffi handle.
SODIUM_FUNCTIONS = (
    "crypto_aead_xchacha20poly1305_ietf_encrypt",
    "crypto_aead_xchacha20poly1305_ietf_decrypt",
)


def sodium_handle() -> tuple[Any, Any] | None:
    """
    ``(ffi, lib)`` of PyNaCl's own libsodium binding, initialised, or None
    when this PyNaCl no longer exposes it (lethean then uses
    ``nacl.bindings``).
    """
    try:
        from nacl._sodium import ffi, lib
        from nacl.bindings import sodium_init
    except ImportError:
        return None
    if not all(hasattr(lib, name) for name in SODIUM_FUNCTIONS):
        return None
    sodium_init()
    return ffi, lib


def set_autobahn_timer(factory: Any, timer: object) -> None:
    """Schedule every Autobahn timeout of ``factory``'s connections on ``timer``."""
    factory._batched_timer = timer


def server_endpoint_types() -> set[str]:
    """The lower-case prefixes Twisted's ``serverFromString`` reads itself."""
    from twisted.internet import endpoints

    return {name.lower() for name in getattr(endpoints, "_serverParsers", {})}


def quiet_client_service() -> Any:
    """
    ``ClientService`` without its own line per retry (the dialler's
    schedule logs, summarised): its class logger is replaced.
    """
    from twisted.application.internet import ClientService
    from twisted.logger import Logger, LogPublisher

    class QuietClientService(ClientService):
        _log = Logger(observer=LogPublisher())  # a publisher with no observers

    return QuietClientService


def _parameters(function: Any) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def _autobahn_problems() -> list[str]:
    from autobahn.twisted.websocket import (
        WebSocketClientFactory,
        WebSocketClientProtocol,
        WebSocketServerFactory,
        WebSocketServerProtocol,
    )

    found = []
    for factory_class in (WebSocketServerFactory, WebSocketClientFactory):
        factory = factory_class()
        timer = getattr(factory, "_batched_timer", None)
        if timer is None or not callable(getattr(timer, "call_later", None)):
            found.append("Autobahn's {} no longer has _batched_timer.call_later: its timeouts "
                         "would run on txaio's global loop, not the injected reactor "
                         "(set_autobahn_timer)".format(factory_class.__name__))
    expected = {
        (WebSocketServerProtocol, "failHandshake"): ["reason", "code", "responseHeaders"],
        (WebSocketClientProtocol, "failHandshake"): ["reason"],
        (WebSocketServerProtocol, "sendHttpErrorResponse"): ["code", "reason", "responseHeaders"],
        (WebSocketServerProtocol, "dropConnection"): ["abort"],
    }
    for (cls, name), parameters in expected.items():
        method = getattr(cls, name, None)
        if method is None or _parameters(method) != parameters:
            found.append("Autobahn's {}.{} is no longer ({}): lethean's override in "
                         "lethean/mesh/_protocol.py must follow it".format(
                             cls.__name__, name, ", ".join(parameters)))
    for cls in (WebSocketServerProtocol, WebSocketClientProtocol):
        attrs = getattr(cls, "CONFIG_ATTRS", None)
        if not isinstance(attrs, (list, tuple)) or not all(isinstance(a, str) for a in attrs):
            found.append("Autobahn's {}.CONFIG_ATTRS is no longer a list of option names "
                         "(QuietOptions in lethean/mesh/_stacking.py)".format(cls.__name__))
    from autobahn.websocket.protocol import WebSocketProtocol

    source = inspect.getsource(WebSocketProtocol)
    for attribute in ("failedByMe", "wasNotCleanReason"):
        if "self.{} =".format(attribute) not in source:
            found.append("Autobahn's WebSocketProtocol no longer sets {} (read in "
                         "lethean/mesh/_protocol.py)".format(attribute))
    return found


def problems() -> list[str]:
    """A sentence for each internal above that the installed versions lack."""
    found = []
    if sodium_handle() is None:
        found.append("PyNaCl no longer exposes nacl._sodium.ffi/lib with {}: lethean falls "
                     "back to nacl.bindings, slower, without the compiled sigil".format(
                         " and ".join(SODIUM_FUNCTIONS)))
    found.extend(_autobahn_problems())
    from twisted.application.internet import ClientService

    if "log=self._log" not in inspect.getsource(ClientService.__init__):
        found.append("Twisted's ClientService no longer logs through its class attribute _log: "
                     "the dialler's summarised log gains a line per retry")
    parsers = server_endpoint_types()
    if not {"tcp", "unix", "ssl"} <= parsers:
        found.append("Twisted's twisted.internet.endpoints._serverParsers no longer lists "
                     "tcp, unix and ssl: --listen cannot tell endpoint types from host names")
    return sorted(set(found))
