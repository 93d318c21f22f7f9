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
import atexit
import contextlib
import cProfile
import gc
import io
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import defer, protocol, task  # noqa: E402

from benchmarks._processes import cpu_seconds, die_with_parent, rss_bytes  # noqa: E402
from benchmarks._timing import emit  # noqa: E402

#: The aims of issue 12: stats from 1 000 workers within this time, and at
#: most this much controller memory per link.
GATHER_AIM_S = 2.0
MEMORY_AIM_BYTES = 50 * 1000
#: File descriptors a process needs besides one per socket.
SPARE_FDS = 128
#: How long worker processes may take to come up.
STARTUP_TIMEOUT_S = 300.0


# -- helpers shared by every process ------------------------------------------


def _raise_fd_limit(needed):
    """Raise the soft descriptor limit towards the hard one; True if ``needed`` fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft == resource.RLIM_INFINITY or soft >= needed, hard


def _scratch(prefix):
    """A temporary folder removed when this process exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def _identity(reactor, name, role):
    from lethean.identity import LocalIdentity, PrivateKey
    from lethean.smsg import Timestamp

    return LocalIdentity.create(PrivateKey.generate(), name, role,
                                Timestamp.from_unix(reactor.seconds()))


def _split(total, parts):
    """``total`` workers over ``parts`` processes, as evenly as possible."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _fds_needed(workers, processes):
    """Descriptors for the controller (links, pipes) and for one worker process."""
    per_process = max(_split(workers, processes))
    return workers + 3 * processes + SPARE_FDS, 3 * per_process + SPARE_FDS


# -- worker processes -----------------------------------------------------------


class _Stdin(protocol.Protocol):
    """Stops the worker process when the controller closes our stdin (or dies)."""

    def __init__(self, stop):
        self._stop = stop

    def connectionLost(self, reason):
        self._stop()


async def _serve(reactor, count, base):
    """Run ``count`` worker nodes; print one JSON line each, then ``ready``."""
    from twisted.internet import stdio

    from lethean.mesh import MeshTransport, TransportConfig
    from lethean.node import Worker
    from lethean.node._miners import ProcessMinerManager
    from lethean.peers import PeerRegistry

    tmp = _scratch("lethean-fleet-")
    nodes = []
    for i in range(count):
        name = "worker-{}".format(base + i)
        identity = _identity(reactor, name, "worker")
        # The workers' registries are not what is measured: no disk writes.
        registry = PeerRegistry(reactor, os.path.join(tmp, "{}.json".format(i)),
                                writer=lambda path, content: None)
        transport = MeshTransport(reactor, identity, registry, TransportConfig(
            listen="tcp:0:interface=127.0.0.1", max_connections=16))
        transport.add_consumer(Worker(reactor, identity,
                                      miner_manager=ProcessMinerManager(reactor)))
        transport.startService()
        await transport._listening
        nodes.append(transport)

    done = defer.Deferred()

    def stop():
        if not done.called:
            done.callback(None)

    out = stdio.StandardIO(_Stdin(stop))
    for transport in nodes:
        out.write(json.dumps({
            "address": "127.0.0.1:{}".format(transport.port.getHost().port),
            "id": transport.identity.id,
            "name": transport.identity.identity.name,
            "public_key": transport.identity.identity.public_key,
        }).encode() + b"\n")
    out.write(b'{"ready": true}\n')
    await done
    await defer.DeferredList([t.stopService() for t in nodes], consumeErrors=True)


def serve(count, base):
    """
    A worker process: ends when the controller closes our stdin or dies.

    Ctrl-C reaches the whole process group: the controller handles it and
    stops us, so we ignore it (no tracebacks from every worker).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(signum=signal.SIGTERM)
    _raise_fd_limit(3 * count + SPARE_FDS)
    from twisted.internet import reactor

    done = defer.Deferred.fromCoroutine(_serve(reactor, count, base))
    done.addErrback(lambda failure: failure.printTraceback(file=sys.stderr))
    done.addBoth(lambda _: reactor.stop())
    reactor.run(installSignalHandlers=False)


