"""The worker's miner replies (stats, start, stop, logs), as the reference sends them."""

from datetime import datetime, timezone

from tests._node_worker import FakeMiner, WorkerHarness


class StatsTests(WorkerHarness):
    """get_stats."""

    def test_stats(self):
        """Stats list the miners, the identity and whole seconds of uptime."""
        self.clock.advance(7200.9)
        self.assertReply("get_stats", None, "stats", {
            "nodeId": self.server.identity.id, "nodeName": "bravo",
            "miners": [{"name": "xmrig-0", "type": "xmrig", "hashrate": 1234.5, "shares": 10,
                        "rejected": 1, "uptime": 3600, "pool": "pool.example:3333",
                        "algorithm": "rx/0"}],
            "uptime": 7200})

    def test_failing_and_odd_miners(self):
        """Miners whose stats fail are skipped; non-map stats give zero values."""
        self.miners.miners = {"bad": FakeMiner("bad", fail=True),
                              "odd": FakeMiner("odd", "tt", stats=["not", "a", "map"]),
                              "ints": FakeMiner("ints", stats={"hashrate": 7, "shares": 2.0,
                                                               "pool": 3})}
        miners = self.ask("get_stats").payload["miners"]
        self.assertEqual([m["name"] for m in miners], ["odd", "ints"])
        self.assertEqual(miners[0]["hashrate"], 0)
        self.assertEqual((miners[1]["hashrate"], miners[1]["shares"], miners[1]["pool"]),
                         (7, 2, ""))

    def test_no_miner_manager(self):
        """Without a miner manager the stats have no miners."""
        self.replace_worker(miner_manager=None)
        self.assertEqual(self.ask("get_stats").payload["miners"], [])


class MinerTests(WorkerHarness):
    """start_miner and stop_miner."""

    def test_no_manager(self):
        """Every miner request needs a miner manager."""
        self.replace_worker(miner_manager=None)
        for message_type in ("start_miner", "stop_miner", "get_logs"):
            self.assertError(message_type, {}, "node: miner manager not configured")

    def test_start_with_config(self):
        """A config in the request is used as it is, even null."""
        self.assertReply("start_miner", {"minerType": "xmrig", "config": {"threads": 4}},
                         "miner_ack", {"success": True, "minerName": "xmrig-0"})
        self.ask("start_miner", {"minerType": "xmrig", "config": None})
        self.assertEqual(self.miners.started, [("xmrig", {"threads": 4}), ("xmrig", None)])

    def test_start_with_profile(self):
        """Without a config the profile is looked up."""
        self.ask("start_miner", {"minerType": "xmrig", "profileId": "p1"})
        self.assertEqual(self.miners.started, [("xmrig", {"threads": 2})])
        self.assertError("start_miner", {"minerType": "xmrig", "profileId": "nope"},
                         "Worker.handleStartMiner: profile not found: nope")
        self.replace_worker(profile_manager=None)
        self.assertError("start_miner", {"minerType": "xmrig"},
                         "Worker.handleStartMiner: no config provided and no profile manager "
                         "configured")

    def test_start_refusals(self):
        """A bad payload or an empty miner type are error replies."""
        self.assertError("start_miner", {"minerType": ""},
                         "Worker.handleStartMiner: miner type is required")
        reply = self.ask("start_miner", {"minerType": 5})
        self.assertTrue(reply.payload["message"].startswith(
            "Worker.handleStartMiner: invalid start miner payload: "))

    def test_start_failure_is_an_ack(self):
        """A manager that fails to start answers miner_ack with success false."""
        self.miners.start_error = "no such binary"
        self.assertReply("start_miner", {"minerType": "xmrig", "config": {}}, "miner_ack",
                         {"success": False, "error": "no such binary"})

    def test_stop(self):
        """stop_miner always answers miner_ack, with the error text on failure."""
        self.assertReply("stop_miner", {"minerName": "xmrig-0"}, "miner_ack",
                         {"success": True, "minerName": "xmrig-0"})
        self.miners.stop_error = "not running"
        self.assertReply("stop_miner", {"minerName": "xmrig-0"}, "miner_ack",
                         {"success": False, "minerName": "xmrig-0", "error": "not running"})
        self.assertEqual(self.miners.stopped, ["xmrig-0"])


class LogsTests(WorkerHarness):
    """get_logs."""

    def test_logs(self):
        """Lines come back with hasMore when the request's count is reached."""
        self.assertReply("get_logs", {"minerName": "xmrig-0", "lines": 3}, "logs",
                         {"minerName": "xmrig-0", "lines": ["a", "b", "c"], "hasMore": True})
        self.assertEqual(self.ask("get_logs", {"minerName": "xmrig-0", "lines": 5})
                         .payload["hasMore"], False)

    def test_clamp_and_since(self):
        """lines <= 0 or > 10000 mean 10000; since is Unix milliseconds."""
        miner = self.miners.miners["xmrig-0"]
        self.ask("get_logs", {"minerName": "xmrig-0", "lines": 0})
        self.ask("get_logs", {"minerName": "xmrig-0", "lines": 10001, "since": 1767323045120})
        self.assertEqual(miner.history_calls, [
            (10000, None),
            (10000, datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=timezone.utc))])

    def test_no_lines_is_null(self):
        """A miner with no history answers lines null."""
        self.miners.miners["xmrig-0"].lines = None
        self.assertReply("get_logs", {"minerName": "xmrig-0", "lines": 3}, "logs",
                         {"minerName": "xmrig-0", "lines": None, "hasMore": False})

    def test_unknown_miner(self):
        """An unknown miner is the reference's error reply."""
        self.assertError("get_logs", {"minerName": "nope", "lines": 3},
                         "Worker.handleGetLogs: miner not found: nope")
