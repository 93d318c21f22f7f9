"""The registry among strangers: damaged files, stale temporaries, a cap on automatic peers."""

import os
import time

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from lethean.identity import LocalIdentity, PrivateKey
from lethean.interfaces import IPeerRegistry
from lethean.peers import AuthMode, Peer, PeerRegistry, RegistryFullError
from lethean.smsg import Timestamp

DEEP = b"[" * 100_000 + b"]" * 100_000


def _peer(name, score=50.0, address=""):
    identity = LocalIdentity.create(PrivateKey.generate(), name, "worker",
                                    Timestamp.parse("2026-01-02T03:04:05Z"))
    return Peer(id=identity.id, name=name, public_key=identity.identity.public_key,
                address=address, score=score)


class DamagedFileTests(SynchronousTestCase):
    """Deep nesting or wrong JSON types in any file are damage, never an exception."""

    def registry(self, directory, **kwargs):
        return PeerRegistry(task.Clock(), os.path.join(directory, "peers.json"),
                            writer=lambda path, content: None, **kwargs)

    def test_deeply_nested_files(self):
        """Each of the three files nested 100,000 deep is moved aside and the registry starts."""
        for suffix in ("", ".allowlist.json", ".auth.json"):
            directory = self.mktemp()
            os.makedirs(directory)
            with open(os.path.join(directory, "peers.json" + suffix), "wb") as f:
                f.write(DEEP)
            registry = self.registry(directory)
            self.assertEqual(len(registry), 0)
            moved = [name for name in os.listdir(directory) if ".corrupt-" in name]
            self.assertEqual(len(moved), 1, suffix)
            if suffix == ".auth.json":
                self.assertEqual(registry.auth_mode, AuthMode.ALLOWLIST)

    def test_nested_element_keeps_the_others(self):
        """A deeply nested element loses only itself and what follows, not the records before it."""
        directory = self.mktemp()
        os.makedirs(directory)
        good = _peer("good")
        registry = self.registry(directory)
        registry.add_peer(good)
        from lethean.peers._record import encode_peers

        data = encode_peers([registry.get_peer(good.id)]).rstrip()
        with open(os.path.join(directory, "peers.json"), "wb") as f:
            f.write(data[:-1] + b"," + DEEP + b"]")
        self.assertIsNotNone(self.registry(directory).get_peer(good.id))

    def test_stale_temporaries_removed(self):
        """Temporary files of interrupted saves are removed at start; a fresh one is left alone."""
        directory = self.mktemp()
        os.makedirs(directory)
        stale = os.path.join(directory, ".peers.json.0123456789ab.tmp")
        fresh = os.path.join(directory, ".peers.json.ba9876543210.tmp")
        other = os.path.join(directory, ".unrelated.tmp")
        for path in (stale, fresh, other):
            with open(path, "wb") as f:
                f.write(b"[")
        old = time.time() - 3600
        os.utime(stale, (old, old))
        os.utime(other, (old, old))
        self.registry(directory)
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.exists(fresh))
        self.assertTrue(os.path.exists(other))


class AutomaticPeerTests(SynchronousTestCase):
    """Peers registered from inbound handshakes are capped, the least valuable going first."""

    def setUp(self):
        self.registry = PeerRegistry(task.Clock(), os.path.join(self.mktemp(), "peers.json"),
                                     writer=lambda path, content: None, max_automatic_peers=3)

    def test_interface(self):
        """The registry still provides IPeerRegistry."""
        self.assertTrue(verifyObject(IPeerRegistry, self.registry))

    def test_cap_evicts_the_least_valuable(self):
        """Past the cap the lowest-scored automatic peer goes; connected and addressed peers stay."""
        low, connected, high = _peer("low", 10), _peer("busy", 1), _peer("high", 90)
        dialled = _peer("dialled", 0.5, address="10.0.0.1:9091")
        for peer in (low, connected, high, dialled):
            self.registry.add_automatic(peer)
        self.registry.set_connected(connected.id, True)
        newcomer = _peer("new")
        self.registry.add_automatic(newcomer)
        self.assertIsNone(self.registry.get_peer(low.id))
        for kept in (connected, high, dialled, newcomer):
            self.assertIsNotNone(self.registry.get_peer(kept.id))
        self.assertEqual(len([p for p in self.registry.list_peers() if not p.address]), 3)

    def test_all_in_use(self):
        """When every automatic peer is connected, a newcomer is refused with a lethean error."""
        peers = [_peer("p{}".format(n)) for n in range(3)]
        for peer in peers:
            self.registry.add_automatic(peer)
            self.registry.set_connected(peer.id, True)
        self.assertRaises(RegistryFullError, self.registry.add_automatic, _peer("late"))


class NodeFileTests(SynchronousTestCase):
    """node.json: deep nesting and wrong types are a lethean error, never a crash."""

    def test_damaged_node_json(self):
        """Each damaged node.json raises IdentityFileError naming the file."""
        import shutil

        from lethean.identity import IdentityFileError, NodeManager

        base = os.path.abspath(self.mktemp())
        NodeManager.in_directory(os.path.join(base, "ok")).load_or_create(name="a", role="dual")
        for n, data in enumerate((b'{"id":' + b"[" * 5000 + b"]" * 5000 + b"}", b"5",
                                  b'{"id":5,"name":[],"publicKey":{}}', DEEP)):
            folder = os.path.join(base, str(n))
            os.makedirs(folder)
            shutil.copy(os.path.join(base, "ok", "private.key"), folder)
            with open(os.path.join(folder, "node.json"), "wb") as f:
                f.write(data)
            error = self.assertRaises(IdentityFileError,
                                      NodeManager.in_directory(folder).load_or_create,
                                      name="x", role="dual")
            self.assertIn("node.json", str(error))
