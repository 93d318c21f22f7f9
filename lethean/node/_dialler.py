"""
Keep mesh links to configured peers up, redialling with backoff.

``twistd lethean-node --peer TARGET`` should survive the peer restarting
or not being up yet: each target gets its own ``ClientService``, which
dials, waits for the link to close, and dials again after a growing,
jittered delay, all on the injected clock.  A target is an address
(``HOST:PORT``, ``ws[s]://HOST:PORT``, a client endpoint string) or,
given a ``resolve`` function, a registered peer's id, id prefix or name,
looked up at every dial.  A link that closes as soon as it is up counts as
a failed attempt (:class:`~lethean.node._redial.RedialSchedule` says when
to dial again and what to log); a target that turns out to be this node
itself is given up.  The mesh owns the links: stopping the dialler stops
the redialling and leaves them open (the mesh closes them when it stops).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.application import service
from twisted.application.internet import backoffPolicy
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from lethean._compat import quiet_client_service
from lethean.interfaces import IMeshConnection, IMeshTransport
from lethean.mesh import DIAL_ERRORS
from lethean.node._redial import RedialSchedule

__all__ = ["PeerDialler"]

_log = Logger()
_ClientService = quiet_client_service()

#: ``resolve(target) -> (address, peer_id, scheme, label, peer)``.
Resolve = Callable[[str], tuple[str, "str | None", "str | None", str, dict[str, Any]]]


class _LinkHandle:
    """
    What ``ClientService`` sees as a connection's transport: one mesh link,
    watched until it closes.  ``loseConnection`` (the service stopping)
    only stops watching: the link is the mesh's to close.
    """

    def __init__(self, endpoint: _TargetEndpoint, link: IMeshConnection,
                 protocol: Any) -> None:
        self._endpoint = endpoint
        self._protocol = protocol
        self.link = link
        self._watching = True

    def watch(self) -> None:
        self.link.when_lost().addCallback(self._lost)

    def _lost(self, _: object) -> None:
        if not self._watching:
            return
        self._watching = False
        self._endpoint.lost_reason = getattr(self.link, "reason", None) or "closed"
        self._protocol.connectionLost(Failure(error.ConnectionLost("mesh link closed")))

    def loseConnection(self) -> None:
        if self._watching:
            self._watching = False
            self._protocol.connectionLost(Failure(error.ConnectionDone("dialler stopped")))


@implementer(IStreamClientEndpoint)
class _TargetEndpoint:
    """
    One ``--peer`` target as a client endpoint: a "connection" is a mesh
    link, dialled through the transport (the target resolved anew each
    time).  A target that names no registered peer, or several, is logged
    once and not retried: the attempt waits until the service stops.
    """

    def __init__(self, dialler: PeerDialler, target: str, schedule: RedialSchedule) -> None:
        self._dialler = dialler
        self._target = target
        self.schedule = schedule
        #: Why the last dial failed, for the retry line.
        self.reason = ""
        #: Why the last link closed, while the service waits to redial it.
        self.lost_reason: str | None = None

    def __repr__(self) -> str:
        return "--peer {}".format(self._target)

    # ``factory`` is ClientService's own, and what it builds is handed a
    # _LinkHandle as its transport: Any, as Twisted's own types say otherwise.
    def connect(self, factory: Any) -> defer.Deferred[Any]:
        d = defer.maybeDeferred(self._dialler._dial, self._target)
        d.addCallbacks(self._linked, self._failed, callbackArgs=(factory,))
        return d

    def _linked(self, link: IMeshConnection, factory: Any) -> Any:
        built = factory.buildProtocol(None)
        self.lost_reason = None
        self.schedule.link_up()
        handle = _LinkHandle(self, link, built)
        built.makeConnection(handle)
        handle.watch()
        return built

    def _failed(self, failure: Failure) -> Failure | defer.Deferred[Any]:
        from lethean.mesh import SelfConnectionError
        from lethean.node._targets import AmbiguousTargetError, UnknownTargetError

        if failure.check(UnknownTargetError, AmbiguousTargetError):
            _log.error("--peer {address} cannot be dialled: {reason}; not retried (register "
                       "it with 'lethean peers add', then restart the node)",
                       address=self._target, reason=failure.value.line)
            return defer.Deferred()
        if failure.check(SelfConnectionError):
            _log.error("--peer {address} is this node itself (it answered with this node's "
                       "own key); not dialled again", address=self._target)
            return defer.Deferred()
        if failure.check(defer.CancelledError):
            return failure
        if not failure.check(*DIAL_ERRORS):
            _log.failure("bug dialling --peer {address}", failure, address=self._target)
        self.reason = str(failure.value) or failure.type.__name__
        return failure


class _Watcher(protocol.Protocol):
    """The protocol of a watched link: nothing to say, it only gets lost."""


class PeerDialler(service.MultiService):
    """
    Dial every target in ``addresses`` through ``transport`` and redial.

    :param reactor: ``IReactorTime`` for the backoff delays.
    :param transport: an ``IMeshTransport``.
    :param retry_policy: ``attempt -> seconds`` (default: ``backoffPolicy()``).
    :param resolve: ``target -> (address, peer_id, scheme, label, peer)``
        (:meth:`~lethean.node.NodeOperations.resolve`); without it every
        target is an address.
    """

    def __init__(self, reactor: IReactorTime, transport: IMeshTransport, addresses: Iterable[str],
                 retry_policy: Callable[[int], float] | None = None,
                 resolve: Resolve | None = None) -> None:
        super().__init__()
        self._reactor = reactor
        self._transport = transport
        self.addresses = list(addresses)
        self._retry_policy = retry_policy or backoffPolicy()
        self._resolve = resolve
        for address in self.addresses:
            endpoint = _TargetEndpoint(self, address,
                                       RedialSchedule(reactor, address, self._retry_policy))
            _ClientService(endpoint, protocol.Factory.forProtocol(_Watcher),
                          retryPolicy=self._policy_for(endpoint),
                          clock=reactor).setServiceParent(self)

    @staticmethod
    def _policy_for(endpoint: _TargetEndpoint) -> Callable[[int], float]:
        # ClientService counts failed dials and closed links alike; the
        # schedule tells a short-lived link from a stable one and logs.
        def policy(attempt: int) -> float:
            if endpoint.lost_reason is not None:
                reason, endpoint.lost_reason = endpoint.lost_reason, None
                return endpoint.schedule.link_lost(reason)
            return endpoint.schedule.dial_failed(endpoint.reason)
        return policy

    def _dial(self, target: str) -> defer.Deferred[IMeshConnection]:
        if self._resolve is None:
            return self._transport.connect(target)
        address, peer_id, scheme, _, _ = self._resolve(target)
        if peer_id is not None:
            existing = self._transport.connection(peer_id)
            if existing is not None:
                return defer.succeed(existing)
        return self._transport.connect(address, peer_id=peer_id, scheme=scheme)
