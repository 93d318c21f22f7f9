"""
Can one controller run a fleet?  One controller and N workers on loopback.

The workers live in ``--processes`` child processes (a hundred or so
``MeshTransport``s each, every one listening on its own
``tcp:0:interface=127.0.0.1`` port with a ``Worker`` as its consumer, as
``lethean.node.assemble_node`` wires a node).  The controller is a
``MeshTransport`` that only dials, with a ``Controller`` and a real
``PeerRegistry`` on disk in which every worker is registered (address and
pinned key, as ``lethean peers add`` leaves them).  Each run happens in a
fresh controller process, so its memory figures start clean; ``--repeat``
runs it again and every figure printed is the median over the runs.

Figures, one JSON line each per fleet size N (``--workers``, repeatable):

* ``fleet_link``: ``seconds`` for the controller to dial every worker
  (TCP, WebSocket upgrade, mesh handshake, first sealed frame) with at most
  ``--concurrency`` dials in flight, and ``links_per_s``.  ``failed``
  counts dials that did not succeed.  Here and below ``cpu_seconds`` is the
  CPU time the controller process spent in the phase and
  ``workers_cpu_seconds`` that of all worker processes together: with few
  cores, the wall time is their sum divided by the cores, not the
  controller's alone.
* ``fleet_gather``: ``seconds`` for ``Controller.get_all_stats()`` to ask
  every linked worker for its stats in parallel and collect the answers
  (median of ``--gathers`` rounds per run; ``worst_seconds`` is the slowest
  round of the median run); ``answered`` counts the workers that answered.
  ``aim_ratio`` is seconds / ``aim_s`` (the aim: 1 000 workers in < 2 s).
* ``fleet_memory``: resident memory (``/proc/self/statm``) the controller
  process gained per link: ``rss_bytes_per_link`` once every worker is
  registered and linked, ``rss_bytes_per_link_after_gather`` after the
  gathers, and ``registry_bytes_per_peer`` for the registry records alone.
  ``aim_ratio`` is per link / ``aim_bytes`` (the aim: < 50 KB).
* ``fleet_cli_gather``: ``seconds`` for what ``lethean stats --all --json``
  does, run in-process through the CLI's own functions against a data
  folder listing every worker: load the identity and the registry, dial
  every peer, gather, print.  ``answered`` counts nodes in its output.

A fleet the file-descriptor limit cannot hold prints ``fleet_skipped`` with
the reason (the soft limit is raised up to the hard one first).  Child
processes end with the benchmark, also when it is interrupted or killed:
workers exit when their standard input closes.

Run from the checkout: ``python benchmarks/fleet.py`` (N = 100 and 1 000),
``--quick`` for a short smoke run, ``--profile DIR`` to write cProfile
statistics of the controller's phases.
"""

import argparse
import json
import signal
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fleet_controller import run_one  # noqa: E402
from benchmarks._fleet_workers import serve  # noqa: E402
from benchmarks._timing import emit  # noqa: E402

#: The aims of issue 12: stats from 1 000 workers within this time, and at
#: most this much controller memory per link.
GATHER_AIM_S = 2.0
MEMORY_AIM_BYTES = 50 * 1000


# -- the driver: fresh controller processes, medians ------------------------------------


def _controller_run(args, workers):
    """One controller process for ``workers``; its ``fleet_run`` line, or a skip line."""
    argv = [sys.executable, __file__, "--one", str(workers), "--processes", str(args.processes),
            "--concurrency", str(args.concurrency), "--gathers", str(args.gathers)]
    if args.profile:
        argv += ["--profile", args.profile]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = child.communicate()
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        return {"name": "fleet_failed", "workers": workers, "exit_status": child.returncode}
    return lines[-1]


def _median(runs, key):
    return statistics.median(run[key] for run in runs)


