"""
What an operator asks of a node: ping, stats, logs, miners, deploys and
registry edits, each carried out with one node's own transport, controller
and registry, and answered as a JSON-ready value.

The node's control API calls these for the ``lethean`` command line, so a
command run beside a node goes through that node's links and registry.
With no node running, the command builds its own short-lived transport and
calls the very same operations, so both paths answer alike.
"""

import json

from twisted.internet import defer, error as net_error

from lethean._gojson import marshal
from lethean.errors import LetheanError
from lethean.bundles import in_thread

__all__ = [
    "NodeOperations",
    "TargetError",
    "InvalidRequestError",
    "CONNECT_TIMEOUT_S",
    "peer_json",
    "check_deploy",
]

#: Seconds allowed for dialling a target and the mesh handshake.
CONNECT_TIMEOUT_S = 20.0
#: The longest a caller may ask to wait for that.
MAX_CONNECT_TIMEOUT_S = 3600.0
#: Peers ``stats`` with ``every`` dials at once: a fleet links in parallel,
#: and a silent peer holds up only its own slot.
DIAL_CONCURRENCY = 100

#: What ``deploy`` accepts as ``kind``.
DEPLOY_KINDS = ("bundle", "profile", "miner")


class TargetError(LetheanError):
    """The target node cannot be reached."""

    kind = "target_unreachable"


class InvalidRequestError(LetheanError):
    """The request cannot run as given."""

    kind = "invalid_request"
    exit_code = 2


def peer_json(peer, connected=None):
    """A registry record as the API and ``lethean peers`` show it."""
    document = {
        "id": peer.id,
        "name": peer.name,
        "publicKey": peer.public_key,
        "address": peer.address,
        "role": peer.role,
        "addedAt": None if peer.added_at is None else str(peer.added_at),
        "lastSeen": None if peer.last_seen is None else str(peer.last_seen),
        "pingMs": peer.ping_ms,
        "hops": peer.hops,
        "geoKm": peer.geo_km,
        "score": peer.score,
    }
    if connected is not None:
        document["connected"] = connected
    return document


def _read_limited(source, limit, what):
    """Up to ``limit`` bytes of a path or binary file; BundleTooLargeError beyond."""
    from lethean.bundles import BundleFileError, BundleTooLargeError

    if hasattr(source, "read"):
        source.seek(0)
        content = source.read(limit + 1)
    else:
        try:
            with open(source, "rb") as f:
                content = f.read(limit + 1)
        except OSError as e:
            raise BundleFileError("cannot read the {} {}: {}".format(
                what, source, e.strerror)) from None
    if len(content) > limit:
        raise BundleTooLargeError("the {} is over the {} byte limit".format(what, limit))
    return content


def _build_bundle(source, kind, name, miner_file_name, password):
    """
    The bundle to deploy, from ``source`` (a path or a binary file); runs
    in a thread.
    """
    from lethean.bundles import (
        MAX_BUNDLE_DATA_BYTES, BundleFileError, create_miner_bundle_from_file,
        create_profile_bundle, read_bundle)

    if kind == "bundle":
        if hasattr(source, "read"):
            source.seek(0)
            return read_bundle(source)
        try:
            with open(source, "rb") as f:
                return read_bundle(f)
        except OSError as e:
            raise BundleFileError("cannot read the bundle {}: {}".format(
                source, e.strerror)) from None
    if kind == "profile":
        return create_profile_bundle(_read_limited(source, MAX_BUNDLE_DATA_BYTES, "profile"),
                                     name, password)
    # Sealed as it is read: the bundle is the only copy of the binary in
    # memory.  create_miner_bundle_from_file applies the per-file limit.
    if hasattr(source, "read"):
        source.seek(0)
    return create_miner_bundle_from_file(source, name, password,
                                         miner_name=miner_file_name or "miner",
                                         max_bytes=MAX_BUNDLE_DATA_BYTES)


def check_deploy(target, kind, name):
    """Raise InvalidRequestError unless a deploy of ``kind`` named ``name`` can start."""
    if not isinstance(target, str) or not target:
        raise InvalidRequestError("give a target: a node id or HOST:PORT")
    if kind not in DEPLOY_KINDS:
        raise InvalidRequestError("the kind is one of: {}".format(", ".join(DEPLOY_KINDS)))
    if kind != "bundle" and not name:
        raise InvalidRequestError("--name is required with --kind {}".format(kind))


