"""
The fleet benchmark's workers: child processes each running a hundred or so
worker nodes, and the controller's handle on those processes.

A worker process is ``fleet.py --serve-workers COUNT --base FIRST``: it prints
one JSON line per node (address, id, name, public key), then ``ready``, and
ends when its standard input closes.
"""

import atexit
import json
import os
import resource
import shutil
import signal
import sys
import tempfile

from twisted.internet import defer, protocol

from benchmarks._processes import die_with_parent

__all__ = ["FLEET_SCRIPT", "WorkerFleet", "fds_needed", "new_identity", "raise_fd_limit",
           "scratch", "serve"]

#: The script whose ``--serve-workers`` runs one worker process.
FLEET_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fleet.py")
#: File descriptors a process needs besides one per socket.
SPARE_FDS = 128
#: How long worker processes may take to come up.
STARTUP_TIMEOUT_S = 300.0


# -- helpers shared by every process ------------------------------------------


def raise_fd_limit(needed):
    """Raise the soft descriptor limit towards the hard one; True if ``needed`` fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft == resource.RLIM_INFINITY or soft >= needed, hard


def scratch(prefix):
    """A temporary folder removed when this process exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def new_identity(reactor, name, role):
    """A fresh identity with this ``name`` and ``role``, created now."""
    from lethean.identity import LocalIdentity, PrivateKey
    from lethean.smsg import Timestamp

    return LocalIdentity.create(PrivateKey.generate(), name, role,
                                Timestamp.from_unix(reactor.seconds()))


def _split(total, parts):
    """``total`` workers over ``parts`` processes, as evenly as possible."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def fds_needed(workers, processes):
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

    tmp = scratch("lethean-fleet-")
    nodes = []
    for i in range(count):
        name = "worker-{}".format(base + i)
        identity = new_identity(reactor, name, "worker")
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
    raise_fd_limit(3 * count + SPARE_FDS)
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


class WorkerFleet:
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
                [sys.executable, FLEET_SCRIPT, "--serve-workers", str(count), "--base", str(base)],
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
