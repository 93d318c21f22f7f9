"""
The bundle benchmark's measurements, each run in a fresh child process
(``bundles.py --child NAME ARGS...`` answers one JSON line; ``bundles.py
--node DATA_DIR CONTROL [PROFILE]`` is a node driven through its stdin).
"""

import importlib
import json
import os
import signal
import sys
import time

from benchmarks._peaks import Peak, peak_meter, process_cpu_seconds

__all__ = ["CHILDREN", "PASSWORD_VARIABLE", "child_node"]

#: The environment variable the children read the bundles' password from.
PASSWORD_VARIABLE = "LETHEAN_BENCH_PASSWORD"
#: How often the reactor probe runs.
PROBE_INTERVAL_S = 0.01


# -- child processes: one measurement each ------------------------------------


def _warm_cli():
    """
    Import what the ``lethean`` commands measured here load, so that the
    peaks are the work's and not the code's (``*_absolute`` has both).
    """
    for name in ("twisted.internet.reactor", "twisted.web.client", "lethean.bundles",
                 "lethean.mesh", "lethean.node"):
        importlib.import_module(name)
    from lethean.cli import main
    from lethean.cli._main import build_parser

    build_parser()
    return main


def child_create(miner, output, traced):
    """``lethean bundle create miner`` in-process; its peak and time."""
    main = _warm_cli()
    argv = ["bundle", "create", "miner", miner, "--name", "bench",
            "--password-env", PASSWORD_VARIABLE, "-o", output]
    devnull = open(os.devnull, "w")
    stdout, sys.stdout = sys.stdout, devnull
    meter = peak_meter(traced)
    started = time.perf_counter()
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    seconds = time.perf_counter() - started
    peak = meter.bytes()
    sys.stdout = stdout
    return {"status": status, "seconds": seconds, "peak_bytes": peak}


def child_extract(bundle_path, dest, traced):
    """``read_bundle`` then ``extract_miner_bundle``; the peaks of each."""
    from lethean.bundles import extract_miner_bundle, read_bundle

    password = os.environ[PASSWORD_VARIABLE]
    whole = peak_meter(traced)
    started = time.perf_counter()
    with open(bundle_path, "rb") as f:
        bundle = read_bundle(f)
    read_seconds = time.perf_counter() - started
    read_peak = whole.bytes()
    held = peak_meter(traced)
    started = time.perf_counter()
    extract_miner_bundle(bundle, password, dest)
    extract_seconds = time.perf_counter() - started
    return {"read_peak_bytes": read_peak, "read_seconds": read_seconds,
            "extract_peak_bytes": held.bytes(), "extract_seconds": extract_seconds,
            "peak_bytes": whole.bytes()}