class _WorkerProcess(protocol.ProcessProtocol):
    """One worker process, seen from the controller: its nodes and its end."""

    def __init__(self, count):
        self.count = count
        self.workers = []
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()
        self._buffer = b""

    def outReceived(self, data):
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            record = json.loads(line)
            if record.get("ready"):
                if not self.ready.called:
                    self.ready.callback(self.workers)
            else:
                self.workers.append(record)

    def processEnded(self, reason):
        if not self.ready.called:
            self.ready.errback(RuntimeError("a worker process ended before it was ready"))
        self.ended.callback(None)


class _Fleet:
    """The worker processes of one run, and their certain end."""

    def __init__(self, reactor):
        self._reactor = reactor
        self.processes = []
        reactor.addSystemEventTrigger("before", "shutdown", self.stop)

    async def start(self, workers, processes):
        base = 0
        for count in _split(workers, processes):
            child = _WorkerProcess(count)
            self._reactor.spawnProcess(
                child, sys.executable,
                [sys.executable, __file__, "--serve-workers", str(count), "--base", str(base)],
                env=os.environ, childFDs={0: "w", 1: "r", 2: 2})
            self.processes.append(child)
            base += count
        ready = defer.gatherResults([p.ready for p in self.processes], consumeErrors=True)
        ready.addTimeout(STARTUP_TIMEOUT_S, self._reactor)
        nodes = await ready
        return [node for group in nodes for node in group]

    def stop(self):
        """Close every child's stdin (it exits); kill those still there after 10 s."""
        running = [p for p in self.processes if not p.ended.called]
        for child in running:
            child.transport.closeStdin()

        def kill():
            for child in running:
                if not child.ended.called:
                    try:
                        child.transport.signalProcess("KILL")
                    except Exception:
                        pass

        timer = self._reactor.callLater(10, kill)
        ended = defer.DeferredList([p.ended for p in running])
        return ended.addBoth(lambda _: timer.cancel() if timer.active() else None)


# -- the controller run ---------------------------------------------------------------


class _Profiler:
    """cProfile of each controller phase (all its rounds) when ``--profile DIR`` is given."""

    def __init__(self, directory, workers):
        self._directory = directory
        self._workers = workers
        self._profiles = {}

    @contextlib.contextmanager
    def phase(self, name):
        if self._directory is None:
            yield
            return
        profile = self._profiles.setdefault(name, cProfile.Profile())
        profile.enable()
        try:
            yield
        finally:
            profile.disable()

    def save(self):
        if self._directory is None:
            return
        os.makedirs(self._directory, exist_ok=True)
        for name, profile in self._profiles.items():
            profile.dump_stats(os.path.join(self._directory, "fleet-{}-{}.pstats".format(
                self._workers, name)))


class _Stopwatch:
    """
    Wall seconds of a phase, and the CPU seconds the controller (this
    process) and the worker processes spent in it.
    """

    def __init__(self, fleet):
        self._fleet = fleet

    def _workers_cpu(self):
        return sum(cpu_seconds(p.transport.pid) or 0.0 for p in self._fleet.processes
                   if p.transport is not None and p.transport.pid)

    def __enter__(self):
        self._workers = self._workers_cpu()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.workers_cpu = self._workers_cpu() - self._workers


def _register(registry, workers):
    from lethean.peers import Peer

    for node in workers:
        registry.add_peer(Peer(id=node["id"], name=node["name"], public_key=node["public_key"],
                               address=node["address"], role="worker"))


async def _link_all(reactor, controller, workers, concurrency):
    semaphore = defer.DeferredSemaphore(concurrency)
    dials = [semaphore.run(controller.connect_to_peer, node["id"]) for node in workers]
    results = await defer.DeferredList(dials, consumeErrors=True)
    failures = [value for ok, value in results if not ok]
    for failure in failures[:3]:
        print("fleet: dial failed: {}".format(failure.getErrorMessage()), file=sys.stderr)
    return len(workers) - len(failures)


