"""The CLI's requests, carried out by a node through its own links and registry."""

import json
import os
import threading

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.cli._client import find_node
from lethean.cli._errors import NodeAnswerError
from lethean.identity import PrivateKey
from lethean.peers import PeerRegistry
from tests._node_control import Node, linked_nodes


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
