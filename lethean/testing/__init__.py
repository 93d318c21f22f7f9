"""
Public test doubles for code built on lethean.

:class:`MemoryMesh` links any number of nodes in one process through
:class:`MemoryMeshTransport` objects that provide ``IMeshTransport``; use
it to test controllers, workers and your own message consumers without
sockets, on a ``task.Clock``.
"""

from lethean.testing._mesh import (
    MemoryMesh,
    MemoryMeshConnection,
    MemoryMeshTransport,
)

__all__ = [
    "MemoryMesh",
    "MemoryMeshConnection",
    "MemoryMeshTransport",
]