async def _cli_gather(reactor, fleet, workers, profiler):
    """``lethean stats --all --json``, through the CLI's functions, in this process."""
    from lethean.cli import _node as cli_node
    from lethean.peers import PeerRegistry

    # No node runs for data_dir, so the command uses its own registry, in
    # the CLI folder under XDG_DATA_HOME: point that at the scratch folder.
    data_dir = _scratch("lethean-fleet-cli-")
    os.environ["XDG_DATA_HOME"] = data_dir
    os.makedirs(cli_node.cli_folder(), exist_ok=True)
    registry = PeerRegistry(reactor, os.path.join(cli_node.cli_folder(), "peers.json"))
    _register(registry, workers)
    await registry.close()
    args = argparse.Namespace(data_dir=data_dir, control=None, all=True, json=True,
                              target=None, timeout=cli_node.CONNECT_TIMEOUT_S)
    output, errors = io.StringIO(), io.StringIO()
    with _Stopwatch(fleet) as watch, profiler.phase("cli"), contextlib.redirect_stdout(output), \
            contextlib.redirect_stderr(errors):
        status = await cli_node._stats(reactor, args)
    unreachable = errors.getvalue().splitlines()
    for line in unreachable[:3]:
        print("fleet: {}".format(line), file=sys.stderr)
    # Every node is reported; those that did not answer carry an "error".
    reported = json.loads(output.getvalue()) if status in (0, 1) else {}
    answered = sum(1 for value in reported.values() if "error" not in value)
    return watch, answered


async def _run_one(reactor, args):
    from lethean.mesh import MeshTransport, TransportConfig
    from lethean.node import Controller
    from lethean.peers import PeerRegistry

    n = args.one
    profiler = _Profiler(args.profile, n)
    fleet = _Fleet(reactor)
    workers = await fleet.start(n, args.processes)

    gc.collect()
    rss_start = rss_bytes()
    data_dir = _scratch("lethean-fleet-controller-")
    registry = PeerRegistry(reactor, os.path.join(data_dir, "peers.json"))
    _register(registry, workers)
    gc.collect()
    rss_registered = rss_bytes()

    transport = MeshTransport(reactor, _identity(reactor, "controller", "controller"), registry,
                              TransportConfig(listen=None))
    controller = Controller(reactor, transport, registry)
    transport.add_consumer(controller)
    transport.startService()

    load_1m = os.getloadavg()[0]
    with _Stopwatch(fleet) as link, profiler.phase("link"):
        linked = await _link_all(reactor, controller, workers, args.concurrency)
    gc.collect()
    rss_linked = rss_bytes()

    gathers, answered = [], []
    for _ in range(args.gathers):
        with _Stopwatch(fleet) as gather, profiler.phase("gather"):
            stats = await controller.get_all_stats()
        gathers.append(gather)
        answered.append(len(stats))
    gc.collect()
    rss_gathered = rss_bytes()

    controller.stop()
    await transport.stopService()
    await registry.close()

    cli, cli_answered = await _cli_gather(reactor, fleet, workers, profiler)
    await fleet.stop()
    profiler.save()

    per = max(linked, 1)
    emit({"name": "fleet_run", "workers": n, "processes": len(fleet.processes),
          "concurrency": args.concurrency, "load_1m": load_1m, "linked": linked,
          "link_seconds": link.wall, "link_cpu_seconds": link.cpu,
          "link_workers_cpu_seconds": link.workers_cpu,
          "gather_seconds": [g.wall for g in gathers],
          "gather_cpu_seconds": [g.cpu for g in gathers],
          "gather_workers_cpu_seconds": [g.workers_cpu for g in gathers], "answered": answered,
          "rss_start": rss_start, "registry_bytes_per_peer": (rss_registered - rss_start) / n,
          "rss_bytes_per_link": (rss_linked - rss_start) / per,
          "rss_bytes_per_link_after_gather": (rss_gathered - rss_start) / per,
          "cli_seconds": cli.wall, "cli_cpu_seconds": cli.cpu,
          "cli_workers_cpu_seconds": cli.workers_cpu, "cli_answered": cli_answered})


def run_one(args):
    die_with_parent(signum=signal.SIGTERM)
    controller_fds, worker_fds = _fds_needed(args.one, args.processes)
    ok, hard = _raise_fd_limit(controller_fds)
    workers_fit = hard == resource.RLIM_INFINITY or hard >= worker_fds
    if not ok or not workers_fit:
        reason = ("the open-file limit (hard {}) is below the {} descriptors {} needs; "
                  "raise it (ulimit -Hn, LimitNOFILE=)".format(
                      hard, controller_fds if not ok else worker_fds,
                      "the controller" if not ok else "each worker process"))
        if ok:
            reason += " or use more --processes"
        print("fleet: skipping {} workers: {}".format(args.one, reason), file=sys.stderr)
        emit({"name": "fleet_skipped", "workers": args.one, "reason": reason})
        return
    task.react(lambda reactor: defer.Deferred.fromCoroutine(_run_one(reactor, args)))


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
