"""Dial targets: HOST:PORT, client endpoint strings and endpoint objects."""

import os
import tempfile

from twisted.internet import reactor, task
from twisted.internet.endpoints import TCP6ClientEndpoint, UNIXClientEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.mesh import DIAL_ERRORS, new_message
from lethean.mesh._dialing import dial_target
from tests._mesh import Inbox, make_node


def unix_path(testcase):
    """A socket path short enough for AF_UNIX (trial's temp paths can be too long)."""
    folder = tempfile.mkdtemp(prefix="lethean-")
    testcase.addCleanup(os.rmdir, folder)
    return os.path.join(folder, "mesh.sock")


class DialTargetTests(SynchronousTestCase):
    """How a target becomes an endpoint and a WebSocket URL."""

    def test_host_port(self):
        """HOST:PORT and [v6]:PORT dial TCP and name that host and port in the URL."""
        target = dial_target(task.Clock(), "example.org:9091", 10)
        self.assertEqual((target.url_authority, target.address),
                         ("example.org:9091", "example.org:9091"))
        self.assertEqual(dial_target(task.Clock(), "[::1]:9091", 10).url_authority, "[::1]:9091")

    def test_endpoint_strings(self):
        """tcp6: and unix: strings are Twisted's endpoints, recorded as written."""
        target = dial_target(task.Clock(), r"tcp6:host=\:\:1:port=9091", 10)
        self.assertEqual((target.host, target.port, target.url_authority),
                         ("::1", 9091, "[::1]:9091"))
        self.assertIsInstance(target.endpoint, TCP6ClientEndpoint)
        target = dial_target(task.Clock(), "unix:path=/run/node.sock", 10)
        self.assertEqual((target.url_authority, target.address),
                         ("localhost", "unix:path=/run/node.sock"))
        self.assertIsInstance(target.endpoint, UNIXClientEndpoint)

    def test_endpoint_object(self):
        """An endpoint object is dialled as it is; the registry keeps the record's address."""
        endpoint = UNIXClientEndpoint(task.Clock(), "/run/node.sock")
        target = dial_target(task.Clock(), endpoint, 10)
        self.assertIs(target.endpoint, endpoint)
        self.assertIsNone(target.address)

    def test_nonsense_is_a_value_error(self):
        """Text that is neither an address nor an endpoint: ValueError naming both forms."""
        for text in ("nonsense", "bogus:x=1", "tcp:host=only", "tcp6:host=::1"):
            with self.assertRaises(ValueError) as raised:
                dial_target(task.Clock(), text, 10)
            self.assertIn("host:port or a client endpoint string", str(raised.exception))
        self.assertTrue(issubclass(ValueError, DIAL_ERRORS))


class UnixEndpointTests(TestCase):
    """Two real nodes linked over a unix socket."""

    async def test_link_over_unix_socket(self):
        """A node listening on unix:P is dialled with unix:path=P and the link works."""
        path = unix_path(self)
        server = make_node(self, reactor, "bravo", listen="unix:{}".format(path))
        client = make_node(self, reactor, "alpha", listen=None)
        inbox = Inbox()
        server.add_consumer(inbox)
        connection = await client.connect("unix:path={}".format(path))
        self.assertEqual(connection.peer_id, server.identity.id)
        connection.send(new_message("x", client.identity.id, server.identity.id, clock=reactor))
        _, received = await inbox.wait()
        self.assertEqual(received.type, "x")
        self.assertEqual(client.registry.get_peer(server.identity.id).address,
                         "unix:path={}".format(path))

    async def test_endpoint_object_keeps_the_record_address(self):
        """Dialling an endpoint object links, and leaves the peer's recorded address alone."""
        path = unix_path(self)
        server = make_node(self, reactor, "bravo", listen="unix:{}".format(path))
        client = make_node(self, reactor, "alpha", listen=None)
        connection = await client.connect(UNIXClientEndpoint(reactor, path))
        self.assertEqual(connection.peer_id, server.identity.id)
        self.assertEqual(client.registry.get_peer(server.identity.id).address, "")
