"""Type names the annotations of several layers share."""

__all__ = ["Buffer"]

#: A bytes-like object a reader accepts (``collections.abc.Buffer`` from 3.12).
Buffer = bytes | bytearray | memoryview
