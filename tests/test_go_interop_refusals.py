"""
Refusals between lethean and the Go reference, both ways: allowlist mode,
an unsupported protocol version, the connection cap (HTTP 503), and a
handshake whose id is not its key's.
"""

import json

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.identity import generate_challenge
from lethean.mesh import HandshakeError, HandshakeRejectedError
from lethean.mesh._handshake import handshake_message
from lethean.peers import AuthMode
from tests import _gonode
from tests._gonode import gonode, gonode_ctl, gonode_worker, home_for
from tests._mesh import (
    RawClient,
    address_of,
    make_identity,
    make_node,
    raw_connect_to,
    scripted_handshake_to,
    upgrade_request,
)

REJECTED = ("Transport.Connect: handshake failed: Transport.performHandshake: "
            "handshake rejected: ")


def http_answer(raw):
    """Status line, headers but ``Date``, and body of an HTTP answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return lines, body


class LetheanRefusesGoTests(TestCase):
    """A lethean node turns a Go initiator away the way a Go node would."""

    skip = _gonode.SKIP
    timeout = 120

    def setUp(self):
        self.home = home_for(self)
        self.go_dir = self.home / "go"

    async def go_identity(self):
        events, code, text = await gonode(self.home, "identity", "create", "--data-dir",
                                          str(self.go_dir), "--role", "controller")
        self.assertEqual(code, 0, text)
        return events[0]["identity"]

    async def test_allowlist(self):
        """In allowlist mode a Go controller is rejected until its key is allowed."""
        node = make_node(self, reactor, "bravo")
        node.registry.set_auth_mode(AuthMode.ALLOWLIST)
        results, code = await gonode_ctl(self.home, address_of(node), self.go_dir, "ping")
        self.assertEqual((code, results["connect"]["error"]),
                         (1, REJECTED + "peer not authorized"))
        node.registry.allow_public_key((await self.go_identity())["publicKey"])
        results, code = await gonode_ctl(self.home, address_of(node), self.go_dir, "ping")
        self.assertEqual(code, 0, results)
        self.assertEqual(node.counters["refused_unauthorized"], 1)

    async def test_wrong_version(self):
        """A Go handshake claiming version 9.9 gets the reference's rejection reason."""
        node = make_node(self, reactor, "bravo")
        events, code, text = await gonode(self.home, "hs", "--addr", address_of(node),
                                          "--data-dir", str(self.go_dir), "--version", "9.9")
        [answer] = events
        self.assertEqual((answer["accepted"], answer["reason"]),
                         (False, "incompatible protocol version 9.9, supported: [1.0]"))
        self.assertEqual(node.counters["refused_version"], 1)

    async def test_claimed_id_not_the_key_s(self):
        """A Go handshake claiming another node's id is rejected with a reason, not reset."""
        node = make_node(self, reactor, "bravo")
        other = make_identity("other").id
        events, code, text = await gonode(self.home, "hs", "--addr", address_of(node),
                                          "--data-dir", str(self.go_dir), "--claim-id", other)
        [answer] = events
        self.assertEqual((answer["ok"], answer["accepted"], answer["reason"]),
                         (True, False, "node id does not match public key"), text)
        self.assertEqual(json.loads(answer["reply"])["to"], other)
        self.assertEqual(node.counters["refused_id_mismatch"], 1)

    async def test_over_the_connection_cap(self):
        """Past max_connections a Go initiator gets HTTP 503, as from a Go node."""
        node = make_node(self, reactor, "bravo", max_connections=1)
        holder = make_node(self, reactor, "alpha", listen=None)
        await holder.connect(address_of(node))
        events, code, text = await gonode(self.home, "hs", "--addr", address_of(node),
                                          "--data-dir", str(self.go_dir))
        [answer] = events
        self.assertEqual((code, answer["ok"], answer["http_status"]), (1, False, 503))
        results, code = await gonode_ctl(self.home, address_of(node), self.go_dir, "ping")
        self.assertEqual(code, 1)
        self.assertIn("bad handshake", results["connect"]["error"])
        self.assertEqual(node.counters["refused_capacity"], 2)


