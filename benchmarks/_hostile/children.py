"""
Child processes that never outlive the run.

Every child starts in its own session (so a Ctrl-C reaches only the
orchestrator, which then kills them all), asks the kernel to kill it when
its parent dies (``PR_SET_PDEATHSIG``, set first thing in the child), and
is killed by :meth:`Children.kill_all` on any exit of the orchestrator.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["ROOT", "Children", "Child", "python_argv"]

ROOT = Path(__file__).resolve().parent.parent.parent


def python_argv(code, *argv):
    """``python -c`` running ``code`` once it dies with this process (``die_with_parent``)."""
    guard = "from benchmarks._processes import die_with_parent; die_with_parent({}); ".format(
        os.getpid())
    return [sys.executable, "-c", guard + code, *argv]


def _environment():
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p])
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


class Child:
    """
    One child process.  With ``events=True`` its stdout is JSON lines read
    by a thread into :attr:`events`; its stderr is kept for error reports.
    """

    def __init__(self, argv, *, stdout=None, stdin=True, events=False, cwd=None):
        self.events = []
        self._cond = threading.Condition()
        self._stderr = []
        self.process = subprocess.Popen(
            argv, cwd=cwd or ROOT, env=_environment(), start_new_session=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if events else (stdout or subprocess.DEVNULL),
            stderr=subprocess.STDOUT if stdout is not None else subprocess.PIPE)
        self.pid = self.process.pid
        threads = []
        if events:
            threads.append(threading.Thread(target=self._read_events, daemon=True))
        if self.process.stderr is not None:
            threads.append(threading.Thread(target=self._read_stderr, daemon=True))
        for thread in threads:
            thread.start()

    def _read_events(self):
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "text": line.decode("utf-8", "replace")[:500]}
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "exited"})
            self._cond.notify_all()

    def _read_stderr(self):
        for line in self.process.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))
            del self._stderr[:-40]

    def stderr_tail(self, lines=8):
        return "".join(self._stderr[-lines:]).strip()

    def wait_event(self, kind, timeout, after=0):
        """The first event of ``kind`` at index ``after`` or later; None on timeout or exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event.get("event") == kind:
                        return event
                    if event.get("event") == "exited":
                        return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def snapshot(self):
        with self._cond:
            return list(self.events)

    def tell(self, command):
        """Write one command line to the child's stdin (ignored once it is gone)."""
        try:
            self.process.stdin.write(command.encode("ascii") + b"\n")
            self.process.stdin.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def close_stdin(self):
        try:
            self.process.stdin.close()
        except (OSError, ValueError, AttributeError):
            pass

    def running(self):
        return self.process.poll() is None

    def stop(self, grace_s, sig=signal.SIGTERM):
        """Ask with ``sig`` (None: only wait), wait ``grace_s``, then SIGKILL."""
        if self.running() and sig is not None:
            self._signal(sig)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        if self.running():
            self._signal(signal.SIGKILL)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def _signal(self, sig):
        try:
            os.killpg(self.process.pid, sig)
        except OSError:
            try:
                self.process.send_signal(sig)
            except OSError:
                pass


class Children:
    """Every child of the run, killed together however the run ends."""

    def __init__(self):
        self._children = []

    def start(self, argv, **kwargs):
        child = Child(argv, **kwargs)
        self._children.append(child)
        return child

    def kill_all(self):
        for child in self._children:
            child.kill()
        self._children = [c for c in self._children if c.running()]

    def __enter__(self):
        def stop(signum, frame):
            raise SystemExit(128 + signum)
        self._previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
        return self

    def __exit__(self, *exc_info):
        # Ctrl-C pressed again while cleaning up must not leave a child behind.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.kill_all()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
        return False
