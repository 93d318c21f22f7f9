"""Miners as real child processes, and profiles in a folder."""

import os
import sys
from datetime import datetime, timezone

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from lethean.interfaces import IMinerManager, IProfileManager
from lethean.node._errors import MinerError, MinerNotFoundError, ProfileError, ProfileNotFoundError
from lethean.node._miners import MinerProcess, ProcessMinerManager
from lethean.node._profiles import DirectoryProfileManager

#: A miner that prints its type, config and a speed, then waits for SIGTERM.
MINER = (
    "import os, sys, time\n"
    "print('type', os.environ['LETHEAN_MINER_TYPE'])\n"
    "print('config', os.environ['LETHEAN_MINER_CONFIG'])\n"
    "print('{\"hashrate\": 1234.5, \"shares\": 3}')\n"
    "sys.stdout.flush()\n"
    "sys.stdin.read()\n"
)


def wait_for_lines(miner, count):
    """A Deferred firing once ``miner`` has printed ``count`` lines (or ended)."""
    d = defer.Deferred()
    if len(miner.lines) >= count or miner.exit_code is not None:
        d.callback(None)
        return d
    original = miner._line

    def line(text):
        original(text)
        if len(miner.lines) >= count and not d.called:
            d.callback(None)
    miner._line = line
    miner.ended.addCallback(lambda _: None if d.called else d.callback(None))
    return d


class ProcessMinerManagerTests(TestCase):
    """A real subprocess per miner: start, console, stats, stop."""

    def manager(self, command=(sys.executable, "-c", MINER)):
        manager = ProcessMinerManager(reactor, list(command), stop_timeout_s=5)
        self.addCleanup(manager.stop_all)
        return manager

    async def test_start_logs_stats_stop(self):
        """A started miner's console and reported speed are readable; stop ends it."""
        manager = self.manager()
        verifyObject(IMinerManager, manager)
        miner = manager.start_miner("xmrig", {"pool": "pool.example:3333", "threads": 2})
        self.assertEqual((miner.get_name(), miner.get_type()), ("xmrig-0", "xmrig"))
        await wait_for_lines(miner, 3)
        lines = miner.get_console_history_since(10, None)
        self.assertEqual(lines[0], "type xmrig")
        self.assertEqual(lines[1], 'config {"pool": "pool.example:3333", "threads": 2}')
        stats = miner.get_stats()
        self.assertEqual((stats["hashrate"], stats["shares"], stats["pool"]),
                         (1234.5, 3, "pool.example:3333"))
        self.assertEqual(manager.list_miners(), [miner])
        self.assertIs(manager.get_miner("xmrig-0"), miner)
        await manager.stop_miner("xmrig-0")
        self.assertIsNotNone(miner.exit_code)
        self.assertEqual(manager.list_miners(), [])
        self.assertRaises(MinerNotFoundError, manager.get_miner, "xmrig-0")

    async def test_stop_is_logged_as_a_stop(self):
        """A miner stopped on request logs that it was stopped, not an exit status."""
        from twisted.internet.testing import EventLoggingObserver
        from twisted.logger import formatEvent, globalLogPublisher

        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        manager = self.manager()
        miner = manager.start_miner("xmrig", {})
        await wait_for_lines(miner, 1)
        await manager.stop_miner(miner.get_name())
        texts = [formatEvent(e) for e in events if "miner" in e.get("log_format", "")]
        self.assertIn("miner xmrig-0 stopped (on request)", texts)
        self.assertFalse([t for t in texts if "exited with status" in t], texts)

    async def test_dead_miner(self):
        """A miner that exits stays listed with its console; its stats fail."""
        manager = self.manager((sys.executable, "-c", "print('bye'); raise SystemExit(3)"))
        miner = manager.start_miner("xmrig", {})
        status = await miner.ended
        self.assertEqual(status, 3)
        self.assertEqual(miner.get_console_history_since(5, None), ["bye"])
        self.assertRaises(MinerError, miner.get_stats)
        await manager.stop_miner(miner.get_name())

    def test_missing_command(self):
        """A miner command that does not exist, or none at all, is a clean error."""
        self.assertRaises(MinerError, ProcessMinerManager(reactor, ["no-such-miner-xyz"]).start_miner,
                          "xmrig", {})
        self.assertRaises(MinerError, ProcessMinerManager(reactor, None).start_miner, "xmrig", {})

    def test_stop_unknown(self):
        """Stopping a miner that does not run fails its Deferred with MinerNotFoundError."""
        self.failureResultOf(self.manager().stop_miner("nope"), MinerNotFoundError)


