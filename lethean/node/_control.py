"""
The node's control API: a small ``twisted.web`` site on a unix socket (and,
with a bearer token, on TCP) for the ``lethean`` command line, Prometheus
and a browser.

Paths: ``GET /`` (the status page), ``GET /metrics``, ``GET /api/node``,
``GET /api/status``, ``GET /api/peers`` and the operations of
:class:`~lethean.node.NodeOperations` as ``POST /api/...`` with a JSON
object (see docs/control.md).  Answers are JSON; every error is
``{"error": {"kind", "message", "exitCode"}}`` with a 4xx or 5xx status,
never a traceback.

Access: the unix socket is mode 0600 in the node's 0700 data folder; a TCP
endpoint requires ``Authorization: Bearer TOKEN`` (or HTTP Basic with the
token as password, for browsers), where TOKEN is the content of
``control.token``.  Refusals are decided when the headers end, before any
body is stored.
"""

import base64
import hmac
import io
import json
import os
import secrets

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.web import resource, server

from lethean._paths import data_path
from lethean.bundles import MAX_BUNDLE_DATA_BYTES
from lethean.errors import LetheanError, describe
from lethean.node._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, render_metrics
from lethean.node._operations import InvalidRequestError, check_deploy
from lethean.node._page import CONTENT_SECURITY_POLICY, render_page

__all__ = [
    "ControlService",
    "CONTROL_SOCKET_NAME",
    "CONTROL_TOKEN_NAME",
    "ControlBusyError",
    "control_socket_path",
    "control_token_path",
    "default_control_endpoints",
    "is_unix_endpoint",
    "unix_endpoint",
]

_log = Logger()

#: The control socket's file name in the node's data folder.
CONTROL_SOCKET_NAME = "control.sock"
#: The file holding the bearer token of TCP control endpoints.
CONTROL_TOKEN_NAME = "control.token"
#: Largest JSON request body.
MAX_JSON_BODY_BYTES = 64 * 1024
#: Largest upload (a deploy's file): the largest bundle file plus slack.
MAX_UPLOAD_BYTES = MAX_BUNDLE_DATA_BYTES * 4 // 3 + 64 * 1024
#: Deploys the control API runs at once (each holds its file).
MAX_CONCURRENT_DEPLOYS = 2
#: A control connection idle this long is closed (not while a request runs).
IDLE_TIMEOUT_S = 60
#: After the first refused request is logged, further refusals are
#: summarised at most this often.
REFUSAL_SUMMARY_S = 600.0


class ControlBusyError(LetheanError):
    """The node is busy with other deploys: try again when they are done."""

    kind = "control_busy"


def control_socket_path(data_dir=None):
    """``DIR/control.sock``, or in the XDG data folder without ``data_dir``."""
    if data_dir is None:
        return data_path(CONTROL_SOCKET_NAME)
    return os.path.join(data_dir, CONTROL_SOCKET_NAME)


def control_token_path(data_dir=None):
    """``DIR/control.token``, or in the XDG data folder without ``data_dir``."""
    if data_dir is None:
        return data_path(CONTROL_TOKEN_NAME)
    return os.path.join(data_dir, CONTROL_TOKEN_NAME)


def _escape(value):
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def unix_endpoint(path):
    """The server endpoint string of a 0600 control socket at ``path``."""
    return "unix:{}:mode=600:lockfile=1".format(_escape(os.path.abspath(path)))


def default_control_endpoints(data_dir=None):
    """The control endpoints of a node with no ``--control``: its socket."""
    return [unix_endpoint(control_socket_path(data_dir))]


def is_unix_endpoint(description):
    """True for a ``unix:`` endpoint string."""
    return description.split(":", 1)[0].strip().lower() == "unix"


def _with_unix_defaults(description):
    """A unix endpoint string with mode 0600 and a lock file unless it says otherwise."""
    if ":mode=" not in description:
        description += ":mode=600"
    if ":lockfile=" not in description:
        description += ":lockfile=1"
    return description


