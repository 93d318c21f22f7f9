"""
The legitimate controller whose service the attacks must not take away.

    python -c "from benchmarks._hostile.legit import main; main()" --address HOST:PORT

``--links`` mesh links to the node, each with its own identity, transport
and lethean ``Controller``, send ``ping`` and ``get_stats`` requests in
turn, back to back but at most ``--rate`` per second per link: the node
admits 50 frames/s per peer (a token bucket), and a faster controller would
measure that limit, not the node.  A request that fails is counted; the
controller dials again on its own when the link is gone.

stdin commands, one per line: ``probe`` (a fresh connection: a full mesh
handshake and one ``ping``, with a fixed probe identity).  EOF stops.
stdout events: ``identities`` (the public identities used, for a replay
attacker), ``connected``, ``progress`` every 0.2 s (cumulative ``ok``/``err``
and the round-trip times since the last one), ``probe``.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter

from twisted.internet import defer, protocol, stdio, task
from twisted.protocols.basic import LineReceiver

from benchmarks._hostile.wire import new_identity
from lethean.mesh import MeshTransport, TransportConfig
from lethean.node import Controller
from lethean.peers import PeerRegistry

__all__ = ["main", "PROBE_TIMEOUT_S"]

PROGRESS_INTERVAL_S = 0.2
#: A fresh connection (dial, upgrade, handshake) must be up within this.
PROBE_CONNECT_TIMEOUT_S = 10.0
#: The whole probe, its ping included (the controller's ping timeout is 5 s).
PROBE_TIMEOUT_S = PROBE_CONNECT_TIMEOUT_S + 6.0


def _emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class _Peer:
    """One identity with its own transport, registry and controller."""

    def __init__(self, reactor, folder, identity, config):
        self.identity = identity
        self.registry = PeerRegistry(reactor, os.path.join(folder, identity.id + ".json"),
                                     writer=lambda path, content: None)
        self.transport = MeshTransport(reactor, identity, self.registry, config)
        self.controller = Controller(reactor, self.transport, self.registry)
        self.transport.add_consumer(self.controller)
        self.transport.startService()

    async def close(self):
        self.controller.stop()
        await self.transport.stopService()


class Legit:
    def __init__(self, reactor, args, folder):
        self.reactor = reactor
        self.args = args
        self.folder = folder
        self.stopping = False
        self.ok = 0
        self.err = 0
        self.errors = Counter()
        self.rtts = []
        self.node_id = None
        # Our side of a measured link never limits the node's answers.
        generous = TransportConfig(listen=None, rate_burst=10**9, rate_per_s=10**9)
        self.peers = [_Peer(reactor, folder, new_identity("legit-{}".format(i)), generous)
                      for i in range(args.links)]
        self.probe_identity = new_identity("legit-probe")
        self._busy = []

    async def connect(self):
        connections = await defer.gatherResults(
            [peer.transport.connect(self.args.address) for peer in self.peers], consumeErrors=True)
        self.node_id = connections[0].peer_id

    async def drive(self, peer):
        interval = 1.0 / self.args.rate
        turn = 0
        while not self.stopping:
            started = time.perf_counter()
            try:
                if turn % 2:
                    await peer.controller.get_remote_stats(self.node_id)
                else:
                    await peer.controller.ping_peer(self.node_id)
            except Exception as e:
                if self.stopping:
                    return
                self.err += 1
                self.errors[type(e).__name__] += 1
                await task.deferLater(self.reactor, 0.1, lambda: None)
            else:
                self.ok += 1
                self.rtts.append(round((time.perf_counter() - started) * 1000, 3))
            turn += 1
            wait = started + interval - time.perf_counter()
            if wait > 0 and not self.stopping:
                await task.deferLater(self.reactor, wait, lambda: None)

    def progress(self):
        rtts, self.rtts = self.rtts, []
        _emit({"event": "progress", "t": time.monotonic(), "ok": self.ok, "err": self.err,
               "errors": dict(self.errors), "rtt_ms": rtts})

    async def probe(self):
        """A fresh connection: full handshake and one ping, timed."""
        started = time.perf_counter()
        # A node as any user runs it: default limits.
        peer = _Peer(self.reactor, self.folder, self.probe_identity, TransportConfig(listen=None))
        result = {"event": "probe", "ok": False, "connect_ms": None, "error": None}
        try:
            d = peer.transport.connect(self.args.address)
            d.addTimeout(PROBE_CONNECT_TIMEOUT_S, self.reactor)
            connection = await d
            result["connect_ms"] = round((time.perf_counter() - started) * 1000, 1)
            await peer.controller.ping_peer(connection.peer_id)
            result["ok"] = True
        except Exception as e:
            result["error"] = "{}: {}".format(type(e).__name__, e)[:200]
        result["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        await peer.close()
        _emit(result)

    def command(self, line):
        action = {"probe": self.probe}.get(line.strip())
        if action is not None:
            d = defer.Deferred.fromCoroutine(action())
            self._busy.append(d)

    async def close(self):
        self.stopping = True
        for d in self._busy:
            if not d.called:
                d.cancel()
        await defer.DeferredList([defer.Deferred.fromCoroutine(p.close()) for p in self.peers],
                                 consumeErrors=True)


class _Commands(LineReceiver):
    delimiter = b"\n"

    def __init__(self, legit, done):
        self.legit = legit
        self.done = done

    def lineReceived(self, line):
        self.legit.command(line.decode("ascii", "replace"))

    def connectionLost(self, reason=protocol.connectionDone):
        if not self.done.called:
            self.done.callback(None)


async def _run(reactor, args):
    with tempfile.TemporaryDirectory(prefix="lethean-legit-") as folder:
        legit = Legit(reactor, args, folder)
        _emit({"event": "identities",
               "links": [p.identity.identity.to_json_value() for p in legit.peers],
               "probe": legit.probe_identity.identity.to_json_value()})
        await legit.connect()
        _emit({"event": "connected", "node_id": legit.node_id})
        loops = [defer.Deferred.fromCoroutine(legit.drive(peer)) for peer in legit.peers]
        reporter = task.LoopingCall(legit.progress)
        reporter.clock = reactor
        reporter.start(PROGRESS_INTERVAL_S)
        done = defer.Deferred()
        stdio.StandardIO(_Commands(legit, done), reactor=reactor)
        await done
        reporter.stop()
        legit.progress()
        await legit.close()
        await defer.DeferredList(loops, consumeErrors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A legitimate controller, measured.")
    parser.add_argument("--address", required=True, help="the node's HOST:PORT")
    parser.add_argument("--links", type=int, default=4, help="controller links (identities)")
    parser.add_argument("--rate", type=float, default=40.0,
                        help="most requests per second per link")
    args = parser.parse_args(argv)
    task.react(lambda reactor: defer.Deferred.fromCoroutine(_run(reactor, args)))
