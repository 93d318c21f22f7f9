"""The controller's deploys: whole bundles, chunked ones in a bounded window, and Go workers."""

import os

from lethean.bundles import create_miner_bundle, create_profile_bundle
from lethean.mesh import reply
from lethean.node._controller import SINGLE_DEPLOY_MAX_BYTES
from lethean.node._deploy_chunks import DEPLOY_CHUNK_BYTES, DEPLOY_WINDOW
from lethean.node._errors import (
    ControllerError,
    DeployTooLargeError,
    RemoteError,
    RequestTimeoutError,
)
from lethean.node._payloads import DeployChunkAckPayload
from lethean.smsg import frame_password
from tests._node_controller import ControllerHarness, Silent
from tests._node_worker import make_identity


class DeployTests(ControllerHarness):
    """deploy_bundle."""

    def turns(self, d=None, count=100):
        """Run reactor turns (chunks go one per turn) until ``d`` fires."""
        for _ in range(count):
            if d is not None and d.called:
                break
            self.clock.advance(0)
        return d

    def password(self):
        connection = self.successResultOf(self.controller.connect_to_peer(self.far_id))
        return frame_password(connection.bundle_secret)

    def test_encrypted_profile(self):
        """An encrypted profile reaches the worker's profile manager."""
        bundle = create_profile_bundle(b'{"name":"gpu"}', "gpu", self.password())
        ack = self.successResultOf(self.controller.deploy_bundle(self.far_id, bundle))
        self.assertEqual((ack.success, ack.name), (True, "gpu"))
        self.assertEqual(self.profiles.saved, [{"name": "gpu"}])
        self.assertEqual([m.type for m in self.far.received], ["deploy"])

    def test_failed_ack(self):
        """deploy_ack with success false fails the deploy."""
        self.profiles.save_error = "disk full"
        bundle = create_profile_bundle(b'{"name":"gpu"}', "gpu", self.password())
        failure = self.failureResultOf(self.controller.deploy_bundle(self.far_id, bundle),
                                       ControllerError)
        self.assertEqual(str(failure.value), "deploy failed: disk full")

    def test_large_miner_is_chunked(self):
        """A bundle over one frame goes as deploy_chunk parts and installs."""
        binary = os.urandom(SINGLE_DEPLOY_MAX_BYTES + 400_000)
        bundle = create_miner_bundle("xmrig", binary, "huge", self.password())
        ack = self.successResultOf(self.turns(self.controller.deploy_bundle(self.far_id, bundle)))
        self.assertTrue(ack.success)
        with open(os.path.join(self.miners_root, "huge", "xmrig"), "rb") as f:
            self.assertEqual(f.read(), binary)
        chunks = -(-len(bundle.data) // DEPLOY_CHUNK_BYTES)
        self.assertGreater(chunks, 1)
        self.assertEqual([m.type for m in self.far.received], ["deploy_chunk"] * chunks)
        self.assertEqual([m.payload["index"] for m in self.far.received], list(range(chunks)))

    def test_chunks_in_flight_are_bounded(self):
        """At most DEPLOY_WINDOW chunks await their acks; each ack lets the next one go."""
        self.far.remove_consumer(self.worker)
        silent = Silent()
        self.far.add_consumer(silent)
        binary = os.urandom(DEPLOY_CHUNK_BYTES * (DEPLOY_WINDOW + 2))
        bundle = create_miner_bundle("xmrig", binary, "huge", self.password())
        d = self.controller.deploy_bundle(self.far_id, bundle, timeout_s=30)
        # The first chunk goes at once, the others in later reactor turns.
        self.assertEqual([m.payload["index"] for m in silent.received], [0])
        self.turns()
        self.assertEqual([m.payload["index"] for m in silent.received],
                         list(range(DEPLOY_WINDOW)))
        first = silent.received[0]
        self.far.connection(self.home.identity.id).send(reply(
            first, "deploy_chunk_ack",
            DeployChunkAckPayload(upload_id=first.payload["uploadId"], index=0),
            clock=self.clock))
        self.turns()
        self.assertEqual([m.payload["index"] for m in silent.received],
                         list(range(DEPLOY_WINDOW + 1)))
        self.assertNoResult(d)
        self.clock.advance(30)
        self.failureResultOf(d, RequestTimeoutError)
        self.assertNoRequestTimers()

    def test_chunk_refused_mid_window(self):
        """A refused chunk fails the deploy and abandons the chunks still in flight."""
        self.worker.max_upload_bytes = DEPLOY_CHUNK_BYTES  # the first chunk is refused
        bundle = create_miner_bundle("xmrig", os.urandom(DEPLOY_CHUNK_BYTES * (DEPLOY_WINDOW + 2)),
                                     "huge", self.password())
        failure = self.failureResultOf(
            self.turns(self.controller.deploy_bundle(self.far_id, bundle)), RemoteError)
        self.assertIn("over the", failure.value.message)
        self.assertNoRequestTimers()

    def test_deploy_progress(self):
        """progress hears the start, each acknowledged chunk, and the end."""
        binary = os.urandom(SINGLE_DEPLOY_MAX_BYTES + 400_000)
        bundle = create_miner_bundle("xmrig", binary, "huge", self.password())
        seen = []
        self.successResultOf(self.turns(self.controller.deploy_bundle(
            self.far_id, bundle, progress=lambda sent, total: seen.append((sent, total)))))
        total = len(bundle.data)
        self.assertEqual(seen[0], (0, total))
        self.assertEqual(seen[-1], (total, total))
        self.assertEqual(len(seen), -(-total // DEPLOY_CHUNK_BYTES) + 1)
        self.assertEqual([sent for sent, _ in seen], sorted(sent for sent, _ in seen))

    def test_go_worker_ignores_chunks(self):
        """A worker that does not know deploy_chunk makes the deploy time out."""
        self.worker.handlers.pop("deploy_chunk")
        bundle = create_miner_bundle("xmrig", os.urandom(SINGLE_DEPLOY_MAX_BYTES + 1000),
                                     "huge", self.password())
        d = self.controller.deploy_bundle(self.far_id, bundle, timeout_s=30)
        self.clock.advance(30)
        self.failureResultOf(d, RequestTimeoutError)


    def test_no_chunks_for_a_go_worker(self):
        """To a peer that did not announce deploy_chunks, a large deploy fails at once."""
        go = self.mesh.add_node(make_identity("go"), features=frozenset())
        link = self.successResultOf(self.home.connect(go.address))
        bundle = create_miner_bundle("xmrig", os.urandom(SINGLE_DEPLOY_MAX_BYTES + 1000),
                                     "huge", frame_password(link.bundle_secret))
        failure = self.failureResultOf(self.controller.deploy_bundle(go.identity.id, bundle),
                                       DeployTooLargeError)
        text = str(failure.value)
        self.assertIn(go.identity.id, text)
        self.assertIn(str(SINGLE_DEPLOY_MAX_BYTES), text)
        self.assertIn("deploy_chunks", text)
        self.assertEqual(go.received, [])
        self.assertNoRequestTimers()
