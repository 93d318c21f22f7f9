"""
Real processes for the interoperability tests: the Go reference node
(``../shared/gonode/bin/gonode``), ``twistd lethean-node`` and the
``lethean`` CLI, each spawned with ``reactor.spawnProcess``.

Every process gets the XDG folders of the test's temporary directory
(``tests._processes.environment``) and an explicit ``--data-dir``, so
nothing touches the user's identity and parallel suites never share
files.  Waiting is Deferred-based; the test's ``timeout`` is the only
backstop.
"""

import json
import os
from pathlib import Path

from twisted.internet import defer, protocol, reactor, task

from tests._paths import GONODE
from tests._processes import (
    environment, run_lethean, short_folder, signal_if_running, start_twistd_node)

#: ``skip`` for interop test classes: a reason when the Go node is missing.
SKIP = None if os.access(GONODE, os.X_OK) else (
    "the Go reference node is not at {} (build it with ../shared/gonode/build.sh)".format(
        GONODE))

#: Seconds a process gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 15.0
#: How often to look for a listening socket the Go node has not reported.
PORT_POLL_S = 0.02


class LineProcess(protocol.ProcessProtocol):
    """
    Collects a child's output: every stdout line that is a JSON object is
    an *event*; ``text`` is everything (stdout and stderr).  Tests wait for
    an event; a child that exits first fails the wait.
    """

    def __init__(self):
        self.events = []
        self.text = ""
        self.ended = defer.Deferred()
        self.status = None
        self._partial = b""
        self._watches = []

    def wait_for_event(self, predicate):
        """A Deferred firing with the first event ``predicate(event)`` accepts."""
        return self._watch(lambda: next((e for e in self.events if predicate(e)), None))

    def _watch(self, probe):
        d = defer.Deferred()
        if self.status is not None:
            found = probe()
            if found is None:
                d.errback(AssertionError("process ended without it:\n" + self.text))
            else:
                d.callback(found)
            return d
        self._watches.append((probe, d))
        self._check()
        return d

    def _check(self):
        for entry in list(self._watches):
            found = entry[0]()
            if found is not None:
                self._watches.remove(entry)
                entry[1].callback(found)

    def outReceived(self, data):
        self.text += data.decode("utf-8", "replace")
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.events.append(event)
        self._check()

    def errReceived(self, data):
        self.text += data.decode("utf-8", "replace")
        self._check()

    def processEnded(self, reason):
        self.status = reason.value
        self._check()
        watches, self._watches = self._watches, []
        for _, d in watches:
            d.errback(AssertionError("process ended before it:\n" + self.text))
        self.ended.callback(reason.value)


def listening_port(pid):
    """The TCP port process ``pid`` listens on (from ``/proc``), or None."""
    inodes = set()
    fd_dir = "/proc/{}/fd".format(pid)
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return None
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/{}/net/{}".format(pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                return int(fields[1].rsplit(":", 1)[1], 16)
    return None


async def wait_until(probe, interval=PORT_POLL_S):
    """Poll ``probe()`` on the reactor until it returns something other than None."""
    while True:
        value = probe()
        if value is not None:
            return value
        await task.deferLater(reactor, interval)


def _matches(event, match):
    return all(event.get(key) == value for key, value in match.items())


