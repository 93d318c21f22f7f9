"""
A link's keepalive, as the reference's: a sealed ``ping`` every
``ping_interval_s`` (its ``pong`` gives the round trip), every ``ping`` of
the peer answered, and a peer silent for ``idle_limit_s`` dropped.
"""

from __future__ import annotations

from lethean.errors import LetheanError
from lethean.mesh._envelope import PING, Message
from lethean.mesh._payloads import answer_ping
from lethean.mesh._sealing import LinkSending

__all__ = ["LinkKeepalive"]

#: Keepalive pings remembered for their pongs (round-trip time).
_KEEPALIVE_PINGS = 4


class LinkKeepalive(LinkSending):
    """Ping, answer pings, time the pongs, drop the silent."""

    def _pong(self, ping: Message) -> None:
        try:
            self.send(answer_ping(ping, clock=self._clock, from_=self._owner.identity.id))
        except LetheanError:
            pass

    def _pong_received(self, pong: Message) -> bool:
        """Whether ``pong`` answers one of our keepalive pings (its round trip is then kept)."""
        sent_at = self._keepalive_pings.pop(pong.reply_to, None)
        if sent_at is None:
            return False
        self.rtt_s = max(0.0, self._clock.seconds() - sent_at)
        return True

    def _tick(self) -> None:
        idle = self._clock.seconds() - self.last_activity
        if idle > self._config.idle_limit_s:
            self.drop("dropped_idle", "idle for {:.0f} s".format(idle))
            return
        self._ping()

    def _ping(self) -> None:
        try:
            ping = self._send_new(PING, {"sentAt": int(self._clock.seconds() * 1000)})
        except LetheanError as e:
            self.drop("dropped_send_failed", "ping failed: {}".format(e))
            return
        self._keepalive_pings[ping.id] = self._clock.seconds()
        while len(self._keepalive_pings) > _KEEPALIVE_PINGS:
            del self._keepalive_pings[next(iter(self._keepalive_pings))]
