"""The node's --log-level filter over a log publisher's observers."""

from twisted.logger import LogLevel, LogPublisher, Logger
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from lethean.node._loglevel import filter_log_observers
from lethean.node.tap import Options


class LogLevelFilterTests(SynchronousTestCase):
    """Events below the level are dropped for every observer; the rest pass unchanged."""

    def test_levels(self):
        """At warn, debug and info are dropped; warn, error and legacy events without a level pass."""
        publisher = LogPublisher()
        seen = []
        publisher.addObserver(seen.append)
        filter_log_observers(LogLevel.warn, publisher)
        log = Logger(namespace="t", observer=publisher)
        log.debug("d")
        log.info("i")
        log.warn("w")
        log.error("e")
        publisher({"message": ("no level",)})
        self.assertEqual([e.get("log_format", "no level") for e in seen], ["w", "e", "no level"])

    def test_applied_once(self):
        """Filtering twice does not wrap an observer twice, and observers added later are not touched."""
        publisher = LogPublisher()
        seen, later = [], []
        publisher.addObserver(seen.append)
        filter_log_observers(LogLevel.info, publisher)
        filter_log_observers(LogLevel.info, publisher)
        publisher.addObserver(later.append)
        Logger(namespace="t", observer=publisher).debug("d")
        self.assertEqual((len(seen), len(later)), (0, 1))


class LogLevelOptionTests(SynchronousTestCase):
    """--log-level is checked at parse time."""

    def test_default_and_names(self):
        """The default is info; any of debug, info, warn, error, critical is taken."""
        options = Options()
        options.parseOptions([])
        self.assertEqual(options["log-level"], LogLevel.info)
        for name in ("debug", "info", "warn", "error", "critical", "WARN"):
            options = Options()
            options.parseOptions(["--log-level", name])
            self.assertEqual(options["log-level"], LogLevel.levelWithName(name.lower()))

    def test_unknown_level(self):
        """Another word is a one-line usage error naming the levels."""
        options = Options()
        with self.assertRaises(usage.UsageError) as caught:
            options.parseOptions(["--log-level", "verbose"])
        self.assertIn("debug, info, warn, error, critical", str(caught.exception))
