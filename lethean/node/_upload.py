"""
Chunked deploys being received: the ``deploy_chunk`` messages of a
lethean controller (a bundle too large for one frame) assembled into the
one ``deploy`` they stand for.

Every bound is checked before a byte is stored: the declared size (per
upload and for all uploads of the node together), the chunk count, the
uploads one peer may have open, the order and agreement of the chunks.
An upload with no new chunk for the idle timeout is dropped.
"""

from __future__ import annotations

import io

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from lethean.bundles import MAX_BUNDLE_DATA_BYTES
from lethean.node._errors import WorkerError
from lethean.node._payloads import DeployChunkPayload, DeployPayload

__all__ = [
    "UploadAssembly",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOADS_PER_PEER",
    "MAX_UPLOAD_TOTAL_BYTES",
    "UPLOAD_IDLE_TIMEOUT_S",
]

_log = Logger()

#: The largest bundle a chunked deploy may carry.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
#: Chunked deploys one peer may have open at once.
MAX_UPLOADS_PER_PEER = 2
#: Bytes all chunked deploys in progress may declare together (node-wide).
MAX_UPLOAD_TOTAL_BYTES = 256 * 1024 * 1024
#: A chunked deploy with no new chunk for this long is dropped.
UPLOAD_IDLE_TIMEOUT_S = 60.0

#: How the reference would name the handler, in the texts of refusals.
_WHAT = "Worker.handleDeployChunk"

#: An upload's key: ``(peer_id, upload_id)``.
_Key = tuple[str, str]


@attrs.define
class _Upload:
    """A chunked deploy being received."""

    first: DeployChunkPayload
    timer: IDelayedCall
    idle_timeout_s: float
    #: The data so far: chunks are appended, never joined (getvalue hands
    #: the buffer over without a copy).
    data: io.BytesIO = attrs.field(factory=io.BytesIO)
    chunks: int = 0


class UploadAssembly:
    """
    The chunked deploys in progress, by peer and upload id.

    :param reactor: ``IReactorTime`` for the idle timeouts.

    The worker owns the limits and passes them with each chunk to
    :meth:`take`.
    """

    def __init__(self, reactor: IReactorTime) -> None:
        self._reactor = reactor
        self._uploads: dict[_Key, _Upload] = {}

    def __len__(self) -> int:
        return len(self._uploads)

    def take(self, peer_id: str, chunk: DeployChunkPayload, *, max_bytes: int,
             max_total_bytes: int, idle_timeout_s: float) -> DeployPayload | None:
        """
        Add ``chunk`` (a :class:`DeployChunkPayload`) from ``peer_id``: the
        whole bundle as a :class:`DeployPayload` once its last chunk is in,
        else None.  A chunk that breaks a bound raises :class:`WorkerError`
        (with the worker's reply text) and drops its upload.
        """
        key = (peer_id, chunk.upload_id)
        upload = self._uploads.get(key)
        try:
            if upload is None:
                upload = self._start(key, chunk, max_bytes, max_total_bytes, idle_timeout_s)
            self._add(upload, chunk)
        except WorkerError:
            self._drop(key)
            raise
        if chunk.index + 1 < chunk.total:
            upload.idle_timeout_s = idle_timeout_s
            upload.timer.reset(idle_timeout_s)
            return None
        self._drop(key)
        first = upload.first
        return DeployPayload(type=first.type, data=upload.data.getvalue(),
                             checksum=first.checksum, name=first.name)

    def drop_peer(self, peer_id: str) -> None:
        """Forget the uploads of ``peer_id`` (its link closed)."""
        for key in [key for key in self._uploads if key[0] == peer_id]:
            self._drop(key)

    def drop_all(self) -> None:
        """Forget every upload and cancel its timer."""
        for key in list(self._uploads):
            self._drop(key)

    def _start(self, key: _Key, chunk: DeployChunkPayload, max_bytes: int, max_total_bytes: int,
               idle_timeout_s: float) -> _Upload:
        if not chunk.upload_id or len(chunk.upload_id) > 64:
            raise WorkerError("{}: invalid upload id".format(_WHAT))
        if chunk.index != 0:
            raise WorkerError("{}: unknown upload {}".format(_WHAT, chunk.upload_id))
        limit = min(max_bytes, MAX_BUNDLE_DATA_BYTES)
        if not 0 < chunk.size <= limit:
            raise WorkerError("{}: bundle of {} bytes is over the {} byte limit".format(
                _WHAT, chunk.size, limit))
        if not 1 <= chunk.total <= chunk.size:
            raise WorkerError("{}: invalid chunk count {}".format(_WHAT, chunk.total))
        if sum(1 for k in self._uploads if k[0] == key[0]) >= MAX_UPLOADS_PER_PEER:
            raise WorkerError("{}: too many uploads in progress".format(_WHAT))
        reserved = sum(upload.first.size for upload in self._uploads.values())
        if reserved + chunk.size > max_total_bytes:
            raise WorkerError("{}: uploads in progress are at the node's {} byte limit".format(
                _WHAT, max_total_bytes))
        timer = self._reactor.callLater(idle_timeout_s, self._expire, key)
        upload = _Upload(first=chunk, timer=timer, idle_timeout_s=idle_timeout_s)
        self._uploads[key] = upload
        return upload

    @staticmethod
    def _add(upload: _Upload, chunk: DeployChunkPayload) -> None:
        first = upload.first
        if chunk.index != upload.chunks:
            raise WorkerError("{}: chunk {} out of order, expected {}".format(
                _WHAT, chunk.index, upload.chunks))
        if (chunk.total, chunk.size, chunk.type, chunk.name, chunk.checksum) != (
                first.total, first.size, first.type, first.name, first.checksum):
            raise WorkerError("{}: chunk {} does not match the upload".format(_WHAT, chunk.index))
        received = upload.data.tell() + len(chunk.data)
        if received > first.size:
            raise WorkerError("{}: more data than the declared {} bytes".format(_WHAT, first.size))
        if chunk.index + 1 == chunk.total and received != first.size:
            raise WorkerError("{}: {} bytes received, {} declared".format(
                _WHAT, received, first.size))
        upload.data.write(chunk.data)
        upload.chunks += 1

    def _expire(self, key: _Key) -> None:
        upload = self._uploads.pop(key, None)
        if upload is not None:
            _log.warn("dropped deploy upload from {peer_id}: {reason}", peer_id=key[0],
                      reason="no chunk for {} s".format(upload.idle_timeout_s))

    def _drop(self, key: _Key) -> None:
        upload = self._uploads.pop(key, None)
        if upload is not None and upload.timer.active():
            upload.timer.cancel()