class GoWorker:
    """
    ``gonode worker`` on a random loopback port: its output (a
    :class:`LineProcess`), ``address`` once started, and a clean stop.
    """

    info = None
    address = None

    def __init__(self, testcase, home, data_dir, flags):
        argv = [str(GONODE), "worker", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
                *flags]
        self.output = LineProcess()
        self.process = reactor.spawnProcess(self.output, argv[0], argv,
                                            env=environment(str(home)), path=str(home))
        self.pid = self.process.pid
        testcase.addCleanup(self.stop)

    def events(self, **match):
        """The events so far whose fields equal ``match``."""
        return [e for e in self.output.events if _matches(e, match)]

    def wait_for(self, **match):
        """A Deferred firing with the first event whose fields equal ``match``."""
        return self.output.wait_for_event(lambda e: _matches(e, match))

    def stop(self):
        """SIGTERM (SIGKILL after :data:`STOP_GRACE_S`); fires with the exit reason."""
        if self.output.status is not None:
            return defer.succeed(self.output.status)
        signal_if_running(self.process, "TERM")
        killer = reactor.callLater(STOP_GRACE_S, self._kill)
        stopped = defer.Deferred()

        def ended(result):
            if killer.active():
                killer.cancel()
            stopped.callback(result)
            return result
        self.output.ended.addBoth(ended)
        return stopped

    def _kill(self):
        if self.output.status is None:
            signal_if_running(self.process, "KILL")

    async def started(self):
        self.info = await self.wait_for(event="ready")
        # It reports the ``:0`` it was given and binds in the background.
        port = await wait_until(lambda: self._port())
        self.address = "127.0.0.1:{}".format(port)
        return self

    def _port(self):
        if self.output.status is not None:
            raise AssertionError("gonode worker ended:\n" + self.output.text)
        return listening_port(self.pid)

    @property
    def id(self):
        return self.info["id"]

    @property
    def public_key(self):
        return self.info["publicKey"]

    def received(self, message_type, **match):
        """The ``recv`` events of ``message_type`` so far."""
        return self.events(event="recv", type=message_type, **match)


def gonode_worker(testcase, home, data_dir, *flags):
    """Start ``gonode worker --data-dir DATA_DIR FLAGS``; a Deferred firing with a GoWorker."""
    return defer.Deferred.fromCoroutine(GoWorker(testcase, home, data_dir, flags).started())


async def gonode(home, *argv):
    """Run a one-shot ``gonode`` command; ``(events, exit code, all output)``."""
    output = LineProcess()
    reactor.spawnProcess(output, str(GONODE), [str(GONODE), *argv],
                         env=environment(str(home)), path=str(home))
    status = await output.ended
    return output.events, status.exitCode, output.text


async def gonode_ctl(home, address, data_dir, *ops, **flags):
    """
    Run ``gonode ctl`` with each op; returns ``{op: result event}`` (the
    ``connect`` event under ``"connect"``) and the exit code.
    """
    argv = ["ctl", "--addr", address, "--data-dir", str(data_dir)]
    for name, value in flags.items():
        argv += ["--" + name.replace("_", "-"), str(value)]
    for op in ops:
        argv += ["--op", op]
    events, code, text = await gonode(home, *argv)
    results = {e["op"]: e for e in events if "op" in e}
    if "connect" not in results:
        raise AssertionError("gonode ctl did not connect:\n" + text)
    return results, code


class LetheanNode:
    """``twistd -n lethean-node`` (see ``tests._processes``); ``address`` and ``id`` once up."""

    address = None
    id = None

    def __init__(self, testcase, home, data_dir, options):
        self.process, self.output = start_twistd_node(testcase, str(home), str(data_dir),
                                                      *options)

    async def started(self):
        up = await self.output.wait_for(
            r"node ([0-9a-f]{32}) \(.*\) is up: mesh on ws://127\.0\.0\.1:(\d+)")
        self.id = up.group(1)
        self.address = "127.0.0.1:{}".format(up.group(2))
        return self

    def stop(self):
        """SIGTERM; fires with the exit reason."""
        if not self.output.ended.called:
            signal_if_running(self.process, "TERM")
        ended = defer.Deferred()
        self.output.ended.addBoth(lambda result: (ended.callback(result), result)[1])
        return ended


def lethean_node(testcase, home, data_dir, *options):
    """Start ``twistd -n lethean-node``; a Deferred firing with a LetheanNode."""
    node = LetheanNode(testcase, home, data_dir, options)
    return defer.Deferred.fromCoroutine(node.started())


async def lethean(home, *argv):
    """Run the ``lethean`` CLI; ``(stdout, stderr, exit code)`` as text."""
    out, err, code = await run_lethean(str(home), *argv)
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), code


def cli_identity_folder(home):
    """Where ``lethean`` keeps its own identity when no node runs (under ``home``'s XDG)."""
    return Path(home) / "xdg-data" / "lethean-desktop" / "cli"


def home_for(testcase):
    """
    A fresh folder for one test's processes, with a short path: a node's
    control socket must fit a unix socket's 107 bytes.
    """
    return Path(short_folder(testcase))
