"""Mesh links over loopback: TLS, slow readers, crossed dials."""

import datetime
import ipaddress

from twisted.internet import defer, reactor
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from lethean.mesh import new_message
from tests._mesh import Inbox, address_of, make_node


def _turn():
    """One trip round the real reactor."""
    d = defer.Deferred()
    reactor.callLater(0, d.callback, None)
    return d


def self_signed(directory):
    """Write a self-signed certificate for 127.0.0.1; returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    directory = FilePath(directory)
    directory.makedirs(ignoreExistingDirectory=True)
    cert_path, key_path = directory.child("cert.pem"), directory.child("key.pem")
    cert_path.setContent(cert.public_bytes(serialization.Encoding.PEM))
    key_path.setContent(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_path.path, key_path.path


class TLSTests(TestCase):
    """The mesh over TLS with a self-signed certificate."""

    async def _round_trip(self, verify):
        cert, key = self_signed(self.mktemp())
        server = make_node(self, reactor, "bravo", tls_cert=cert, tls_key=key)
        client = make_node(self, reactor, "alpha", listen=None,
                           tls_verify=cert if verify == "pin" else "none")
        inbox = Inbox()
        server.add_consumer(inbox)
        link = await client.connect(address_of(server), scheme="wss")
        message = new_message("x", client.identity.id, "", {"tls": True}, clock=reactor)
        link.send(message)
        while True:
            _, got = await inbox.wait()
            if got.type == "x":
                break
        self.assertEqual(got, message)

    async def test_verify_none(self):
        """A wss link with verification off works; the handshake authenticates."""
        await self._round_trip("none")

    async def test_pinned_certificate(self):
        """A wss link pinned to the node's own certificate works."""
        await self._round_trip("pin")

    async def test_plain_client_cannot_reach_tls_node(self):
        """A ws dial to a TLS node fails instead of hanging."""
        cert, key = self_signed(self.mktemp())
        server = make_node(self, reactor, "bravo", tls_cert=cert, tls_key=key)
        client = make_node(self, reactor, "alpha", listen=None)
        with self.assertRaises(Exception):
            await client.connect(address_of(server), scheme="ws")
        self.assertEqual(client.connections(), [])


class BackpressureTests(TestCase):
    """A peer that stops reading is dropped before the node buffers without bound."""

    async def test_slow_reader_dropped(self):
        """Past max_send_buffer_bytes the slow peer is dropped; a fast one is unaffected."""
        server = make_node(self, reactor, "bravo", max_send_buffer_bytes=256 * 1024)
        slow = make_node(self, reactor, "slow", listen=None)
        fast = make_node(self, reactor, "fast", listen=None)
        fast_inbox = Inbox()
        fast.add_consumer(fast_inbox)
        slow_link = await slow.connect(address_of(server))
        await fast.connect(address_of(server))
        while len(server.connections()) < 2:
            await _turn()
        slow_link._websocket.transport.pauseProducing()
        outbound = server.connection(slow.identity.id)
        chunk = new_message("bulk", server.identity.id, slow.identity.id, {"d": "z" * 60000},
                            clock=reactor)
        for _ in range(2000):
            if outbound.closed:
                break
            for _ in range(10):
                if not outbound.closed:
                    outbound.send(chunk)
            await _turn()
        self.assertTrue(outbound.closed)
        self.assertEqual(server.counters["dropped_slow_reader"], 1)
        message = new_message("still", server.identity.id, fast.identity.id, clock=reactor)
        server.send(fast.identity.id, message)
        _, got = await fast_inbox.wait()
        self.assertEqual(got, message)
        slow_link._websocket.transport.resumeProducing()


class DuplicateTests(TestCase):
    """Two links to the same peer settle on one, the same on both ends."""

    async def test_crossed_dials(self):
        """Simultaneous dials keep the link initiated by the smaller node id on both sides."""
        a = make_node(self, reactor, "a")
        b = make_node(self, reactor, "b")
        await defer.gatherResults([a.connect(address_of(b)), b.connect(address_of(a))])
        a_wins = a.identity.id < b.identity.id
        for _ in range(500):
            link_ab = a.connection(b.identity.id)
            link_ba = b.connection(a.identity.id)
            if (link_ab is not None and link_ba is not None and not link_ab.closed
                    and not link_ba.closed and link_ab.outbound == a_wins
                    and link_ba.outbound == (not a_wins) and not a._unproven and not b._unproven):
                break
            await _turn()
        self.assertEqual(a.connection(b.identity.id).outbound, a_wins)
        self.assertEqual(b.connection(a.identity.id).outbound, not a_wins)
        self.assertEqual(len(a.connections()), 1)
        self.assertEqual(len(b.connections()), 1)
        inbox = Inbox()
        b.add_consumer(inbox)
        message = new_message("x", a.identity.id, b.identity.id, clock=reactor)
        a.send(b.identity.id, message)
        while True:
            _, got = await inbox.wait()
            if got.type == "x":
                break
        self.assertEqual(got, message)

    async def test_reconnect_replaces_old_link(self):
        """A second inbound link from the same peer replaces the first; the first's cleanup leaves it."""
        server = make_node(self, reactor, "bravo")
        client = make_node(self, reactor, "alpha", listen=None)
        first = await client.connect(address_of(server))
        while server.connection(client.identity.id) is None:
            await _turn()
        old_inbound = server.connection(client.identity.id)
        # Forget the link locally so that connect dials again.
        del client._links[server.identity.id]
        second = await client.connect(address_of(server))
        self.assertIsNot(first, second)
        while server.connection(client.identity.id) is old_inbound or not old_inbound.closed:
            await _turn()
        await old_inbound.when_lost()
        new_inbound = server.connection(client.identity.id)
        self.assertIsNotNone(new_inbound)
        self.assertFalse(new_inbound.closed)
        self.assertEqual(server.counters["dropped_duplicate"], 1)
        await first.when_lost()


class SelfTests(TestCase):
    """A node that dials itself, or a node holding its own key, is refused at both ends."""

    async def test_dialling_its_own_address(self):
        """The dial fails with SelfConnectionError; refused_self counted by both ends; nothing registered."""
        from lethean.mesh import SelfConnectionError

        node = make_node(self, reactor, "alpha")
        with self.assertRaises(SelfConnectionError):
            await node.connect(address_of(node))
        for _ in range(3):
            await _turn()
        self.assertEqual(node.counters["refused_self"], 2)  # the responder's and the dialler's
        self.assertEqual(node.connections(), [])
        self.assertEqual(node.registry.list_peers(), [])
        self.assertNotIn("connections_opened", node.counters)

    async def test_a_twin_holding_the_same_key(self):
        """Two transports with one identity: each end refuses the other, neither registers it."""
        from lethean.mesh import MeshTransport, SelfConnectionError, TransportConfig
        from tests._mesh import LOOPBACK, make_registry

        alpha = make_node(self, reactor, "alpha")
        twin = MeshTransport(reactor, alpha.identity, make_registry(self),
                             TransportConfig(listen=LOOPBACK))
        twin.startService()
        self.addCleanup(twin.stopService)
        with self.assertRaises(SelfConnectionError):
            await twin.connect(address_of(alpha))
        self.assertEqual(alpha.counters["refused_self"], 1)
        self.assertEqual(twin.counters["refused_self"], 1)
        self.assertEqual((alpha.registry.list_peers(), twin.registry.list_peers()), ([], []))
