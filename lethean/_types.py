"""Type names the annotations of several layers share."""

import os
from typing import Any

__all__ = ["Buffer", "StrPath", "JSONValue"]

#: A bytes-like object a reader accepts (``collections.abc.Buffer`` from 3.12).
Buffer = bytes | bytearray | memoryview

#: A file system path given as text (``str`` or ``pathlib.Path``).
StrPath = str | os.PathLike[str]

#: A JSON value as lethean reads and writes it: ``dict``/``Pairs``, ``list``,
#: ``str``, numbers, ``bool``, ``None`` and the wrappers :mod:`lethean._gojson`
#: knows.  ``Any``: readers narrow it with ``type(value) is ...`` checks.
JSONValue = Any
