"""
The epee portable-storage varint ("raw size" integer).

The two low bits of the first byte give the width (1, 2, 4 or 8 bytes); the
value is the little-endian integer of that width shifted right by two.  The
encoder picks the smallest width; the decoder accepts any width.  Values of
2**62 and above do not fit: the Go reference silently drops their top bits,
we refuse them.
"""

from lethean._types import Buffer

from ._errors import LevinTruncatedError, ValueOutOfRangeError

__all__ = ["encode_varint", "decode_varint", "VARINT_MAX"]

#: The largest value a varint can carry (2**62 - 1).
VARINT_MAX = (1 << 62) - 1

# (exclusive upper bound, width in bytes, width mark)
_WIDTHS = ((1 << 6, 1, 0), (1 << 14, 2, 1), (1 << 30, 4, 2), (1 << 62, 8, 3))
_WIDTH_OF_MARK = (1, 2, 4, 8)


def encode_varint(n: int) -> bytes:
    """The shortest varint bytes for ``n``; refuses values outside 0..2**62-1."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueOutOfRangeError("a varint holds an integer, not {!r}".format(n))
    if n < 0 or n > VARINT_MAX:
        raise ValueOutOfRangeError(
            "varint value {} is outside 0..2**62-1".format(n))
    for bound, width, mark in _WIDTHS:
        if n < bound:
            return ((n << 2) | mark).to_bytes(width, "little")
    raise AssertionError("unreachable")  # pragma: no cover


def decode_varint(data: Buffer, offset: int = 0) -> tuple[int, int]:
    """
    Read one varint from ``data`` at ``offset``.

    Returns ``(value, consumed)``; bytes after the varint are left alone.
    Raises :class:`LevinTruncatedError` when ``data`` ends inside it.
    """
    if offset >= len(data):
        raise LevinTruncatedError("truncated varint")
    width = _WIDTH_OF_MARK[data[offset] & 3]
    end = offset + width
    if end > len(data):
        raise LevinTruncatedError(
            "truncated varint: {} of {} bytes".format(len(data) - offset, width))
    return int.from_bytes(data[offset:end], "little") >> 2, width