def load_or_create_token(path):
    """The bearer token in ``path``, created (0600) when missing or empty."""
    try:
        with open(path, "r", encoding="ascii") as f:
            token = f.read(1024).strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as e:
        raise ControlSetupError("cannot read {}: {}".format(path, e)) from None
    token = secrets.token_urlsafe(32)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    temporary = path + ".tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    os.replace(temporary, path)
    return token


class ControlSetupError(LetheanError):
    """The control API cannot be set up."""

    kind = "control_setup"


# -- errors as answers --------------------------------------------------------

def _status_of(error):
    from lethean.errors import MalformedError
    from lethean.peers import InvalidPeerError, PeerExistsError, PeerNotFoundError
    from lethean.node._controller import UnknownPeerError

    if (isinstance(error, (InvalidRequestError, InvalidPeerError, MalformedError))
            or error.exit_code == 2):
        return 400
    if isinstance(error, (PeerNotFoundError, UnknownPeerError)):
        return 404
    if isinstance(error, PeerExistsError):
        return 409
    if isinstance(error, ControlBusyError):
        return 503
    return 502


def error_document(error):
    """The JSON body of an error answer."""
    return {"error": {"kind": error.kind, "message": describe(error),
                      "exitCode": error.exit_code}}


def _json_bytes(value):
    return json.dumps(value, indent=None, separators=(",", ":")).encode("utf-8") + b"\n"


def _write_json(request, code, value):
    body = _json_bytes(value)
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"content-length", b"%d" % len(body))
    request.setHeader(b"cache-control", b"no-store")
    request.write(body)
    request.finish()


# -- requests -------------------------------------------------------------------

class ControlRequest(server.Request):
    """
    A request whose access and size are checked when its headers end: a
    refused request is answered and its connection closed before any of
    its body is stored.
    """

    refused = False

    def gotLength(self, length):
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

    def handleContentChunk(self, data):
        if self.refused:
            return
        self._received += len(data)
        if self._received > MAX_UPLOAD_BYTES:
            self.content.close()
            self._refuse(413, "too_large", "the body is over {} bytes".format(MAX_UPLOAD_BYTES))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self.refused:
            return
        super().requestReceived(command, path, version)

    def _refuse(self, code, kind, message):
        """Answer at once, outside the usual flow, and close the connection."""
        self.refused = True
        self.content = io.BytesIO()
        # No "100 Continue" after the answer: the body is not wanted.
        self.requestHeaders.removeHeader(b"expect")
        body = _json_bytes({"error": {"kind": kind, "message": message, "exitCode": 1}})
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

    def __init__(self, root, status, reactor, token=None):
        # Bodies are JSON or a deploy's file: never parse them as forms
        # (that would read a whole upload into memory).
        super().__init__(root, timeout=IDLE_TIMEOUT_S, reactor=reactor,
                         parsePOSTFormSubmission=False)
        self.status = status
        self.token = token
        self._reactor = reactor
        self._refused_since_log = 0
        self._last_refusal_log = None

    def authorized(self, request):
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

    def refused_unauthorized(self, request):
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

    def log(self, request):
        _log.debug("control {method} {path}: {code}",
                   method=request.method.decode("ascii", "replace"),
                   path=request.path[:200].decode("ascii", "replace"), code=request.code)


# -- resources ------------------------------------------------------------------

class _Tree(resource.Resource):
    """A folder of the API: unknown children are JSON 404s."""

    def getChild(self, path, request):
        return _NotFound()


class _NotFound(resource.Resource):
    isLeaf = True

    def render(self, request):
        _write_json(request, 404, {"error": {
            "kind": "not_found", "message": "no such path in the node's control API",
            "exitCode": 1}})
        return server.NOT_DONE_YET


def _json_body(request):
    """The request's JSON object (empty for no body); InvalidRequestError otherwise."""
    from lethean._gojson import loads_strict

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


def _field(body, name, kind, default=None, required=False):
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

    def __init__(self, **handlers):
        super().__init__()
        self.handlers = {method.encode("ascii"): handler for method, handler in handlers.items()}

    def render(self, request):
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


def _error_json(request, code, document):
    _write_json(request, code, document)


