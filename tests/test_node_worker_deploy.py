"""The worker's deploys: profiles and miners, whole or chunked, and their refusals."""

import os
import stat

from lethean.bundles import (
    Bundle,
    create_miner_bundle,
    create_plain_profile_bundle,
    create_profile_bundle,
)
from lethean.node._payloads import DEPLOY_CHUNK, DeployChunkPayload
from lethean.node._upload import MAX_UPLOADS_PER_PEER
from lethean.smsg import frame_password
from tests._node_worker import WorkerHarness, make_identity


class DeployTests(WorkerHarness):
    """deploy and deploy_chunk."""

    def password(self):
        return frame_password(self.link.bundle_secret)

    def test_bundles_keyed_from_the_session(self):
        """
        Between lethean peers bundles are keyed from the v2 session; one made
        ahead of time with the static pair secret still opens; nothing else does.
        """
        self.assertEqual(self.link.session, "v2")
        self.assertNotEqual(self.link.bundle_secret, self.link.shared_secret)
        for name, password in (("session", self.password()),
                               ("static", frame_password(self.link.shared_secret))):
            bundle = create_profile_bundle(b'{"name":"gpu"}', name, password)
            self.assertReply("deploy", bundle.to_deploy_payload(), "deploy_ack",
                             {"success": True, "name": name})
        other = make_identity("charlie").shared_secret(self.server.identity.identity.public_key)
        wrong = create_profile_bundle(b'{"name":"gpu"}', "other", frame_password(other))
        self.assertEqual(self.ask("deploy", wrong.to_deploy_payload()).type, "error")
        self.assertEqual(len(self.profiles.saved), 2)

    def test_v1_bundles_keyed_from_the_static_secret(self):
        """With a Go peer (a v1 link) the bundle secret is the reference's, the static one."""
        go = self.mesh.add_node(make_identity("go"), features=frozenset())
        link = self.successResultOf(go.connect(self.server.address))
        self.assertEqual((link.session, link.bundle_secret), ("v1", link.shared_secret))

    def test_encrypted_profile(self):
        """An encrypted profile bundle is decrypted with the pair's secret and saved."""
        bundle = create_profile_bundle(b'{"name":"gpu","threads":8}', "gpu", self.password())
        self.assertReply("deploy", bundle.to_deploy_payload(), "deploy_ack",
                         {"success": True, "name": "gpu"})
        self.assertEqual(self.profiles.saved, [{"name": "gpu", "threads": 8}])

    def test_profile_failures(self):
        """Wrong key, plaintext, bad JSON and save failures answer as the reference."""
        wrong = create_profile_bundle(b'{"a":1}', "gpu", "not the secret")
        reply = self.ask("deploy", wrong.to_deploy_payload())
        self.assertTrue(reply.payload["message"].startswith(
            "Worker.handleDeploy: failed to extract profile bundle: ExtractProfileBundle: "))
        plain = create_plain_profile_bundle(b'{"a":1}', "plain")
        self.assertEqual(self.ask("deploy", plain.to_deploy_payload()).type, "error")
        self.replace_worker(allow_plain_profiles=True)
        self.assertEqual(self.ask("deploy", plain.to_deploy_payload()).payload,
                         {"success": True, "name": "plain"})
        broken = Bundle.seal("profile", "bad", b'{"a":')
        self.assertTrue(self.ask("deploy", broken.to_deploy_payload()).payload["message"]
                        .startswith("Worker.handleDeploy: invalid profile data JSON: "))
        self.profiles.save_error = "read-only"
        self.assertReply("deploy", plain.to_deploy_payload(), "deploy_ack",
                         {"success": False, "name": "plain", "error": "read-only"})
        self.replace_worker(profile_manager=None)
        self.assertError("deploy", plain.to_deploy_payload(),
                         "Worker.handleDeploy: profile manager not configured")

    def test_unknown_type(self):
        """An unknown bundle type is an error reply naming it."""
        self.assertError("deploy", {"type": "firmware", "data": "", "checksum": "", "name": "x"},
                         "Worker.handleDeploy: unknown bundle type: firmware")

    def test_miner_bundle(self):
        """A miner bundle is installed executable and its profile saved."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF" + bytes(100), "xmrig-6.21",
                                     self.password(), profile_json=b'{"name":"bundled"}')
        self.assertReply("deploy", bundle.to_deploy_payload(), "deploy_ack",
                         {"success": True, "name": "xmrig-6.21"})
        path = os.path.join(self.miners_root, "xmrig-6.21", "xmrig")
        self.assertTrue(stat.S_IMODE(os.stat(path).st_mode) & stat.S_IXUSR)
        self.assertEqual(self.profiles.saved, [{"name": "bundled"}])

    def test_miner_bundle_without_profile(self):
        """The default TIM config is not saved as a profile (weakness 7)."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF", "bare", self.password())
        self.assertEqual(self.ask("deploy", bundle.to_deploy_payload()).payload["success"], True)
        self.assertEqual(self.profiles.saved, [])

    def test_miner_bundle_name_traversal(self):
        """A name that would leave the miners folder is refused."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF", "ok", self.password())
        payload = dict(bundle.to_deploy_payload(), name="../../etc")
        reply = self.ask("deploy", payload)
        self.assertTrue(reply.payload["message"].startswith(
            "Worker.handleDeploy: failed to extract miner bundle: ExtractMinerBundle: "))
        self.assertFalse(os.path.exists(os.path.join(self.miners_root, "..", "..", "etc")))

    def chunks(self, bundle, size, upload_id="u1"):
        data = bundle.data
        total = -(-len(data) // size)
        return [DeployChunkPayload(upload_id, i, total, len(data), bundle.type, bundle.name,
                                   bundle.checksum, data[i * size:(i + 1) * size])
                for i in range(total)]

    def test_chunked_deploy(self):
        """Chunks are acknowledged one by one; the last one answers deploy_ack."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        parts = self.chunks(bundle, 1000)
        for part in parts[:-1]:
            self.assertReply(DEPLOY_CHUNK, part, "deploy_chunk_ack",
                             {"uploadId": "u1", "index": part.index})
        self.assertReply(DEPLOY_CHUNK, parts[-1], "deploy_ack", {"success": True, "name": "big"})
        self.assertTrue(os.path.exists(os.path.join(self.miners_root, "big", "xmrig")))
        self.assertEqual(len(self.worker._uploads), 0)

    def test_chunk_refusals(self):
        """Out-of-order, oversized, mismatched and excess uploads are refused and dropped."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        parts = self.chunks(bundle, 1000)
        self.assertEqual(self.ask(DEPLOY_CHUNK, parts[1]).type, "error")
        self.ask(DEPLOY_CHUNK, parts[0])
        self.assertEqual(self.ask(DEPLOY_CHUNK, parts[2]).type, "error")
        self.assertEqual(len(self.worker._uploads), 0)
        self.replace_worker(max_upload_bytes=100)
        self.assertIn("over the 100 byte limit", self.ask(DEPLOY_CHUNK, parts[0]).payload["message"])
        self.replace_worker()
        for n in range(MAX_UPLOADS_PER_PEER):
            self.assertEqual(self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, str(n))[0]).type,
                             "deploy_chunk_ack")
        self.assertIn("too many uploads",
                      self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, "x")[0]).payload["message"])

    def test_node_wide_upload_budget(self):
        """Uploads from all peers together may not declare more than the node's budget."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        size = len(bundle.data)
        self.replace_worker(max_upload_total_bytes=size + size // 2)
        self.assertEqual(self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, "a")[0]).type,
                         "deploy_chunk_ack")
        self.assertIn("at the node's {} byte limit".format(size + size // 2),
                      self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000, "b")[0]).payload["message"])

    def test_idle_upload_expires(self):
        """An upload with no new chunk for the idle timeout is forgotten."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        parts = self.chunks(bundle, 1000)
        self.ask(DEPLOY_CHUNK, parts[0])
        self.clock.advance(59)
        self.ask(DEPLOY_CHUNK, parts[1])
        self.clock.advance(59)
        self.assertEqual(len(self.worker._uploads), 1)
        self.clock.advance(2)
        self.assertEqual(len(self.worker._uploads), 0)
        self.assertEqual(self.ask(DEPLOY_CHUNK, parts[2]).type, "error")

    def test_connection_lost_drops_uploads(self):
        """Closing the link forgets its uploads and their timers."""
        bundle = create_miner_bundle("xmrig", os.urandom(3000), "big", self.password())
        self.ask(DEPLOY_CHUNK, self.chunks(bundle, 1000)[0])
        self.link.close()
        self.assertEqual(len(self.worker._uploads), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DirectoryProfileTests(WorkerHarness):
    """The worker with lethean's DirectoryProfileManager."""

    def test_deployed_profile_starts_a_miner(self):
        """A deployed profile is stored, then used by start_miner's profileId."""
        from lethean.node._profiles import DirectoryProfileManager
        self.replace_worker(profile_manager=DirectoryProfileManager(self.mktemp()))
        profile = b'{"id":"gpu","pools":[{"url":"pool.example:3333"}],"threads":8}'
        bundle = create_profile_bundle(profile, "gpu", frame_password(self.link.shared_secret))
        self.assertEqual(self.ask("deploy", bundle.to_deploy_payload()).payload,
                         {"success": True, "name": "gpu"})
        self.assertReply("start_miner", {"minerType": "xmrig", "profileId": "gpu"}, "miner_ack",
                         {"success": True, "minerName": "xmrig-0"})
        self.assertEqual(self.miners.started, [("xmrig", {
            "id": "gpu", "pools": [{"url": "pool.example:3333"}], "threads": 8})])
        self.assertError("start_miner", {"minerType": "xmrig", "profileId": "../x"},
                         "Worker.handleStartMiner: profile not found: ../x")
