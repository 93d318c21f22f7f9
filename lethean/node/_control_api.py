"""
The control API's paths: the status page, ``/metrics`` and the JSON API
over :class:`~lethean.node.NodeOperations` (see docs/control.md).

Answers are JSON; every error is ``{"error": {"kind", "message",
"exitCode"}}`` with a 4xx or 5xx status, never a traceback.  A client that
goes away cancels its request's work.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server

from lethean._gojson import loads_strict
from lethean.errors import LetheanError, MalformedError
from lethean.node._deploy_source import check_deploy
from lethean.node._errors import (
    ControlBusyError,
    InvalidRequestError,
    UnknownPeerError,
    UnknownTargetError,
)
from lethean.node._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, render_metrics
from lethean.node._operations import error_json
from lethean.node._page import CONTENT_SECURITY_POLICY, render_page
from lethean.peers import InvalidPeerError, PeerExistsError, PeerNotFoundError

if TYPE_CHECKING:
    from lethean.node._control_site import ControlRequest as Request
    from lethean.node._operations import NodeOperations
    from lethean.node._status import NodeStatus

__all__ = ["build_tree", "MAX_JSON_BODY_BYTES", "MAX_CONCURRENT_DEPLOYS"]

_T = TypeVar("_T")
#: A JSON document (parsed or to send).
JSON = Any
#: ``handler(request)``: the answer's JSON, or a Deferred (or coroutine) of it.
Handler = Callable[["Request"], Any]
#: ``send_error(request, status, document)``: finish a request with an error.
SendError = Callable[["Request", int, JSON], None]

_log = Logger()

#: Largest JSON request body.
MAX_JSON_BODY_BYTES = 64 * 1024
#: Deploys the control API runs at once (each holds its file).
MAX_CONCURRENT_DEPLOYS = 2


def _status_of(error: LetheanError) -> int:
    """The HTTP status of an operation's error."""
    if (isinstance(error, (InvalidRequestError, InvalidPeerError, MalformedError))
            or error.exit_code == 2):
        return 400
    if isinstance(error, (PeerNotFoundError, UnknownPeerError, UnknownTargetError)):
        return 404
    if isinstance(error, PeerExistsError):
        return 409
    if isinstance(error, ControlBusyError):
        return 503
    return 502


def error_document(error: LetheanError) -> dict[str, JSON]:
    """The JSON body of an error answer."""
    return {"error": error_json(error)}


def _json_bytes(value: JSON) -> bytes:
    return json.dumps(value, indent=None, separators=(",", ":")).encode("utf-8") + b"\n"


def _write_json(request: Request, code: int, value: JSON) -> None:
    body = _json_bytes(value)
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"content-length", b"%d" % len(body))
    request.setHeader(b"cache-control", b"no-store")
    request.write(body)
    request.finish()


class _Tree(resource.Resource):
    """A folder of the API: unknown children are JSON 404s."""

    def getChild(self, path: bytes, request: Request) -> resource.Resource:
        return _NotFound()


class _NotFound(resource.Resource):
    isLeaf = True

    def render(self, request: Request) -> int:
        _write_json(request, 404, {"error": {
            "kind": "not_found", "message": "no such path in the node's control API",
            "exitCode": 1}})
        return server.NOT_DONE_YET


