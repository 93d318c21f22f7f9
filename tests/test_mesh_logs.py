"""Logs that survive an attack: escaped, bounded, and summarised under a flood."""

from twisted.internet import task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from lethean.mesh._logs import LOG_PER_REASON, LOG_WINDOW_S, LogLimiter, clean
from tests.test_mesh_bounds import connect, gate_node
from tests._mesh import upgrade_request


def lines(events):
    """The text of each event, as an observer would write it."""
    return [formatEvent(event) for event in events]


class CleanTests(SynchronousTestCase):
    """Peer-controlled text is escaped and cut."""

    def test_control_characters_escaped(self):
        """Newlines, escapes and other control characters cannot forge log lines."""
        text = clean("evil\r\n2026-01-01 [lethean#info] forged\x1b[31m")
        self.assertNotIn("\n", text)
        self.assertNotIn("\r", text)
        self.assertNotIn("\x1b", text)
        self.assertIn("\\n", text)

    def test_cut(self):
        """Long text is cut to the limit, saying so."""
        text = clean("x" * 100_000, 50)
        self.assertLessEqual(len(text), 60)
        self.assertTrue(text.endswith("(cut)"))

    def test_bytes(self):
        """Bytes are shown without decoding errors."""
        self.assertEqual(clean(b"GET \xff\x00"), "GET \\xff\\x00")


class LimiterTests(SynchronousTestCase):
    """A few lines per reason, then one summary per window."""

    def test_summary_after_a_flood(self):
        """Past the per-reason allowance only a count is kept, written once at the window's end."""
        clock = task.Clock()
        limiter = LogLimiter(clock)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        allowed = [limiter.allow("refused_path") for _ in range(1000)]
        self.assertEqual(sum(allowed), LOG_PER_REASON)
        self.assertTrue(limiter.allow("refused_origin"))
        self.assertEqual(len(events), 0)
        clock.advance(LOG_WINDOW_S)
        self.assertEqual(len(events), 1)
        self.assertIn("995 more refused_path events", lines(events)[0])
        self.assertTrue(limiter.allow("refused_path"))
        self.assertEqual(clock.getDelayedCalls(), [])


class FloodTests(SynchronousTestCase):
    """Refused connections: one event each at most, a summary under a flood, every one counted."""

    def test_wrong_path_flood(self):
        """500 wrong-path requests write a handful of lines, then one summary; all are counted."""
        clock, node = gate_node(self)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        for _ in range(500):
            gate, transport = connect(node)
            gate.dataReceived(upgrade_request("/nope"))
        clock.advance(LOG_WINDOW_S)
        self.assertEqual(node.counters["refused_path"], 500)
        self.assertEqual(len(events), LOG_PER_REASON + 1)
        self.assertIn("495 more refused_path events", lines(events)[-1])

    def test_huge_request_line(self):
        """A 256 KiB request line is refused at the budget and logged short, escaped."""
        clock, node = gate_node(self)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        gate, transport = connect(node)
        gate.dataReceived(b"GET /" + b"\x1b\n" * 128 * 1024)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 431 "))
        self.assertEqual(len(events), 1)
        self.assertLess(len(lines(events)[0]), 300)

    def test_autobahn_refusals_go_through_the_limiter(self):
        """Upgrades Autobahn refuses (no WebSocket key) are counted and summarised too."""
        clock, node = gate_node(self)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        bad = upgrade_request().replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
        for _ in range(50):
            gate, transport = connect(node)
            gate.dataReceived(bad)
            self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "))
        clock.advance(LOG_WINDOW_S)
        self.assertEqual(node.counters["refused_bad_request"], 50)
        self.assertLessEqual(len(events), 2 * LOG_PER_REASON + 2)


class FieldsTests(SynchronousTestCase):
    """No log line has an empty field."""

    def test_tls_error_says_what_happened(self):
        """Autobahn's 'SSL error: http request (in )' becomes a line saying ws:// met wss."""
        from lethean.mesh._logs import AutobahnLog

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        log = AutobahnLog(LogLimiter(task.Clock()), "127.0.0.1:5555")
        log.error("SSL error: http request (in )")
        log.error("SSL error: wrong version number (in ssl3_get_record)")
        text = lines(events)
        self.assertEqual(len(text), 2, text)
        self.assertIn("plain HTTP on the TLS port (it dialled ws://, not wss://)", text[0])
        self.assertNotIn("(in )", text[0])
        self.assertIn("wrong version number (in ssl3_get_record)", text[1])

    def test_failed_dial_names_a_missing_id(self):
        """A failed dial of an unregistered address says its id is not known yet."""
        from twisted.internet.error import ConnectionRefusedError
        from twisted.internet.testing import MemoryReactorClock
        from twisted.python.failure import Failure

        from lethean.identity import NodeManager
        from lethean.mesh import MeshTransport, TransportConfig
        from lethean.peers import PeerRegistry

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        reactor = MemoryReactorClock()
        folder = self.mktemp()
        transport = MeshTransport(
            reactor, NodeManager.in_directory(folder).load_or_create(name="a"),
            PeerRegistry(reactor, folder + "/peers.json"), TransportConfig(listen=None))
        dialled = transport.connect("127.0.0.1:1")
        factory = reactor.tcpClients[0][2]
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.failureResultOf(dialled, ConnectionRefusedError)
        [line] = [t for t in lines(events) if t.startswith("could not connect")]
        self.assertIn("127.0.0.1:1 (id not known yet)", line)
        self.assertNotIn("()", line)


class LinkLinesTests(SynchronousTestCase):
    """Links that come and go write at most one line each, however they come and go."""

    def test_links_up_and_down_share_one_allowance(self):
        """Ten links up then down in one window: five lines, then one summary."""
        from twisted.test.iosim import connectedServerAndClient

        from lethean.mesh import MeshTransport, TransportConfig
        from tests._mesh import ADDRESS, client_factory_for, make_identity, make_registry

        clock = task.Clock()
        server = MeshTransport(clock, make_identity("server"), make_registry(self),
                               TransportConfig(listen=None))
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        pumps = []
        for n in range(10):
            client = MeshTransport(clock, make_identity("c{}".format(n)), make_registry(self),
                                   TransportConfig(listen=None))
            factory = client_factory_for(client)
            _, _, pump = connectedServerAndClient(
                lambda: server.server_factory().buildProtocol(ADDRESS),
                lambda: factory.buildProtocol(ADDRESS), clock=clock)
            pump.flush()
            pumps.append((client, pump))
        self.assertEqual(len(server.connections()), 10)
        for client, pump in pumps:
            client.stopService()
            pump.flush()
        self.assertEqual(server.connections(), [])
        # The server's lines (each client writes its own about its one link).
        link_lines = [line for line in lines(events)
                      if line.startswith("link ") and " inbound" in line]
        self.assertEqual(len(link_lines), LOG_PER_REASON)
        clock.advance(LOG_WINDOW_S)
        summaries = [line for line in lines(events) if "more link events" in line]
        self.assertEqual(len(summaries), 1)
