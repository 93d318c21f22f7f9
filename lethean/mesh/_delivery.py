"""
The consumers of a transport: who hears of the messages, UEPS packets and
lost links, and how their failures are logged (never raised into the link).
"""

from __future__ import annotations

from types import CoroutineType
from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from lethean.interfaces import IMessageConsumer, IPacketConsumer
from lethean.mesh._envelope import Message

if TYPE_CHECKING:
    from lethean import ueps
    from lethean.mesh._connection import MeshConnection

__all__ = ["Consumers"]

_log = Logger(namespace="lethean.mesh._transport")


class Consumers:
    """A transport's message and packet consumers, in the order they were added."""

    def __init__(self) -> None:
        self._messages: list[IMessageConsumer] = []
        self._packets: list[IPacketConsumer] = []

    def add(self, consumer: IMessageConsumer) -> None:
        if consumer not in self._messages:
            self._messages.append(consumer)

    def remove(self, consumer: IMessageConsumer) -> None:
        if consumer in self._messages:
            self._messages.remove(consumer)

    def add_packets(self, consumer: IPacketConsumer) -> None:
        if consumer not in self._packets:
            self._packets.append(consumer)

    def remove_packets(self, consumer: IPacketConsumer) -> None:
        if consumer in self._packets:
            self._packets.remove(consumer)

    def message(self, link: MeshConnection, message: Message) -> list[Deferred[object]]:
        """
        Hand ``message`` to every consumer; the Deferreds they returned that
        are still to fire (the link bounds how many are pending).
        """
        results: list[Deferred[object]] = []
        for consumer in list(self._messages):
            # maybeDeferred's cases, without a Deferred for the consumers
            # that answer at once (most do).
            try:
                result = consumer.messageReceived(link, message)
            except Exception:
                result = Failure()
            if isinstance(result, defer.Deferred):
                pass
            elif isinstance(result, Failure):
                _failed(result, link, message.type)
                continue
            elif type(result) is CoroutineType:
                result = defer.Deferred.fromCoroutine(result)
            else:
                continue
            result.addErrback(_failed, link, message.type)
            results.append(result)
        return results

    def packet(self, link: MeshConnection, packet: ueps.Packet, what: str) -> None:
        """Hand a verified UEPS ``packet`` (carried by a ``what`` message) to every consumer."""
        for consumer in list(self._packets):
            d = defer.maybeDeferred(consumer.packetReceived, link, packet)
            d.addErrback(_failed, link, what)

    def lost(self, link: MeshConnection) -> None:
        """Tell every consumer with a ``connectionLost`` that ``link`` closed."""
        for consumer in list(self._messages):
            lost = getattr(consumer, "connectionLost", None)
            if lost is not None:
                d = defer.maybeDeferred(lost, link)
                d.addErrback(_failed, link, "connectionLost")


def _failed(failure: Failure, link: MeshConnection, what: str) -> None:
    _log.failure("consumer failed on {type} from {peer_id}", failure,
                 type=what, peer_id=link.peer_id)
