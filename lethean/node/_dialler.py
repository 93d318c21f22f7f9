"""
Keep mesh links to configured peers up, redialling with backoff.

``twistd lethean-node --peer TARGET`` should survive the peer restarting
or not being up yet: each target gets its own loop that dials, waits for
the link to close, and dials again after a growing, jittered delay (the
policy ``ClientService`` uses), all on the injected clock.  A target is an
address (``HOST:PORT``, ``ws[s]://HOST:PORT``) or, given a ``resolve``
function, a registered peer's id, id prefix or name, looked up at every
dial.  A link that closes as soon as it is up counts as a failed attempt
(``_redial`` says when to dial again and what to log); a target that turns
out to be this node itself is given up.
"""

from twisted.application import service
from twisted.application.internet import backoffPolicy
from twisted.internet import defer, task
from twisted.logger import Logger

__all__ = ["PeerDialler"]

_log = Logger()


class PeerDialler(service.Service):
    """
    Dial every target in ``addresses`` through ``transport`` and redial.

    :param reactor: ``IReactorTime`` for the backoff delays.
    :param transport: an ``IMeshTransport``.
    :param retry_policy: ``attempt -> seconds`` (default: ``backoffPolicy()``).
    :param resolve: ``target -> (address, peer_id, scheme, label, peer)``
        (:meth:`~lethean.node.NodeOperations.resolve`); without it every
        target is a plain ``HOST:PORT``.
    """

    def __init__(self, reactor, transport, addresses, retry_policy=None, resolve=None):
        self._reactor = reactor
        self._transport = transport
        self.addresses = list(addresses)
        self._retry_policy = retry_policy or backoffPolicy()
        self._resolve = resolve
        self._loops = []
        self._waiting = set()

    def startService(self):
        super().startService()
        self._loops = [defer.Deferred.fromCoroutine(self._keep_up(address))
                       for address in self.addresses]
        for loop in self._loops:
            loop.addErrback(lambda failure: None if failure.check(defer.CancelledError)
                            else _log.failure("peer dialler stopped", failure))

    def stopService(self):
        super().stopService()
        for pending in list(self._waiting):
            pending.cancel()
        loops, self._loops = self._loops, []
        return defer.DeferredList(loops, consumeErrors=True)

    def _wait(self, d):
        self._waiting.add(d)
        d.addBoth(lambda result: (self._waiting.discard(d), result)[1])
        return d

    def _dial(self, target):
        if self._resolve is None:
            return self._transport.connect(target)
        address, peer_id, scheme, _, _ = self._resolve(target)
        if peer_id is not None:
            existing = self._transport.connection(peer_id)
            if existing is not None:
                return defer.succeed(existing)
        return self._transport.connect(address, peer_id=peer_id, scheme=scheme)

    async def _keep_up(self, address):
        from lethean.mesh import SelfConnectionError
        from lethean.node._redial import RedialSchedule
        from lethean.node._targets import AmbiguousTargetError, UnknownTargetError

        schedule = RedialSchedule(self._reactor, address, self._retry_policy)
        while self.running:
            try:
                connection = await self._wait(self._dial(address))
            except defer.CancelledError:
                return
            except (UnknownTargetError, AmbiguousTargetError) as e:
                _log.error("--peer {address} cannot be dialled: {reason}; not retried (register "
                           "it with 'lethean peers add', then restart the node)",
                           address=address, reason=e.line)
                return
            except SelfConnectionError:
                _log.error("--peer {address} is this node itself (it answered with this node's "
                           "own key); not dialled again", address=address)
                return
            except Exception as e:
                delay = schedule.dial_failed(str(e) or type(e).__name__)
            else:
                schedule.link_up()
                try:
                    await self._wait(connection.when_lost())
                except defer.CancelledError:
                    return
                except Exception:
                    pass
                if not self.running:
                    return
                delay = schedule.link_lost(getattr(connection, "reason", None))
            if delay:
                try:
                    await self._wait(task.deferLater(self._reactor, delay))
                except defer.CancelledError:
                    return