class Probe:
    """
    A 10 ms ``LoopingCall`` that remembers how late it ever ran
    (``worst_s``), and the most CPU time the reactor thread itself spent
    between two of its runs (``worst_busy_s``): a delay with little CPU
    behind it was spent waiting for a core or for the GIL.
    """

    def __init__(self, reactor):
        from twisted.internet import task

        self._reactor = reactor
        self._call = task.LoopingCall(self._tick)
        self._call.clock = reactor
        self.reset()

    def reset(self):
        self.worst_s = self.worst_busy_s = 0.0
        self._last = time.monotonic()
        self._last_cpu = time.thread_time()

    def _tick(self):
        now, cpu = time.monotonic(), time.thread_time()
        self.worst_s = max(self.worst_s, now - self._last - PROBE_INTERVAL_S)
        self.worst_busy_s = max(self.worst_busy_s, cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu

    def start(self):
        self._call.start(PROBE_INTERVAL_S)


def child_reactor(miner, miners_root):
    """Worst probe delay while a bundle is built, then installed, in threads."""
    from twisted.internet import defer, reactor

    from lethean.bundles import create_miner_bundle_in_thread, install_miner_bundle_in_thread
    from lethean.bundles._create import read_miner

    password = os.environ[PASSWORD_VARIABLE]
    probe = Probe(reactor)
    result = {}

    async def run():
        name, content = read_miner(miner)
        probe.start()
        probe.reset()
        started = time.perf_counter()
        bundle = await create_miner_bundle_in_thread(reactor, name, content, "bench", password)
        result["create_seconds"] = time.perf_counter() - started
        result["create_worst_delay_ms"] = probe.worst_s * 1000
        result["create_worst_busy_ms"] = probe.worst_busy_s * 1000
        del content
        probe.reset()
        started = time.perf_counter()
        await install_miner_bundle_in_thread(reactor, bundle, password, miners_root)
        result["install_seconds"] = time.perf_counter() - started
        result["install_worst_delay_ms"] = probe.worst_s * 1000
        result["install_worst_busy_ms"] = probe.worst_busy_s * 1000

    done = defer.Deferred.fromCoroutine(run())
    done.addErrback(lambda failure: result.setdefault("error", failure.getTraceback()))
    done.addBoth(lambda _: reactor.stop())
    reactor.run(installSignalHandlers=False)
    return result


def child_node(data_dir, control, profile=None):
    """
    A lethean node as ``twistd lethean-node`` builds it, with a probe.

    Prints ``{"address", "id"}`` once listening, then answers commands on
    stdin: ``mark`` (reset the peak and the probe) and ``report`` (print
    ``{"peak_bytes", "worst_delay_ms"}``).  Ends when stdin closes.  With
    ``profile`` (a file name prefix), each report also writes the cProfile
    statistics of the reactor thread's CPU time since the mark.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from twisted.internet import defer, protocol, reactor, stdio
    from twisted.protocols import basic

    from lethean.node import tap

    options = tap.Options()
    options.parseOptions(["--data-dir", data_dir, "--listen", "tcp:0:interface=127.0.0.1",
                          "--control", control])
    node = tap.makeService(options, reactor)
    probe = Probe(reactor)
    state = {"meter": Peak()}

    class Commands(basic.LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line):
            if line == b"mark":
                if profile:
                    import cProfile

                    state["profile"] = cProfile.Profile(time.thread_time)
                    state["profile"].enable()
                probe.reset()
                state["meter"] = Peak()
                state["cpu"] = process_cpu_seconds()
                self.sendLine(b"{}")
            elif line == b"report":
                if state.get("profile"):
                    state["profile"].disable()
                    state["reports"] = state.get("reports", 0) + 1
                    state["profile"].dump_stats("{}-{}.prof".format(profile, state["reports"]))
                self.sendLine(json.dumps({
                    "peak_bytes": state["meter"].bytes(),
                    "absolute_bytes": Peak.absolute(),
                    "cpu_seconds": process_cpu_seconds() - state["cpu"],
                    "worst_delay_ms": probe.worst_s * 1000,
                    "worst_busy_ms": probe.worst_busy_s * 1000}).encode())

        def connectionLost(self, reason=protocol.connectionDone):
            defer.maybeDeferred(node.stopService).addBoth(lambda _: reactor.stop())

    async def start():
        node.startService()
        transport = next(s for s in node if hasattr(s, "add_consumer"))
        await transport._listening
        print(json.dumps({"address": "127.0.0.1:{}".format(transport.port.getHost().port),
                          "id": transport.identity.id}), flush=True)
        probe.start()
        stdio.StandardIO(Commands())

    defer.Deferred.fromCoroutine(start()).addErrback(
        lambda failure: (failure.printTraceback(file=sys.stderr), reactor.stop()))
    reactor.run(installSignalHandlers=False)


def child_cli(argv_json):
    """The ``lethean`` command in-process: its peak above the loaded CLI."""
    argv = json.loads(argv_json)
    main = _warm_cli()
    meter = Peak()
    cpu = process_cpu_seconds()
    devnull = open(os.devnull, "w")
    stdout, sys.stdout = sys.stdout, devnull
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    sys.stdout = stdout
    return {"status": status, "peak_bytes": meter.bytes(), "absolute_bytes": Peak.absolute(),
            "cpu_seconds": process_cpu_seconds() - cpu}


CHILDREN = {
    "create": lambda a: child_create(a[0], a[1], a[2] == "traced"),
    "extract": lambda a: child_extract(a[0], a[1], a[2] == "traced"),
    "reactor": lambda a: child_reactor(a[0], a[1]),
    "cli": lambda a: child_cli(a[0]),
}
