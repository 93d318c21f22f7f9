"""
The payloads the mesh reads itself: ``ping`` and ``pong``.

Every peer answers a ``ping`` (a Go peer drops a link whose pings go
unanswered); the answer is the reference worker's, including its error
reply for a ping whose payload does not read as a ``PingPayload``.
"""

from __future__ import annotations

import attrs
from twisted.internet.interfaces import IReactorTime

from lethean._gostruct import GoStruct, InvalidPayloadError, go_field
from lethean._gotypes import INT64
from lethean.mesh._envelope import PONG, Message, error_reply, reply

__all__ = ["PingPayload", "PongPayload", "answer_ping"]


@attrs.frozen
class PingPayload(GoStruct):
    """``ping``: the sender's clock in Unix milliseconds."""

    sent_at: int = go_field("sentAt", INT64)


@attrs.frozen
class PongPayload(GoStruct):
    """``pong``: the ping's ``sentAt`` and the responder's clock, Unix ms."""

    sent_at: int = go_field("sentAt", INT64)
    received_at: int = go_field("receivedAt", INT64)


def answer_ping(ping: Message, *, clock: IReactorTime, from_: str | None) -> Message:

    """
    The reference worker's answer to ``ping``: a ``pong`` echoing its
    ``sentAt``, or an ``error`` (code 1004) saying why its payload is unreadable.
    """
    try:
        sent_at = PingPayload.from_json_value(ping.payload).sent_at
    except InvalidPayloadError as e:
        return error_reply(ping, "Worker.handlePing: invalid ping payload: {}".format(e),
                           from_=from_, clock=clock)
    return reply(ping, PONG, PongPayload(sent_at=sent_at,
                                         received_at=int(clock.seconds() * 1000)),
                 clock=clock, from_=from_)
