"""
The seams between lethean's layers, as ``zope.interface`` interfaces.

A layer depends on the interface, never on another layer's class, so tests
and applications can substitute their own implementation; tests check
implementations with ``zope.interface.verify.verifyObject``.
"""

from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

__all__ = [
    "IPeerRegistry",
    "IMeshTransport",
    "IMeshConnection",
    "IMessageConsumer",
    "ILinkOwner",
    "IAdmission",
    "IPacketConsumer",
    "IMinerManager",
    "IProfileManager",
]


class IPeerRegistry(Interface):
    """
    The set of known peers: records, scores, selection and who may connect.

    Records are immutable ``lethean.peers.Peer`` values; mutations replace
    them and are saved to disk shortly after (see ``flush``).
    """

    auth_mode = Attribute("The current ``lethean.peers.AuthMode`` (read-only; see set_auth_mode).")

    # Records are ``lethean.peers.Peer`` (Any here: this module imports no layer).

    def __len__() -> int:
        """The number of registered peers."""

    def add_peer(peer: Any) -> Any:
        """
        Register a new peer and return the stored record.

        Fills ``added_at`` and the default score; raises InvalidPeerError,
        InvalidPeerNameError or PeerExistsError.
        """

    def add_automatic(peer: Any) -> Any:
        """
        Register a peer that connected and proved its key, within a cap:
        the least valuable automatically registered peer may be forgotten.
        """

    def update_peer(peer: Any) -> None:
        """Replace the record with ``peer.id``; raises PeerNotFoundError."""

    def remove_peer(peer_id: str) -> None:
        """Forget a peer; raises PeerNotFoundError."""

    def get_peer(peer_id: str) -> Any:
        """The record for ``peer_id``, or None."""

    def list_peers() -> list[Any]:
        """Every record, as a new list."""

    def update_metrics(peer_id: str, ping_ms: float, geo_km: float, hops: int) -> None:
        """Set the peer's latency, distance and hop count, and mark it seen now."""

    def update_score(peer_id: str, score: float) -> None:
        """Set the peer's score, clamped to 0-100; raises PeerNotFoundError."""

    def record_success(peer_id: str) -> None:
        """A request to the peer succeeded: +1 (capped at 100), seen now."""

    def record_failure(peer_id: str) -> None:
        """A request to the peer failed: -5 (floored at 0)."""

    def record_timeout(peer_id: str) -> None:
        """A request to the peer timed out: -3 (floored at 0)."""

    def record_outcome(peer_id: str, result: "Deferred[Any]") -> "Deferred[Any]":
        """
        Score the peer by how the Deferred ``result`` ends, and return it.

        Success, timeout and failure call the three methods above; a local
        cancellation changes nothing.
        """

    def set_connected(peer_id: str, connected: bool) -> None:
        """Record whether a live connection to the peer exists (not saved on its own)."""

    def is_connected(peer_id: str) -> bool:
        """True while the peer is marked connected."""

    def connected_peers() -> list[Any]:
        """The records of the connected peers."""

    def peers_by_score() -> list[Any]:
        """Every record, highest score first, ties by node id."""

    def select_optimal(only_connected: bool = False) -> Any:
        """The best peer by the registry's selection metric, or None."""

    def select_nearest(n: int, only_connected: bool = False) -> list[Any]:
        """The ``n`` best peers, best first."""

    def set_auth_mode(mode: int) -> None:
        """Switch between open and allowlist mode; the choice is saved."""

    def allow_public_key(public_key: str) -> None:
        """Add a key to the allowlist (saved at once)."""

    def revoke_public_key(public_key: str) -> None:
        """Remove a key from the allowlist (saved at once)."""

    def is_public_key_allowed(public_key: str) -> bool:
        """True if the key is on the allowlist."""

    def allowed_public_keys() -> list[str]:
        """The allowlist, sorted."""

    def known_key(node_id: str) -> str | None:
        """The public key stored for ``node_id``, or None: what a connection must present."""

    def check_peer(claimed_id: str, public_key: str) -> None:
        """
        Raise a PeerRejectedError unless this identity may connect.

        The id must be derived from the key (PeerIdMismatchError), a
        registered id must present its stored key (KeyMismatchError), and in
        allowlist mode the peer must be registered or its key allowlisted
        (PeerNotAllowedError).  A key that is not base64 of 32 bytes raises
        InvalidPeerKeyError.
        """

    def is_peer_allowed(claimed_id: str, public_key: str) -> bool:
        """``check_peer`` as a boolean."""

    def flush() -> "Deferred[None]":
        """A Deferred that fires when every change so far is on disk."""

    def close() -> "Deferred[None]":
        """Cancel the pending save timer and write pending changes; returns a Deferred."""


