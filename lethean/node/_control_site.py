"""
The control API's HTTP site: who may use it, and how big a request may
be, decided when a request's headers end.

A TCP endpoint requires ``Authorization: Bearer TOKEN`` (or HTTP Basic with
the token as password, for browsers); a unix socket relies on its file
mode.  A refused request is answered and its connection closed before any
of its body is stored; refusals are logged once, then summarised.
"""

from __future__ import annotations

import base64
import hmac
import io
import json
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web import http, resource, server

from lethean.bundles import MAX_BUNDLE_DATA_BYTES

if TYPE_CHECKING:
    from lethean.node._status import NodeStatus

__all__ = ["ControlSite", "ControlRequest", "MAX_UPLOAD_BYTES", "IDLE_TIMEOUT_S",
           "REFUSAL_SUMMARY_S"]

_log = Logger()

#: Largest upload (a deploy's file): the largest bundle file plus slack.
MAX_UPLOAD_BYTES = MAX_BUNDLE_DATA_BYTES * 4 // 3 + 64 * 1024
#: A control connection idle this long is closed (not while a request runs).
IDLE_TIMEOUT_S = 60
#: After the first refused request is logged, further refusals are
#: summarised at most this often.
REFUSAL_SUMMARY_S = 600.0


class ControlRequest(server.Request):
    """
    A request whose access and size are checked when its headers end: a
    refused request is answered and its connection closed before any of
    its body is stored.
    """

    refused = False

    channel: Any  # an HTTPChannel of a ControlSite
    content: Any  # the body: a file, once the headers are in
    args: Any  # the query: {name: [value]}, bytes

    def gotLength(self, length: int | None) -> None:
        site = self.channel.site
        if not site.authorized(self):
            site.refused_unauthorized(self)
            self._refuse(401, "unauthorized", "a valid bearer token is required "
                         "(the content of the node's control.token)")
            return
        if length is not None and length > MAX_UPLOAD_BYTES:
            self._refuse(413, "too_large", "the body is over {} bytes".format(MAX_UPLOAD_BYTES))
            return
        self._received = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self._received += len(data)
        if self._received > MAX_UPLOAD_BYTES:
            self.content.close()
            self._refuse(413, "too_large", "the body is over {} bytes".format(MAX_UPLOAD_BYTES))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.refused:
            return
        super().requestReceived(command, path, version)

    def _refuse(self, code: int, kind: str, message: str) -> None:
        """Answer at once, outside the usual flow, and close the connection."""
        self.refused = True
        self.content = io.BytesIO()
        # No "100 Continue" after the answer: the body is not wanted.
        self.requestHeaders.removeHeader(b"expect")
        body = json.dumps({"error": {"kind": kind, "message": message,
                                     "exitCode": 1}}).encode("utf-8") + b"\n"
        reason = {401: b"Unauthorized", 413: b"Content Too Large"}[code]
        head = [b"HTTP/1.1 %d %s" % (code, reason), b"Content-Type: application/json",
                b"Content-Length: %d" % len(body), b"Connection: close"]
        if code == 401:
            head += [b'WWW-Authenticate: Bearer realm="lethean node"',
                     b'WWW-Authenticate: Basic realm="lethean node"']
        transport = self.channel.transport
        transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        transport.loseConnection()


class ControlSite(server.Site):
    """
    The control API on one endpoint; ``token`` (bytes) is required when
    set (TCP endpoints).
    """

    requestFactory = ControlRequest
    displayTracebacks = False
    noisy = False

    def __init__(self, root: resource.IResource, status: NodeStatus, reactor: IReactorTime,
                 token: bytes | None = None) -> None:
        # Bodies are JSON or a deploy's file: never parse them as forms
        # (that would read a whole upload into memory).
        super().__init__(root, timeout=IDLE_TIMEOUT_S, reactor=reactor,
                         parsePOSTFormSubmission=False)
        self.status = status
        self.token = token
        self._reactor = reactor
        self._refused_since_log = 0
        self._last_refusal_log: float | None = None

    def authorized(self, request: server.Request) -> bool:
        if self.token is None:
            return True
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        scheme, _, credentials = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            offered = credentials.strip()
        elif scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return False
            offered = decoded.partition(":")[2]
        else:
            return False
        return hmac.compare_digest(offered.encode("utf-8", "replace"), self.token)

    def refused_unauthorized(self, request: server.Request) -> None:
        """Count a refusal; log the first, then a summary now and then."""
        self.status.unauthorized += 1
        now = self._reactor.seconds()
        if self._last_refusal_log is None:
            self._last_refusal_log = now
            address = request.getClientAddress()
            peer = "{}:{}".format(getattr(address, "host", address), getattr(address, "port", ""))
            _log.warn("refused a control request from {peer}: {reason}; further refusals "
                      "are counted (lethean_control_unauthorized_total) and summarised",
                      peer=peer, reason="no valid bearer token")
            return
        self._refused_since_log += 1
        if now - self._last_refusal_log >= REFUSAL_SUMMARY_S:
            _log.warn("refused {count} more control requests without a valid token "
                      "in the last {interval:.0f} s", count=self._refused_since_log,
                      interval=now - self._last_refusal_log)
            self._refused_since_log = 0
            self._last_refusal_log = now

    def log(self, request: http.Request) -> None:
        _log.debug("control {method} {path}: {code}",
                   method=request.method.decode("ascii", "replace"),
                   path=request.path[:200].decode("ascii", "replace"), code=request.code)
