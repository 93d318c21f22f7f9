"""
Envelope checks on every message a link opens, v1 links included
(weakness 3: the reference never looks at ``from``, ``to`` or ``ts``).

What the Go node puts in each field (its source, and ``gonode sniff``):

* everything it originates -- keepalive ``ping``, ``disconnect``, a
  controller's requests, a worker's ``error`` replies -- has ``from`` its
  own id and ``to`` the peer's id;
* its other replies (``pong``, ``stats``, ``miner_ack``, ``logs``,
  ``deploy_ack``) come from ``Message.Reply``, which swaps the request's
  fields: ``from`` is the request's ``to``, ``to`` its ``from``.  lethean
  addresses every request to the peer's id, so the reply comes from it;
  a request sent with an empty ``to`` (a broadcast) is answered with an
  empty ``from``, which is allowed on replies only;
* ``ts`` is its clock's ``time.Now()``.

So a message is dropped (one counter, one rate-limited log line) when its
``from`` is neither the link's peer nor, on a reply, empty; when its
``to`` is neither this node nor empty (the reference's broadcast); or
when its ``ts`` is further than ``max_clock_skew_s`` from our clock.
"""

from __future__ import annotations

from lethean.mesh._envelope import Message
from lethean.mesh._logs import clean


__all__ = ["envelope_problem"]


def envelope_problem(message: Message, *, peer_id: str, local_id: str, now: float,
                     max_skew_s: float | None) -> tuple[str, str] | None:
    """
    Why ``message`` from ``peer_id`` must be dropped, as ``(counter, text)``,
    or None.  ``now`` is our clock in seconds; ``max_skew_s`` None skips
    the time check.
    """
    if message.from_ != peer_id and (message.from_ or not message.reply_to):
        return "envelope_wrong_from", "{} claims to come from {!r}".format(
            clean(message.type, 64), clean(message.from_, 64))
    if message.to and message.to != local_id:
        return "envelope_wrong_to", "{} is addressed to {!r}, not this node".format(
            clean(message.type, 64), clean(message.to, 64))
    if max_skew_s is not None:
        skew = message.ts.seconds + message.ts.nanos / 1e9 - now
        if abs(skew) > max_skew_s:
            return "envelope_stale_ts", "{} stamped {} s {} our clock (window {} s)".format(
                clean(message.type, 64), int(abs(skew)), "ahead of" if skew > 0 else "behind",
                int(max_skew_s))
    return None
