"""
What bundles and deploys cost: peak memory, time and reactor stalls.

Every figure comes from fresh processes, so memory starts clean; each run
is repeated (``--repeat``) and the medians are printed, one JSON line per
figure.  Memory is measured two ways:

* ``rss``: the process's resident memory (``VmHWM`` of ``/proc/PID/status``,
  its peak, reset through ``/proc/PID/clear_refs`` just before the work):
  everything, C buffers included.
* ``traced``: the peak of ``tracemalloc`` (Python's own allocations), in a
  separate run since tracing slows the work down.

Peaks are given above the process's level just before the work started and
as a ratio of the payload (``size_bytes``: the miner file, i.e. the rootfs
it becomes).  The aims are those of issue 12: extracting a bundle peaks at
no more than 2x its rootfs; a deploy of a 50 MB miner between two nodes on
loopback takes at most 5 s, stalls neither node's reactor for more than
50 ms, and peaks at no more than 2x the file in the CLI and in each node.

Figures:

* ``bundle_create``: ``lethean bundle create miner FILE -o OUT`` run
  in-process: read the binary, build the rootfs tar, seal the STIM, write
  the bundle file.
* ``bundle_extract``: read that bundle file (``read_bundle``), then
  ``extract_miner_bundle`` it into a new folder (what ``lethean bundle
  extract`` does).  ``read_*`` covers the read alone, ``extract_*`` the
  extraction with the bundle already held (what a worker does), ``peak_*``
  the two together.
* ``bundle_reactor``: a reactor with a 10 ms ``LoopingCall`` probe while
  ``create_miner_bundle_in_thread`` and ``install_miner_bundle_in_thread``
  run: ``worst_delay_ms`` is the probe's worst lateness, ``worst_busy_ms``
  the most CPU time the reactor thread itself spent between two probes (a
  delay with little CPU behind it was a wait for a core or the GIL).
* ``deploy``: two lethean nodes (``lethean.node.tap.makeService``, as
  ``twistd lethean-node`` runs them, each in its own process with a 10 ms
  probe) on ``tcp:0:interface=127.0.0.1``, and the ``lethean deploy
  ADDRESS FILE --kind miner`` command run against the sending node's
  control API (``route`` ``node``), or with no node behind the command, so
  that it dials the receiver itself (``route`` ``direct``).  ``seconds`` is
  the command's wall time; ``cli_*``, ``sender_*``, ``receiver_*`` are each
  process's peak (above its idle level, and ``*_absolute_bytes`` in all),
  CPU seconds and the probes' worst delays; ``idle_worst_delay_ms`` is that
  of a third, idle node probed meanwhile: the machine's own share of the
  delays.

``accelerated`` says whether the compiled accelerator was loaded.

Run from the checkout: ``python benchmarks/bundles.py`` (a 64 MiB rootfs
and a 50 MB deploy, 3 runs each), ``--quick`` for a small smoke run,
``--only deploy`` for one group, ``--profile DIR`` for where the deploying
nodes spend their reactor thread's time.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._bundles_children import CHILDREN, PASSWORD_VARIABLE, child_node  # noqa: E402
from benchmarks._timing import emit  # noqa: E402

#: Issue 12's aims.
EXTRACT_AIM_RATIO = 2.0
DEPLOY_AIM_S = 5.0
DEPLOY_AIM_RATIO = 2.0
STALL_AIM_MS = 50.0
GROUPS = ("create", "extract", "reactor", "deploy")


# -- the parent ---------------------------------------------------------------


def _random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


def _environment(home):
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1",
                XDG_DATA_HOME=os.path.join(home, "xdg-data"),
                XDG_CONFIG_HOME=os.path.join(home, "xdg-config"),
                **{PASSWORD_VARIABLE: "benchmark password"})


def _child(home, name, *args):
    """Run a measurement in a fresh process; its JSON answer."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, *args], env=_environment(home),
        cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800, check=False)
    if out.returncode != 0:
        raise RuntimeError("{} child failed ({}):\n{}".format(
            name, out.returncode, out.stderr.decode("utf-8", "replace")[-3000:]))
    result = json.loads(out.stdout.decode().strip().splitlines()[-1])
    if result.get("error") or result.get("status") not in (None, 0):
        raise RuntimeError("{} child: {}\n{}".format(
            name, result, out.stderr.decode("utf-8", "replace")[-3000:]))
    return result


