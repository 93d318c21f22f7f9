"""
Does a lethean node hold among strangers?  Attacks a real node and measures
what a legitimate peer keeps.

For each attack class, in order: start a real ``twistd -n lethean-node`` on
127.0.0.1 (port 0, its own temporary data dir, its log in a file), connect
a legitimate controller in a separate process (``--links`` links, each
sending ping and get_stats requests back to back, at most ``--rate`` per
second per link), measure its round trips per second for ``--baseline``
seconds, then run the attack from a third process (connecting from
127.0.0.2) for ``--duration`` seconds (three times that for the two attacks
whose cost accumulates slowly) while the controller keeps going, try one
fresh legitimate connection in the middle of it, stop the attacker, wait
``--settle`` seconds and stop the node.  A fresh node per attack: no attack
inherits another's damage.  Every child is killed when the run ends,
Ctrl-C included.

Prints one JSON line per attack (stdout), then a ``hostile_summary`` line;
a table for people goes to stderr.  The figures of an attack line:

  legit_ratio              round trips/s during the attack / baseline (same run)
  legit_baseline_rps       round trips/s before the attack (the attacker not started)
  legit_attack_rps         round trips/s from the attacker's start until it is stopped
  legit_ratio_worst_1s     the lowest ratio over any 1 s of the attack
  legit_errors             legitimate requests that failed during the attack
  legit_p50_ms, legit_p99_ms   round-trip times during the attack (baseline: *_baseline)
  rss_before_mib           node resident memory (/proc) when the attack starts
  rss_peak_mib             the highest sample (every 50 ms) during the attack
  rss_after_mib            after the attacker left and --settle seconds passed
  rss_growth_mib           peak - before;  rss_kept_mib: after - before
  rss_slope_mib_per_s      how fast memory still grew over the attack's second half
                           (near 0 when the node bounds what the attack costs)
  log_lines                lines (info and above) the node logged from the attack's
                           start to the end of --settle;  log_bytes: the size of
                           every line;  log_debug_lines: debug lines, counted apart
                           (a node notes each request it serves at debug level)
  log_lines_per_s          log_lines / (attack + settle seconds)
  log_lines_per_connection log_lines / connections the attacker opened
  log_baseline_lines       lines logged during the baseline (the noise floor)
  log_top                  the most frequent line shapes (digits folded), with counts
  tracebacks               "Traceback (most recent call last)" in those lines
  fresh_ok                 a fresh connection (new transport, full mesh handshake,
                           one ping) succeeded during the attack;  fresh_ms: how long
                           it took;  fresh_error: why it failed
  attacker                 what the attacker saw: connections opened, connect_failed,
                           closed_by_node (the node closed first), peak_open,
                           http_status counts, handshakes accepted/rejected,
                           frames and bytes sent, frames received
  attack_s                 how long the attack lasted (--duration, times 3 for attacks
                           whose cost accumulates slowly, longer while the fresh
                           connection was still trying)
  node_cpu_pct, attacker_cpu_pct, legit_cpu_pct   CPU used during the attack (% of one core)
  load_1m                  the machine's 1-minute load average at the attack's end
                           (other work on a shared machine moves every figure)
  peers_added              peers the node saved in peers.json that are not the
                           legitimate controller's
  node_counters            the node's transport counters (refusals, drops, handshakes,
                           messages, by reason) that moved during the attack and the
                           settle, read from its control API (None if it has none)
  pass                     each aim of issue 9: legit (ratio >= 0.9), memory (growth
                           < 32 MiB), log_per_connection (<= 1), log_rate (<= 20/s),
                           no_traceback, fresh_connection;  ok: all of them hold

With --repeat N each number is the median of N runs (tracebacks: the
worst), fresh_ok needs every run, and *_runs lists each run's value.

Run from the checkout: ``python benchmarks/hostile.py`` (all attacks, a few
minutes), ``--only NAME`` (repeatable), ``--list`` for the names.
"""

import argparse
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._hostile import figures  # noqa: E402
from benchmarks._hostile.attacks import ATTACKS  # noqa: E402
from benchmarks._hostile.children import ROOT, Children, python_argv  # noqa: E402
from benchmarks._hostile.legit import PROBE_TIMEOUT_S  # noqa: E402
from benchmarks._processes import cpu_seconds, rss_bytes  # noqa: E402
from benchmarks._timing import emit  # noqa: E402