def _report(workers, runs):
    gathers = [statistics.median(run["gather_seconds"]) for run in runs]
    middle = runs[sorted(range(len(runs)), key=gathers.__getitem__)[len(runs) // 2]]
    link = _median(runs, "link_seconds")
    gather = statistics.median(gathers)
    per_link = _median(runs, "rss_bytes_per_link")
    common = {"workers": workers, "processes": runs[0]["processes"], "runs": len(runs),
              "load_1m": round(_median(runs, "load_1m"), 2)}
    linked = min(run["linked"] for run in runs)
    emit({"name": "fleet_link", **common, "concurrency": runs[0]["concurrency"],
          "linked": linked, "failed": workers - linked,
          "seconds": round(link, 3), "links_per_s": round(workers / link, 1),
          "cpu_seconds": round(_median(runs, "link_cpu_seconds"), 3),
          "workers_cpu_seconds": round(_median(runs, "link_workers_cpu_seconds"), 3),
          "runs_seconds": [round(run["link_seconds"], 3) for run in runs]})
    emit({"name": "fleet_gather", **common, "seconds": round(gather, 3),
          "worst_seconds": round(max(middle["gather_seconds"]), 3),
          "cpu_seconds": round(statistics.median(
              statistics.median(run["gather_cpu_seconds"]) for run in runs), 3),
          "workers_cpu_seconds": round(statistics.median(
              statistics.median(run["gather_workers_cpu_seconds"]) for run in runs), 3),
          "answered": min(min(run["answered"]) for run in runs),
          "aim_s": GATHER_AIM_S, "aim_ratio": round(gather / GATHER_AIM_S, 3),
          "runs_seconds": [round(g, 3) for g in gathers]})
    emit({"name": "fleet_memory", **common, "rss_bytes_per_link": int(per_link),
          "rss_bytes_per_link_after_gather": int(_median(runs, "rss_bytes_per_link_after_gather")),
          "registry_bytes_per_peer": int(_median(runs, "registry_bytes_per_peer")),
          "aim_bytes": MEMORY_AIM_BYTES, "aim_ratio": round(per_link / MEMORY_AIM_BYTES, 3)})
    emit({"name": "fleet_cli_gather", **common, "seconds": round(_median(runs, "cli_seconds"), 3),
          "cpu_seconds": round(_median(runs, "cli_cpu_seconds"), 3),
          "workers_cpu_seconds": round(_median(runs, "cli_workers_cpu_seconds"), 3),
          "answered": min(run["cli_answered"] for run in runs),
          "runs_seconds": [round(run["cli_seconds"], 3) for run in runs]})


def drive(args):
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        _drive(args)
    except KeyboardInterrupt:
        sys.exit(130)


def _drive(args):
    for workers in args.workers:
        runs = []
        for _ in range(args.repeat):
            result = _controller_run(args, workers)
            if result["name"] != "fleet_run":
                emit(result)
                break
            runs.append(result)
        if runs:
            _report(workers, runs)


def parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, action="append", metavar="N",
                        help="fleet size; repeat for several (default: 100 and 1000)")
    parser.add_argument("--processes", type=int, default=10, metavar="P",
                        help="worker processes the fleet is spread over (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100, metavar="C",
                        help="dials in flight at once while linking (default %(default)s)")
    parser.add_argument("--gathers", type=int, default=5, metavar="G",
                        help="get_all_stats rounds per run (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, metavar="R",
                        help="runs per fleet size, each in a fresh controller process; "
                        "figures are medians (default %(default)s)")
    parser.add_argument("--profile", metavar="DIR",
                        help="write cProfile statistics of the controller's link, gather and "
                        "CLI phases to DIR/fleet-N-PHASE.pstats")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: 20 workers in 2 processes, one run")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.workers, args.processes, args.repeat, args.gathers = [20], 2, 1, 2
    args.workers = args.workers or [100, 1000]
    if min(args.workers) < 1 or args.processes < 1 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--workers, --processes, --concurrency and --repeat must be positive")
    return args


if __name__ == "__main__":
    options = parse(sys.argv[1:])
    if options.serve_workers is not None:
        serve(options.serve_workers, options.base)
    elif options.one is not None:
        run_one(options)
    else:
        drive(options)