def _accelerated():
    try:
        from lethean import _accel
    except ImportError:
        return False
    return _accel.speedups is not None


def _emit(line):
    line["accelerated"] = _accelerated()
    emit(line)


def _median(runs, key):
    return statistics.median(run[key] for run in runs)


def _ratio(value, size):
    return round(value / size, 3)


def measure_create(home, miner, size, repeat):
    output = os.path.join(home, "bench.bundle")
    rss = [_child(home, "create", miner, output, "rss") for _ in range(repeat)]
    traced = [_child(home, "create", miner, output, "traced") for _ in range(repeat)]
    _emit({"figure": "bundle_create", "size_bytes": size, "runs": repeat,
          "seconds": round(_median(rss, "seconds"), 3),
          "rss_peak_bytes": _median(rss, "peak_bytes"),
          "rss_peak_ratio": _ratio(_median(rss, "peak_bytes"), size),
          "traced_peak_ratio": _ratio(_median(traced, "peak_bytes"), size)})
    return output


def measure_extract(home, bundle, size, repeat):
    runs = {}
    for kind in ("rss", "traced"):
        runs[kind] = []
        for i in range(repeat):
            dest = os.path.join(home, "extracted-{}-{}".format(kind, i))
            runs[kind].append(_child(home, "extract", bundle, dest, kind))
            shutil.rmtree(dest, ignore_errors=True)
    line = {"figure": "bundle_extract", "size_bytes": size, "runs": repeat,
            "read_seconds": round(_median(runs["rss"], "read_seconds"), 3),
            "extract_seconds": round(_median(runs["rss"], "extract_seconds"), 3),
            "aim_ratio": EXTRACT_AIM_RATIO}
    for kind in ("rss", "traced"):
        for part in ("read", "extract", "peak"):
            key = part + "_peak_bytes" if part != "peak" else "peak_bytes"
            line["{}_{}_ratio".format(kind, part)] = _ratio(_median(runs[kind], key), size)
    line["rss_peak_bytes"] = _median(runs["rss"], "peak_bytes")
    _emit(line)


def measure_reactor(home, miner, size, repeat):
    runs = []
    for i in range(repeat):
        root = os.path.join(home, "miners-{}".format(i))
        runs.append(_child(home, "reactor", miner, root))
        shutil.rmtree(root, ignore_errors=True)
    _emit({"figure": "bundle_reactor", "size_bytes": size, "runs": repeat,
          "create_seconds": round(_median(runs, "create_seconds"), 3),
          "create_worst_delay_ms": round(_median(runs, "create_worst_delay_ms"), 1),
          "install_seconds": round(_median(runs, "install_seconds"), 3),
          "install_worst_delay_ms": round(_median(runs, "install_worst_delay_ms"), 1),
          "create_worst_busy_ms": round(_median(runs, "create_worst_busy_ms"), 1),
          "install_worst_busy_ms": round(_median(runs, "install_worst_busy_ms"), 1),
          "aim_ms": STALL_AIM_MS})


