"""
A link's side of the capability exchange (``_capabilities``): announce
ours, read the peer's once, and tell whoever waits when the peer's
features are known -- announced, or never to be (a Go peer's first other
frame, or a short deadline, says so).
"""

from __future__ import annotations

from typing import Self

from twisted.internet import defer

from lethean.mesh._capabilities import (
    CAPABILITIES,
    SESSION_V2,
    capabilities_payload,
    parse_capabilities,
)
from lethean.mesh._envelope import Message
from lethean.mesh._keepalive import LinkKeepalive

__all__ = ["LinkAnnouncement"]


class LinkAnnouncement(LinkKeepalive):
    """Announce, and learn what the peer announces."""

    def _send_capabilities(self) -> None:
        self._send_new(CAPABILITIES, capabilities_payload(self._owner.features))

    def _capabilities(self, message: Message) -> None:
        if self._capabilities_seen:
            self._owner.count("capabilities_repeated")
            return
        self._capabilities_seen = True
        self.features, self.peer_version = parse_capabilities(message.payload)
        if self._session is None and SESSION_V2 in self.features and self._sessions:
            # Both announce v2, yet the handshake did not negotiate it:
            # someone altered it, or one side is broken.  Never stay on v1.
            self.drop("dropped_session_downgrade",
                      "the peer announces v2 sessions but the handshake negotiated none")
            return
        self._announce()

    def _announce(self) -> None:
        """The peer's features are known (announced, or never will be)."""
        self._announced = True
        if self._announce_timer is not None and self._announce_timer.active():
            self._announce_timer.cancel()
        self._announce_timer = None
        announcement, self._announcement = self._announcement, None
        if announcement is not None:
            announcement.callback(self)

    def _await_capabilities(self) -> None:
        if not self._announced:
            self._announce_timer = self._clock.callLater(
                self._config.capabilities_timeout_s, self._announce)

    def when_announced(self) -> defer.Deferred[Self]:
        """A Deferred firing with this link once the peer's features are known."""
        if self._announcement is None:
            return defer.succeed(self)
        d: defer.Deferred[Self] = defer.Deferred()

        def announced(result: object) -> object:
            d.callback(self)
            return result

        self._announcement.addBoth(announced)
        return d
