"""The node's control API over real sockets: status, metrics, access, bad input, operations."""

import base64
import json
import os
import socket
import stat
import threading

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, UNIXClientEndpoint, connectProtocol
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.cli._client import ControlClient, find_node
from lethean.cli._errors import NodeAnswerError
from lethean.identity import NodeManager, PrivateKey
from lethean.node._control import CONTROL_TOKEN_NAME
from lethean.node._assembly import assemble_node
from lethean.node._control import unix_endpoint
from lethean.node._control_site import MAX_UPLOAD_BYTES
from lethean.node._page import render_page
from lethean.peers import PeerRegistry
from tests._processes import short_folder


class Node:
    """One in-process node as twistd assembles it, on loopback."""

    def __init__(self, test, name, control=None, role="dual", folder=None):
        self.folder = folder or os.path.join(short_folder(test), name)
        identity = NodeManager.in_directory(self.folder).load_or_create(name=name, role=role)
        self.registry = PeerRegistry(reactor, os.path.join(self.folder, "peers.json"))
        self.socket = os.path.join(self.folder, "control.sock")
        if control is None:
            control = [unix_endpoint(self.socket)]
        options = {"listen": "tcp:0:interface=127.0.0.1", "data-dir": self.folder, "peer": [],
                   "control": control}
        self.service = assemble_node(reactor, identity, self.registry, options)
        self.service.startService()
        test.addCleanup(lambda: self.service.stopService() if self.service.running else None)
        self.transport = self.service.getServiceNamed("transport")
        self.control = self.service.getServiceNamed("control")
        self.app = self.service.getServiceNamed("application")
        self.id = identity.id
        self.address = "127.0.0.1:{}".format(self.transport.port.getHost().port)

    def client(self):
        """A control API client over the node's unix socket."""
        return ControlClient(reactor, UNIXClientEndpoint(reactor, self.socket), where=self.socket)

    def tcp_port(self):
        [port] = [port for _, port in self.control.ports if hasattr(port.getHost(), "port")]
        return port.getHost().port

    def token(self):
        with open(os.path.join(self.folder, CONTROL_TOKEN_NAME)) as f:
            return f.read().strip()


async def linked_nodes(test, **alpha_options):
    """alpha, bravo and charlie, with alpha linked to the other two."""
    alpha = Node(test, "alpha", **alpha_options)
    bravo = Node(test, "bravo", role="worker")
    charlie = Node(test, "charlie", role="worker")
    for worker in (bravo, charlie):
        await alpha.transport.connect(worker.address)
    # One round trip each, so every link has carried sealed frames both ways.
    for worker in (bravo, charlie):
        await alpha.app.controller.ping_peer(worker.id)
    return alpha, bravo, charlie