#: How long a child may take to start (imports, key generation) on a busy machine.
START_TIMEOUT_S = 60.0
#: How often node memory is sampled.
SAMPLE_S = 0.05
#: How long the node's control API may take to answer.
CONTROL_TIMEOUT_S = 10.0
#: When the fresh connection is tried, as a fraction of --duration.
PROBE_AT = 0.4
_PORT = re.compile(rb"starting on (\d+)")


class RunError(Exception):
    """This attack could not be measured (the line says why)."""


class _Watch:
    """Samples the node's RSS while the orchestrator waits."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.samples = []

    def sample(self):
        rss = rss_bytes(self.pid)
        if rss is not None:
            self.peak = max(self.peak, rss)
            self.samples.append((time.monotonic(), rss))
        return rss

    def until(self, deadline, done=lambda: False):
        while not done():
            self.sample()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(SAMPLE_S, remaining))


def _wait_for_port(node, log_path):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = _PORT.search(log_path.read_bytes())
        if match:
            return int(match.group(1))
        if not node.running():
            break
        time.sleep(0.05)
    size = log_path.stat().st_size
    tail = _log_slice(log_path, max(0, size - 2000), size).decode("utf-8", "replace")
    raise RunError("the node did not start listening:\n" + tail)


def _expect(child, kind, timeout, what, after=0):
    event = child.wait_event(kind, timeout, after)
    if event is None:
        raise RunError("{} ({}): {}".format(what, kind, child.stderr_tail() or "no output"))
    return event


def _log_slice(path, start, end):
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


def _cpu_pct(before, after, seconds):
    if before is None or after is None or seconds <= 0:
        return None
    return round((after - before) / seconds * 100, 1)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("node", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _node_counters(data_dir):
    """The transport's counters from the node's control API (its unix socket), or None."""
    connection = _UnixHTTPConnection(str(data_dir / "control.sock"), CONTROL_TIMEOUT_S)
    try:
        connection.request("GET", "/api/status")
        response = connection.getresponse()
        if response.status != 200:
            return None
        counters = json.loads(response.read()).get("counters")
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return counters if isinstance(counters, dict) else None


def _counted_during(before, after):
    """The counters that moved between two readings, by how much."""
    if before is None or after is None:
        return None
    return {name: value - before.get(name, 0) for name, value in sorted(after.items())
            if isinstance(value, int) and value != before.get(name, 0)}


def _saved_peers(data_dir, legit_ids):
    try:
        with open(data_dir / "peers.json", "rb") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(saved, list):
        return None
    return sum(1 for peer in saved if isinstance(peer, dict) and peer.get("id") not in legit_ids)


def _start_node(children, folder, log_path, data_dir, node_args):
    """``twistd -n lethean-node`` on a free loopback port, its output in ``log_path``."""
    with open(log_path, "wb") as log:
        return children.start(
            python_argv("from twisted.scripts.twistd import run; run()", "-n", "--pidfile=",
                        "lethean-node", "--listen", "tcp:0:interface=127.0.0.1",
                        "--data-dir", str(data_dir), "--name", "hostile-target", *node_args),
            stdout=log, stdin=False, cwd=folder)


def run_once(attack, args, children, folder):
    """One measured attack on a fresh node: the figures of one run."""
    folder.mkdir(parents=True)
    log_path = folder / "node.log"
    data_dir = folder / "data"
    node = _start_node(children, folder, log_path, data_dir, args.node_arg)
    figures_ = {"attack": attack.name}
    legit = attacker = None
    try:
        address = "127.0.0.1:{}".format(_wait_for_port(node, log_path))
        legit = children.start(
            python_argv("from benchmarks._hostile.legit import main; main()", "--address", address,
                        "--links", str(args.links), "--rate", str(args.rate)),
            events=True)
        identities = _expect(legit, "identities", START_TIMEOUT_S, "the legitimate peer did not start")
        _expect(legit, "connected", START_TIMEOUT_S, "the legitimate peer could not connect")
        watch = _Watch(node.pid)
        watch.until(time.monotonic() + args.warmup)

        baseline_start = time.monotonic()
        baseline_log = log_path.stat().st_size
        watch.until(baseline_start + args.baseline)
        baseline_end = time.monotonic()
        log_offset = log_path.stat().st_size
        figures_["log_baseline_lines"] = figures.log_figures(
            _log_slice(log_path, baseline_log, log_offset).splitlines(True))["log_lines"]

        victims = identities["links"] + [identities["probe"]]
        counters_before = _node_counters(data_dir)
        rss_before = watch.sample()
        watch.peak = rss_before or 0
        cpu_before = {"node": cpu_seconds(node.pid), "legit": cpu_seconds(legit.pid)}
        attacker = children.start(
            python_argv("from benchmarks._hostile.attacker import main; main()", attack.name,
                        "--address", address, "--victims", json.dumps(victims),
                        "--source", args.attacker_source),
            events=True)
        attack_start = _expect(attacker, "started", START_TIMEOUT_S, "the attacker did not start")["t"]
        cpu_before["attacker"] = cpu_seconds(attacker.pid)

        duration = args.duration * attack.duration_factor
        watch.until(attack_start + duration * PROBE_AT)
        probe_index = len(legit.snapshot())
        legit.tell("probe")
        watch.until(attack_start + duration)
        watch.until(time.monotonic() + PROBE_TIMEOUT_S + 5,
                    done=lambda: legit.wait_event("probe", 0, probe_index) is not None)
        probe = legit.wait_event("probe", 0, probe_index) or {"ok": False, "error": "no answer"}
        attack_end = time.monotonic()
        cpu_after = {"node": cpu_seconds(node.pid), "legit": cpu_seconds(legit.pid),
                     "attacker": cpu_seconds(attacker.pid)}
        attacker.close_stdin()
        done = attacker.wait_event("done", 15) or {}
        attacker.stop(5, sig=None)
        rss_peak = watch.peak
        watch.until(time.monotonic() + args.settle)
        rss_after = watch.sample()
        with open(log_path, "rb") as f:
            f.seek(log_offset)
            log = figures.log_figures(f)

        counters = _counted_during(counters_before, _node_counters(data_dir))

        progress = [e for e in legit.snapshot() if e.get("event") == "progress"]
        attack_s = attack_end - attack_start
        figures_.update(figures.legit_figures(progress, (baseline_start, baseline_end),
                                              (attack_start, attack_end)))
        figures_.update(figures.memory_figures(rss_before, rss_peak, rss_after, watch.samples,
                                               (attack_start, attack_end)))
        connections = done.get("connections")
        figures_.update(
            log_lines=log["log_lines"],
            log_lines_per_s=round(log["log_lines"] / (attack_s + args.settle), 1),
            log_lines_per_connection=round(log["log_lines"] / max(1, connections or 0), 3),
            log_debug_lines=log["log_debug_lines"],
            log_bytes=log["log_bytes"],
            tracebacks=log["tracebacks"],
            fresh_ok=bool(probe.get("ok")),
            fresh_ms=probe.get("total_ms"),
            fresh_error=probe.get("error"),
            attack_s=round(attack_s, 2),
            load_1m=round(os.getloadavg()[0], 2),
            node_cpu_pct=_cpu_pct(cpu_before["node"], cpu_after["node"], attack_s),
            attacker_cpu_pct=_cpu_pct(cpu_before["attacker"], cpu_after["attacker"], attack_s),
            legit_cpu_pct=_cpu_pct(cpu_before["legit"], cpu_after["legit"], attack_s),
            attacker={k: v for k, v in done.items() if k != "event"} or None,
            log_top=log["log_top"],
            node_counters=counters,
        )
        if not node.running():
            figures_["node_exit"] = node.process.returncode
        legit.close_stdin()
        legit.stop(10, sig=None)
        node.stop(15)
        legit_ids = {i["id"] for i in victims}
        figures_["peers_added"] = _saved_peers(data_dir, legit_ids)
        if args.keep_logs:
            figures_["log"] = str(log_path)
    except RunError as e:
        figures_["error"] = str(e)[-1500:]
    finally:
        for child in (attacker, legit, node):
            if child is not None:
                child.kill()
    return figures_


def machine():
    """What the figures were measured on."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            memory_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        memory_kib = 0
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None

    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    return {
        "cpu": model,
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "twisted": version("twisted"),
        "autobahn": version("autobahn"),
        "commit": commit,
    }


