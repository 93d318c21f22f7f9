"""
What the mesh transport does for its links (``ILinkOwner``): count and log
what they report, register the links whose peers proved their keys (one
per peer), keep the offenders' strikes, and deliver what arrives.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from lethean import ueps
from lethean._gojson import decode_base64
from lethean.errors import LetheanError
from lethean.identity import LocalIdentity, NodeIdentity
from lethean.interfaces import IPeerRegistry
from lethean.mesh._admission import own_address
from lethean.mesh._config import TransportConfig
from lethean.mesh._connection import MeshConnection
from lethean.mesh._delivery import Consumers
from lethean.mesh._envelope import DISCONNECT_NORMAL, Message
from lethean.mesh._limits import DedupCache, Offenders
from lethean.mesh._logs import LogLimiter, clean
from lethean.peers import Peer, sanitise_peer_name

__all__ = ["LinkOwner", "UEPS", "link_secret"]

#: The transport's log namespace (what operators filter on).
_log = Logger(namespace="lethean.mesh._transport")

#: lethean's extension message type: ``{"frame": base64 UEPS frame}`` signed
#: with the link's shared secret.  A Go peer ignores unknown types.
UEPS = "ueps"


class LinkOwner:
    """
    The transport's side of its links; :class:`~lethean.mesh.MeshTransport`
    sets the state below.
    """

    reactor: IReactorTime
    identity: LocalIdentity
    registry: IPeerRegistry
    config: TransportConfig
    features: frozenset[str]
    counters: Counter[str]
    limiter: LogLimiter
    dedup: DedupCache
    offenders: Offenders
    _links: dict[str, MeshConnection]
    _unproven: set[MeshConnection]
    _consumers: Consumers

    def count(self, name: str) -> None:
        """Add one to counter ``name``."""
        self.counters[name] += 1

    def report(self, reason: str, text: str, *, peer: str, peer_id: str = "") -> None:
        """Count ``reason``; log it once, unless a flood of them is being summarised."""
        self.counters[reason] += 1
        if self.limiter.allow(reason):
            peer_id = clean(peer_id, 64)
            _log.warn("{reason} {peer}{named}: {text}", reason=reason, peer=clean(peer, 64),
                      peer_id=peer_id, named=" " + peer_id if peer_id else "", text=clean(text))

    def event(self, name: str, text: str, *, peer: str, peer_id: str = "") -> None:
        """Log ``text`` about a link (up, down), rate-limited by ``name``."""
        if self.limiter.allow(name):
            _log.info("{text}", text=text, peer=peer, peer_id=peer_id)

    def inbound_links(self) -> int:
        return sum(1 for link in self._links.values() if not link.outbound)

    def link_accepted(self, link: MeshConnection) -> None:
        """An inbound link whose initiator has not yet proved its key."""
        self._unproven.add(link)

    def link_proven(self, link: MeshConnection) -> None:
        """The peer holds its key: remember it and register the link."""
        self._unproven.discard(link)
        if link.outbound:
            self._remember(link, link.dialled)
        else:
            self._auto_register(link)
        self._register(link)

    def link_lost(self, link: MeshConnection, reason: str) -> None:
        """Remove ``link``, and only it (weakness 9); tell the consumers."""
        self._unproven.discard(link)
        if self._links.get(link.peer_id) is not link:
            return
        del self._links[link.peer_id]
        self.registry.set_connected(link.peer_id, False)
        self.count("connections_closed")
        self._consumers.lost(link)

    def is_duplicate(self, message_id: str) -> bool:
        return not self.dedup.check_and_mark(message_id)

    def offence(self, host: str | None, public_key: str | None) -> None:
        """
        A link was dropped for misbehaving: a strike for its address and key.
        127.0.0.1 and ::1 get none: they are this machine's own tools, and
        refusing them by address would lock the operator out.
        """
        if host and not own_address(host):
            self.offenders.strike("address " + host)
        if public_key:
            self.offenders.strike("key " + public_key)

    def refusal(self, host: str | None, peer: NodeIdentity) -> str | None:
        """
        Why an accepted handshake from ``host`` by ``peer`` is refused, or
        None: a key serving a refusal period is refused; from an address
        serving one, only registered peers are let in.
        """
        if self.offenders.refused("key " + peer.public_key):
            return "key refused after repeated offences"
        if (host and self.offenders.refused("address " + host)
                and self.registry.get_peer(peer.id) is None):
            return "address refused after repeated offences"
        return None

    def deliver(self, link: MeshConnection, message: Message) -> list[Deferred[object]]:
        """
        A decrypted, new message: unwrap UEPS, hand the rest to every
        consumer.  Returns the Deferreds the consumers returned (the link
        bounds how many are pending).
        """
        if message.type == UEPS:
            self._packet(link, message)
            return []
        return self._consumers.message(link, message)

    def _auto_register(self, link: MeshConnection) -> None:
        peer = link.peer
        assert peer is not None, "a proven link knows its peer"
        if self.registry.get_peer(peer.id) is not None:
            return
        try:
            self.registry.add_automatic(Peer(id=peer.id, name=sanitise_peer_name(peer.name),
                                             public_key=peer.public_key, role=peer.role))
        except LetheanError as e:
            self.report("register_failed", "could not register: {}".format(e),
                        peer=link.address, peer_id=peer.id)

    def _register(self, link: MeshConnection) -> None:
        peer_id = link.peer_id
        old = self._links.get(peer_id)
        if old is not None and old is not link:
            keep = self._prefer(link, old)
            drop = old if keep is link else link
            self.count("dropped_duplicate")
            self.event("duplicate", "closing duplicate link to {}".format(peer_id),
                       peer=drop.address, peer_id=peer_id)
            if keep is old:
                drop.close("duplicate connection", DISCONNECT_NORMAL)
                return
            self._links[peer_id] = link
            old.close("duplicate connection", DISCONNECT_NORMAL)
        self._links[peer_id] = link
        self.registry.set_connected(peer_id, True)
        self.count("connections_opened")

    def _prefer(self, new: MeshConnection, old: MeshConnection) -> MeshConnection:
        """
        Which of two links to one peer survives, so both ends agree: a
        reconnect in the same direction replaces the old link; of crossed
        dials, the one initiated by the smaller node id wins.
        """
        if new.outbound == old.outbound:
            return new
        initiator_new = self.identity.id if new.outbound else new.peer_id
        initiator_old = self.identity.id if old.outbound else old.peer_id
        return new if initiator_new < initiator_old else old

    def _packet(self, link: MeshConnection, message: Message) -> None:
        try:
            frame = message.payload.get("frame") if type(message.payload) is dict else None
            packet = ueps.decode(decode_base64(frame), link_secret(link))
        except (LetheanError, ValueError) as e:
            self.report("ueps_rejected", "dropped UEPS packet: {}".format(e),
                        peer=link.address, peer_id=link.peer_id)
            return
        self.count("ueps_received")
        self._consumers.packet(link, packet, message.type)

    def _remember(self, link: MeshConnection, address: str | None) -> None:
        """
        Trust on first use, or refresh the record of a pinned peer; an
        ``address`` of None (an endpoint object was dialled) keeps the
        record's own.
        """
        peer = link.peer
        assert peer is not None, "a proven link knows its peer"
        record = self.registry.get_peer(peer.id)
        if address is None:
            address = record.address if record is not None else ""
        try:
            if record is None:
                self.registry.add_peer(Peer(id=peer.id, name=sanitise_peer_name(peer.name),
                                            public_key=peer.public_key, address=address,
                                            role=peer.role))
            else:
                self.registry.update_peer(record.evolve(
                    address=address, role=peer.role, public_key=peer.public_key,
                    name=sanitise_peer_name(peer.name)))
        except LetheanError as e:
            self.report("register_failed", "could not register: {}".format(e),
                        peer=address, peer_id=peer.id)


def link_secret(link: MeshConnection) -> bytes:
    """The static pair secret of a link (every registered link has one)."""
    secret = link.shared_secret
    assert secret is not None, "a registered link is keyed"
    return secret
