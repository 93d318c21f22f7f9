"""
The ``lethean`` command's client for a running node's control API, how it
finds that node, and :class:`ThroughNode`, which asks that node to carry
out what :class:`~lethean.node.NodeOperations` would.

A node runs for a data folder when its control socket (``DIR/control.sock``,
or the XDG default) accepts a connection and answers ``GET /api/node``
within :data:`PROBE_TIMEOUT_S`.  A missing socket or a refused connection
(a stale file left by a node that died) means no node runs; a socket that
accepts but does not answer is an error, not a reason to act beside the
node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import IO, Any

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.endpoints import UNIXClientEndpoint, clientFromString
from twisted.python import failure
from twisted.web.client import (
    Agent, FileBodyProducer, HTTPConnectionPool, RequestTransmissionFailed, ResponseFailed,
    readBody)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory, IResponse
from zope.interface import implementer

from lethean.cli._errors import NodeAnswerError, NodeNotAnsweringError

__all__ = [
    "ControlClient",
    "ThroughNode",
    "find_node",
    "PROBE_TIMEOUT_S",
    "TOKEN_VARIABLE",
]

#: Seconds a control socket has to answer before the node counts as hung.
PROBE_TIMEOUT_S = 5.0
#: The environment variable holding a TCP control endpoint's token.
TOKEN_VARIABLE = "LETHEAN_CONTROL_TOKEN"
#: ``progress(sent, total)``: told how much of an upload is sent.
OnProgress = Callable[[int, int], None]


@implementer(IAgentEndpointFactory)
class _OneEndpoint:
    """Every request goes to the same endpoint (a unix socket, say)."""

    def __init__(self, endpoint: IStreamClientEndpoint) -> None:
        self.endpoint = endpoint

    def endpointForURI(self, uri: object) -> IStreamClientEndpoint:
        return self.endpoint


class _Lines(protocol.Protocol):
    """Reads a JSON-lines answer: progress lines, then the last value."""

    def __init__(self, progress: OnProgress | None) -> None:
        self.progress = progress
        self.buffer = b""
        self.last: Any = None
        self.done: defer.Deferred[Any] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            value = json.loads(line)
            if "progress" in value:
                if self.progress is not None:
                    self.progress(value["progress"]["sent"], value["progress"]["total"])
            else:
                self.last = value

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        if self.buffer.strip():
            self.last = json.loads(self.buffer)
        self.done.callback(self.last)


def _answer(code: int, value: Any) -> Any:
    if isinstance(value, dict) and "error" in value:
        error = value["error"] if isinstance(value["error"], dict) else {}
        raise NodeAnswerError(error.get("message") or "the node refused the request",
                              error.get("exitCode", 1), error.get("kind"), error or None)
    if code >= 400:
        raise NodeAnswerError("the node answered HTTP {}".format(code))
    return value


def _timed_out(result: object, timeout_s: float) -> object:
    """
    What a request cancelled by its timeout fails with: the Agent reports
    the cancellation as a lost response, which is a TimeoutError here.
    """
    if isinstance(result, failure.Failure):
        raise defer.TimeoutError(timeout_s, "no answer")
    return result


class ControlClient:
    """
    Requests to one node's control API.

    :param reactor: the reactor.
    :param endpoint: an ``IStreamClientEndpoint`` reaching the API.
    :param token: the bearer token (TCP endpoints), or None.
    :param where: how to name the endpoint in messages.
    """

    def __init__(self, reactor: IReactorTime, endpoint: IStreamClientEndpoint,
                 token: str | None = None, where: str = "the node") -> None:
        self._reactor = reactor
        self.where = where
        self._token = token
        self._agent = Agent.usingEndpointFactory(
            reactor, _OneEndpoint(endpoint), pool=HTTPConnectionPool(reactor, persistent=False))
        #: The node's ``/api/node`` answer, once probed.
        self.node: Any = None

    def _headers(self, content_type: bytes | None = None) -> Headers:
        headers = Headers({b"user-agent": [b"lethean-cli"]})
        if self._token:
            headers.addRawHeader(b"authorization", b"Bearer " + self._token.encode("utf-8"))
        if content_type:
            headers.addRawHeader(b"content-type", content_type)
        return headers

    async def _request(self, method: bytes, path: str, body: IO[bytes] | None = None,
                       content_type: bytes | None = None,
                       timeout_s: float | None = None) -> IResponse:
        producer = None if body is None else FileBodyProducer(body)
        d = self._agent.request(method, b"http://node" + path.encode("ascii"),
                                self._headers(content_type), producer)
        if timeout_s is not None:
            d.addTimeout(timeout_s, self._reactor, onTimeoutCancel=_timed_out)
        try:
            return await d
        except (ResponseFailed, RequestTransmissionFailed) as e:
            reasons = "; ".join(r.getErrorMessage() for r in e.reasons) or "connection lost"
            raise NodeAnswerError("the connection to {} was lost: {}".format(
                self.where, reasons)) from None

    async def call(self, method: bytes, path: str, value: object = None,
                   timeout_s: float | None = None) -> Any:
        """``method path`` with a JSON body; the JSON answer, or NodeAnswerError."""
        import io

        body = None if value is None else io.BytesIO(json.dumps(value).encode("utf-8"))
        response = await self._request(method, path, body, b"application/json", timeout_s)
        text = await readBody(response)
        try:
            answer = json.loads(text) if text.strip() else None
        except ValueError:
            raise NodeAnswerError("{} answered something that is not JSON (HTTP {})".format(
                self.where, response.code)) from None
        return _answer(response.code, answer)

    def get(self, path: str, timeout_s: float | None = None) -> defer.Deferred[Any]:
        """``GET path``: its JSON."""
        return defer.Deferred.fromCoroutine(self.call(b"GET", path, timeout_s=timeout_s))

    def post(self, path: str, value: object) -> defer.Deferred[Any]:
        """``POST path`` with ``value`` as JSON: the JSON answer."""
        return defer.Deferred.fromCoroutine(self.call(b"POST", path, value))

    async def upload(self, path: str, query: Mapping[str, object], file_path: str,
                     progress: OnProgress | None = None) -> Any:
        """
        ``POST path?query`` streaming the file at ``file_path``; reads the
        JSON-lines answer, calling ``progress(sent, total)``; the result.
        """
        from urllib.parse import urlencode

        with open(file_path, "rb") as f:
            response = await self._request(
                b"POST", path + "?" + urlencode({k: v for k, v in query.items()
                                                 if v is not None}),
                f, b"application/octet-stream")
            lines = _Lines(progress)
            response.deliverBody(lines)
            last = await lines.done
        if last is None:
            raise NodeAnswerError("{} ended the answer early (HTTP {})".format(
                self.where, response.code))
        return _answer(response.code, last)["result"]


    async def upload_for_file(self, path: str, query: Mapping[str, object],
                              file_path: str) -> tuple[Headers, bytes]:
        """
        ``POST path?query`` streaming the file at ``file_path``; fires with
        ``(headers, body)`` of a successful answer (NodeAnswerError otherwise).
        """
        from urllib.parse import urlencode

        with open(file_path, "rb") as f:
            response = await self._request(
                b"POST", path + "?" + urlencode({k: v for k, v in query.items()
                                                 if v is not None}),
                f, b"application/octet-stream")
            body = await readBody(response)
        if response.code >= 400:
            try:
                value = json.loads(body)
            except ValueError:
                value = None
            _answer(response.code, value)
        return response.headers, body


def _token(data_dir: str | None) -> str | None:
    from lethean.node import control_token_path

    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        return token.strip()
    try:
        with open(control_token_path(data_dir), encoding="ascii") as f:
            return f.read(1024).strip() or None
    except (OSError, UnicodeDecodeError):
        return None


async def find_node(reactor: IReactorTime, data_dir: str | None,
                    control: str | None = None) -> ControlClient | None:
    """
    A :class:`ControlClient` for the node running for ``data_dir``, or
    None when none runs.

    ``control`` (a client endpoint string such as ``tcp:127.0.0.1:9190``)
    names the API explicitly: then failing to reach it is an error.
    """
    from lethean.node import control_socket_path

    if control is None:
        path = control_socket_path(data_dir)
        if not os.path.exists(path):
            return None
        endpoint = UNIXClientEndpoint(reactor, path, timeout=PROBE_TIMEOUT_S)
        where, token = path, None
    else:
        endpoint = clientFromString(reactor, control)
        where, token = control, _token(data_dir)
    client = ControlClient(reactor, endpoint, token, where)
    try:
        client.node = await client.get("/api/node", timeout_s=PROBE_TIMEOUT_S)
    except defer.TimeoutError:
        pid = " (its pid is what {}.lock links to)".format(where) if control is None else ""
        raise NodeNotAnsweringError(
            "{} accepted a connection but gave no answer within {:g} s: its node seems hung; "
            "restart it{}".format(where, PROBE_TIMEOUT_S, pid)) from None
    except (error.ConnectError, OSError) as e:
        if control is None:
            return None
        raise NodeNotAnsweringError("cannot connect to {}: {}".format(where, e)) from None
    return client


class ThroughNode:
    """
    :class:`~lethean.node.NodeOperations`' remote operations, asked of a
    running node over its control API (same arguments, same answers).
    """

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def ping(self, target: str, timeout_s: float) -> defer.Deferred[Any]:
        return self.client.post("/api/ping", {"target": target, "timeout": timeout_s})

    def stats(self, target: str | None, every: bool, timeout_s: float) -> defer.Deferred[Any]:
        return self.client.post("/api/stats", {"target": target, "all": every,
                                               "timeout": timeout_s})

    def logs(self, target: str, miner: str, lines: int, timeout_s: float) -> defer.Deferred[Any]:
        return self.client.post("/api/logs", {"target": target, "miner": miner, "lines": lines,
                                              "timeout": timeout_s})

    def start_miner(self, target: str, miner_type: str, profile: str, config: object,
                    timeout_s: float) -> defer.Deferred[Any]:
        return self.client.post("/api/miner/start", {
            "target": target, "type": miner_type, "profile": profile, "config": config,
            "timeout": timeout_s})

    def stop_miner(self, target: str, name: str, timeout_s: float) -> defer.Deferred[Any]:
        return self.client.post("/api/miner/stop", {"target": target, "name": name,
                                                    "timeout": timeout_s})

    def deploy(self, target: str, path: str, kind: str, name: str | None,
               miner_file_name: str | None, progress: OnProgress | None,
               timeout_s: float) -> defer.Deferred[Any]:
        return defer.Deferred.fromCoroutine(self.client.upload(
            "/api/deploy", {"target": target, "kind": kind, "name": name,
                            "minerFileName": miner_file_name, "timeout": timeout_s},
            path, progress))