def documented_counters():
    """The counter names docs/transport.md lists (without the ``name:<kind>`` families)."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "transport.md").read_text()
    section = page.split("## Bad input, limits and counters", 1)[1].split("Every limit", 1)[0]
    table = re.findall(r"^\| `((?:refused|dropped)_[a-z_]+)` \|", section, re.M)
    others = section.split("Other counters:", 1)[1].split("`transport.pending`", 1)[0]
    return table + [name for name in re.findall(r"`([a-z_0-9:<>]+)`", others) if ":" not in name]


class _Raw(protocol.Protocol):
    """Sends raw bytes, collects the answer until the connection closes."""

    def __init__(self, data):
        self.data = data
        self.received = b""
        self.done = defer.Deferred()

    def connectionMade(self):
        self.transport.write(self.data)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.done.callback(self.received)


async def raw_exchange(endpoint, data):
    """Write ``data`` on a new connection to ``endpoint``; the whole answer."""
    raw = _Raw(data)
    await connectProtocol(endpoint, raw)
    return await raw.done


class StatusTests(TestCase):
    """GET /api/status and /metrics over the unix socket, with linked peers."""

    timeout = 60

    async def test_status_shows_linked_peers_and_counters(self):
        """Both peers, with names, directions, figures; the counters and traffic of the links."""
        alpha, bravo, charlie = await linked_nodes(self)
        status = await alpha.client().get("/api/status")
        node = status["node"]
        self.assertEqual((node["id"], node["name"], node["role"], node["auth"], node["tls"]),
                         (alpha.id, "alpha", "dual", "open", False))
        self.assertEqual(node["listen"]["urls"], ["ws://{}/ws".format(alpha.address)])
        self.assertEqual(node["control"], ["unix:" + alpha.socket])
        peers = {p["id"]: p for p in status["peers"]}
        self.assertEqual(set(peers), {bravo.id, charlie.id})
        for worker in (bravo, charlie):
            peer = peers[worker.id]
            self.assertEqual((peer["name"], peer["address"], peer["direction"], peer["role"]),
                             (worker.transport.identity.identity.name, worker.address,
                              "outbound", "worker"))
            self.assertGreaterEqual(peer["framesIn"], 1)
            self.assertGreaterEqual(peer["framesOut"], 1)
            self.assertGreater(peer["bytesOut"], 0)
            self.assertEqual(peer["score"], 51.0)
            self.assertTrue(peer["connectedAt"].endswith("Z"))
        self.assertEqual(status["counters"]["connections_opened"], 2)
        self.assertEqual(status["traffic"]["framesIn"],
                         sum(p["framesIn"] for p in status["peers"]))
        self.assertEqual(status["miners"], [])
        inbound = (await bravo.client().get("/api/status"))["peers"]
        self.assertEqual([(p["id"], p["direction"], p["session"]) for p in inbound],
                         [(alpha.id, "inbound", "v2")])

    async def test_metrics_parse_with_prometheus_parser(self):
        """/metrics parses; peers, frames and counters are there with their labels."""
        alpha, bravo, charlie = await linked_nodes(self)
        status = await alpha.client().get("/api/status")
        client = alpha.client()
        response = await client._request(b"GET", "/metrics")
        self.assertEqual(response.code, 200)
        from twisted.web.client import readBody
        text = (await readBody(response)).decode("utf-8")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        connected = {s.labels["direction"]: s.value
                     for s in families["lethean_peers_connected"].samples}
        self.assertEqual(connected, {"inbound": 0.0, "outbound": 2.0})
        sessions = {s.labels["session"]: s.value
                    for s in families["lethean_peers_by_session"].samples}
        self.assertEqual(sessions, {"v1": 0.0, "v2": 2.0})
        frames = {s.labels["direction"]: s.value for s in families["lethean_frames"].samples
                  if s.name == "lethean_frames_total"}
        self.assertGreaterEqual(frames["in"], status["traffic"]["framesIn"])
        events = {s.labels["event"]: s.value for s in families["lethean_mesh_events"].samples
                  if s.name == "lethean_mesh_events_total"}
        self.assertEqual(events["connections_opened"], 2.0)
        [info] = families["lethean_node_info"].samples
        self.assertEqual((info.labels["node_id"], info.labels["name"]), (alpha.id, "alpha"))
        self.assertIn("lethean_refusals", families)

    async def test_every_documented_counter_is_published_at_zero_from_start(self):
        """Before any event, /api/status and /metrics show every counter docs/transport.md lists, at 0."""
        alpha = Node(self, "alpha")
        names = documented_counters()
        self.assertIn("refused_self", names)
        from lethean.mesh import COUNTER_NAMES
        self.assertEqual(sorted(names), sorted(COUNTER_NAMES), "docs/transport.md and the code")
        counters = (await alpha.client().get("/api/status"))["counters"]
        self.assertEqual({name: counters.get(name) for name in names}, dict.fromkeys(names, 0))

        response = await alpha.client()._request(b"GET", "/metrics")
        from twisted.web.client import readBody
        text = (await readBody(response)).decode("utf-8")
        published = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    label = sample.labels.get("reason") or sample.labels.get("event")
                    published[(sample.name, label)] = sample.value
        for name in names:
            if name.startswith("refused_"):
                key = ("lethean_refusals_total", name[len("refused_"):])
            elif name.startswith("dropped_"):
                key = ("lethean_drops_total", name[len("dropped_"):])
            else:
                key = ("lethean_mesh_events_total", name)
            self.assertEqual(published.get(key), 0.0, key)

    async def test_frames_of_closed_links_stay_counted(self):
        """A link that closes keeps its frames in the totals (the counters only grow)."""
        alpha, bravo, charlie = await linked_nodes(self)
        before = (await alpha.client().get("/api/status"))["traffic"]
        lost = alpha.transport.connection(bravo.id).when_lost()
        alpha.transport.connection(bravo.id).close()
        await lost
        after = await alpha.client().get("/api/status")
        self.assertEqual([p["id"] for p in after["peers"]], [charlie.id])
        self.assertGreaterEqual(after["traffic"]["framesOut"], before["framesOut"])
        self.assertGreaterEqual(after["traffic"]["bytesIn"], before["bytesIn"])

    async def test_socket_is_private_and_curl_path_works(self):
        """control.sock is mode 0600; GET /api/node answers on it (what curl --unix-socket does)."""
        alpha = Node(self, "alpha")
        self.assertEqual(stat.S_IMODE(os.stat(alpha.socket).st_mode), 0o600)
        answer = await raw_exchange(
            UNIXClientEndpoint(reactor, alpha.socket),
            b"GET /api/status HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(json.loads(body)["node"]["id"], alpha.id)

    async def test_stale_socket_is_replaced_and_not_mistaken_for_a_node(self):
        """A socket file nobody listens on means no node runs; a new node takes its place."""
        folder = os.path.join(short_folder(self), "alpha")
        os.makedirs(folder)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(os.path.join(folder, "control.sock"))
        stale.close()
        self.assertIsNone(await find_node(reactor, folder))
        # The lock of a process that is gone: the new node cleans up after it.
        os.symlink("999999999", os.path.join(folder, "control.sock.lock"))
        node = Node(self, "fresh", folder=folder)
        client = await find_node(reactor, folder)
        self.assertEqual(client.node["id"], node.id)

    async def test_the_socket_folder_is_made(self):
        """A control socket in a folder that does not exist yet: the folder is made, 0700."""
        path = os.path.join(short_folder(self), "run", "control.sock")
        node = Node(self, "alpha", control=[unix_endpoint(path)])
        node.socket = path
        self.assertEqual((await node.client().get("/api/node"))["id"], node.id)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)

    async def test_a_second_node_never_takes_a_live_socket(self):
        """A second node for the same folder logs why it has no control API; the first keeps it."""
        first = Node(self, "alpha")
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        Node(self, "alpha", folder=first.folder)
        client = await find_node(reactor, first.folder)
        self.assertEqual(client.node["id"], first.id)
        [error] = [e for e in events if "control API not started" in e.get("log_format", "")]
        self.assertIn("one node per data folder", error["reason"])


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
        connected = await connectProtocol(self.endpoint, _Raw(
            b'POST /api/ping HTTP/1.1\r\nHost: node\r\nContent-Length: 40\r\n\r\n{"target": '))
        connected.transport.abortConnection()
        await connected.done
        node = await self.node.client().get("/api/node")
        self.assertEqual(node["id"], self.node.id)


class OperationsTests(TestCase):
    """The CLI's requests, carried out by the node through its own links and registry."""

    timeout = 60

    async def test_ping_stats_and_self(self):
        """ping and stats of a linked peer by id; dialling the node itself is refused and not registered."""
        alpha, bravo, charlie = await linked_nodes(self)
        client = alpha.client()
        pong = await client.post("/api/ping", {"target": bravo.id})
        self.assertEqual(pong["peerId"], bravo.id)
        stats = await client.post("/api/stats", {"all": True})
        self.assertEqual(set(stats["stats"]), {bravo.id, charlie.id})
        self.assertEqual(stats["failed"], {})
        with self.assertRaises(NodeAnswerError) as caught:
            await client.post("/api/ping", {"target": alpha.address})
        self.assertIn("this node itself", caught.exception.line)
        self.assertIsNone(alpha.registry.get_peer(alpha.id))

    async def test_registry_edits_apply_live_and_are_saved(self):
        """peers add/allow/auth through the node change its live registry and reach peers.json."""
        alpha = Node(self, "alpha")
        client = alpha.client()
        key = PrivateKey.generate()
        added = await client.post("/api/peers/add", {"address": "10.0.0.2:9091",
                                                     "publicKey": key.public_key_b64,
                                                     "name": "zed"})
        self.assertEqual((added["id"], added["name"], added["connected"]),
                         (key.node_id, "zed", False))
        self.assertEqual(alpha.registry.get_peer(key.node_id).name, "zed")
        other = PrivateKey.generate().public_key_b64
        await client.post("/api/peers/allow", {"publicKey": other})
        self.assertEqual(await client.post("/api/peers/auth", {"mode": "allowlist"}),
                         {"auth": "allowlist"})
        self.assertTrue(alpha.registry.is_public_key_allowed(other))
        listed = await client.get("/api/peers")
        self.assertEqual([p["id"] for p in listed], [key.node_id])
        await alpha.service.stopService()
        saved = PeerRegistry(reactor, os.path.join(alpha.folder, "peers.json"))
        self.assertEqual(saved.get_peer(key.node_id).name, "zed")
        self.assertEqual(str(saved.auth_mode), "allowlist")
        self.assertIsNone(await find_node(reactor, alpha.folder))

    async def test_deploy_streams_progress_and_installs(self):
        """A profile uploaded to alpha is bundled there, sealed for bravo's link and saved by bravo."""
        alpha, bravo, charlie = await linked_nodes(self)
        profile = os.path.join(alpha.folder, "gpu.json")
        with open(profile, "w") as f:
            json.dump({"id": "gpu", "threads": 2}, f)
        progress = []
        result = await alpha.client().upload(
            "/api/deploy", {"target": bravo.id, "kind": "profile", "name": "gpu"}, profile,
            lambda sent, total: progress.append((sent, total)))
        self.assertEqual((result["peerId"], result["name"], result["success"]),
                         (bravo.id, "gpu", True))
        self.assertEqual(progress[-1][0], progress[-1][1])
        self.assertEqual(bravo.app.worker.profile_manager.get_profile("gpu"),
                         {"id": "gpu", "threads": 2})

    async def test_bundle_for_a_peer_is_made_off_the_reactor_thread(self):
        """/api/bundle seals the profile and writes the bundle's JSON in the thread pool; it deploys."""
        from lethean.bundles import _bundle, _create

        alpha, bravo, charlie = await linked_nodes(self)
        profile = os.path.join(alpha.folder, "gpu.json")
        with open(profile, "w") as f:
            json.dump({"id": "gpu", "threads": 2}, f)
        threads = {}

        def spy(what, function):
            def spied(*args, **kwargs):
                threads.setdefault(what, []).append(threading.get_ident())
                return function(*args, **kwargs)
            return spied
        self.patch(_create, "seal_stim", spy("seal", _create.seal_stim))
        self.patch(_bundle, "write_bundle", spy("json", _bundle.write_bundle))
        headers, body = await alpha.client().upload_for_file(
            "/api/bundle", {"target": bravo.id, "kind": "profile", "name": "gpu"}, profile)
        self.assertEqual(sorted(threads), ["json", "seal"])
        self.assertNotIn(threading.get_ident(), threads["seal"] + threads["json"])
        self.assertEqual(headers.getRawHeaders(b"x-lethean-peer-id"), [bravo.id.encode()])
        path = os.path.join(alpha.folder, "gpu.bundle")
        with open(path, "wb") as f:
            f.write(body)
        result = await alpha.client().upload("/api/deploy", {"target": bravo.id}, path)
        self.assertEqual((result["name"], result["success"]), ("gpu", True))
        self.assertEqual(bravo.app.worker.profile_manager.get_profile("gpu"),
                         {"id": "gpu", "threads": 2})

    async def test_deploy_errors_arrive_as_json(self):
        """A deploy that fails at the peer ends its answer with the error."""
        alpha, bravo, charlie = await linked_nodes(self)
        path = os.path.join(alpha.folder, "not-a-bundle")
        with open(path, "wb") as f:
            f.write(b"this is no bundle")
        with self.assertRaises(NodeAnswerError) as caught:
            await alpha.client().upload("/api/deploy", {"target": bravo.id}, path)
        self.assertEqual(caught.exception.exit_code, 1)
        self.assertTrue(caught.exception.line)


