"""Who may ask the control API (the token), and what malformed requests get."""

import base64
import json
import os
import stat

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, UNIXClientEndpoint, connectProtocol
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from lethean.cli._client import ControlClient, find_node
from lethean.cli._errors import NodeAnswerError
from lethean.node._control import CONTROL_TOKEN_NAME
from lethean.node._control_site import MAX_UPLOAD_BYTES
from tests._node_control import Node, RawClient, raw_exchange
from tests._processes import short_folder


class AccessTests(TestCase):
    """A TCP control endpoint answers only with the token; refusals are logged once."""

    timeout = 60

    def setUp(self):
        self.node = Node(self, "alpha", control=["tcp:0:interface=127.0.0.1"])
        self.endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.node.tcp_port())

    def test_token_file_is_private(self):
        """control.token is written with mode 0600."""
        path = os.path.join(self.node.folder, CONTROL_TOKEN_NAME)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertGreaterEqual(len(self.node.token()), 32)

    async def test_missing_or_wrong_token_is_401_and_logged_once(self):
        """No token or a wrong one: 401 with a JSON error; twenty refusals, one log line."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        for attempt in range(20):
            client = ControlClient(reactor, self.endpoint, token="wrong" if attempt % 2 else None)
            with self.assertRaises(NodeAnswerError) as caught:
                await client.get("/api/status")
            self.assertIn("bearer token", caught.exception.line)
        refusals = [e for e in events if "refused" in e.get("log_format", "")
                    and "control" in e.get("log_format", "")]
        self.assertEqual(len(refusals), 1)
        status = await ControlClient(reactor, self.endpoint, self.node.token()).get("/api/status")
        self.assertEqual(status["control"]["unauthorized"], 20)

    async def test_bearer_and_basic_tokens_are_accepted(self):
        """The token as a bearer token, or as a browser's Basic password."""
        node = await ControlClient(reactor, self.endpoint, self.node.token()).get("/api/node")
        self.assertEqual(node["id"], self.node.id)
        basic = base64.b64encode(b"operator:" + self.node.token().encode()).decode()
        answer = await raw_exchange(self.endpoint, (
            "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n"
            .format(basic)).encode())
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
        self.assertIn(b"content-security-policy: default-src 'none'", answer.lower())

    async def test_cli_finds_a_tcp_endpoint_with_the_folder_token(self):
        """--control tcp:... reads the token from the data folder's control.token."""
        client = await find_node(reactor, self.node.folder,
                                 "tcp:127.0.0.1:{}".format(self.node.tcp_port()))
        self.assertEqual(client.node["id"], self.node.id)
        with self.assertRaises(NodeAnswerError):
            await find_node(reactor, short_folder(self),
                            "tcp:127.0.0.1:{}".format(self.node.tcp_port()))

    async def test_unauthorized_upload_is_refused_before_its_body(self):
        """A large upload without a token gets 401 at once, without its body being read."""
        answer = await raw_exchange(self.endpoint, (
            b"POST /api/deploy HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
            + b"x" * 1000))
        self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:200])
        self.assertIn(b'WWW-Authenticate: Basic realm="lethean node"', answer)


class BadInputTests(TestCase):
    """Malformed requests get a 4xx JSON error, never a traceback."""

    timeout = 60

    def setUp(self):
        self.node = Node(self, "alpha")
        self.endpoint = UNIXClientEndpoint(reactor, self.node.socket)

    async def exchange(self, method, path, body=b"", headers=b""):
        answer = await raw_exchange(self.endpoint, b"%s %s HTTP/1.1\r\nHost: node\r\n%s"
                                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (
                                        method, path, headers, len(body), body))
        head, _, rest = answer.partition(b"\r\n\r\n")
        self.assertNotIn(b"Traceback", answer)
        return int(head.split(b" ")[1]), rest

    async def test_malformed_requests(self):
        """Bad JSON, wrong shapes and types, unknown paths and methods: 400, 404, 405 with JSON."""
        cases = [
            (b"POST", b"/api/ping", b"{not json", 400, "invalid_request"),
            (b"POST", b"/api/ping", b"[1, 2]", 400, "invalid_request"),
            (b"POST", b"/api/ping", b"{}", 400, "invalid_request"),
            (b"POST", b"/api/ping", b'{"target": 7}', 400, "invalid_request"),
            (b"POST", b"/api/ping", b'{"target": "x:1", "timeout": -1}', 400,
             "invalid_request"),
            (b"POST", b"/api/ping", b'{"target": "x:1", "timeout": 1e308}', 400,
             "invalid_request"),
            (b"POST", b"/api/logs", b'{"target": "x:1", "miner": "m", "lines": "many"}', 400,
             "invalid_request"),
            (b"POST", b"/api/stats", b"\xff\xfe", 400, "invalid_request"),
            (b"POST", b"/api/stats", b"[" * 5000 + b"]" * 5000, 400, "invalid_request"),
            (b"POST", b"/api/peers/add", b'{"address": "h:1", "publicKey": "nope"}', 400,
             "invalid_request"),
            (b"POST", b"/api/peers/remove", b'{"id": "0123"}', 404, "peer_not_found"),
            (b"POST", b"/api/peers/auth", b'{"mode": "closed"}', 400, "invalid_request"),
            (b"POST", b"/api/deploy?kind=other&target=x:1", b"data", 400, "invalid_request"),
            (b"GET", b"/api/nothing", b"", 404, "not_found"),
            (b"GET", b"/api/status/extra", b"", 404, "not_found"),
            (b"GET", b"/api/ping", b"", 405, "method_not_allowed"),
            (b"DELETE", b"/api/status", b"", 405, "method_not_allowed"),
        ]
        for method, path, body, code, kind in cases:
            status, answer = await self.exchange(method, path, body)
            document = json.loads(answer)
            self.assertEqual((status, document["error"]["kind"]), (code, kind), (path, body))
            self.assertTrue(document["error"]["message"])

    async def test_json_sent_as_a_form_is_read_as_json(self):
        """curl -d sends JSON as a form: it is read as the JSON it is, never parsed as a form."""
        status, answer = await self.exchange(
            b"POST", b"/api/peers/auth", b'{"mode": "allowlist"}',
            b"Content-Type: application/x-www-form-urlencoded\r\n")
        self.assertEqual((status, json.loads(answer)), (200, {"auth": "allowlist"}))

    async def test_a_body_over_the_limit_is_refused_at_its_headers(self):
        """A declared body over the upload limit: 413 before a byte of it is stored."""
        answer = await raw_exchange(self.endpoint, (
            b"POST /api/deploy HTTP/1.1\r\nHost: node\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\n\r\n" % (MAX_UPLOAD_BYTES + 1)))
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        self.assertNotIn(b"100 Continue", answer)

    async def test_a_vanished_client_does_not_block_the_node(self):
        """A client that leaves mid-request is forgotten; the node keeps answering."""
        connected = await connectProtocol(self.endpoint, RawClient(
            b'POST /api/ping HTTP/1.1\r\nHost: node\r\nContent-Length: 40\r\n\r\n{"target": '))
        connected.transport.abortConnection()
        await connected.done
        node = await self.node.client().get("/api/node")
        self.assertEqual(node["id"], self.node.id)