def _json_body(request: Request) -> dict[str, JSON]:
    """The request's JSON object (empty for no body); InvalidRequestError otherwise."""
    content = request.content
    content.seek(0, io.SEEK_END)
    size = content.tell()
    if size == 0:
        return {}
    if size > MAX_JSON_BODY_BYTES:
        raise InvalidRequestError("the JSON body is over {} bytes".format(MAX_JSON_BODY_BYTES))
    content.seek(0)
    try:
        value = loads_strict(content.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRequestError("the body is not JSON: {}".format(str(e)[:200])) from None
    if not isinstance(value, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return value


@overload
def _field(body: Mapping[str, JSON], name: str, kind: type[_T], default: _T,
           required: bool = ...) -> _T: ...
@overload
def _field(body: Mapping[str, JSON], name: str, kind: type[_T], default: None = ..., *,
           required: Literal[True]) -> _T: ...
@overload
def _field(body: Mapping[str, JSON], name: str, kind: type[_T], default: None = ...,
           required: bool = ...) -> _T | None: ...


def _field(body: Mapping[str, JSON], name: str, kind: type[Any], default: Any = None,
           required: bool = False) -> Any:
    """``body[name]`` of type ``kind`` (ints count as floats), or ``default``."""
    value = body.get(name, default)
    if value is None:
        if required:
            raise InvalidRequestError("'{}' is required".format(name))
        return None
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRequestError("'{}' must be a number".format(name))
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequestError("'{}' must be a whole number".format(name))
        return value
    if not isinstance(value, kind):
        raise InvalidRequestError("'{}' must be a {}".format(
            name, {str: "string", bool: "boolean"}.get(kind, kind.__name__)))
    return value


class _Call(resource.Resource):
    """
    One API path: ``handlers`` maps a method (``b"GET"``) to
    ``handler(request)`` returning a value or an awaitable; the value is
    sent as JSON.  A client that goes away cancels the work.
    """

    isLeaf = True

    def __init__(self, **handlers: Handler) -> None:
        super().__init__()
        self.handlers = {method.encode("ascii"): handler for method, handler in handlers.items()}

    def render(self, request: Request) -> int:
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)
        handler = self.handlers.get(request.method)
        if handler is None:
            request.setHeader(b"allow", b", ".join(sorted(self.handlers)))
            _write_json(request, 405, {"error": {
                "kind": "method_not_allowed",
                "message": "use {}".format(" or ".join(m.decode() for m in sorted(self.handlers))),
                "exitCode": 1}})
            return server.NOT_DONE_YET
        # maybeDeferred runs coroutines too.
        answer(request, defer.maybeDeferred(handler, request),
               lambda value: _write_json(request, 200, value))
        return server.NOT_DONE_YET


_INTERNAL = {"error": {"kind": "internal", "message": "internal error in the node: see its log",
                       "exitCode": 70}}


def _error_json(request: Request, code: int, document: JSON) -> None:
    _write_json(request, code, document)


def answer(request: Request, work: defer.Deferred[_T], send: Callable[[_T], None],
           send_error: SendError = _error_json) -> None:
    """
    Finish ``request`` with ``send(result)`` of the Deferred ``work``, or
    ``send_error(request, status, document)`` for its error (a bug is
    logged, never shown); cancel ``work`` if the client goes away first.
    """
    gone: list[bool] = []

    def client_gone(failure: Failure) -> None:
        gone.append(True)
        work.cancel()

    request.notifyFinish().addErrback(client_gone)

    def failed(failure: Failure) -> None:
        if gone or failure.check(defer.CancelledError):
            return None
        if failure.check(LetheanError):
            error: Any = failure.value
            send_error(request, _status_of(error), error_document(error))
            return None
        _log.failure("control request {path} failed", failure,
                     path=request.path[:200].decode("ascii", "replace"))
        send_error(request, 500, _INTERNAL)
        return None

    def succeeded(value: _T) -> None:
        if not gone:
            send(value)

    work.addCallbacks(succeeded, failed)


class _StatusView(resource.Resource):
    """The status document rendered for its reader: the page, or the metrics."""

    isLeaf = True

    def __init__(self, status: NodeStatus, render: Callable[[JSON], bytes],
                 headers: Iterable[tuple[bytes, bytes]]) -> None:
        super().__init__()
        self.status = status
        self.render_document = render
        self.headers = headers

    def render_GET(self, request: Request) -> int:
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)

        def send(document: JSON) -> None:
            for name, value in self.headers:
                request.setHeader(name, value)
            request.write(self.render_document(document))
            request.finish()
        answer(request, self.status.document(), send)
        return server.NOT_DONE_YET


_PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_METRICS_HEADERS = [(b"content-type", METRICS_CONTENT_TYPE.encode("ascii"))]


def _text_arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("'{}' is not UTF-8".format(name)) from None


def _upload_args(request: Request,
                 default_kind: str) -> tuple[str, str, str | None, str | None]:
    """``(target, kind, name, minerFileName)`` of an upload's query, checked."""
    target = _text_arg(request, "target")
    kind = _text_arg(request, "kind") or default_kind
    name = _text_arg(request, "name")
    return check_deploy(target, kind, name), kind, name, _text_arg(request, "minerFileName")


class _Deploy(resource.Resource):
    """
    ``POST /api/deploy?target=..&kind=..&name=..&minerFileName=..`` with the
    file as the body.  The answer streams JSON lines (as Docker's API does):
    ``{"progress": {"sent", "total"}}`` while chunks are acknowledged, then
    ``{"result": {...}}`` or ``{"error": {...}}``.
    """

    isLeaf = True

    def __init__(self, operations: NodeOperations) -> None:
        super().__init__()
        self.operations = operations
        self.running = 0

    def render_POST(self, request: Request) -> int:
        try:
            target, kind, name, miner_file_name = _upload_args(request, "bundle")
            timeout = _text_arg(request, "timeout")
            try:
                timeout_s = float(timeout) if timeout is not None else None
            except ValueError:
                raise InvalidRequestError("'timeout' must be a number of seconds") from None
            if self.running >= MAX_CONCURRENT_DEPLOYS:
                raise ControlBusyError("{} deploys are running".format(self.running))
        except LetheanError as e:
            _write_json(request, _status_of(e), error_document(e))
            return server.NOT_DONE_YET
        request.setHeader(b"content-type", b"application/x-ndjson")
        request.setHeader(b"cache-control", b"no-store")

        def progress(sent: int, total: int) -> None:
            if not request.finished:
                request.write(_json_bytes({"progress": {"sent": sent, "total": total}}))

        def send(value: JSON) -> None:
            request.write(_json_bytes({"result": value}))
            request.finish()

        def send_error(request: Request, code: int, document: JSON) -> None:
            if not request.startedWriting:
                request.setResponseCode(code)
            request.write(_json_bytes(document))
            request.finish()

        def done(result: _T) -> _T:
            self.running -= 1
            request.content.close()
            return result

        request.content.seek(0)
        kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
        self.running += 1
        work = self.operations.deploy(target, request.content, kind, name, miner_file_name,
                                      progress=progress, **kwargs)
        answer(request, work.addBoth(done), send, send_error)
        return server.NOT_DONE_YET


class _Bundle(resource.Resource):
    """
    ``POST /api/bundle?target=..&kind=..&name=..&minerFileName=..`` with a
    profile JSON or miner binary as the body: the answer is the bundle file
    (JSON) encrypted for this node's link to the target, to deploy later;
    the ``x-lethean-peer-id`` header names that peer.
    """

    isLeaf = True

    def __init__(self, operations: NodeOperations) -> None:
        super().__init__()
        self.operations = operations

    def render_POST(self, request: Request) -> int:
        try:
            target, kind, name, miner_file_name = _upload_args(request, "profile")
        except LetheanError as e:
            _write_json(request, _status_of(e), error_document(e))
            return server.NOT_DONE_YET
        request.content.seek(0)

        def send(result: tuple[dict[str, Any], bytes]) -> None:
            peer, body = result
            request.setHeader(b"content-type", b"application/json")
            request.setHeader(b"x-lethean-peer-id", peer["id"].encode("ascii"))
            request.setHeader(b"content-length", b"%d" % len(body))
            request.write(body)
            request.finish()

        answer(request, self.operations.bundle_file_for(target, request.content, kind, name,
                                                        miner_file_name), send)
        return server.NOT_DONE_YET


