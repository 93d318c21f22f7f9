"""
A bundle too large for one ``deploy``, sent as ``deploy_chunk`` parts (a
lethean extension, announced as the ``deploy_chunks`` feature): a window
of chunks in flight, acknowledged in order, the last one answered by the
``deploy_ack`` of the whole bundle.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime

from lethean.mesh._envelope import DEPLOY_ACK
from lethean.node._errors import UnexpectedResponseError
from lethean.node._payloads import (
    DEPLOY_CHUNK,
    DEPLOY_CHUNK_ACK,
    DeployAckPayload,
    DeployChunkAckPayload,
    DeployChunkPayload,
)

if TYPE_CHECKING:
    from lethean.bundles import Bundle

__all__ = ["DEPLOY_CHUNK_BYTES", "DEPLOY_WINDOW", "Progress", "send_chunks"]

#: ``progress(sent_bytes, total_bytes)``: how far a deploy has come.
Progress = Callable[[int, int], None]
#: The controller's request: ``call(peer_id, type, payload, reply_type,
#: reply_class, timeout_s)``, a coroutine of the reply's payload.
Call = Callable[..., Coroutine[Any, Any, Any]]

#: Data bytes per ``deploy_chunk``.  The mesh seals and opens each frame
#: in its reactor thread, in time proportional to the frame (about 25 ms
#: for this size on the pure-Python path; see docs/performance.md), so a
#: chunk is small enough to keep every stall short.
DEPLOY_CHUNK_BYTES = 256 * 1024
#: ``deploy_chunk`` requests in flight at once, so that sealing the next
#: chunk overlaps the worker opening the last one.  The worker's mesh reads
#: a peer at most 16 MiB/s, and chunks it has not read wait in our send
#: buffer, which the mesh caps at 8 MiB before it drops the link as a peer
#: that does not read: the window stays far below that (16 was too many).
DEPLOY_WINDOW = 4


async def send_chunks(reactor: IReactorTime, call: Call, peer_id: str, bundle: Bundle,
                      timeout_s: float, progress: Progress) -> DeployAckPayload:
    """
    Send ``bundle`` to ``peer_id`` in chunks; the worker's
    :class:`DeployAckPayload`.  ``call(peer_id, type, payload, reply_type,
    reply_class, timeout_s)`` is the controller's request, and
    ``progress(sent_bytes, total_bytes)`` hears of each acknowledged chunk.
    """
    data = memoryview(bundle.data)  # chunks are views: no copies
    upload_id = str(uuid.uuid4())
    total = -(-len(data) // DEPLOY_CHUNK_BYTES)

    def send(index: int, reply_type: str, reply_class: type[Any]) -> defer.Deferred[Any]:
        chunk = DeployChunkPayload(
            upload_id=upload_id, index=index, total=total, size=len(data),
            type=bundle.type, name=bundle.name, checksum=bundle.checksum,
            data=data[index * DEPLOY_CHUNK_BYTES:(index + 1) * DEPLOY_CHUNK_BYTES])
        return defer.Deferred.fromCoroutine(call(
            peer_id, DEPLOY_CHUNK, chunk, reply_type, reply_class, timeout_s))

    # Up to DEPLOY_WINDOW chunks in flight; acks come back in order.
    # The mesh seals each chunk's frame in the reactor thread: one
    # chunk per reactor turn, so that seals never pile up into a stall.
    in_flight: collections.deque[tuple[int, defer.Deferred[Any]]] = collections.deque()
    try:
        for index in range(total - 1):
            if index:
                await task.deferLater(reactor, 0, lambda: None)
            in_flight.append((index, send(index, DEPLOY_CHUNK_ACK, DeployChunkAckPayload)))
            if len(in_flight) >= DEPLOY_WINDOW:
                await _chunk_acked(in_flight.popleft(), upload_id, len(data), progress)
        while in_flight:
            await _chunk_acked(in_flight.popleft(), upload_id, len(data), progress)
    except BaseException:
        for _, waiting in in_flight:  # the upload failed: stop waiting for them
            waiting.addErrback(lambda _: None)
            waiting.cancel()
        raise
    ack: DeployAckPayload = await send(total - 1, DEPLOY_ACK, DeployAckPayload)
    return ack


async def _chunk_acked(sent: tuple[int, defer.Deferred[Any]], upload_id: str, size: int,
                       progress: Progress) -> None:
    index, waiting = sent
    ack = await waiting
    if ack.upload_id != upload_id or ack.index != index:
        raise UnexpectedResponseError("deploy_chunk_ack for the wrong chunk")
    progress(min((index + 1) * DEPLOY_CHUNK_BYTES, size), size)