# The objects of the layers above (messages, packets, links, consumers,
# miners) are Any in the signatures below: this module imports no layer.


class IMeshConnection(Interface):
    """One authenticated link to a peer, after the mesh handshake."""

    peer = Attribute("The peer's ``lethean.identity.NodeIdentity`` (from the handshake).")
    peer_id = Attribute("The peer's node id (derived from its key, never just claimed).")
    outbound = Attribute("True if this node dialled the peer.")
    shared_secret = Attribute(
        "The 32-byte static secret of this pair (the reference's frame and bundle key source).")
    bundle_secret = Attribute(
        "The 32-byte secret deploy bundles on this link are keyed from: a v2 session's own, "
        "or ``shared_secret`` on a v1 link (what a Go peer uses).")
    address = Attribute("The peer's ``host:port`` as seen on the socket (or the address dialled).")
    connected_at = Attribute("When the link opened, in seconds of the transport's clock.")
    last_activity = Attribute("When a frame from the peer last opened, in seconds of the clock.")
    rtt_s = Attribute("Round trip of the last answered keepalive ping in seconds, or None.")
    features = Attribute(
        "The lethean extensions the peer announced (a frozenset of names; empty for a Go peer).")
    session = Attribute(
        "How frames are sealed: ``\"v1\"`` (the reference's static pair key) or ``\"v2\"`` "
        "(a session between lethean peers: per-link, per-direction keys; docs/security.md).")
    frames_in = Attribute("Frames received from the peer that opened.")
    frames_out = Attribute("Frames sent to the peer.")
    bytes_in = Attribute("Bytes of the frames counted in ``frames_in``.")
    bytes_out = Attribute("Bytes of the frames counted in ``frames_out``.")

    def when_lost() -> "Deferred[None]":
        """A Deferred firing (with None) once the link has closed."""

    def send(message: Any) -> None:
        """
        Seal and send one ``lethean.mesh.Message``.

        Raises NotConnectedError once the link is closed and
        MessageTooLargeError when the sealed frame would exceed the
        peer's limit (the reference sends it anyway and loses the link).
        """

    def close(reason: str | None = None, code: int | None = None) -> "Deferred[None]":
        """
        Close the link; with a ``reason``, first send a sealed ``disconnect``.
        The Deferred fires once the link has gone.
        """


class IMessageConsumer(Interface):
    """Something that wants the decrypted, de-duplicated messages of a transport."""

    def messageReceived(connection: Any, message: Any) -> object:
        """
        ``message`` (a ``lethean.mesh.Message``) arrived on ``connection``.

        May return a Deferred; errors are logged, never raised into the
        transport.  Every consumer sees every message (controller and
        worker can share one transport, unlike the reference).  While
        too many Deferreds of one link are pending, the transport stops
        reading from that peer.
        """

    def connectionLost(connection: Any) -> object:
        """
        ``connection`` closed (for any reason): free what belongs to it.

        Called once per link that delivered, or could have delivered,
        messages; errors are logged.
        """


class ILinkOwner(Interface):
    """
    What a mesh link needs from the transport that owns it: settings,
    counters, the registry, and where to report its life.
    """

    reactor = Attribute("The ``IReactorTime`` every timer of the link runs on.")
    identity = Attribute("This node's ``lethean.identity.LocalIdentity``.")
    registry = Attribute("The ``IPeerRegistry`` the handshake consults.")
    config = Attribute("The ``lethean.mesh.TransportConfig``.")
    features = Attribute("The lethean features this node announces (a frozenset of names).")
    limiter = Attribute("The ``LogLimiter`` every log line about a peer goes through.")

    def count(name: str) -> None:
        """Add one to the counter ``name``."""

    def report(reason: str, text: str, *, peer: Any, peer_id: str = "") -> None:
        """Count ``reason`` and log ``text`` about ``peer`` once (rate-limited)."""

    def event(name: str, text: str, *, peer: Any, peer_id: str = "") -> None:
        """Log ``text`` (a link coming up or going down) once (rate-limited by ``name``)."""

    def inbound_links() -> int:
        """How many authenticated inbound links are open."""

    def link_accepted(link: Any) -> None:
        """An inbound handshake was accepted; the initiator has not proved its key yet."""

    def link_proven(link: Any) -> None:
        """``link`` holds the key it presented: register it (it may lose to another link)."""

    def link_lost(link: Any, reason: Any) -> None:
        """``link`` left the open or proving state; ``reason`` says why."""

    def is_duplicate(message_id: str) -> bool:
        """True if ``message_id`` was seen recently on any link (and remember it)."""

    def deliver(link: Any, message: Any) -> Any:
        """A new message from ``link`` for the consumers; returns their pending Deferreds."""

    def offence(host: str | None, public_key: str | None) -> None:
        """A link from ``host`` with ``public_key`` (either may be None) misbehaved."""

    def refusal(host: str | None, peer: Any) -> str | None:
        """Why an accepted handshake from ``host`` by ``peer`` must be refused, or None."""