def build_tree(operations: NodeOperations, status: NodeStatus) -> resource.Resource:
    """The control API's resource tree."""
    ops = operations

    def body(request: Request) -> dict[str, JSON]:
        return _json_body(request)

    def timeout(b: Mapping[str, JSON]) -> dict[str, float]:
        value = _field(b, "timeout", float)
        return {} if value is None else {"timeout_s": value}

    def ping(request: Request) -> defer.Deferred[JSON]:
        b = body(request)
        return ops.ping(_field(b, "target", str, required=True), **timeout(b))

    def stats(request: Request) -> defer.Deferred[JSON]:
        b = body(request)
        return ops.stats(_field(b, "target", str), bool(_field(b, "all", bool, False)),
                         **timeout(b))

    def logs(request: Request) -> defer.Deferred[JSON]:
        b = body(request)
        return ops.logs(_field(b, "target", str, required=True),
                        _field(b, "miner", str, required=True),
                        _field(b, "lines", int, 100), **timeout(b))

    def miner_start(request: Request) -> defer.Deferred[JSON]:
        b = body(request)
        return ops.start_miner(_field(b, "target", str, required=True),
                               _field(b, "type", str, required=True),
                               _field(b, "profile", str, ""), b.get("config"), **timeout(b))

    def miner_stop(request: Request) -> defer.Deferred[JSON]:
        b = body(request)
        return ops.stop_miner(_field(b, "target", str, required=True),
                              _field(b, "name", str, required=True), **timeout(b))

    def peers_add(request: Request) -> JSON:
        b = body(request)
        return ops.add_peer(_field(b, "address", str, required=True),
                            _field(b, "publicKey", str, required=True),
                            _field(b, "name", str, ""), _field(b, "role", str, ""))

    def peers_auth(request: Request) -> JSON:
        return ops.auth(_field(body(request), "mode", str))

    root = _Tree()
    root.putChild(b"", _StatusView(status, render_page, _PAGE_HEADERS))
    root.putChild(b"metrics", _StatusView(status, render_metrics, _METRICS_HEADERS))
    api = _Tree()
    root.putChild(b"api", api)
    api.putChild(b"node", _Call(GET=lambda request: status.node()))
    api.putChild(b"status", _Call(GET=lambda request: status.document()))
    api.putChild(b"ping", _Call(POST=ping))
    api.putChild(b"stats", _Call(POST=stats))
    api.putChild(b"logs", _Call(POST=logs))
    miner = _Tree()
    api.putChild(b"miner", miner)
    miner.putChild(b"start", _Call(POST=miner_start))
    miner.putChild(b"stop", _Call(POST=miner_stop))
    api.putChild(b"deploy", _Deploy(ops))
    api.putChild(b"bundle", _Bundle(ops))
    peers = _Call(GET=lambda request: ops.list_peers())
    api.putChild(b"peers", _PeersFolder(peers, {
        b"add": _Call(POST=peers_add),
        b"remove": _Call(POST=lambda r: ops.remove_peer(
            _field(body(r), "id", str, required=True))),
        b"allow": _Call(POST=lambda r: ops.allow(
            _field(body(r), "publicKey", str, required=True))),
        b"revoke": _Call(POST=lambda r: ops.revoke(
            _field(body(r), "publicKey", str, required=True))),
        b"auth": _Call(GET=lambda r: ops.auth(), POST=peers_auth),
    }))
    return root


class _PeersFolder(resource.Resource):
    """``/api/peers`` lists; its children edit."""

    def __init__(self, listing: resource.Resource,
                 children: Mapping[bytes, resource.Resource]) -> None:
        super().__init__()
        self.listing = listing
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path: bytes, request: Request) -> resource.Resource:
        if path == b"":
            return self.listing
        return _NotFound()

    def render(self, request: Request) -> Any:
        return self.listing.render(request)