class GoRefusesLetheanTests(TestCase):
    """A Go worker's refusals reach lethean as clear errors."""

    skip = _gonode.SKIP
    timeout = 120

    def setUp(self):
        self.home = home_for(self)

    async def test_allowlist(self):
        """A Go worker in allowlist mode rejects lethean until its key is allowed."""
        client = make_node(self, reactor, "alpha", listen=None)
        closed = await gonode_worker(self, self.home, self.home / "closed", "--auth",
                                     "allowlist")
        with self.assertRaises(HandshakeRejectedError) as caught:
            await client.connect(closed.address)
        self.assertEqual(caught.exception.reason, "peer not authorized")
        self.assertEqual(client.connections(), [])
        allowing = await gonode_worker(self, self.home, self.home / "allowing", "--auth",
                                       "allowlist", "--allow",
                                       client.identity.identity.public_key)
        link = await client.connect(allowing.address)
        self.assertEqual(link.peer_id, allowing.id)

    async def test_wrong_version(self):
        """The Go worker's rejection of version 9.9 is the ack lethean sends for it."""
        worker = await gonode_worker(self, self.home, self.home / "go")
        peer = make_identity("alpha")
        hello = handshake_message(peer, "", generate_challenge(), clock=reactor, version="9.9")
        port = int(worker.address.rsplit(":", 1)[1])
        [(text, binary)] = await scripted_handshake_to(self, reactor, port, hello.to_bytes())
        self.assertFalse(binary)
        ack = json.loads(text)
        self.assertEqual((ack["type"], ack["from"], ack["to"]),
                         ("handshake_ack", worker.id, peer.id))
        self.assertEqual(ack["payload"]["accepted"], False)
        self.assertEqual(ack["payload"]["reason"],
                         "incompatible protocol version 9.9, supported: [1.0]")
        # Byte for byte what a lethean node answers (bar the identity, id and time).
        node = make_node(self, reactor, "bravo")
        [(ours, _)] = await scripted_handshake_to(self, reactor, node.port.getHost().port,
                                                  hello.to_bytes())
        ours = json.loads(ours)
        self.assertEqual(list(ours), list(ack))
        self.assertEqual(list(ours["payload"]), list(ack["payload"]))
        self.assertEqual(ours["payload"]["reason"], ack["payload"]["reason"])

    async def test_over_the_connection_cap(self):
        """Past --max-conns the Go worker answers 503, exactly as a lethean node does."""
        worker = await gonode_worker(self, self.home, self.home / "go", "--max-conns", "1")
        first = make_node(self, reactor, "alpha", listen=None)
        await first.connect(worker.address)
        second = make_node(self, reactor, "charlie", listen=None)
        with self.assertRaises(HandshakeError) as caught:
            await second.connect(worker.address)
        self.assertEqual(str(caught.exception),
                         "WebSocket connection upgrade failed [503]: Service Unavailable")
        self.assertEqual(second.connections(), [])

        # Go keeps its side open for another request; read up to the body.
        go_raw = RawClient(upgrade_request(), until=b"\r\n\r\nToo many connections\n")
        await raw_connect_to(self, reactor, int(worker.address.rsplit(":", 1)[1]), go_raw)
        node = make_node(self, reactor, "bravo", max_connections=1)
        await make_node(self, reactor, "delta", listen=None).connect(address_of(node))
        our_raw = RawClient(upgrade_request())
        await raw_connect_to(self, reactor, node.port.getHost().port, our_raw)
        ours, theirs = http_answer(await our_raw.done), http_answer(await go_raw.done)
        # lethean closes at once and says so; otherwise the same answer.
        self.assertEqual(ours[0][-1], b"Connection: close")
        self.assertEqual((ours[0][:-1], ours[1]), theirs)
