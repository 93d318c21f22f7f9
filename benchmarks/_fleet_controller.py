"""
One run of the fleet benchmark's controller, in a fresh process
(``fleet.py --one N``): start the workers, link, gather, gather again as
``lethean stats --all --json`` does; print one ``fleet_run`` line.
"""

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import resource
import signal
import sys
import time

from twisted.internet import defer, task

from benchmarks._fleet_workers import (
    WorkerFleet,
    fds_needed,
    new_identity,
    raise_fd_limit,
    scratch,
)
from benchmarks._processes import cpu_seconds, die_with_parent, rss_bytes
from benchmarks._timing import emit

__all__ = ["run_one"]


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
    data_dir = scratch("lethean-fleet-cli-")
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
    fleet = WorkerFleet(reactor)
    workers = await fleet.start(n, args.processes)

    gc.collect()
    rss_start = rss_bytes()
    data_dir = scratch("lethean-fleet-controller-")
    registry = PeerRegistry(reactor, os.path.join(data_dir, "peers.json"))
    _register(registry, workers)
    gc.collect()
    rss_registered = rss_bytes()

    transport = MeshTransport(reactor, new_identity(reactor, "controller", "controller"), registry,
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
    controller_fds, worker_fds = fds_needed(args.one, args.processes)
    ok, hard = raise_fd_limit(controller_fds)
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