class StartupTests(TestCase):
    """One start-up line says where the node listens, who may connect, and its control API."""

    def test_startup_line(self):
        """The line names the mesh URL, auth mode, allowlist size and control endpoint."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        node = Node(self, "alpha")
        [line] = [e for e in events if "is up" in e.get("log_format", "")]
        self.assertEqual((line["listen"], line["auth"], line["allowlisted"], line["control"]),
                         ("ws://{}/ws".format(node.address), "open", 0,
                          "unix:" + node.socket))


class OptionTests(SynchronousTestCase):
    """--control of twistd lethean-node."""

    def parse(self, *argv):
        from lethean.node.tap import Options

        options = Options()
        options.parseOptions(["--data-dir", "/srv/node", *argv])
        return options["control"]

    def test_default_is_the_data_folder_socket(self):
        """Without --control: a 0600 socket with a lock file in the data folder."""
        self.assertEqual(self.parse(), ["unix:/srv/node/control.sock:mode=600:lockfile=1"])

    def test_repeatable_and_none(self):
        """--control is repeatable and replaces the default; 'none' alone turns it off."""
        self.assertEqual(self.parse("--control", "tcp:9190", "--control", "unix:/run/c.sock"),
                         ["tcp:9190", "unix:/run/c.sock"])
        self.assertEqual(self.parse("--control", "none"), [])
        from twisted.python.usage import UsageError
        with self.assertRaises(UsageError):
            self.parse("--control", "none", "--control", "tcp:9190")
        with self.assertRaises(UsageError):
            self.parse("--control", "9190")


class PageTests(SynchronousTestCase):
    """The page escapes what peers control."""

    def test_peer_strings_are_escaped(self):
        """Names, addresses and counter names with markup appear as text, never as markup."""
        hostile = '<script>alert(1)</script>"&'
        status = {
            "node": {"id": "a" * 32, "name": hostile, "role": "dual", "publicKey": "k",
                     "version": "1", "startedAt": "t", "uptimeS": 1,
                     "listen": {"endpoint": "tcp:0", "urls": []}, "tls": False,
                     "auth": "open", "allowlisted": 0, "registeredPeers": 1, "control": []},
            "peers": [{"id": "b" * 32, "name": hostile, "address": hostile,
                       "direction": "inbound", "connectedAt": "t", "rttMs": None,
                       "score": 50.0, "framesIn": 1, "framesOut": 1, "bytesIn": 1,
                       "bytesOut": 1, "lastActivity": "t"}],
            "traffic": {"framesIn": 1, "framesOut": 1, "bytesIn": 1, "bytesOut": 1},
            "counters": {hostile: 3},
            "control": {"unauthorized": 0},
            "miners": [{"name": hostile, "type": hostile, "pool": hostile}],
        }
        page = render_page(status).decode("utf-8")
        self.assertNotIn("<script>", page)
        # Title, heading, peer name and address, counter, miner name, type and pool.
        self.assertEqual(page.count("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;"), 8)
