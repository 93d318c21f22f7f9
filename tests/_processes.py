"""Real ``twistd`` and ``lethean`` processes for the tests, with their output."""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from twisted.internet import defer, protocol, reactor
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.utils import getProcessOutputAndValue

ROOT = str(Path(__file__).resolve().parent.parent)

#: The backstop timeout of a test that starts Python processes (``twistd``,
#: the ``lethean`` command): each start-up takes a fraction of a second of
#: CPU, and up to half a minute when others load the machine, and a test
#: may start a dozen.  It catches a hang; it measures nothing.
PROCESS_TEST_TIMEOUT_S = 600


class Output(protocol.ProcessProtocol):
    """Collects a child's output and fires Deferreds on lines and on exit."""

    def __init__(self):
        self.text = ""
        self.ended = defer.Deferred()
        self._watches = []

    def wait_for(self, pattern):
        """A Deferred firing with the first match of ``pattern`` in the output."""
        d = defer.Deferred()
        self._watches.append((re.compile(pattern), d))
        self._check()
        return d

    def _check(self):
        for entry in list(self._watches):
            match = entry[0].search(self.text)
            if match:
                self._watches.remove(entry)
                entry[1].callback(match)

    def outReceived(self, data):
        self.text += data.decode("utf-8", "replace")
        self._check()

    errReceived = outReceived

    def processEnded(self, reason):
        for _, d in self._watches:
            d.errback(AssertionError("process ended before printing it:\n" + self.text))
        self._watches = []
        self.ended.callback(reason.value)


def short_folder(test):
    """
    A new folder with a short path (a unix socket's path has at most 107
    bytes; trial's temporary folders are deeper), removed after ``test``.
    """
    folder = tempfile.mkdtemp(prefix="lethean-")
    test.addCleanup(shutil.rmtree, folder, True)
    return folder


def environment(home):
    """
    The environment of a child process: the checkout on PYTHONPATH and the
    XDG folders under ``home``, so nothing touches the real home.
    """
    return dict(os.environ, PYTHONPATH=ROOT,
                XDG_DATA_HOME=os.path.join(home, "xdg-data"),
                XDG_CONFIG_HOME=os.path.join(home, "xdg-config"))


def signal_if_running(process, name):
    """
    Signal ``process`` unless it has exited: its exit is reaped before its
    pipes close, so a stop (or a second one, from a cleanup) can come
    between the two, when ``processEnded`` is still to come.
    """
    try:
        process.signalProcess(name)
    except ProcessExitedAlready:
        pass


def spawn(test, home, argv, *, stop_signal="KILL"):
    """
    Run ``argv`` in ``home``; returns its ``(process, Output)``, sent
    ``stop_signal`` after the test if still running.
    """
    output = Output()
    process = reactor.spawnProcess(output, argv[0], argv, env=environment(home), path=home)

    def stop_if_running():
        if output.ended.called:
            return None
        signal_if_running(process, stop_signal)
        return output.ended
    test.addCleanup(stop_if_running)
    return process, output


def start_twistd_node(test, home, data_dir, *options):
    """
    ``twistd -n lethean-node`` on loopback for ``data_dir``; returns its
    ``(process, Output)``, killed after the test if still running.
    """
    return spawn(test, home, [
        sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
        "-n", "--pidfile=", "lethean-node", "--listen", "tcp:0:interface=127.0.0.1",
        "--data-dir", data_dir, *options])


def run_lethean(home, *argv):
    """Run the ``lethean`` command; fires with (stdout, stderr, status)."""
    return getProcessOutputAndValue(
        sys.executable, ["-c", "from lethean.cli import main; main()", *argv],
        env=environment(home), path=ROOT, reactor=reactor)
