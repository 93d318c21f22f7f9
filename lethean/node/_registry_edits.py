"""
The operator's edits of one node's peer registry: list, add and remove
peers, the allowlist and the auth mode, each checked before anything is
stored and answered as a JSON-ready value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lethean.errors import LetheanError
from lethean.interfaces import IPeerRegistry
from lethean.node._errors import InvalidRequestError, TargetFormError, UnknownTargetError
from lethean.node._targets import (
    Command,
    lethean_command,
    parse_target,
    peer_label,
    resolve_target,
)

if TYPE_CHECKING:
    from lethean.peers import Peer

__all__ = ["RegistryEdits", "peer_json"]


def peer_json(peer: Peer, connected: bool | None = None) -> dict[str, Any]:
    """A registry record as the API and ``lethean peers`` show it."""
    document: dict[str, Any] = {
        "id": peer.id,
        "name": peer.name,
        "publicKey": peer.public_key,
        "address": peer.address,
        "role": peer.role,
        "addedAt": None if peer.added_at is None else str(peer.added_at),
        "lastSeen": None if peer.last_seen is None else str(peer.last_seen),
        "pingMs": round(peer.ping_ms, 3),
        "hops": peer.hops,
        "geoKm": peer.geo_km,
        "score": peer.score,
    }
    if connected is not None:
        document["connected"] = connected
    return document


#: The registry's own type (``registry`` is the object given).
Registry = TypeVar("Registry", bound=IPeerRegistry)


class RegistryEdits(Generic[Registry]):
    """
    Registry edits for the operator; they return at once (the registry
    saves them itself, shortly after).

    :param registry: the node's ``IPeerRegistry``.
    :param data_dir: the data folder the operator names with ``--data-dir``
        (None: the default one), so the commands hints name act on it.
    """

    def __init__(self, registry: Registry, data_dir: str | None = None) -> None:
        self.registry = registry
        self.data_dir = data_dir

    def command(self, words: str) -> str:
        """The ``lethean`` command (``words``) a hint names, for this data folder."""
        return lethean_command(words, self.data_dir)

    def list_peers(self) -> list[dict[str, Any]]:
        """Every registered peer, best score first, with whether it is connected."""
        return [peer_json(p, self.registry.is_connected(p.id))
                for p in self.registry.peers_by_score()]

    def add_peer(self, address: str, public_key: str, name: str = "",
                 role: str = "") -> dict[str, Any]:
        """
        Register a peer; the stored record.  The address is ``HOST:PORT``
        (or ``ws[s]://HOST:PORT``, kept as ``HOST:PORT``); a malformed
        address, key, name or role is refused before anything is stored.
        """
        from lethean.identity import node_id_for
        from lethean.peers import Peer, validate_peer_name

        for field, value in (("address", address), ("publicKey", public_key),
                             ("name", name), ("role", role)):
            if not isinstance(value, str):
                raise InvalidRequestError("{} must be a string".format(field))
        if not address or not public_key:
            raise InvalidRequestError("give the peer's address and public key")
        try:
            parsed = parse_target(address)
        except TargetFormError as e:
            raise InvalidRequestError(e.line) from None
        if parsed.address is None:
            raise InvalidRequestError("{!r} is not an address: give HOST:PORT, e.g. "
                                      "10.0.0.2:9091".format(address))
        self._need_key(public_key)
        peer_id = node_id_for(public_key)
        try:
            validate_peer_name(name or "")
        except LetheanError as e:
            raise InvalidRequestError("{!r} is not a peer name: {}".format(name, e)) from None
        if role and role not in ("controller", "worker", "dual"):
            raise InvalidRequestError("the role is controller, worker or dual")
        existing = self.registry.get_peer(peer_id)
        if existing is not None:
            _already_registered(existing, self.command)
        peer = Peer(id=peer_id, name=name or "", public_key=public_key,
                    address=parsed.address, role=role or "")
        stored = self.registry.add_peer(peer)
        return peer_json(stored, self.registry.is_connected(stored.id))

    def remove_peer(self, peer_id: str) -> dict[str, str]:
        """
        Forget a peer, named by its id, a unique id prefix or its name;
        ``{"removed": id}``.
        """
        self._need_string(peer_id, "the peer's node id")
        if self.registry.get_peer(peer_id) is None:
            try:
                target = parse_target(peer_id)
            except TargetFormError as e:
                raise InvalidRequestError(e.line) from None
            if target.is_address:
                raise InvalidRequestError("give the peer's id or name, not its address "
                                          "('{}' shows them)".format(
                                              self.command("peers list")))
            try:
                peer_id, _ = resolve_target(self.registry, target, command=self.command)
            except UnknownTargetError as e:
                from lethean.peers import PeerNotFoundError

                missing = PeerNotFoundError(e.line)
                missing.line = e.line
                raise missing from None
        self.registry.remove_peer(peer_id)
        return {"removed": peer_id}

    def allow(self, public_key: str) -> dict[str, str]:
        """Add a key to the allowlist; ``{"allowed": key}``."""
        self._need_key(public_key)
        self.registry.allow_public_key(public_key)
        return {"allowed": public_key}

    def revoke(self, public_key: str) -> dict[str, str]:
        """Remove a key from the allowlist; ``{"revoked": key}``."""
        self._need_key(public_key)
        if not self.registry.is_public_key_allowed(public_key):
            from lethean.peers import NotAllowlistedError

            error = NotAllowlistedError(public_key)
            error.line = "{} is not on the allowlist: nothing was revoked".format(public_key)
            raise error
        self.registry.revoke_public_key(public_key)
        return {"revoked": public_key}

    def _need_key(self, public_key: str) -> None:
        from lethean.identity import decode_public_key

        self._need_string(public_key, "a public key")
        try:
            decode_public_key(public_key)
        except LetheanError:
            raise InvalidRequestError(
                "{!r} is not a public key: give the base64 X25519 key that 'lethean identity "
                "show' prints on the peer".format(public_key[:100])) from None

    def auth(self, mode: str | None = None) -> dict[str, str]:
        """Show or set the auth mode (``open`` or ``allowlist``); ``{"auth": mode}``."""
        from lethean.peers import AuthMode

        if mode is not None:
            if mode not in ("open", "allowlist"):
                raise InvalidRequestError("the auth mode is 'open' or 'allowlist'")
            self.registry.set_auth_mode(AuthMode[mode.upper()])
        return {"auth": str(self.registry.auth_mode)}

    @staticmethod
    def _need_string(value: object, what: str) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidRequestError("give {}".format(what))


def _already_registered(record: Peer, command: Command) -> None:
    """Refuse to add ``record``'s peer again, naming it and the way to change it."""
    from lethean.peers import PeerExistsError

    error = PeerExistsError("peer {} already exists".format(record.id))
    error.line = ("{} is already registered: to change it, forget it with '{}' and add it "
                  "again".format(peer_label(record.id, record.name, record.address),
                                 command("peers remove " + record.id)))
    raise error
