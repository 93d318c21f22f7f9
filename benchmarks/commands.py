"""
How long an operator waits for a ``lethean`` command, beside a ceiling.

Each figure runs the real command as a fresh process (the checkout first on
``PYTHONPATH``, its bytecode cached in a scratch ``PYTHONPYCACHEPREFIX`` as
an installed copy's would be) and, in the same round, a ceiling process
that does nothing lethean needs to do; rounds alternate the two, and after
``--rounds`` rounds every figure is the median.  One JSON line a figure:

* ``help``: ``lethean --help``.  Ceiling: ``python -c pass`` (the
  interpreter's own start-up and exit).
* ``ping_through_node``: ``lethean ping ADDRESS`` with a node running for
  the data folder, so the command asks that node over its control socket
  and the node pings a second node on the same host (the link between the
  two nodes is up after the first, uncounted, run).  Ceiling: ``python -c
  "import twisted.internet.reactor"``: a Twisted program cannot start with
  less.
* ``ping_direct``: the same ping with no node behind the data folder: the
  command is a short-lived controller that loads its identity, dials the
  node (TCP, WebSocket, the mesh handshake), pings and hangs up.  Ceiling:
  importing the reactor, Autobahn's WebSocket and PyNaCl, the libraries
  such a controller cannot do without.

Fields: ``seconds`` (wall, median), ``cpu_seconds`` (user + system of the
process), the ceiling's ``ceiling_seconds`` and ``ceiling_cpu_seconds``,
``ceiling_ratio`` (ceiling seconds over ours, paired round by round, then
the median: 1.0 would be no slower than the ceiling), ``over_ceiling_seconds``
(what the command adds to the ceiling, the median of the paired
differences), ``aim_s`` (issue 12: ``--help`` within 0.3 s, a ping to a
node on the same host within 0.5 s) and ``first_seconds`` (the uncounted
first run: bytecode compiled, and for ``ping_through_node`` the two nodes'
link dialled).  On a shared machine the wall times carry the wait for a
core; the CPU seconds and the ratios are the steady figures.

Run from the checkout: ``python benchmarks/commands.py`` (11 rounds),
``--rounds 3`` for a quick look, ``--only help`` for one figure.
"""

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._processes import die_with_parent  # noqa: E402
from benchmarks._timing import emit  # noqa: E402

#: Issue 12's aims, in seconds of wall time.
HELP_AIM_S = 0.3
PING_AIM_S = 0.5
#: How long a node may take to come up.
STARTUP_TIMEOUT_S = 120.0
FIGURES = ("help", "ping_through_node", "ping_direct")

_UP = re.compile(rb"node ([0-9a-f]{32}) .* is up: mesh on ws://127\.0\.0\.1:(\d+)/ws")
_LETHEAN = "import sys; from lethean.cli import main; sys.exit(main())"
_CEILINGS = {
    "help": ("python -c pass", "pass"),
    "ping_through_node": ("import twisted.internet.reactor", "import twisted.internet.reactor"),
    "ping_direct": ("import twisted.internet.reactor, autobahn.twisted.websocket, nacl.bindings",
                    "import twisted.internet.reactor, autobahn.twisted.websocket, "
                    "nacl.bindings"),
}


def _environment(home):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=os.path.join(home, "pyc"),
               XDG_DATA_HOME=os.path.join(home, "xdg-data"),
               XDG_CONFIG_HOME=os.path.join(home, "xdg-config"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _timed(argv, env, cwd):
    """Run ``argv`` to its end: ``(wall seconds, CPU seconds)``; raises if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=300, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError("{} exited {}:\n{}".format(
            argv, out.returncode, out.stderr.decode("utf-8", "replace")[-3000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


class Node:
    """A ``twistd lethean-node`` on loopback for a data folder of its own."""

    def __init__(self, home, name):
        self.data_dir = os.path.join(home, name)
        os.makedirs(self.data_dir, mode=0o700)
        self.log = open(os.path.join(home, name + ".log"), "w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
             "-n", "--pidfile=", "lethean-node", "--listen", "tcp:0:interface=127.0.0.1",
             "--data-dir", self.data_dir, "--name", name],
            env=_environment(home), cwd=home, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            self.log.seek(0)
            up = _UP.search(self.log.read())
            if up:
                self.id, self.address = up.group(1).decode(), "127.0.0.1:" + up.group(2).decode()
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                self.log.seek(0)
                raise RuntimeError("node {} did not start:\n{}".format(
                    name, self.log.read().decode("utf-8", "replace")[-3000:]))
            time.sleep(0.1)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _median(values, digits=3):
    return round(statistics.median(values), digits)


def measure(name, argv, home, rounds, aim_s):
    """Alternate the command and its ceiling for ``rounds`` rounds; one line."""
    env = _environment(home)
    label, code = _CEILINGS[name]
    ceiling = [sys.executable, "-c", code]
    first, _ = _timed(argv, env, home)
    _timed(ceiling, env, home)
    ours, theirs = [], []
    for _ in range(rounds):
        theirs.append(_timed(ceiling, env, home))
        ours.append(_timed(argv, env, home))
    emit({"figure": name, "rounds": rounds,
          "seconds": _median(s for s, _ in ours),
          "cpu_seconds": _median(c for _, c in ours),
          "ceiling": label,
          "ceiling_seconds": _median(s for s, _ in theirs),
          "ceiling_cpu_seconds": _median(c for _, c in theirs),
          "ceiling_ratio": _median(t[0] / o[0] for t, o in zip(theirs, ours)),
          "over_ceiling_seconds": _median(o[0] - t[0] for t, o in zip(theirs, ours)),
          "over_ceiling_cpu_seconds": _median(o[1] - t[1] for t, o in zip(theirs, ours)),
          "aim_s": aim_s, "first_seconds": round(first, 3),
          "load_average": round(os.getloadavg()[0], 1)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds per figure (median)")
    parser.add_argument("--only", choices=FIGURES, action="append",
                        help="measure only this figure (repeatable)")
    args = parser.parse_args()
    figures = args.only or FIGURES
    home = tempfile.mkdtemp(prefix="lethean-commands-")
    lethean = [sys.executable, "-c", _LETHEAN]
    nodes = []
    try:
        if "help" in figures:
            measure("help", lethean + ["--help"], home, args.rounds, HELP_AIM_S)
        if {"ping_through_node", "ping_direct"} & set(figures):
            target = Node(home, "target")
            nodes.append(target)
            if "ping_through_node" in figures:
                nodes.append(Node(home, "local"))
                measure("ping_through_node", lethean + [
                    "ping", target.address, "--data-dir", nodes[-1].data_dir],
                    home, args.rounds, PING_AIM_S)
            if "ping_direct" in figures:
                alone = os.path.join(home, "no-node")
                os.makedirs(alone, mode=0o700)
                measure("ping_direct", lethean + ["ping", target.address, "--data-dir", alone],
                        home, args.rounds, PING_AIM_S)
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
