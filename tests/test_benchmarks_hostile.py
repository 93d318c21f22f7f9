"""
The instrument of ``benchmarks/hostile.py``: its WebSocket framing against
Autobahn's parser, its mesh handshake, and the arithmetic of its figures.

The attack run itself (a node, a legitimate peer and an attacker as three
processes, seconds of flooding) is a measurement, not a test: it is not run
here.
"""

import sys
from pathlib import Path

from twisted.internet import protocol, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

from benchmarks._hostile import figures, wire
from benchmarks._hostile.attacks import ATTACKS
from lethean.mesh import decode_message, new_message, stacked_server_factory
from lethean.mesh._envelope import HANDSHAKE, HANDSHAKE_ACK

ROOT = Path(__file__).resolve().parent.parent


class _Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def _open_websocket():
    """A real Autobahn server (lethean's stacked factory, echoing) after our upgrade."""
    address = IPv4Address("TCP", "127.0.0.1", 1)
    factory = stacked_server_factory(protocol.Factory.forProtocol(_Echo),
                                     reactor=MemoryReactorClock())
    server = factory.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    server.makeConnection(transport)
    server.dataReceived(wire.upgrade_request(b"127.0.0.1:1", b"/"))
    status, rest = wire.response_status(transport.value())
    transport.clear()
    return server, transport, status


