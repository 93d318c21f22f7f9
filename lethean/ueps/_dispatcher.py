"""
Route verified UEPS packets to one handler per intent.

The order of checks is the reference's: a missing packet, then the threat
score (so a high-threat packet with an unknown intent reports the threat),
then the intent lookup.  On top of it a per-peer circuit breaker: a peer
whose packets keep tripping the threat check is ignored for a cool-down,
so a hostile peer costs a dictionary lookup, not a handler call and a log
line per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.logger import Logger
from zope.interface import implementer

from lethean.interfaces import IPacketConsumer
from lethean.ueps._errors import (
    DispatchError,
    NilPacketError,
    PeerQuarantinedError,
    ThreatScoreExceededError,
    UnknownIntentError,
)
from lethean.ueps._packet import Packet

#: ``handler(packet)``: a result, or a Deferred of one.
Handler = Callable[[Packet], Any]

__all__ = [
    "Dispatcher",
    "THREAT_SCORE_THRESHOLD",
    "INTENT_HANDSHAKE",
    "INTENT_COMPUTE",
    "INTENT_REHAB",
    "INTENT_CUSTOM",
]

_log = Logger()

#: Packets with a threat score above this are dropped (50000 itself passes).
THREAT_SCORE_THRESHOLD = 50000

INTENT_HANDSHAKE = 0x01
INTENT_COMPUTE = 0x20
INTENT_REHAB = 0x30
INTENT_CUSTOM = 0xFF

#: Threat drops from one peer, within the window, that open its breaker.
BREAKER_TRIPS = 5
BREAKER_WINDOW_S = 60.0
#: How long an open breaker ignores the peer.
BREAKER_COOL_DOWN_S = 300.0


@implementer(IPacketConsumer)
class Dispatcher:
    """
    One handler per intent; ``handler(packet)`` may return a Deferred.

    :param reactor: ``IReactorTime`` for the circuit breaker.
    :param breaker_trips: threat drops within ``breaker_window_s`` that make
        a peer ignored for ``breaker_cool_down_s``; 0 disables the breaker.
    """

    def __init__(self, reactor: IReactorTime, *, breaker_trips: int = BREAKER_TRIPS,
                 breaker_window_s: float = BREAKER_WINDOW_S,
                 breaker_cool_down_s: float = BREAKER_COOL_DOWN_S) -> None:
        self._reactor = reactor
        self._handlers: dict[int, Handler] = {}
        self.breaker_trips = breaker_trips
        self.breaker_window_s = breaker_window_s
        self.breaker_cool_down_s = breaker_cool_down_s
        self._trips: dict[str, list[float]] = {}
        self._open_until: dict[str, float] = {}

    def register(self, intent_id: int, handler: Handler) -> None:
        """Route ``intent_id`` to ``handler``, replacing any earlier one."""
        if not 0 <= intent_id <= 0xFF:
            raise ValueError("an intent is one byte")
        self._handlers[intent_id] = handler
        _log.debug("handler registered for intent {intent}", intent="0x%02X" % intent_id)

    def unregister(self, intent_id: int) -> None:
        """Stop routing ``intent_id``."""
        self._handlers.pop(intent_id, None)

    def dispatch(self, packet: Packet | None, peer_id: str | None = None) -> Deferred[Any]:
        """
        Hand ``packet`` to its intent's handler; a Deferred with the result.

        Fails with the reference's errors as our classes, or with whatever
        the handler raised.
        """
        return defer.maybeDeferred(self._route, packet, peer_id)

    def _route(self, packet: Packet | None, peer_id: str | None) -> Any:
        if packet is None:
            raise NilPacketError()
        header = packet.header
        if peer_id is not None and self._quarantined(peer_id):
            raise PeerQuarantinedError("packets from {} are ignored for now".format(peer_id))
        if header.threat_score > THREAT_SCORE_THRESHOLD:
            _log.warn("dropped {intent} from {peer_id}: {reason}",
                      intent="0x%02X" % header.intent_id, peer_id=peer_id,
                      reason="threat score exceeds threshold", threat_score=header.threat_score,
                      threshold=THREAT_SCORE_THRESHOLD, version=header.version)
            if peer_id is not None:
                self._trip(peer_id)
            raise ThreatScoreExceededError()
        handler = self._handlers.get(header.intent_id)
        if handler is None:
            _log.warn("dropped {intent} from {peer_id}: {reason}",
                      intent="0x%02X" % header.intent_id, peer_id=peer_id,
                      reason="unknown intent", version=header.version)
            raise UnknownIntentError()
        return handler(packet)

    def _quarantined(self, peer_id: str) -> bool:
        until = self._open_until.get(peer_id)
        if until is None:
            return False
        if self._reactor.seconds() < until:
            return True
        del self._open_until[peer_id]
        return False

    def _trip(self, peer_id: str) -> None:
        if not self.breaker_trips:
            return
        now = self._reactor.seconds()
        recent = [t for t in self._trips.get(peer_id, ()) if now - t < self.breaker_window_s]
        recent.append(now)
        if len(recent) >= self.breaker_trips:
            self._trips.pop(peer_id, None)
            self._open_until[peer_id] = now + self.breaker_cool_down_s
            _log.warn("ignoring packets from {peer_id} for {seconds} s: {reason}",
                      peer_id=peer_id, seconds=self.breaker_cool_down_s,
                      reason="repeated threat drops")
        else:
            self._trips[peer_id] = recent

    # -- IPacketConsumer ----------------------------------------------------

    def packetReceived(self, connection: Any, packet: Packet) -> Deferred[Any]:
        """A verified packet from a mesh link: dispatch it; drops are already logged."""
        d = self.dispatch(packet, connection.peer_id)
        d.addErrback(self._dispatch_failed, packet, connection.peer_id)
        return d

    @staticmethod
    def _dispatch_failed(failure: Failure, packet: Packet, peer_id: str | None) -> None:
        if failure.check(DispatchError):
            return None
        _log.failure("handler for intent {intent} from {peer_id} failed", failure,
                     intent="0x%02X" % packet.header.intent_id, peer_id=peer_id)
        return None