class ConsoleTests(SynchronousTestCase):
    """Console history: limits, the since filter and long lines."""

    def test_since_and_limit(self):
        """Only lines after ``since`` count, and only the last ``lines`` of them."""
        clock = Clock()
        miner = MinerProcess(clock, "m-0", "m", {})
        for i in range(5):
            clock.advance(1)
            miner.childDataReceived(1, "line {}\n".format(i).encode())
        since = datetime.fromtimestamp(2.5, timezone.utc)
        self.assertEqual(miner.get_console_history_since(10, since), ["line 2", "line 3", "line 4"])
        self.assertEqual(miner.get_console_history_since(2, None), ["line 3", "line 4"])

    def test_split_and_long_lines(self):
        """Lines split across reads are joined; an endless line is cut, not buffered."""
        miner = MinerProcess(Clock(), "m-0", "m", {})
        miner.childDataReceived(1, b"hash")
        miner.childDataReceived(1, b"rate 10.5\n")
        miner.childDataReceived(1, b"x" * 100000)
        self.assertEqual(miner.get_stats()["hashrate"], 10.5)
        self.assertLessEqual(len(miner._partial[1]), 4096)
        self.assertEqual(len(miner.lines[-1][1]), 4096)


class DirectoryProfileManagerTests(SynchronousTestCase):
    """Profiles saved and read back by id, never outside their folder."""

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.profiles = DirectoryProfileManager(self.root)

    def test_round_trip(self):
        """A saved profile reads back, is listed, and can be deleted."""
        verifyObject(IProfileManager, self.profiles)
        self.assertIsNone(self.successResultOf(
            self.profiles.save_profile({"id": "gpu", "threads": 4})))
        self.assertEqual(self.profiles.get_profile("gpu"), {"id": "gpu", "threads": 4})
        self.assertEqual(self.profiles.list_profiles(), ["gpu"])
        self.profiles.delete_profile("gpu")
        self.assertRaises(ProfileNotFoundError, self.profiles.get_profile, "gpu")

    def test_unwritable_folder_fails_the_deferred(self):
        """A folder that cannot be made fails save_profile's Deferred with ProfileError."""
        with open(self.root, "w") as f:
            f.write("a file where the folder should be")
        self.failureResultOf(self.profiles.save_profile({"id": "gpu"}), ProfileError)

    def test_unsafe_ids(self):
        """Ids that could leave the folder are refused (through save_profile's Deferred)."""
        for bad in ("../x", "/etc/passwd", "", ".hidden"):
            self.failureResultOf(self.profiles.save_profile({"id": bad}), ProfileError)
            self.assertRaises(ProfileError, self.profiles.get_profile, bad)
        self.failureResultOf(self.profiles.save_profile(["not", "an", "object"]), ProfileError)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.root), "x.json")))


class ThreadedProfileTests(TestCase):
    """With a threaded reactor, saving runs off the reactor thread."""

    async def test_save_returns_a_deferred(self):
        """save_profile returns a Deferred that fires once the file is written."""
        profiles = DirectoryProfileManager(os.path.abspath(self.mktemp()), reactor)
        d = profiles.save_profile({"id": "cpu"})
        self.assertIsInstance(d, defer.Deferred)
        await d
        self.assertEqual(profiles.get_profile("cpu"), {"id": "cpu"})
