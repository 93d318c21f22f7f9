"""Where the control API listens: --control, and the start-up line that names it."""

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests._node_control import Node


class StartupTests(TestCase):
    """One start-up line says where the node listens, who may connect, and its control API."""

    def test_startup_line(self):
        """The line names the mesh URL, auth mode, allowlist size and control endpoint."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        node = Node(self, "alpha")
        [line] = [e for e in events if "is up" in e.get("log_format", "")]
        self.assertEqual((line["listen"], line["auth"], line["allowlisted"], line["control"]),
                         ("ws://{}/ws".format(node.address), "open", 0,
                          "unix:" + node.socket))


class OptionTests(SynchronousTestCase):
    """--control of twistd lethean-node."""

    def parse(self, *argv):
        from lethean.node.tap import Options

        options = Options()
        options.parseOptions(["--data-dir", "/srv/node", *argv])
        return options["control"]

    def test_default_is_the_data_folder_socket(self):
        """Without --control: a 0600 socket with a lock file in the data folder."""
        self.assertEqual(self.parse(), ["unix:/srv/node/control.sock:mode=600:lockfile=1"])

    def test_repeatable_and_none(self):
        """--control is repeatable and replaces the default; 'none' alone turns it off."""
        self.assertEqual(self.parse("--control", "tcp:9190", "--control", "unix:/run/c.sock"),
                         ["tcp:9190", "unix:/run/c.sock"])
        self.assertEqual(self.parse("--control", "none"), [])
        from twisted.python.usage import UsageError
        with self.assertRaises(UsageError):
            self.parse("--control", "none", "--control", "tcp:9190")
        with self.assertRaises(UsageError):
            self.parse("--control", "9190")