class WireTests(SynchronousTestCase):
    """Attackers speak RFC 6455 exactly where they mean to."""

    def test_upgrade_is_accepted(self):
        """Autobahn answers the upgrade request with 101."""
        self.assertEqual(_open_websocket()[2], 101)

    def test_frames_reach_autobahn_and_come_back(self):
        """Masked frames of every length encoding arrive whole and read back."""
        server, transport, _ = _open_websocket()
        for size in (1, 125, 126, 65535, 65536, 70000):
            payload = bytes(range(256)) * (size // 256 + 1)
            payload = payload[:size]
            data = wire.frame(wire.OP_BINARY, payload)
            for i in range(0, len(data), 1000):
                server.dataReceived(data[i:i + 1000])
            self.assertEqual(wire.FrameReader().feed(transport.value()),
                             [(wire.OP_BINARY, payload)])
            transport.clear()

    def test_fragments_make_one_message(self):
        """Continuation frames are joined into one message, as the fragment attack needs."""
        server, transport, _ = _open_websocket()
        server.dataReceived(wire.frame(wire.OP_BINARY, b"ab", fin=False) +
                            wire.frame(wire.OP_CONTINUATION, b"c", fin=False) +
                            wire.frame(wire.OP_CONTINUATION, b"d"))
        self.assertEqual(wire.FrameReader().feed(transport.value()), [(wire.OP_BINARY, b"abcd")])

    def test_frame_reader_byte_at_a_time(self):
        """The reader returns nothing until a frame is whole, masked or not."""
        reader = wire.FrameReader()
        data = wire.frame(wire.OP_TEXT, b"hello") + b"\x8a\x00"
        out = []
        for i in range(len(data)):
            out += reader.feed(data[i:i + 1])
        self.assertEqual(out, [(wire.OP_TEXT, b"hello"), (wire.OP_PONG, b"")])

    def test_response_status(self):
        """The status and the bytes after the head, once the head is complete."""
        self.assertIsNone(wire.response_status(b"HTTP/1.1 503 Busy\r\n"))
        self.assertEqual(wire.response_status(b"HTTP/1.1 503 Busy\r\nA: b\r\n\r\nbody"),
                         (503, b"body"))

    def test_handshake_is_a_mesh_envelope(self):
        """The handshake carries our identity, a challenge and the version."""
        local = wire.new_identity()
        message = decode_message(wire.handshake(local))
        self.assertEqual((message.type, message.from_, message.payload["version"]),
                         (HANDSHAKE, local.id, "1.0"))
        self.assertEqual(message.payload["identity"]["publicKey"], local.identity.public_key)

    def test_replayed_handshake_presents_the_victim(self):
        """A replay presents someone else's public identity, and says it is from them."""
        victim = wire.new_identity().identity.to_json_value()
        message = decode_message(wire.handshake(wire.new_identity(), identity=victim))
        self.assertEqual((message.from_, message.payload["identity"]), (victim["id"], victim))

    def test_ack_identity(self):
        """The responder's id and key from an accepting ack; refusals say so."""
        node = wire.new_identity().identity
        for accepted in (True, False):
            ack = new_message(HANDSHAKE_ACK, node.id, "", {
                "identity": node.to_json_value(), "accepted": accepted}, clock=wire.WallClock)
            self.assertEqual(wire.ack_identity(ack.to_bytes()),
                             (accepted, node.id, node.public_key))


def _progress(*points):
    return [{"t": t, "ok": ok, "err": err, "rtt_ms": rtts} for t, ok, err, rtts in points]


class FiguresTests(SynchronousTestCase):
    """Rates, windows, log counts, aims and medians."""

    def test_rate_between_progress_events(self):
        """Round trips per second between the events at or before each bound."""
        progress = _progress((0.0, 0, 0, []), (1.0, 100, 0, []), (2.0, 150, 2, []))
        self.assertEqual(figures.rate(progress, 0.0, 2.0), (75.0, 2))
        self.assertEqual(figures.rate(progress, 1.5, 2.5), (50.0, 2))
        self.assertEqual(figures.rate(progress, 2.0, 3.0), (None, None))

    def test_worst_window(self):
        """The slowest one-second stretch inside the attack."""
        progress = _progress((0.0, 0, 0, []), (1.0, 100, 0, []), (2.0, 110, 0, []),
                             (3.0, 210, 0, []))
        self.assertEqual(figures.worst_window(progress, 0.0, 3.0), 10.0)

    def test_round_trips_and_percentiles(self):
        """Times are taken from events inside the window only."""
        progress = _progress((1.0, 1, 0, [5.0]), (2.0, 3, 0, [1.0, 3.0]), (3.0, 4, 0, [100.0]))
        times = figures.round_trips_ms(progress, 1.0, 2.0)
        self.assertEqual(times, [1.0, 3.0])
        self.assertEqual(figures.percentile(times, 0.5), 3.0)
        self.assertIsNone(figures.percentile([], 0.5))

    def test_slope(self):
        """Growth per second by least squares; None without two samples."""
        samples = [(t / 10, 100 + 2 * t / 10) for t in range(20)]
        self.assertEqual(figures.slope(samples, 0, 2), 2.0)
        self.assertIsNone(figures.slope(samples, 5, 6))

    def test_legit_figures(self):
        """Half the baseline's rate during the attack is a ratio of 0.5."""
        progress = _progress((0.0, 0, 0, []), (2.0, 200, 0, [2.0] * 200),
                             (3.0, 250, 1, [8.0] * 50), (4.0, 300, 1, [10.0] * 50))
        legit = figures.legit_figures(progress, (0.0, 2.0), (2.0, 4.0))
        self.assertEqual(
            (legit["legit_ratio"], legit["legit_baseline_rps"], legit["legit_attack_rps"],
             legit["legit_ratio_worst_1s"], legit["legit_errors"]),
            (0.5, 100.0, 50.0, 0.5, 1))
        self.assertEqual((legit["legit_p50_ms_baseline"], legit["legit_p50_ms"]), (2.0, 10.0))

    def test_legit_figures_without_a_baseline(self):
        """No round trip before the attack: no ratio rather than a division by zero."""
        progress = _progress((0.0, 0, 0, []), (2.0, 0, 0, []), (4.0, 10, 0, []))
        self.assertIsNone(figures.legit_figures(progress, (0.0, 2.0), (2.0, 4.0))["legit_ratio"])

    def test_memory_figures(self):
        """Growth is peak minus before, kept is after minus before, in MiB."""
        mib = figures.MIB
        samples = [(t, (100 + 10 * t) * mib) for t in range(5)]
        memory = figures.memory_figures(100 * mib, 150 * mib, 120 * mib, samples, (0, 4))
        self.assertEqual((memory["rss_growth_mib"], memory["rss_kept_mib"],
                          memory["rss_slope_mib_per_s"]), (50.0, 20.0, 10.0))

    def test_log_figures(self):
        """Lines, bytes and tracebacks counted, debug apart; ports and ids folded into shapes."""
        lines = [b"2026-01-01T00:00:00+0000 [x#warn] dropped 127.0.0.1:%d: bad\n" % port
                 for port in range(5)]
        lines.append(b"2026-01-01T00:00:00+0000 [x#critical] \tTraceback (most recent call last):\n")
        lines.append(b"2026-01-01T00:00:00+0000 [w#debug] served get_stats to 1: stats\n")
        log = figures.log_figures(lines)
        self.assertEqual((log["log_lines"], log["log_debug_lines"], log["log_bytes"],
                          log["tracebacks"]), (6, 1, sum(map(len, lines)), 1))
        self.assertEqual(log["log_top"][0], {"count": 5, "line": "[x#warn] dropped 127.0.0.1:0: bad"})

    def test_aims_at_their_bounds(self):
        """Each aim at its limit, over it, and unmeasured."""
        at_limit = dict(legit_ratio=0.9, rss_growth_mib=31.9, log_lines_per_connection=1,
                        log_lines_per_s=20, tracebacks=0, fresh_ok=True)
        self.assertTrue(all(figures.aims(at_limit).values()))
        over = dict(legit_ratio=0.89, rss_growth_mib=32, log_lines_per_connection=1.01,
                    log_lines_per_s=20.1, tracebacks=1, fresh_ok=False)
        self.assertFalse(any(figures.aims(over).values()))
        self.assertEqual(set(figures.aims({}).values()), {None})

    def test_combine_takes_medians_and_the_worst_tracebacks(self):
        """Numbers are medians, tracebacks the worst, fresh_ok needs every run."""
        runs = [dict(attack="a", legit_ratio=r, rss_growth_mib=g, tracebacks=t, fresh_ok=f,
                     log_lines_per_connection=0, log_lines_per_s=0)
                for r, g, t, f in ((0.5, 10.0, 0, True), (0.95, 40.0, 2, True),
                                   (0.92, 20.0, 0, False))]
        line = figures.combine(runs)
        self.assertEqual((line["legit_ratio"], line["rss_growth_mib"], line["tracebacks"]),
                         (0.92, 20.0, 2))
        self.assertEqual((line["fresh_ok"], line["fresh_ok_runs"], line["runs"]),
                         (False, "2/3", 3))
        self.assertEqual(line["pass"]["legit"], True)
        self.assertFalse(line["ok"])

    def test_summary_names_the_failures(self):
        """Attacks that fail an aim are listed under it."""
        good = figures.combine([dict(attack="good", legit_ratio=1.0, rss_growth_mib=0,
                                     log_lines_per_connection=0, log_lines_per_s=0,
                                     tracebacks=0, fresh_ok=True)])
        bad = figures.combine([dict(good, attack="bad", fresh_ok=False)])
        summary = figures.summary([good, bad])
        self.assertEqual((summary["passed"], summary["failed"], summary["aims_failed"]),
                         (1, ["bad"], {"fresh_connection": ["bad"]}))


#: The attack classes issue 9 asks for, by the names the tool uses.
ISSUE_CLASSES = [
    "tcp_garbage", "plain_http", "wrong_path", "wrong_origin", "endless_headers",
    "huge_request_line", "silent_tcp", "silent_websocket", "handshake_wrong_version",
    "handshake_bad_challenge", "handshake_id_mismatch", "handshake_replay",
    "handshake_low_order_key", "handshake_garbage_json", "oversize_text_before_handshake",
    "oversize_binary_after_handshake", "tiny_fragments", "compression", "sealed_flood",
    "undecryptable_flood", "slow_reader", "ws_ping_flood", "churn_fresh_keys", "over_cap",
]


class CatalogueTests(TestCase):
    """Every attack class of issue 9 is there, and the script runs from a checkout."""

    def test_every_issue_class_is_an_attack(self):
        """No class of the issue is missing from the catalogue."""
        self.assertEqual(sorted(set(ISSUE_CLASSES) - set(ATTACKS)), [])

    async def test_list_from_a_checkout(self):
        """``python benchmarks/hostile.py --list`` names every attack and exits 0."""
        out, err, status = await getProcessOutputAndValue(
            sys.executable, [str(ROOT / "benchmarks" / "hostile.py"), "--list"],
            path=str(ROOT), reactor=reactor)
        self.assertEqual(status, 0, err)
        self.assertEqual([line.split()[0] for line in out.decode().splitlines()], list(ATTACKS))
