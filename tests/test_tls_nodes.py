"""
TLS end to end: nodes with self-signed certificates link over ``wss``, a
plain node dials a TLS node, and ``lethean ping wss://...`` answers.
"""

import datetime
import ipaddress
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor, task
from twisted.trial.unittest import TestCase

from lethean.identity import NodeManager
from lethean.mesh import MeshTransport, TransportConfig
from lethean.node import Controller, NodeOperations, TLSFailedError
from lethean.node.tap import Options, makeService
from lethean.peers import PeerRegistry
from tests._processes import run_lethean

#: How long a link may take to come up before the test fails.
LINK_DEADLINE_S = 30.0


def self_signed(folder, name="node", names=True):
    """
    A self-signed certificate for 127.0.0.1 and localhost (or, without
    ``names``, for no host at all); ``(cert, key, sha256 hex)``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1)))
    if names is True:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    elif names:
        names = [x509.DNSName(host) for host in names]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    cert_path = os.path.join(folder, name + "-cert.pem")
    key_path = os.path.join(folder, name + "-key.pem")
    with open(cert_path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path, certificate.fingerprint(hashes.SHA256()).hex()


class TLSNodeTests(TestCase):
    """Whole nodes, built from their twistd options, on loopback."""

    timeout = 120

    def setUp(self):
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)

    def node(self, name, *argv):
        """A node made by ``makeService`` from ``twistd lethean-node`` options."""
        options = Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", "--name", name,
                              "--data-dir", os.path.join(self.folder, name),
                              "--control", "none", *argv])
        node = makeService(options, reactor)
        node.startService()
        self.addCleanup(node.stopService)
        return node.getServiceNamed("transport")

    async def linked(self, transport, peer_id):
        """Wait (polling the transport, with a deadline) until it has a link to ``peer_id``."""
        waited = 0.0
        while transport.connection(peer_id) is None:
            self.assertLess(waited, LINK_DEADLINE_S, "no link to {}".format(peer_id))
            await task.deferLater(reactor, 0.05)
            waited += 0.05
        return transport.connection(peer_id)

    async def test_two_tls_nodes_and_a_plain_one_link(self):
        """TLS to TLS with --tls-ca, plain to TLS with --tls-fingerprint: both links come up."""
        cert_a, key_a, fingerprint_a = self_signed(self.folder, "alpha")
        cert_b, key_b, _ = self_signed(self.folder, "bravo")
        alpha = self.node("alpha", "--tls-cert", cert_a, "--tls-key", key_a)
        url = "wss://127.0.0.1:{}".format(alpha.port.getHost().port)
        bravo = self.node("bravo", "--tls-cert", cert_b, "--tls-key", key_b,
                          "--peer", url, "--tls-ca", cert_a)
        charlie = self.node("charlie", "--peer", url + "/ws",
                            "--tls-fingerprint", fingerprint_a)
        self.assertEqual(alpha.config.scheme, "wss")
        self.assertEqual(charlie.config.scheme, "ws")
        for transport in (bravo, charlie):
            link = await self.linked(transport, alpha.identity.id)
            self.assertTrue(link.outbound)
            await self.linked(alpha, transport.identity.id)

    def operations(self, tls_verify="system"):
        """Operations of a controller of our own (a new one each call)."""
        folder = os.path.join(self.folder, "ctl-{}".format(tls_verify[:12].replace("/", "")))
        identity = NodeManager.in_directory(folder).load_or_create(role="controller")
        registry = PeerRegistry(reactor, os.path.join(folder, "peers.json"))
        self.addCleanup(registry.close)
        transport = MeshTransport(reactor, identity, registry,
                                  TransportConfig(listen=None, tls_verify=tls_verify))
        controller = Controller(reactor, transport, registry)
        transport.add_consumer(controller)
        transport.startService()
        self.addCleanup(transport.stopService)
        self.addCleanup(controller.stop)
        return NodeOperations(reactor, transport, registry, controller)

    async def test_untrusted_certificate_says_what_to_pass(self):
        """Without --tls-ca the self-signed node is refused, with the options that trust it."""
        cert, key, _ = self_signed(self.folder, "alpha")
        alpha = self.node("alpha", "--tls-cert", cert, "--tls-key", key)
        operations = self.operations()
        target = "wss://127.0.0.1:{}".format(alpha.port.getHost().port)
        with self.assertRaises(TLSFailedError) as caught:
            await operations.ping(target)
        self.assertIn("--tls-ca FILE", caught.exception.line)
        self.assertEqual(operations.registry.list_peers(), [])

    async def test_each_refusal_says_what_is_wrong_and_what_to_do(self):
        """Another name, another fingerprint, another CA: one line each, naming the fix."""
        cert, key, fingerprint = self_signed(self.folder, "alpha", names=["node.example"])
        other, _, _ = self_signed(self.folder, "other")
        alpha = self.node("alpha", "--tls-cert", cert, "--tls-key", key)
        target = "wss://127.0.0.1:{}".format(alpha.port.getHost().port)
        cases = [
            (cert, ["names node.example, not 127.0.0.1", "subjectAltName", "--tls-fingerprint"]),
            ("sha256:" + "ab" * 32, ["fingerprint is " + fingerprint[:2].upper() + ":",
                                     "not the pinned AB:AB", "openssl x509"]),
            (other, ["no certificate of the --tls-ca file signed it", "--tls-ca FILE"]),
        ]
        for verify, words in cases:
            with self.assertRaises(TLSFailedError) as caught:
                await self.operations(verify).ping(target)
            line = caught.exception.line
            self.assertTrue(line.startswith("cannot trust the TLS certificate of "), line)
            self.assertEqual(len(line.splitlines()), 1)
            for word in words:
                self.assertIn(word, line)

    async def test_a_node_dialling_an_untrusted_peer_logs_the_fix(self):
        """A node whose --peer serves a certificate it cannot trust logs the options that would."""
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import formatEvent, globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        cert, key, _ = self_signed(self.folder, "alpha")
        alpha = self.node("alpha", "--tls-cert", cert, "--tls-key", key)
        self.node("bravo", "--peer", "wss://127.0.0.1:{}".format(alpha.port.getHost().port))
        waited = 0.0
        while not any("cannot reach" in formatEvent(e) for e in events):
            self.assertLess(waited, LINK_DEADLINE_S, "no dial failure logged")
            await task.deferLater(reactor, 0.05)
            waited += 0.05
        [line] = [formatEvent(e) for e in events if "cannot reach" in formatEvent(e)]
        self.assertIn("no CA of this system signed it", line)
        self.assertIn("--tls-ca FILE", line)
        self.assertFalse([e for e in events if e.get("log_failure") is not None])

    async def test_certificate_naming_no_host(self):
        """A certificate without subjectAltName is not trusted, and no traceback is logged."""
        cert, key, fingerprint = self_signed(self.folder, "alpha", names=False)
        alpha = self.node("alpha", "--tls-cert", cert, "--tls-key", key)
        target = "wss://127.0.0.1:{}".format(alpha.port.getHost().port)
        with self.assertRaises(TLSFailedError):
            await self.operations(cert).ping(target)
        # Its fingerprint still trusts it.
        pong = await self.operations("sha256:" + fingerprint).ping(target)
        self.assertEqual(pong["peerId"], alpha.identity.id)

    async def test_lethean_ping_wss_with_tls_ca(self):
        """lethean ping wss://127.0.0.1:PORT --tls-ca cert.pem answers; without it, one line, 1."""
        cert, key, _ = self_signed(self.folder, "alpha")
        alpha = self.node("alpha", "--tls-cert", cert, "--tls-key", key)
        target = "wss://127.0.0.1:{}".format(alpha.port.getHost().port)
        cli = os.path.join(self.folder, "cli")
        out, err, code = await run_lethean(self.folder, "ping", target, "--tls-ca", cert,
                                           "--json", "--data-dir", cli)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["peerId"], alpha.identity.id)
        out, err, code = await run_lethean(self.folder, "ping", target, "--data-dir", cli)
        self.assertEqual(code, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(b"cannot trust the TLS certificate", err)
        # A plain ws:// dial of the TLS node is told to use wss.
        out, err, code = await run_lethean(
            self.folder, "ping", target.replace("wss://", "ws://"), "--data-dir", cli,
            "--timeout", "10")
        self.assertEqual(code, 1, err)
        self.assertIn(b"wss://", err)
