"""A sans-IO reader for a stream of back-to-back UEPS frames."""

from __future__ import annotations

from attrs import define, field
from attrs.validators import and_, ge, instance_of

from lethean.ueps._codec import DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_FRAME_BYTES, parse_frame
from lethean.ueps._errors import UEPSError
from lethean.ueps._packet import Packet

__all__ = ["UEPSDecoder"]

_positive = and_(instance_of(int), ge(1))


@define
class UEPSDecoder:
    """
    Turn bytes split at arbitrary points into verified packets.

    UEPS frames are self-delimiting, so a stream is just frames back to back.
    Every declared length is checked against ``max_frame_bytes`` before the
    decoder waits for the bytes behind it, so between calls it never holds
    more than one frame's worth of bytes.  After an error the stream has lost
    its framing, and every later :meth:`feed` raises the same error.
    """

    secret: bytes = field(repr=False, validator=instance_of(bytes))
    max_frame_bytes: int = field(default=DEFAULT_MAX_FRAME_BYTES, validator=_positive)
    max_elements: int = field(default=DEFAULT_MAX_ELEMENTS, validator=_positive)
    _buffer: bytearray = field(factory=bytearray, init=False, repr=False)
    #: Bytes the frame at the front of the buffer is known to need.
    _need: int = field(default=1, init=False, repr=False)
    _error: UEPSError | None = field(default=None, init=False, repr=False)

    def feed(self, data: bytes) -> list[Packet]:
        """
        Add ``data``; returns the packets it completed, oldest first.

        Raises one :class:`UEPSError` at the first bad frame; the packets
        completed before it in this call are in that error's ``packets``.
        """
        if self._error is not None:
            raise self._error
        buf = self._buffer
        buf += data
        if len(buf) < self._need:
            return []
        packets: list[Packet] = []
        pos = 0
        try:
            while True:
                packet, end = parse_frame(
                    buf, pos, self.secret, self.max_frame_bytes, self.max_elements)
                if packet is None:
                    self._need = end - pos
                    return packets
                packets.append(packet)
                pos = end
        except UEPSError as e:
            e.packets = tuple(packets)
            self._error = e
            buf.clear()
            raise
        finally:
            del buf[:pos]

    @property
    def buffered(self) -> int:
        """How many bytes wait for the rest of their frame."""
        return len(self._buffer)
