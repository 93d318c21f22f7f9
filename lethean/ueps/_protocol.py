"""
UEPS over a stream: a thin Protocol that buffers, verifies and dispatches.

The same protocol runs over raw TCP and, through
:func:`lethean.mesh.stacked_server_factory`, over WebSocket binary messages:
UEPS frames are self-delimiting, so it needs nothing from the transport but
an ordered byte stream.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from lethean.errors import IntegrityError, LimitExceededError
from lethean.ueps._codec import DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_FRAME_BYTES, encode
from lethean.ueps._decoder import UEPSDecoder
from lethean.ueps._errors import UEPSError
from lethean.ueps._packet import Packet

__all__ = ["UEPSProtocol", "UEPSFactory"]

_log = Logger()

#: Errors only a peer that means harm (or does not hold the secret) sends:
#: such a peer gets no chance to stall a graceful close.
_HOSTILE = (IntegrityError, LimitExceededError)


class UEPSProtocol(Protocol):
    """
    Receive verified UEPS packets and send signed ones.

    Subclass it, override :meth:`packetReceived`, and build it with a
    :class:`UEPSFactory`, which holds the shared secret and the limits.  On a
    bad frame the connection is dropped after one warning; packets verified
    before the bad bytes are still delivered.
    """

    _decoder: UEPSDecoder | None = None
    factory: "UEPSFactory"
    transport: Any
    _dropped = False

    def packetReceived(self, packet: Packet) -> None:
        """
        Called with each verified :class:`~lethean.ueps.Packet`, in order.

        Override this; the default ignores the packet.  An exception raised
        here is logged and closes the connection.
        """

    def sendPacket(self, packet: Packet) -> None:
        """Sign ``packet`` with the factory's secret and write its frame."""
        self.transport.write(encode(packet, self.factory.secret))

    def dataReceived(self, data: bytes) -> None:
        if self._dropped:
            return
        if self._decoder is None:
            self._decoder = self.factory.decoder()
        try:
            packets, error = tuple(self._decoder.feed(data)), None
        except UEPSError as e:
            packets, error = e.packets, e
        for packet in packets:
            if not self._deliver(packet):
                return
        if error is not None:
            self._drop(error)

    def _deliver(self, packet: Packet) -> bool:
        """Hand ``packet`` to the hook; returns whether to go on."""
        try:
            self.packetReceived(packet)
        except Exception:
            _log.failure("packetReceived failed for UEPS peer {peer}", peer=self._peer())
            self._dropped = True
            self.transport.loseConnection()
            return False
        return True

    def _drop(self, error: UEPSError) -> None:
        """Log why the peer's stream is refused, then close it."""
        self._dropped = True
        _log.warn(
            "dropping UEPS peer {peer}: {reason} ({error})",
            peer=self._peer(), reason=error.kind, error=_describe(error),
        )
        if isinstance(error, _HOSTILE):
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _peer(self) -> str:
        return str(self.transport.getPeer())


def _describe(error: Exception) -> str:
    """The error's detail, or the first line of its docstring if it has none."""
    return str(error) or ((type(error).__doc__ or "").strip().splitlines() or [""])[0]


class UEPSFactory(Factory):
    """
    Build :class:`UEPSProtocol` connections that share one secret and limits.

    Use ``UEPSFactory.forProtocol(MyProtocol, secret)`` for a subclass.  The
    limits bound what one connection buffers; see :class:`UEPSDecoder`.
    """

    protocol = UEPSProtocol  # type: ignore[assignment]  # Twisted types it as a callable

    def __init__(self, secret: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 max_elements: int = DEFAULT_MAX_ELEMENTS) -> None:
        self.secret = secret
        self.max_frame_bytes = max_frame_bytes
        self.max_elements = max_elements
        # Refuse a bad secret or limit now, not on a peer's first bytes.
        self.decoder()

    def decoder(self) -> UEPSDecoder:
        """A fresh decoder for one connection's incoming stream."""
        return UEPSDecoder(self.secret, self.max_frame_bytes, self.max_elements)
