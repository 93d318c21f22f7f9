"""The node's control API over real sockets: status, metrics, the socket, and the page."""

import json
import os
import socket
import stat

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.cli._client import find_node
from lethean.node._control import unix_endpoint
from lethean.node._page import render_page
from tests._node_control import Node, linked_nodes, raw_exchange
from tests._processes import short_folder


def documented_counters():
    """The counter names docs/transport.md lists (without the ``name:<kind>`` families)."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "transport.md").read_text()
    section = page.split("## Bad input, limits and counters", 1)[1].split("Every limit", 1)[0]
    table = re.findall(r"^\| `((?:refused|dropped)_[a-z_]+)` \|", section, re.M)
    others = section.split("Other counters:", 1)[1].split("`transport.pending`", 1)[0]
    return table + [name for name in re.findall(r"`([a-z_0-9:<>]+)`", others) if ":" not in name]


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
