"""
The attacker process: one attack, its connections kept going until told to stop.

    python -c "from benchmarks._hostile.attacker import main; main()" NAME --address HOST:PORT

Each attack keeps ``size`` connections going at once: a connection that
ends (the node dropped it, or its script finished) is replaced at once, so
the pressure lasts as long as the attack.  The process prints JSON lines:
``{"event": "started", "t": ...}`` (``time.monotonic()``) as the first
connections open, and ``{"event": "done", ...}`` with what the attacker saw
once its stdin closes (the orchestrator's signal to stop), after aborting
every connection.
"""

import argparse
import json
import sys
import time

from twisted.internet import defer, protocol, stdio, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from benchmarks._hostile.attacks import ATTACKS
from benchmarks._hostile.connections import Tally

__all__ = ["Pool", "main"]


class Pool:
    """Keeps ``attack.size`` connections going until :meth:`stop`."""

    def __init__(self, reactor, attack, address, victims=(), source=None):
        host, _, port = address.rpartition(":")
        self.reactor = reactor
        self.attack = attack
        self.host_port = address.encode("ascii")
        self.victims = list(victims)
        self.tally = Tally()
        self._endpoint = TCP4ClientEndpoint(reactor, host, int(port), timeout=10,
                                            bindAddress=(source, 0) if source else None)
        self._live = set()
        self._constants = {}
        #: True once the attack is over: late connections are not counted.
        self.stopped = False

    def constant(self, key, build):
        """``build()`` once per attack: prebuilt bytes keep the attacker cheap."""
        if key not in self._constants:
            self._constants[key] = build()
        return self._constants[key]

    def start(self):
        for _ in range(self.attack.size):
            self._open()

    def _open(self):
        if self.stopped:
            return
        attacker = self.attack.protocol(self)
        self._live.add(attacker)
        d = connectProtocol(self._endpoint, attacker)
        d.addErrback(self._failed, attacker)

    def _failed(self, failure, attacker):
        self._live.discard(attacker)
        self.tally.connect_failed += 1
        if not self.stopped:
            self.reactor.callLater(0.05, self._open)

    def lost(self, attacker):
        self._live.discard(attacker)
        if not self.stopped:
            self.reactor.callLater(0, self._open)

    def stop(self):
        self.stopped = True
        for attacker in list(self._live):
            attacker.finish()


class _UntilEOF(protocol.Protocol):
    def __init__(self, done):
        self.done = done

    def connectionLost(self, reason):
        if not self.done.called:
            self.done.callback(None)


def _emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def _run(reactor, args):
    attack = ATTACKS[args.name]
    pool = Pool(reactor, attack, args.address, json.loads(args.victims), args.source)
    done = defer.Deferred()
    stdio.StandardIO(_UntilEOF(done), reactor=reactor)
    _emit({"event": "started", "t": time.monotonic()})
    pool.start()
    await done
    pool.stop()
    await task.deferLater(reactor, 0.2, lambda: None)
    _emit(dict(event="done", **pool.tally.to_json()))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run one attack until stdin closes.")
    parser.add_argument("name", choices=sorted(ATTACKS))
    parser.add_argument("--address", required=True, help="the node's HOST:PORT")
    parser.add_argument("--victims", default="[]",
                        help="JSON list of public identities a replay impersonates")
    parser.add_argument("--source", default=None,
                        help="local address to connect from (127.0.0.2: the node can tell "
                             "the attacker from the legitimate peer on 127.0.0.1)")
    args = parser.parse_args(argv)
    task.react(lambda reactor: defer.Deferred.fromCoroutine(_run(reactor, args)))