class NodeOperations:
    """
    The operator's requests, carried out through one node's parts.

    :param reactor: ``IReactorTime`` (timeouts) and ``IReactorThreads``
        (bundles are built in the thread pool).
    :param transport: the node's ``IMeshTransport``.
    :param registry: its ``IPeerRegistry``.
    :param controller: its :class:`~lethean.node.Controller`.

    Remote operations return Deferreds; registry edits return at once (the
    registry saves them itself, shortly after).
    """

    def __init__(self, reactor, transport, registry, controller):
        self._reactor = reactor
        self.transport = transport
        self.registry = registry
        self.controller = controller

    # -- targets -----------------------------------------------------------

    def connect(self, target, timeout_s=CONNECT_TIMEOUT_S):
        """
        A Deferred firing with the ``IMeshConnection`` to ``target``: a
        connected or registered node id, or ``HOST:PORT`` (dialled; a new
        peer is registered, a registered one's key is pinned).
        """
        return defer.Deferred.fromCoroutine(self._connect(target, timeout_s))

    async def _connect(self, target, timeout_s):
        if not isinstance(target, str) or not target:
            raise InvalidRequestError("give a target: a node id or HOST:PORT")
        if timeout_s is None or not 0 < timeout_s <= MAX_CONNECT_TIMEOUT_S:
            raise InvalidRequestError("the timeout must be between 0 and {:g} seconds".format(
                MAX_CONNECT_TIMEOUT_S))
        if ":" in target:
            if self._is_own_address(target):
                raise TargetError("{} is this node itself".format(target))
            d = self.transport.connect(target)
        else:
            connection = self.transport.connection(target)
            if connection is not None:
                return connection
            peer = self.registry.get_peer(target)
            if peer is None:
                raise TargetError("no registered peer {}".format(target))
            if not peer.address:
                raise TargetError("peer {} has no address to dial".format(target))
            d = self.transport.connect(peer.address, peer_id=peer.id)
        d.addTimeout(timeout_s, self._reactor)
        try:
            connection = await d
        except defer.TimeoutError:
            raise TargetError("{} did not answer within {:g} s".format(target, timeout_s)) from None
        except (net_error.ConnectError, net_error.ConnectionLost, OSError) as e:
            raise TargetError("cannot connect to {}: {}".format(target, e)) from None
        if connection.peer_id == self.transport.identity.id:
            await self._forget_self(connection)
            raise TargetError("{} is this node itself".format(target))
        return connection

    def _is_own_address(self, target):
        """True when ``target`` is surely this node's own listener (a loopback dial)."""
        port = getattr(self.transport, "port", None)
        host, _, port_text = target.rpartition(":")
        if port is None or not port_text.isdigit():
            return False
        bound = port.getHost()
        own = {getattr(bound, "host", None), "localhost", "127.0.0.1", "::1", "[::1]"}
        return int(port_text) == getattr(bound, "port", None) and host.lower() in own

    async def _forget_self(self, connection):
        """A dial that reached this very node: close it, and keep no record of it."""
        from lethean.peers import PeerNotFoundError

        lost = connection.when_lost()
        connection.close()
        await lost
        try:
            self.registry.remove_peer(connection.peer_id)
        except PeerNotFoundError:
            pass

    # -- remote operations -------------------------------------------------

    def ping(self, target, timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "rttMs"}``: the round trip of one ping."""
        async def ping():
            connection = await self._connect(target, timeout_s)
            rtt_ms = await self.controller.ping_peer(connection.peer_id)
            return {"peerId": connection.peer_id, "rttMs": rtt_ms}
        return defer.Deferred.fromCoroutine(ping())

    def stats(self, target=None, every=False, timeout_s=CONNECT_TIMEOUT_S):
        """
        ``{"stats": {peer_id: stats}, "unreachable": {peer_id: reason}}`` of
        ``target``, or with ``every`` of each registered peer with an address
        (dialled first) and each connected one.
        """
        return defer.Deferred.fromCoroutine(self._stats(target, every, timeout_s))

    async def _stats(self, target, every, timeout_s):
        if not every:
            if not target:
                raise InvalidRequestError("give a target, or --all")
            connection = await self._connect(target, timeout_s)
            stats = await self.controller.get_remote_stats(connection.peer_id)
            return {"stats": {connection.peer_id: json.loads(marshal(stats))}, "unreachable": {}}
        unreachable = {}

        async def reach(peer):
            try:
                await self._connect(peer.id, timeout_s)
            except LetheanError as e:
                unreachable[peer.id] = str(e)

        slots = defer.DeferredSemaphore(DIAL_CONCURRENCY)
        await defer.DeferredList([
            slots.run(lambda peer=peer: defer.Deferred.fromCoroutine(reach(peer)))
            for peer in self.registry.list_peers()
            if peer.address and self.transport.connection(peer.id) is None])
        results = await self.controller.get_all_stats()
        return {"stats": {peer_id: json.loads(marshal(stats))
                          for peer_id, stats in results.items()},
                "unreachable": unreachable}

    def logs(self, target, miner, lines, timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "miner", "lines"}``: a miner's last console lines."""
        async def logs():
            if not isinstance(miner, str) or not miner:
                raise InvalidRequestError("give the miner's name")
            if isinstance(lines, bool) or not isinstance(lines, int):
                raise InvalidRequestError("lines must be a whole number")
            connection = await self._connect(target, timeout_s)
            got = await self.controller.get_remote_logs(connection.peer_id, miner, lines)
            return {"peerId": connection.peer_id, "miner": miner, "lines": got}
        return defer.Deferred.fromCoroutine(logs())

    def start_miner(self, target, miner_type, profile="", config=None,
                    timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "started"}``; ``config`` (JSON data) overrides the profile."""
        async def start():
            if not isinstance(miner_type, str) or not miner_type:
                raise InvalidRequestError("give the miner type, e.g. xmrig")
            connection = await self._connect(target, timeout_s)
            name = await self.controller.start_remote_miner(
                connection.peer_id, miner_type, profile or "", config)
            return {"peerId": connection.peer_id, "started": name}
        return defer.Deferred.fromCoroutine(start())

    def stop_miner(self, target, name, timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "stopped"}``."""
        async def stop():
            if not isinstance(name, str) or not name:
                raise InvalidRequestError("give the miner's name")
            connection = await self._connect(target, timeout_s)
            stopped = await self.controller.stop_remote_miner(connection.peer_id, name)
            return {"peerId": connection.peer_id, "stopped": stopped}
        return defer.Deferred.fromCoroutine(stop())

    def deploy(self, target, source, kind="bundle", name=None, miner_file_name=None,
               progress=None, timeout_s=CONNECT_TIMEOUT_S):
        """
        Deploy ``source`` (a path or a binary file) to ``target``: a bundle
        file as it is, or
        (``kind`` ``profile`` or ``miner``) a profile JSON or a miner binary,
        bundled in the thread pool and sealed for that link.  Fires with
        ``{"peerId", "name", "success", "bytes"}``; ``progress(sent, total)``
        follows the acknowledged chunks.
        """
        return defer.Deferred.fromCoroutine(
            self._deploy(target, source, kind, name, miner_file_name, progress, timeout_s))

    async def _deploy(self, target, source, kind, name, miner_file_name, progress, timeout_s):
        from lethean.smsg import frame_password

        check_deploy(target, kind, name)
        connection = await self._connect(target, timeout_s)
        password = frame_password(connection.shared_secret)
        bundle = await in_thread(self._reactor, _build_bundle, source, kind, name,
                                 miner_file_name, password)
        total = len(bundle.data)
        ack = await self.controller.deploy_bundle(connection.peer_id, bundle, progress=progress)
        return {"peerId": connection.peer_id, "name": ack.name or bundle.name,
                "success": ack.success, "bytes": total}

    # -- the registry ------------------------------------------------------

    def list_peers(self):
        """Every registered peer, best score first, with whether it is connected."""
        return [peer_json(p, self.registry.is_connected(p.id))
                for p in self.registry.peers_by_score()]

    def add_peer(self, address, public_key, name="", role=""):
        """Register a peer; the stored record."""
        from lethean.identity import node_id_for
        from lethean.peers import Peer

        for field, value in (("address", address), ("publicKey", public_key),
                             ("name", name), ("role", role)):
            if not isinstance(value, str):
                raise InvalidRequestError("{} must be a string".format(field))
        if not address or not public_key:
            raise InvalidRequestError("give the peer's address and public key")
        peer = Peer(id=node_id_for(public_key), name=name or "", public_key=public_key,
                    address=address, role=role or "")
        stored = self.registry.add_peer(peer)
        return peer_json(stored, self.registry.is_connected(stored.id))

    def remove_peer(self, peer_id):
        """Forget a peer; ``{"removed": id}``."""
        self._need_string(peer_id, "the peer's node id")
        self.registry.remove_peer(peer_id)
        return {"removed": peer_id}

    def allow(self, public_key):
        """Add a key to the allowlist; ``{"allowed": key}``."""
        self._need_string(public_key, "a public key")
        self.registry.allow_public_key(public_key)
        return {"allowed": public_key}

    def revoke(self, public_key):
        """Remove a key from the allowlist; ``{"revoked": key}``."""
        self._need_string(public_key, "a public key")
        self.registry.revoke_public_key(public_key)
        return {"revoked": public_key}

    def auth(self, mode=None):
        """Show or set the auth mode (``open`` or ``allowlist``); ``{"auth": mode}``."""
        from lethean.peers import AuthMode

        if mode is not None:
            if mode not in ("open", "allowlist"):
                raise InvalidRequestError("the auth mode is 'open' or 'allowlist'")
            self.registry.set_auth_mode(AuthMode[mode.upper()])
        return {"auth": str(self.registry.auth_mode)}

    @staticmethod
    def _need_string(value, what):
        if not isinstance(value, str) or not value:
            raise InvalidRequestError("give {}".format(what))