def answer(request, work, send, send_error=_error_json):
    """
    Finish ``request`` with ``send(result)`` of the Deferred ``work``, or
    ``send_error(request, status, document)`` for its error (a bug is
    logged, never shown); cancel ``work`` if the client goes away first.
    """
    gone = []

    def client_gone(failure):
        gone.append(True)
        work.cancel()

    request.notifyFinish().addErrback(client_gone)

    def failed(failure):
        if gone or failure.check(defer.CancelledError):
            return None
        if failure.check(LetheanError):
            send_error(request, _status_of(failure.value), error_document(failure.value))
            return None
        _log.failure("control request {path} failed", failure,
                     path=request.path[:200].decode("ascii", "replace"))
        send_error(request, 500, _INTERNAL)
        return None

    def succeeded(value):
        if not gone:
            send(value)

    work.addCallbacks(succeeded, failed)


class _Page(resource.Resource):
    isLeaf = True

    def __init__(self, status):
        super().__init__()
        self.status = status

    def render_GET(self, request):
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)

        def send(document):
            body = render_page(document)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            request.setHeader(b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
            request.setHeader(b"x-content-type-options", b"nosniff")
            request.setHeader(b"referrer-policy", b"no-referrer")
            request.setHeader(b"cache-control", b"no-store")
            request.write(body)
            request.finish()
        answer(request, defer.Deferred.fromCoroutine(self.status.document()), send)
        return server.NOT_DONE_YET


class _Metrics(resource.Resource):
    isLeaf = True

    def __init__(self, status):
        super().__init__()
        self.status = status

    def render_GET(self, request):
        def send(document):
            request.setHeader(b"content-type", METRICS_CONTENT_TYPE.encode())
            request.write(render_metrics(document))
            request.finish()
        answer(request, defer.Deferred.fromCoroutine(self.status.document()), send)
        return server.NOT_DONE_YET


def _text_arg(request, name):
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("'{}' is not UTF-8".format(name)) from None


class _Deploy(resource.Resource):
    """
    ``POST /api/deploy?target=..&kind=..&name=..&minerFileName=..`` with the
    file as the body.  The answer streams JSON lines (as Docker's API does):
    ``{"progress": {"sent", "total"}}`` while chunks are acknowledged, then
    ``{"result": {...}}`` or ``{"error": {...}}``.
    """

    isLeaf = True

    def __init__(self, operations):
        super().__init__()
        self.operations = operations
        self.running = 0

    def render_POST(self, request):
        try:
            target = _text_arg(request, "target")
            kind = _text_arg(request, "kind") or "bundle"
            name = _text_arg(request, "name")
            miner_file_name = _text_arg(request, "minerFileName")
            timeout = _text_arg(request, "timeout")
            try:
                timeout_s = float(timeout) if timeout is not None else None
            except ValueError:
                raise InvalidRequestError("'timeout' must be a number of seconds") from None
            check_deploy(target, kind, name)
            if self.running >= MAX_CONCURRENT_DEPLOYS:
                raise ControlBusyError("{} deploys are running".format(self.running))
        except LetheanError as e:
            _write_json(request, _status_of(e), error_document(e))
            return server.NOT_DONE_YET
        request.setHeader(b"content-type", b"application/x-ndjson")
        request.setHeader(b"cache-control", b"no-store")

        def progress(sent, total):
            if not request.finished:
                request.write(_json_bytes({"progress": {"sent": sent, "total": total}}))

        def send(value):
            request.write(_json_bytes({"result": value}))
            request.finish()

        def send_error(request, code, document):
            if not request.startedWriting:
                request.setResponseCode(code)
            request.write(_json_bytes(document))
            request.finish()

        def done(result):
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


def build_tree(operations, status):
    """The control API's resource tree."""
    ops = operations

    def body(request):
        return _json_body(request)

    def timeout(b):
        value = _field(b, "timeout", float)
        return {} if value is None else {"timeout_s": value}

    def ping(request):
        b = body(request)
        return ops.ping(_field(b, "target", str, required=True), **timeout(b))

    def stats(request):
        b = body(request)
        return ops.stats(_field(b, "target", str), bool(_field(b, "all", bool, False)),
                         **timeout(b))

    def logs(request):
        b = body(request)
        return ops.logs(_field(b, "target", str, required=True),
                        _field(b, "miner", str, required=True),
                        _field(b, "lines", int, 100), **timeout(b))

    def miner_start(request):
        b = body(request)
        return ops.start_miner(_field(b, "target", str, required=True),
                               _field(b, "type", str, required=True),
                               _field(b, "profile", str, ""), b.get("config"), **timeout(b))

    def miner_stop(request):
        b = body(request)
        return ops.stop_miner(_field(b, "target", str, required=True),
                              _field(b, "name", str, required=True), **timeout(b))

    def peers_add(request):
        b = body(request)
        return ops.add_peer(_field(b, "address", str, required=True),
                            _field(b, "publicKey", str, required=True),
                            _field(b, "name", str, ""), _field(b, "role", str, ""))

    def peers_auth(request):
        return ops.auth(_field(body(request), "mode", str))

    root = _Tree()
    root.putChild(b"", _Page(status))
    root.putChild(b"metrics", _Metrics(status))
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

    def __init__(self, listing, children):
        super().__init__()
        self.listing = listing
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path, request):
        if path == b"":
            return self.listing
        return _NotFound()

    def render(self, request):
        return self.listing.render(request)