class Node:
    """A node child process, driven through its stdin."""

    def __init__(self, home, name, profile=None):
        self.data_dir = os.path.join(home, name)
        os.makedirs(self.data_dir, mode=0o700)
        profile = [os.path.join(os.path.abspath(profile), name)] if profile else []
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--node", self.data_dir,
             "unix:" + os.path.join(self.data_dir, "control.sock"), *profile],
            env=_environment(home), cwd=home, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("node {} did not start".format(name))
        hello = json.loads(line)
        self.address, self.id = hello["address"], hello["id"]

    def ask(self, command):
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure_deploy(home, miner, size, repeat, profile=None):
    if profile:
        os.makedirs(profile, exist_ok=True)
    sender, receiver = Node(home, "sender", profile), Node(home, "receiver", profile)
    # An idle node probed at the same time: how late a reactor that does
    # nothing runs on this machine right now (other people's load).
    idle = Node(home, "idle")
    alone = os.path.join(home, "cli-alone")
    os.makedirs(alone, mode=0o700)
    try:
        for route, data_dir in (("node", sender.data_dir), ("direct", alone)):
            runs = []
            for i in range(repeat):
                name = "bench-{}-{}".format(route, i)
                argv = ["deploy", receiver.address, miner, "--kind", "miner", "--name", name,
                        "--data-dir", data_dir, "--timeout", "60"]
                for node in (sender, receiver, idle):
                    node.ask("mark")
                started = time.perf_counter()
                cli = _child(home, "cli", json.dumps(argv))
                seconds = time.perf_counter() - started
                installed = os.path.join(receiver.data_dir, "miners", name, "miner")
                if os.path.getsize(installed) != size:
                    raise RuntimeError("the deployed miner is not the file")
                runs.append({"seconds": seconds, "cli": cli["peak_bytes"],
                             "cli_cpu": cli["cpu_seconds"], "cli_absolute": cli["absolute_bytes"],
                             "sender": sender.ask("report"), "receiver": receiver.ask("report"),
                             "idle": idle.ask("report")})
                shutil.rmtree(os.path.dirname(installed), ignore_errors=True)
            line = {"figure": "deploy", "route": route, "size_bytes": size, "runs": repeat,
                    "seconds": round(_median(runs, "seconds"), 3), "aim_s": DEPLOY_AIM_S,
                    "cli_rss_peak_ratio": _ratio(_median(runs, "cli"), size),
                    "cli_rss_peak_absolute_bytes": _median(runs, "cli_absolute"),
                    "cli_cpu_seconds": round(_median(runs, "cli_cpu"), 2)}
            for side in ("sender", "receiver"):
                if route == "direct" and side == "sender":
                    continue
                line[side + "_rss_peak_ratio"] = _ratio(
                    statistics.median(r[side]["peak_bytes"] for r in runs), size)
                line[side + "_rss_peak_absolute_bytes"] = statistics.median(
                    r[side]["absolute_bytes"] for r in runs)
                line[side + "_worst_delay_ms"] = round(
                    statistics.median(r[side]["worst_delay_ms"] for r in runs), 1)
                line[side + "_worst_busy_ms"] = round(
                    statistics.median(r[side]["worst_busy_ms"] for r in runs), 1)
                line[side + "_cpu_seconds"] = round(
                    statistics.median(r[side]["cpu_seconds"] for r in runs), 2)
            line["idle_worst_delay_ms"] = round(
                statistics.median(r["idle"]["worst_delay_ms"] for r in runs), 1)
            line["load_average"] = os.getloadavg()[0]
            line["aim_ratio"], line["aim_ms"] = DEPLOY_AIM_RATIO, STALL_AIM_MS
            _emit(line)
    finally:
        for node in (sender, receiver, idle):
            node.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rootfs-mib", type=int, default=64,
                        help="miner size for the bundle figures, in MiB (default %(default)s)")
    parser.add_argument("--deploy-mb", type=int, default=50,
                        help="miner size for the deploy, in MB (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--only", choices=GROUPS, action="append",
                        help="measure only this group (repeatable)")
    parser.add_argument("--quick", action="store_true", help="8 MiB / 8 MB, one run each")
    parser.add_argument("--profile", metavar="DIR",
                        help="write cProfile statistics (reactor thread CPU) of the deploy's "
                        "sending and receiving nodes to DIR, one file per run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--node", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](args.child[1:])), flush=True)
        return
    if args.node:
        child_node(*args.node)
        return
    if args.quick:
        args.rootfs_mib, args.deploy_mb, args.repeat = 8, 8, 1
    groups = args.only or GROUPS
    home = tempfile.mkdtemp(prefix="lethean-bundles-")
    try:
        if set(groups) & {"create", "extract", "reactor"}:
            size = args.rootfs_mib * 1024 * 1024
            miner = os.path.join(home, "xmrig")
            _random_file(miner, size)
            bundle = measure_create(home, miner, size, args.repeat) \
                if "create" in groups or "extract" in groups else None
            if "extract" in groups:
                measure_extract(home, bundle, size, args.repeat)
            if "reactor" in groups:
                measure_reactor(home, miner, size, args.repeat)
            os.unlink(miner)
        if "deploy" in groups:
            size = args.deploy_mb * 1000 * 1000
            miner = os.path.join(home, "miner-{}mb".format(args.deploy_mb))
            _random_file(miner, size)
            measure_deploy(home, miner, size, args.repeat, args.profile)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
