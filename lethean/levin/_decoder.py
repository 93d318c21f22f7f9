"""
Sans-IO framing of a Levin byte stream into ``(Header, payload)`` packets.
"""

from __future__ import annotations

from ._errors import LevinError
from ._header import (
    HEADER_SIZE,
    MAX_PAYLOAD_SIZE,
    Header,
    check_signature_prefix,
    decode_header,
)

__all__ = ["LevinDecoder"]


class LevinDecoder:
    """
    Split a Levin byte stream into packets, however it is chunked.

    The header is checked as soon as its bytes arrive: a wrong signature
    fails from the first wrong byte, and a declared payload size over
    ``max_payload_size`` fails before any payload byte is buffered.  The
    payload is accumulated as it arrives, never allocated from the declared
    size.

    After an error the decoder is dead: every later :meth:`feed` raises the
    same error.  When whole packets came before the bad bytes in the same
    :meth:`feed` call, they are returned and the error is raised by the next
    call (``feed(b"")`` is enough), so what a peer sent before going wrong is
    handled the same whatever the chunking.
    """

    def __init__(self, max_payload_size: int = MAX_PAYLOAD_SIZE) -> None:
        #: Largest payload accepted; may be changed between packets (for
        #: example raised once a handshake has completed).
        self.max_payload_size = max_payload_size
        self._buffer = bytearray()
        self._header: Header | None = None
        self._error: LevinError | None = None

    @property
    def buffered(self) -> int:
        """Number of bytes received but not yet returned in a packet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[Header, bytes]]:
        """Add ``data``; returns the list of whole ``(Header, bytes)`` packets."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        packets = []
        offset = 0
        try:
            while True:
                if self._header is None:
                    if len(buffer) - offset < HEADER_SIZE:
                        check_signature_prefix(buffer[offset:])
                        break
                    self._header = decode_header(
                        buffer[offset:offset + HEADER_SIZE], self.max_payload_size)
                    offset += HEADER_SIZE
                end = offset + self._header.payload_size
                if len(buffer) < end:
                    break
                with memoryview(buffer) as view:  # one copy of a large payload, not two
                    packets.append((self._header, bytes(view[offset:end])))
                self._header = None
                offset = end
        except LevinError as e:
            self._error = e
            self._buffer = bytearray()
            if not packets:
                raise
            return packets
        del buffer[:offset]
        return packets