# -- the service ------------------------------------------------------------------

class ControlService(service.Service):
    """
    Serve the control API on ``endpoints`` (server endpoint strings).

    :param reactor: the reactor to listen with.
    :param operations: the node's :class:`~lethean.node.NodeOperations`.
    :param status: its :class:`~lethean.node._status.NodeStatus`.
    :param token_path: where TCP endpoints' bearer token is kept.

    A unix endpoint gets mode 0600 and a lock file (so a stale socket of a
    node that died is replaced, and a live one is never stolen) unless its
    string says otherwise.  An endpoint that cannot listen is one error
    line; the node runs on without it.
    """

    def __init__(self, reactor, endpoints, operations, status, token_path):
        self._reactor = reactor
        self.endpoints = list(endpoints)
        self.operations = operations
        self.status = status
        self.token_path = token_path
        self.ports = []
        self._listening = []
        self._root = build_tree(operations, status)

    def startService(self):
        super().startService()
        self.status.transport.add_consumer(self.status.traffic)
        for description in self.endpoints:
            self._listen(description)

    def _listen(self, description):
        token = None
        if is_unix_endpoint(description):
            description = _with_unix_defaults(description)
        else:
            try:
                token = load_or_create_token(self.token_path).encode("utf-8")
            except (LetheanError, OSError) as e:
                _log.error("control API not started on {endpoint}: {reason}",
                           endpoint=description, reason=str(e))
                return
        site = ControlSite(self._root, self.status, self._reactor, token)
        try:
            d = serverFromString(self._reactor, description).listen(site)
        except Exception as e:
            d = defer.fail(e)

        def listening(port):
            self.ports.append((description, port))
            return port

        def failed(failure):
            reason = failure.getErrorMessage()
            if "Cannot acquire lock" in reason:
                reason = "another running node holds its lock file (one node per data folder)"
            _log.error("control API not started on {endpoint}: {reason}; the lethean command "
                       "cannot reach this node (choose another with --control)",
                       endpoint=description, reason=reason)
        self._listening.append(d.addCallbacks(listening, failed))

    def describe(self):
        """Where the control API listens: ``unix:PATH`` or ``tcp:HOST:PORT (token)``."""
        described = []
        for _, port in self.ports:
            host = port.getHost()
            name = getattr(host, "name", None)
            if name is not None:
                described.append("unix:" + os.fsdecode(name))
            else:
                described.append("tcp:{}:{} (token)".format(host.host, host.port))
        return described

    def stopService(self):
        super().stopService()
        self.status.transport.remove_consumer(self.status.traffic)
        ports, self.ports = self.ports, []
        return defer.DeferredList([defer.maybeDeferred(port.stopListening) for _, port in ports],
                                  consumeErrors=True).addCallback(lambda _: None)
