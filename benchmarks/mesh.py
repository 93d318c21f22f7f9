"""
How fast is the encrypted mesh, and how does it compare with its ceilings?

Two lethean nodes on 127.0.0.1, in one process (one reactor):

* ``mesh_round_trip``: sealed request/response round trips per second with
  200 B and 4 KB envelopes at windows 1 and 32 (the server's consumer
  answers each request), on a ``v1`` link (the reference's SMSG frames, as
  with a Go peer) and on a ``v2`` session (``session``).  Each size and
  window is measured ``--rounds`` times, each round running the v1 link,
  the v2 session and ``../shared/bench/ws_echo_ceiling.py --crypto`` (bare
  Autobahn + XChaCha20 + json, no framework) one after the other, so that
  each ratio compares runs seconds apart.  ``msgs_per_s`` and
  ``ceiling_msgs_per_s`` are medians of the rounds, ``ceiling_ratio`` the
  median of the rounds' ratios (``ceiling_ratio_range``: the lowest and
  highest), ``v2_to_v1`` likewise; ``cpu_us_per_round_trip`` is the
  process CPU time (both nodes live in this process) per round trip, the
  figure a loaded machine disturbs least.  Like the ceiling, each
  measurement first runs ``min(2000, count / 5)`` unmeasured round trips.
* ``mesh_handshake``: full connects (TCP, WebSocket upgrade, mesh handshake,
  first sealed frame; for ``v2`` the session upgrade too) then close, one at
  a time, per second, with ``handshake_ceiling.py``'s ``ws_connect_close``
  rate as the ceiling.
* ``mesh_idle_memory``: resident memory added per idle authenticated
  connection, opening ``--idle`` connections (both ends live in this
  process, so the figure covers one initiator and one responder side).
* ``peer_selection``: ``PeerRegistry.select_optimal`` time at 1 000 and
  100 000 peers.

Prints one JSON line per measurement.  Run from the checkout:
``python benchmarks/mesh.py`` (``--quick`` for a short smoke run).
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import defer, task  # noqa: E402
from zope.interface import implementer  # noqa: E402

from benchmarks._timing import emit  # noqa: E402
from lethean.identity import LocalIdentity, PrivateKey  # noqa: E402
from lethean.interfaces import IMessageConsumer  # noqa: E402
from lethean.mesh import (  # noqa: E402
    FEATURES,
    SESSION_V2,
    MeshTransport,
    TransportConfig,
    new_message,
    reply,
)
from lethean.peers import Peer, PeerRegistry  # noqa: E402
from lethean.smsg import Timestamp  # noqa: E402

SHARED_BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
#: The features a dialling node announces for each kind of link (a server
#: with v2 answers a node without it as the reference does).
SESSIONS = (("v1", FEATURES - {SESSION_V2}), ("v2", FEATURES))


def _registry(clock):
    return PeerRegistry(clock, os.path.join(tempfile.mkdtemp(), "peers.json"),
                        writer=lambda path, content: None)


def _node(reactor, name, listen, **config):
    identity = LocalIdentity.create(PrivateKey.generate(), name, "dual",
                                    Timestamp.from_unix(reactor.seconds()))
    # Ample limits: the benchmark measures throughput, not the rate limiter.
    config.setdefault("rate_burst", 10**9)
    config.setdefault("rate_per_s", 10**9)
    return MeshTransport(reactor, identity, _registry(task.Clock()),
                         TransportConfig(listen=listen, **config))


@implementer(IMessageConsumer)
class _Answer:
    def __init__(self, node):
        self.node = node

    def messageReceived(self, connection, message):
        if message.type == "bench":
            connection.send(reply(message, "bench_ack", message.payload, clock=self.node.reactor,
                                  from_=self.node.identity.id))


@implementer(IMessageConsumer)
class _Replies:
    def __init__(self):
        self.on_reply = None

    def messageReceived(self, connection, message):
        if message.type == "bench_ack":
            self.on_reply(message)


def _payload(size, node, peer_id, reactor):
    """A payload making the envelope text about ``size`` bytes."""
    empty = new_message("bench", node.identity.id, peer_id, {"d": ""}, clock=reactor)
    return {"d": "x" * max(0, size - len(empty.to_json()))}


async def _round_trips(reactor, server, client, link, size, window, count):
    """``(round trips per second, CPU microseconds per round trip)``."""
    replies = _Replies()
    client.add_consumer(replies)
    payload = _payload(size, client, link.peer_id, reactor)

    async def run(count):
        done = defer.Deferred()
        state = {"sent": 0, "received": 0}

        def send_one():
            state["sent"] += 1
            link.send(new_message("bench", client.identity.id, link.peer_id, payload,
                                  clock=reactor))

        def on_reply(message):
            state["received"] += 1
            if state["received"] == count:
                done.callback(None)
            elif state["sent"] < count:
                send_one()

        replies.on_reply = on_reply
        for _ in range(min(window, count)):
            send_one()
        await done

    warmup = min(2000, count // 5)
    if warmup:
        await run(warmup)
    start, cpu = time.perf_counter(), time.process_time()
    await run(count)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    client.remove_consumer(replies)
    return count / elapsed, cpu / count * 1e6


def _median_ratio(pairs):
    """Median, lowest and highest of ``a / b`` over the pairs both measured."""
    ratios = sorted(a / b for a, b in pairs if a and b)
    if not ratios:
        return None, None
    return round(statistics.median(ratios), 3), [round(ratios[0], 3), round(ratios[-1], 3)]


async def _round_trip_figures(reactor, server, address, args):
    """Every round trip line: v1, v2 and the ceiling, interleaved round by round."""
    links = {}
    for session, features in SESSIONS:
        client = _node(reactor, "client-" + session, None, features=features)
        client.startService()
        link = await client.connect(address)
        assert link.session == session, link.session
        links[session] = client, link
    cases = [(size, window) for size in (200, 4096) for window in (1, 32)]
    rates = {}  # (session, size, window) -> [(msgs_per_s, cpu_us), ...]
    for _ in range(args.rounds):
        for size, window in cases:
            count = args.count if window > 1 else max(1, args.count // 4)
            for session, _features in SESSIONS:
                client, link = links[session]
                rates.setdefault((session, size, window), []).append(
                    await _round_trips(reactor, server, client, link, size, window, count))
            ceiling = _ceiling("ws_echo_ceiling.py", "--crypto", "--size", str(size),
                               "--window", str(window), "--count", str(count))
            rates.setdefault(("ceiling", size, window), []).append(
                (ceiling[0]["msgs_per_s"] if ceiling else None, None))
    for session, _features in SESSIONS:
        for size, window in cases:
            ours = rates[session, size, window]
            ceiling = [rate for rate, _ in rates["ceiling", size, window]]
            ratio, spread = _median_ratio(zip((rate for rate, _ in ours), ceiling))
            known = [rate for rate in ceiling if rate]
            line = {"name": "mesh_round_trip", "session": session, "size": size,
                    "window": window, "count": args.count if window > 1 else args.count // 4,
                    "rounds": args.rounds,
                    "msgs_per_s": round(statistics.median(rate for rate, _ in ours), 1),
                    "cpu_us_per_round_trip": round(statistics.median(cpu for _, cpu in ours), 1),
                    "ceiling_msgs_per_s": round(statistics.median(known), 1) if known else None,
                    "ceiling_ratio": ratio, "ceiling_ratio_range": spread}
            if session != "v1":
                line["v2_to_v1"] = _median_ratio(
                    (a, b) for (a, _), (b, _) in zip(ours, rates["v1", size, window]))[0]
            emit(line)
    for client, _link in links.values():
        await client.stopService()


def _ceiling(script, *args):
    """The JSON lines a shared ceiling script prints, or [] if it cannot run."""
    path = SHARED_BENCH / script
    if not path.exists():
        return []
    try:
        out = subprocess.run([sys.executable, str(path), *args], capture_output=True,
                             text=True, timeout=600, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


async def _handshakes(reactor, server, address, count, features):
    clients = [_node(reactor, "c{}".format(i), None, features=features) for i in range(count)]
    latencies = []
    start = time.perf_counter()
    for client in clients:
        t0 = time.perf_counter()
        link = await client.connect(address)
        latencies.append(time.perf_counter() - t0)
        await link.close()
    elapsed = time.perf_counter() - start
    return count / elapsed, statistics.median(latencies) * 1000


async def _idle_memory(reactor, server, address, count):
    # Settle allocator state with a few connections first.
    clients = [_node(reactor, "m{}".format(i), None) for i in range(count)]
    before = _rss_bytes()
    links = []
    for client in clients:
        links.append(await client.connect(address))
    while len(server.connections()) < count:
        await task.deferLater(reactor, 0.01, lambda: None)
    after = _rss_bytes()
    await defer.DeferredList([link.close() for link in links])
    return (after - before) / count


def _selection(peers, seconds):
    registry = _registry(task.Clock())
    rng = random.Random(1)
    for i in range(peers):
        key = PrivateKey(rng.randbytes(32)).public_key_b64
        peer = registry.add_peer(Peer(id=_id(key), name="p{}".format(i), public_key=key))
        registry.update_metrics(peer.id, rng.uniform(1, 500), rng.uniform(0, 20000),
                                rng.randint(0, 10))
    calls = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        registry.select_optimal()
        calls += 1
    return (time.perf_counter() - start) / calls * 1e6


def _id(key):
    from lethean.identity import node_id_for
    return node_id_for(key)


async def main(reactor, args):
    server = _node(reactor, "server", "tcp:0:interface=127.0.0.1",
                   max_connections=args.idle + 100)
    server.add_consumer(_Answer(server))
    server.startService()
    address = "127.0.0.1:{}".format(server.port.getHost().port)

    await _round_trip_figures(reactor, server, address, args)

    ceiling = _ceiling("handshake_ceiling.py", "--only", "ws_connect_close",
                       "--conn-count", str(max(args.handshakes, 100)))
    ceiling_rate = ceiling[0]["ops_per_s"] if ceiling else None
    for session, features in SESSIONS:
        rate, p50 = await _handshakes(reactor, server, address, args.handshakes, features)
        emit({"name": "mesh_handshake", "session": session, "count": args.handshakes,
              "ops_per_s": round(rate, 1), "p50_ms": round(p50, 3),
              "ceiling_ops_per_s": ceiling_rate,
              "ceiling_ratio": round(rate / ceiling_rate, 3) if ceiling_rate else None})

    per_connection = await _idle_memory(reactor, server, address, args.idle)
    emit({"name": "mesh_idle_memory", "connections": args.idle,
          "rss_bytes_per_connection": int(per_connection)})

    await server.stopService()

    for peers in args.peers:
        emit({"name": "peer_selection", "peers": peers,
              "us_per_select": round(_selection(peers, args.seconds), 3)})


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000,
                        help="round trips per window-32 measurement (window 1 runs a quarter)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="round trip measurements of each kind, interleaved with the "
                             "ceiling's; medians are over these (default %(default)s)")
    parser.add_argument("--handshakes", type=int, default=500,
                        help="connects measured for handshakes per second")
    parser.add_argument("--idle", type=int, default=1000,
                        help="idle connections opened for the memory figure")
    parser.add_argument("--peers", type=int, nargs="*", default=[1000, 100000],
                        help="registry sizes for the selection timing")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="how long each selection timing runs")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run (small counts)")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.handshakes, args.idle, args.rounds = 200, 20, 20, 1
        args.peers, args.seconds = [1000], 0.1
    return args


if __name__ == "__main__":
    options = parse(sys.argv[1:])
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, options)))
