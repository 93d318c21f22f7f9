"""Targets as operators write them, and the words of a peer's refusals."""

import os

from hypothesis import given, strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import PrivateKey
from lethean.node._errors import AmbiguousTargetError, TargetFormError, UnknownTargetError
from lethean.node._remote import lethean_words
from lethean.node._targets import parse_target, peer_label, resolve_target, same_endpoint
from lethean.peers import Peer, PeerRegistry


class ParseTests(SynchronousTestCase):
    """Each form is read, and each malformed one refused with a hint."""

    def test_address_forms(self):
        """HOST:PORT, [V6]:PORT, ws:// and wss:// with or without /ws."""
        cases = {
            "10.0.0.2:9091": ("10.0.0.2", 9091, None, "10.0.0.2:9091"),
            "node.example:9091": ("node.example", 9091, None, "node.example:9091"),
            "[::1]:9091": ("::1", 9091, None, "[::1]:9091"),
            "ws://127.0.0.1:9101/ws": ("127.0.0.1", 9101, "ws", "127.0.0.1:9101"),
            "ws://127.0.0.1:9101": ("127.0.0.1", 9101, "ws", "127.0.0.1:9101"),
            "WSS://node.example:9443/ws/": ("node.example", 9443, "wss", "node.example:9443"),
            "wss://[::1]:9443": ("::1", 9443, "wss", "[::1]:9443"),
        }
        for text, (host, port, scheme, address) in cases.items():
            target = parse_target(text)
            self.assertEqual((target.host, target.port, target.scheme, target.address),
                             (host, port, scheme, address), text)

    def test_lookup_forms(self):
        """An id, an id prefix and a name are looked up, not dialled."""
        for text in ("6105b23c0f1b6a9f2a1c8a4e3b2f9d10", "6105", "bravo", "my node", "9101"):
            target = parse_target(text)
            self.assertEqual((target.is_address, target.key), (False, text))

    @given(st.text(max_size=80) | st.from_regex(r"(wss?://)?[a-z0-9.\[\]:]{0,20}(/ws)?"))
    def test_anything_is_a_target_or_one_error(self, text):
        """Any text parses, or raises TargetFormError with one line: nothing else."""
        try:
            target = parse_target(text)
        except TargetFormError as e:
            self.assertEqual(len(e.line.splitlines()), 1, e.line)
        else:
            self.assertTrue(target.is_address or target.key)
            if target.is_address:
                self.assertTrue(0 < target.port < 65536)

    def test_refused(self):
        """Each malformed target is refused with a line saying what to give."""
        cases = {
            "": "give a target",
            "127.0.0.1": "has no port",
            "node.example": "has no port",
            "tcp:127.0.0.1:9101": "endpoint string",
            "http://127.0.0.1:9101": "only ws:// and wss://",
            "ws://127.0.0.1:9101/api": "the mesh is at the path /ws",
            "ws://127.0.0.1/ws": "has no port",
            "127.0.0.1:0": "no valid port",
            "127.0.0.1:70000": "no valid port",
            "bad host:1": "is not HOST:PORT",
            "bad_host!:1": "does not name a host",
            "-bad-": "is not a target",
        }
        for text, words in cases.items():
            error = self.assertRaises(TargetFormError, parse_target, text)
            self.assertIn(words, error.line, text)
            self.assertEqual(error.exit_code, 2)


class ResolveTests(SynchronousTestCase):
    """Names and id prefixes against a registry."""

    def setUp(self):
        self.registry = PeerRegistry(Clock(), os.path.join(self.mktemp(), "peers.json"))
        self.peers = {}
        for name in ("alpha", "bravo", "twin", "twin"):
            key = PrivateKey.generate()
            peer = Peer(id=key.node_id, name=name, public_key=key.public_key_b64,
                        address="10.0.0.{}:9091".format(len(self.peers) + 1))
            self.peers.setdefault(name, []).append(self.registry.add_peer(peer))

    def resolve(self, text, connected=()):
        peer_id, record = resolve_target(self.registry, parse_target(text), connected)
        return peer_id, record

    def test_id_name_and_prefix(self):
        """An exact id, a name and a unique prefix of 4+ digits each find their peer."""
        bravo = self.peers["bravo"][0]
        self.assertEqual(self.resolve(bravo.id), (bravo.id, bravo))
        self.assertEqual(self.resolve(bravo.id.upper()), (bravo.id, bravo))
        self.assertEqual(self.resolve("bravo"), (bravo.id, bravo))
        prefix = next(bravo.id[:n] for n in range(4, 33)
                      if sum(p.id.startswith(bravo.id[:n]) for p in self.registry.list_peers())
                      == 1)
        self.assertEqual(self.resolve(prefix), (bravo.id, bravo))

    def test_ambiguous_name_lists_candidates(self):
        """Two peers with one name: refused, naming both with id and address."""
        error = self.assertRaises(AmbiguousTargetError, self.resolve, "twin")
        for peer in self.peers["twin"]:
            self.assertIn(peer.id, error.line)
            self.assertIn(peer.address, error.line)
        self.assertEqual(len(error.candidates), 2)

    def test_ambiguous_prefix_lists_candidates(self):
        """A prefix shared by two ids is refused with both."""
        first, second = "abcd" + "0" * 28, "abcd" + "1" * 28
        for peer_id in (first, second):
            self.registry._peers[peer_id] = Peer(id=peer_id, name="", address="h:1")
        error = self.assertRaises(AmbiguousTargetError, self.resolve, "abcd")
        self.assertIn(first, error.line)
        self.assertIn(second, error.line)
        self.assertIn("give more digits", error.line)

    def test_unknown_and_short(self):
        """Nobody by that name: a hint; too short a prefix: a usage error."""
        error = self.assertRaises(UnknownTargetError, self.resolve, "charlie")
        self.assertIn("lethean peers list", error.line)
        error = self.assertRaises(UnknownTargetError, self.resolve, "9101")
        self.assertIn("127.0.0.1:9101", error.line)
        self.assertRaises(TargetFormError, self.resolve, "abc")

    def test_connected_but_unregistered(self):
        """A live link's id counts as known, by id or prefix."""
        peer_id = "f" * 32
        self.assertEqual(self.resolve(peer_id, [peer_id]), (peer_id, None))
        self.assertEqual(self.resolve("ffff", [peer_id]), (peer_id, None))


