"""
The encrypted WebSocket mesh, and WebSocket stacking for stream protocols.

:func:`stacked_server_factory` and :func:`stacked_client_factory` run any
byte-stream ``Protocol`` (UEPS, Levin, your own) inside a WebSocket
connection, with every Autobahn limit set and compression refused.
"""

from lethean.mesh._stacking import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ReactorTimer,
    WebSocketTransport,
    stacked_client_factory,
    stacked_server_factory,
    use_reactor_timers,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ReactorTimer",
    "WebSocketTransport",
    "use_reactor_timers",
    "stacked_client_factory",
    "stacked_server_factory",
]