class IAdmission(Interface):
    """
    The pending pool's side of an inbound connection (its ``UpgradeGate``):
    a mesh link tells it how far the peer has come.
    """

    def accepted() -> None:
        """The mesh handshake was accepted: the initiator now has to prove its key."""

    def admitted() -> None:
        """The initiator proved its key: the connection leaves the pending pool."""


class IPacketConsumer(Interface):
    """Something that wants the verified UEPS packets carried by mesh links."""

    def packetReceived(connection: Any, packet: Any) -> object:
        """A ``lethean.ueps.Packet`` verified with the link's shared secret arrived."""


class IMeshTransport(Interface):
    """The mesh: listen, dial, and exchange sealed messages with peers."""

    identity = Attribute("This node's ``lethean.identity.LocalIdentity``.")

    def connect(address: Any, *, peer_id: str | None = None,
                scheme: str | None = None) -> "Deferred[Any]":
        """
        Dial ``address`` and perform the handshake: a ``HOST:PORT``, a
        client endpoint string (``tcp6:host=::1:port=9091``,
        ``unix:path=/run/node.sock``) or an ``IStreamClientEndpoint``.

        Returns a Deferred firing with the ``IMeshConnection`` (an existing
        one is reused), or failing with one of ``lethean.mesh.DIAL_ERRORS``.
        When the registry knows the peer (``peer_id``, or the address), the
        responder's key is pinned.
        """

    def send(peer_id: str, message: Any) -> None:
        """Send ``message`` on the link to ``peer_id``; NotConnectedError if none."""

    def broadcast(message: Any) -> None:
        """Send ``message`` to every connected peer except ``message.from_``."""

    def connection(peer_id: str) -> Any:
        """The ``IMeshConnection`` to ``peer_id``, or None."""

    def connections() -> list[Any]:
        """Every live ``IMeshConnection``, as a new list."""

    def add_consumer(consumer: Any) -> None:
        """Deliver every incoming message to ``consumer`` (an ``IMessageConsumer``)."""

    def remove_consumer(consumer: Any) -> None:
        """Stop delivering to ``consumer``."""

    def add_packet_consumer(consumer: Any) -> None:
        """Deliver every verified UEPS packet to ``consumer`` (an ``IPacketConsumer``)."""

    def remove_packet_consumer(consumer: Any) -> None:
        """Stop delivering packets to ``consumer``."""

    def send_packet(peer_id: str, packet: Any) -> None:
        """Sign ``packet`` with the link's shared secret and send it to ``peer_id``."""


class IMinerManager(Interface):
    """
    What the worker needs to run miners (controller-worker.md 3.2).

    Each method returns its result or a Deferred of it (``maybeDeferred``'s
    convention; an ``async def`` method works too) and signals what a user
    can meet (no such miner, a start refused) with a
    :class:`~lethean.errors.LetheanError`, raised or as a failed Deferred;
    the worker answers anything else as a bug.  A miner instance has
    ``get_name()``, ``get_type()``, ``get_stats()`` (a dict with any of
    hashrate, shares, rejected, uptime, pool, algorithm) and
    ``get_console_history_since(lines, since)`` (``since`` an aware
    datetime or None).
    """

    # Results are Any: a value or a Deferred of it (see above).

    def start_miner(miner_type: str, config: Any) -> Any:
        """Start a miner of ``miner_type`` with ``config`` (JSON data); the instance."""

    def stop_miner(name: str) -> Any:
        """Stop the miner ``name``; fails if there is none."""

    def list_miners() -> Any:
        """Every miner instance."""

    def get_miner(name: str) -> Any:
        """The instance called ``name``; fails if there is none."""

    def stop_all() -> Any:
        """Stop every miner (node shutdown); a Deferred."""


class IProfileManager(Interface):
    """
    Where the worker keeps mining profiles (JSON objects with an ``id``).
    Results and failures follow :class:`IMinerManager`'s convention.
    """

    def get_profile(profile_id: str) -> Any:
        """The profile ``profile_id``; fails if there is none."""

    def save_profile(profile: Any) -> Any:
        """Store ``profile`` under its ``id`` (or ``name``)."""

    def list_profiles() -> Any:
        """Every stored profile id."""

    def delete_profile(profile_id: str) -> Any:
        """Forget ``profile_id``; fails if there is none."""