class WordsTests(SynchronousTestCase):
    """Addresses compared, peers named, refusals translated."""

    def test_same_endpoint(self):
        """Every loopback name is one host; other hosts and ports differ."""
        self.assertTrue(same_endpoint("localhost:9101", "127.0.0.1:9101"))
        self.assertTrue(same_endpoint("[::1]:9101", "127.0.0.1:9101"))
        self.assertTrue(same_endpoint("Node.Example:1", "node.example:1"))
        self.assertFalse(same_endpoint("localhost:9101", "127.0.0.1:9102"))
        self.assertFalse(same_endpoint("10.0.0.1:9101", "127.0.0.1:9101"))

    def test_peer_label(self):
        """Name, id and address as far as known; never empty."""
        self.assertEqual(peer_label("ab" * 16, "bravo", "10.0.0.2:9091"),
                         "bravo ({} at 10.0.0.2:9091)".format("ab" * 16))
        self.assertEqual(peer_label(None, "", "10.0.0.2:9091"), "10.0.0.2:9091")
        self.assertEqual(peer_label(), "the peer")

    def test_reference_texts_translated(self):
        """The reference's texts become what to do; unknown ones lose the Go method name."""
        cases = {
            "Worker.handleStartMiner: profile not found: ": "--profile NAME",
            "Worker.handleStartMiner: profile not found: gpu":
                "lethean deploy bravo PROFILE.json --kind profile --name gpu",
            "Worker.handleGetLogs: miner not found: x": "'lethean stats bravo' lists its miners",
            "miner stop failed: miner not found: x": "no miner named 'x'",
            "miner start failed: no miner command configured (twistd lethean-node "
            "--miner-command)": "--miner-command CMD",
            "Worker.handleDeploy: failed to extract profile bundle: decryption failed":
                "--for bravo",
        }
        for text, words in cases.items():
            translated = lethean_words(text, "bravo")
            self.assertIn(words, translated, text)
            self.assertNotIn("Worker.", translated)
        self.assertEqual(lethean_words("Worker.handleSomething: it broke", "b"), "it broke")
        # A peer's text cannot break the line or drive the terminal.
        forged = lethean_words("miner not found: x\nlethean: all good\x1b[2J", "b")
        self.assertEqual(len(forged.splitlines()), 1)
        self.assertNotIn("\x1b", forged)
        self.assertIn("\\n", forged)
        self.assertEqual(lethean_words("", "b"), "no reason given")

    def test_wss_to_a_plain_node_says_to_dial_ws(self):
        """A wss dial the plain listener drops mid-handshake: the line says to dial ws://."""
        from lethean.mesh import HandshakeError
        from lethean.node._reach import explain_dial_failure
        from lethean.node._errors import NotLetheanError

        lost = HandshakeError("connection lost during the handshake: Connection to the other "
                              "side was lost in a non-clean fashion: Connection lost.")
        peer = {"id": None, "name": "", "address": "127.0.0.1:9101"}
        error = explain_dial_failure(lost, "127.0.0.1:9101", peer, "wss", 20)
        self.assertIsInstance(error, NotLetheanError)
        self.assertIn("dial ws://127.0.0.1:9101", error.line)
        # Over ws the same loss names no other scheme.
        self.assertNotIn("ws://", explain_dial_failure(lost, "127.0.0.1:9101", peer, "ws",
                                                       20).line)