def _table(lines):
    """A Markdown table of the lines, for people (and docs/hardening.md)."""
    def show(value, form="{}"):
        return "-" if value is None else form.format(value)
    rows = ["| attack | legit ratio | RSS growth MiB | log lines (per s, per conn) | "
            "tracebacks | fresh connection | aims |", "|---|---|---|---|---|---|---|"]
    for line in lines:
        failed = [aim for aim, ok in line["pass"].items() if ok is not True]
        rows.append("| {} | {} | {} | {} ({}, {}) | {} | {} | {} |".format(
            line["attack"], show(line.get("legit_ratio"), "{:.2f}"),
            show(line.get("rss_growth_mib")), show(line.get("log_lines")),
            show(line.get("log_lines_per_s")), show(line.get("log_lines_per_connection")),
            show(line.get("tracebacks")), "yes" if line.get("fresh_ok") else "**no**",
            "all hold" if not failed else "fail: " + ", ".join(failed)))
    return "\n".join(rows)


def parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.strip().split("\n\n")[0].replace("\n", " "),
        epilog=__doc__.strip().split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run this attack only (repeatable; see --list)")
    parser.add_argument("--list", action="store_true", help="list the attacks and exit")
    parser.add_argument("--duration", type=float, default=5.0, metavar="S",
                        help="seconds each attack lasts (default 5; longer while the fresh "
                             "connection is still trying)")
    parser.add_argument("--baseline", type=float, metavar="S",
                        help="seconds of baseline before each attack (default: 3, or "
                             "--duration if shorter)")
    parser.add_argument("--warmup", type=float, default=1.0, metavar="S",
                        help="seconds the legitimate peer runs before the baseline (default 1)")
    parser.add_argument("--settle", type=float, default=1.0, metavar="S",
                        help="seconds after the attacker left before memory and the log are "
                             "read (default 1)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="runs per attack, each on a fresh node; figures are medians")
    parser.add_argument("--links", type=int, default=4,
                        help="legitimate controller links (default 4)")
    parser.add_argument("--rate", type=float, default=40.0,
                        help="most legitimate requests/s per link (default 40, under the "
                             "node's 50 frames/s per peer)")
    parser.add_argument("--attacker-source", default="127.0.0.2", metavar="ADDRESS",
                        help="loopback address the attacker connects from (default 127.0.0.2; "
                             "the legitimate peer uses 127.0.0.1, so per-address defences "
                             "can tell them apart)")
    parser.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                        help="pass ARG to lethean-node (repeatable), e.g. --node-arg=--max-conns=200")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep each node's folder (log, data) and name it in the line")
    parser.add_argument("--json-summary", action="store_true",
                        help="print one JSON document at the end (machine, date, options, "
                             "every attack, summary) instead of a line per attack")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(ATTACKS))
    if unknown:
        parser.error("unknown attack {}; --list shows the names".format(", ".join(unknown)))
    if args.duration <= 0 or args.repeat < 1 or args.links < 1 or args.rate <= 0:
        parser.error("--duration, --repeat, --links and --rate must be positive")
    if args.baseline is None:
        args.baseline = min(3.0, args.duration)
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.list:
        for attack in ATTACKS.values():
            longer = " (lasts {} x --duration)".format(attack.duration_factor) \
                if attack.duration_factor > 1 else ""
            print("{:32} {:4} connections  {}{}".format(attack.name, attack.size, attack.summary,
                                                         longer))
        return 0
    names = args.only or list(ATTACKS)
    header = {"name": "hostile_run",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(),
              "options": {k: getattr(args, k) for k in ("duration", "baseline", "warmup", "settle",
                                                        "repeat", "links", "rate", "attacker_source",
                                                        "node_arg")}}
    folder = Path(tempfile.mkdtemp(prefix="lethean-hostile-"))
    lines = []
    try:
        with Children() as children:
            if not args.json_summary:
                emit(header)
            for name in names:
                runs = []
                for i in range(args.repeat):
                    run_folder = folder / "{}-{}".format(name, i)
                    runs.append(run_once(ATTACKS[name], args, children, run_folder))
                    if not args.keep_logs:
                        # A flood can log hundreds of MiB: do not keep them all.
                        shutil.rmtree(run_folder, ignore_errors=True)
                line = dict(name="hostile", **figures.combine(runs))
                lines.append(line)
                if not args.json_summary:
                    emit(line)
    except KeyboardInterrupt:
        print("interrupted: every child process was stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep_logs:
            shutil.rmtree(folder, ignore_errors=True)
    summary = dict(name="hostile_summary", **figures.summary(lines))
    if args.json_summary:
        print(json.dumps(dict(header, attacks=lines, summary=summary), indent=1))
    else:
        emit(summary)
    print(_table(lines), file=sys.stderr)
    if args.keep_logs:
        print("node logs and data: {}".format(folder), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
