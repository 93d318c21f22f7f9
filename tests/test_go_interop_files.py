"""
Files one implementation writes and the other reads: identities,
``peers.json`` with its allowlist, and TIM/STIM bundles.
"""

import hashlib
import json
import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.bundles import (
    create_miner_bundle,
    create_profile_bundle,
    extract_miner_bundle,
    extract_profile_bundle,
    read_bundle,
    write_bundle,
)
from lethean.identity import NodeManager
from lethean.peers import Peer, PeerRegistry
from lethean.smsg import DecryptionError
from tests import _gonode
from tests._gonode import gonode, home_for

PROFILE = {"id": "gpu", "name": "gpu", "threads": 2}
MINER = b"\x7fELF not really, but bytes all the same\x00\xff"
#: A peer record and an allowed key, as both implementations store them.
PEER = {"id": "d9c5722620f48a60268f0acf42f0928f", "name": "edge",
        "publicKey": "jLNfMRlAD51oLHviGOBQqgkx9iCnO4x2Qjr4PZhqTSQ=",
        "address": "10.0.0.7:9091", "role": "worker"}
ALLOWED = "Taa5S2Kgwy67KYllxGzK2mkWbPW3st9urqm67eITmic="


class FilesTests(TestCase):
    """Each file written by one side loads, unchanged in meaning, on the other."""

    skip = _gonode.SKIP
    timeout = 120

    def setUp(self):
        self.home = home_for(self)
        self.folder = self.home / "node"

    async def go(self, *argv):
        """Run a one-shot gonode command that must succeed; its one result event."""
        events, code, text = await gonode(self.home, *argv)
        self.assertEqual(code, 0, text)
        [event] = events
        return event

    async def go_fails(self, *argv):
        events, code, text = await gonode(self.home, *argv)
        self.assertEqual(code, 1, text)
        [event] = events
        return event

    async def test_go_identity_loads_in_lethean(self):
        """A Go identity is lethean's identity, down to the shared secret it derives."""
        made = (await self.go("identity", "create", "--data-dir", str(self.folder), "--name",
                              "go-node", "--role", "worker"))["identity"]
        local = NodeManager.in_directory(self.folder).load()
        self.assertEqual(local.identity.to_json_value(), made)
        other = NodeManager.in_directory(self.home / "other").load_or_create(name="other")
        shown = await self.go("identity", "show", "--data-dir", str(self.folder), "--peer-key",
                              other.identity.public_key)
        self.assertEqual(shown["secret_sha256"],
                         hashlib.sha256(local.shared_secret(other.identity.public_key)).hexdigest())

    async def test_lethean_identity_loads_in_go(self):
        """A lethean identity loads in the Go node, its id matching its key."""
        local = NodeManager.in_directory(self.folder).load_or_create(name="alpha",
                                                                     role="controller")
        shown = await self.go("identity", "show", "--data-dir", str(self.folder))
        self.assertTrue(shown["id_matches_key"])
        self.assertEqual(shown["identity"], local.identity.to_json_value())

    async def test_go_peers_and_allowlist_load_in_lethean(self):
        """peers.json and its allowlist written by Go are lethean's registry."""
        await self.go("peers", "add", "--data-dir", str(self.folder), "--id", PEER["id"],
                      "--name", PEER["name"], "--key", PEER["publicKey"], "--address",
                      PEER["address"], "--role", PEER["role"])
        await self.go("peers", "allow", "--data-dir", str(self.folder), "--key", ALLOWED)
        registry = PeerRegistry(reactor, str(self.folder / "peers.json"))
        self.addCleanup(registry.close)
        peer = registry.get_peer(PEER["id"])
        self.assertEqual((peer.name, peer.public_key, peer.address, peer.role),
                         (PEER["name"], PEER["publicKey"], PEER["address"], PEER["role"]))
        self.assertEqual(list(registry.allowed_public_keys()), [ALLOWED])

    async def test_lethean_peers_and_allowlist_load_in_go(self):
        """peers.json and its allowlist written by lethean are the Go node's registry."""
        os.makedirs(self.folder)
        registry = PeerRegistry(reactor, str(self.folder / "peers.json"))
        registry.add_peer(Peer(id=PEER["id"], name=PEER["name"], public_key=PEER["publicKey"],
                               address=PEER["address"], role=PEER["role"]))
        registry.allow_public_key(ALLOWED)
        await registry.close()
        shown = await self.go("peers", "show", "--data-dir", str(self.folder))
        [peer] = shown["peers"]
        self.assertEqual({key: peer[key] for key in PEER}, PEER)
        self.assertEqual(shown["allowlist"], [ALLOWED])

    async def test_go_bundles_open_in_lethean(self):
        """Go's profile and miner bundles open in lethean, and not with another password."""
        profile = self.home / "gpu.json"
        profile.write_text(json.dumps(PROFILE))
        miner = self.home / "xmrig"
        miner.write_bytes(MINER)
        await self.go("bundle", "create-profile", "--in", str(profile), "--out",
                      str(self.home / "p.bundle"), "--name", "gpu", "--password", "pw")
        await self.go("bundle", "create-miner", "--in", str(miner), "--profile", str(profile),
                      "--out", str(self.home / "m.bundle"), "--name", "xmrig", "--password", "pw")
        with open(self.home / "p.bundle", "rb") as f:
            profile_bundle = read_bundle(f)
        with open(self.home / "m.bundle", "rb") as f:
            miner_bundle = read_bundle(f)
        self.assertEqual(json.loads(extract_profile_bundle(profile_bundle, "pw")), PROFILE)
        installed = extract_miner_bundle(miner_bundle, "pw", str(self.home / "out"))
        self.assertEqual(installed.files, ("xmrig",))
        with open(installed.miner_path, "rb") as f:
            self.assertEqual(f.read(), MINER)
        self.assertEqual(json.loads(installed.profile_json), PROFILE)
        self.assertRaises(DecryptionError, extract_profile_bundle, profile_bundle, "wrong")
        self.assertRaises(DecryptionError, extract_miner_bundle, miner_bundle, "wrong",
                          str(self.home / "never"))
        self.assertFalse(os.path.exists(self.home / "never"))

    async def test_lethean_bundles_open_in_go(self):
        """lethean's profile and miner bundles open in Go, and not with another password."""
        for name, bundle in (
                ("p.bundle", create_profile_bundle(json.dumps(PROFILE).encode(), "gpu", "pw")),
                ("m.bundle", create_miner_bundle("xmrig", MINER, "xmrig", "pw",
                                                 profile_json=json.dumps(PROFILE).encode()))):
            with open(self.home / name, "wb") as f:
                write_bundle(bundle, f)
        opened = await self.go("bundle", "extract-profile", "--in", str(self.home / "p.bundle"),
                               "--out", str(self.home / "p.json"), "--password", "pw")
        self.assertEqual((opened["type"], opened["name"], opened["checksum_ok"]),
                         ("profile", "gpu", True))
        self.assertEqual(json.loads(opened["profile"]), PROFILE)
        opened = await self.go("bundle", "extract-miner", "--in", str(self.home / "m.bundle"),
                               "--out", str(self.home / "out"), "--password", "pw")
        self.assertEqual((opened["type"], opened["name"]), ("miner", "xmrig"))
        self.assertEqual(json.loads(opened["profile"]), PROFILE)
        self.assertEqual((self.home / "out" / "xmrig").read_bytes(), MINER)
        for kind in ("profile", "miner"):
            refused = await self.go_fails(
                "bundle", "extract-" + kind, "--in", str(self.home / (kind[0] + ".bundle")),
                "--out", str(self.home / "never"), "--password", "wrong")
            self.assertEqual(
                refused["error"],
                "Extract{}Bundle: failed to decrypt bundle: decryption failed (wrong password?): "
                "enchantrix: decryption failed".format(kind.capitalize()))
        self.assertFalse(os.path.exists(self.home / "never"))
