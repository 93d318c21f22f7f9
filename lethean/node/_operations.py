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

from twisted.internet import defer

from lethean._gojson import marshal
from lethean.errors import LetheanError
from lethean.bundles import in_thread
from lethean.node._worker import MAX_LOG_LINES
from lethean.node._reach import (
    NoAddressError,
    SelfTargetError,
    TargetError,
    explain_dial_failure,
)
from lethean.node._targets import (
    TARGET_FORMS,
    TargetFormError,
    UnknownTargetError,
    lethean_command,
    parse_target,
    peer_label,
    resolve_target,
    same_endpoint,
)

__all__ = [
    "NodeOperations",
    "TargetError",
    "TargetFormError",
    "InvalidRequestError",
    "CONNECT_TIMEOUT_S",
    "peer_json",
    "error_json",
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


class InvalidRequestError(LetheanError):
    """The request cannot run as given."""

    kind = "invalid_request"
    exit_code = 2

    def __init__(self, line):
        super().__init__(line)
        self.line = line


def error_json(error, peer=None):
    """
    An error as the API and ``--json`` show it: ``kind``, ``message`` (the
    line a person reads), ``exitCode``, and where known the ``peer`` and
    the ``remote`` text the peer sent or the transport's raw ``reason``.
    """
    from lethean.errors import describe

    document = {"kind": error.kind, "message": describe(error), "exitCode": error.exit_code}
    peer = getattr(error, "peer", None) or peer
    if peer:
        document["peer"] = peer
    remote = getattr(error, "remote", None)
    if remote is not None:
        document["remote"] = remote
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        document["reason"] = reason
    return document


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
        "pingMs": round(peer.ping_ms, 3),
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


def _named_profile(content, name):
    """
    The profile JSON ``content`` saved as ``name``: a worker keeps a profile
    under its ``id``, so ``--name`` becomes the id (``miner start --profile
    NAME`` then finds it).
    """
    try:
        profile = json.loads(content)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRequestError("the profile is not JSON: {}".format(e)) from None
    if not isinstance(profile, dict):
        raise InvalidRequestError("the profile is not a JSON object")
    if profile.get("id") == name:
        return content
    profile["id"] = name
    return json.dumps(profile).encode("utf-8")


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
        content = _named_profile(_read_limited(source, MAX_BUNDLE_DATA_BYTES, "profile"), name)
        return create_profile_bundle(content, name, password)
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
    :param data_dir: the data folder the operator names with ``--data-dir``
        (None: the default one), so the commands hints name act on it.

    Remote operations return Deferreds; registry edits return at once (the
    registry saves them itself, shortly after).
    """

    def __init__(self, reactor, transport, registry, controller, data_dir=None):
        self._reactor = reactor
        self.transport = transport
        self.registry = registry
        self.controller = controller
        self.data_dir = data_dir

    def command(self, words):
        """The ``lethean`` command (``words``) a hint names, for this data folder."""
        return lethean_command(words, self.data_dir)

    # -- targets -----------------------------------------------------------

    def connect(self, target, timeout_s=CONNECT_TIMEOUT_S):
        """
        A Deferred firing with the ``IMeshConnection`` to ``target``: a
        node id, a unique id prefix (4+ hex digits), a peer name,
        ``HOST:PORT`` or ``ws[s]://HOST:PORT[/ws]`` (an address is dialled;
        a new peer is registered, a registered one's key is pinned).
        """
        return defer.Deferred.fromCoroutine(self._connect(target, timeout_s))

    def resolve(self, target):
        """
        ``(address, peer_id, scheme, label, peer)`` for dialling ``target``:
        the one place where a target becomes an address.  ``peer`` is
        ``{"id", "name", "address"}`` as far as known; raises
        TargetFormError, UnknownTargetError, AmbiguousTargetError or
        NoAddressError.
        """
        parsed = parse_target(target)
        if parsed.is_address:
            address, peer_id, name = parsed.address, None, ""
            # A registered peer at the same endpoint (localhost:9101 for a saved
            # 127.0.0.1:9101) is dialled as saved, so its record stays as it is.
            for record in self.registry.list_peers():
                if record.address and same_endpoint(record.address, address):
                    address, peer_id, name = record.address, record.id, record.name
                    break
            peer = {"id": peer_id, "name": name, "address": address}
            return address, peer_id, parsed.scheme, peer_label(peer_id, name, address), peer
        connected = [c.peer_id for c in self.transport.connections()]
        peer_id, record = resolve_target(self.registry, parsed, connected, self.command)
        name = record.name if record is not None else ""
        address = record.address if record is not None else ""
        peer = {"id": peer_id, "name": name, "address": address}
        label = peer_label(peer_id, name, address)
        if not address and self.transport.connection(peer_id) is None:
            raise NoAddressError(
                "{} has no address to dial and is not connected: it may connect to this node "
                "by itself, or dial it once by HOST:PORT".format(label), peer)
        return address, peer_id, None, label, peer

    async def _connect(self, target, timeout_s):
        if not isinstance(target, str) or not target:
            raise InvalidRequestError("give a target: " + TARGET_FORMS)
        if (timeout_s is None or isinstance(timeout_s, bool)
                or not 0 < timeout_s <= MAX_CONNECT_TIMEOUT_S):
            raise InvalidRequestError("the timeout must be more than 0 and at most {:g} "
                                      "seconds".format(MAX_CONNECT_TIMEOUT_S))
        address, peer_id, scheme, label, peer = self.resolve(target)
        if peer_id is not None:
            connection = self.transport.connection(peer_id)
            if connection is not None:
                return connection
        if peer_id is None and self._is_own_address(address):
            raise SelfTargetError("{} is this node itself".format(address), peer)
        d = self.transport.connect(address, peer_id=peer_id, scheme=scheme)
        d.addTimeout(timeout_s, self._reactor)
        try:
            connection = await d
        except Exception as e:
            explained = explain_dial_failure(
                e, label, peer, scheme or self._default_scheme(), timeout_s,
                self.transport.identity.identity.public_key, self.command)
            if explained is None:
                raise
            raise explained from None
        if connection.peer_id == self.transport.identity.id:
            await self._forget_self(connection)
            raise SelfTargetError("{} is this node itself".format(address), peer)
        return connection

    def _default_scheme(self):
        config = getattr(self.transport, "config", None)
        return getattr(config, "scheme", "ws")

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

    def _described(self, connection):
        """``(label, peer)`` of a live link, for messages."""
        record = self.registry.get_peer(connection.peer_id)
        name = record.name if record is not None else ""
        address = (record.address if record is not None and record.address
                   else getattr(connection, "address", "") or "")
        peer = {"id": connection.peer_id, "name": name, "address": address}
        return peer_label(connection.peer_id, name, address), peer

    def _result(self, connection, **fields):
        """An answer about ``connection``'s peer: its id, ``peer`` (id, name, address), fields."""
        _, peer = self._described(connection)
        result = {"peerId": peer["id"], "peer": peer}
        result.update(fields)
        return result

    async def _ask(self, connection, target, what, request):
        """
        ``await request``, a controller request to ``connection``'s peer;
        its failure becomes one line naming the peer (``what`` says what
        was asked, e.g. "start the miner").
        """
        from lethean.node._remote import explain_request_failure

        try:
            return await request
        except LetheanError as e:
            label, peer = self._described(connection)
            explained = explain_request_failure(e, label, peer, target, what, self.command)
            if explained is None:
                raise
            raise explained from None

    def ping(self, target, timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "rttMs"}``: the round trip of one ping (ms, to the microsecond)."""
        async def ping():
            connection = await self._connect(target, timeout_s)
            rtt_ms = await self._ask(connection, target, "answer the ping",
                                     self.controller.ping_peer(connection.peer_id))
            return self._result(connection, rttMs=round(rtt_ms, 3))
        return defer.Deferred.fromCoroutine(ping())

    def stats(self, target=None, every=False, timeout_s=CONNECT_TIMEOUT_S):
        """
        ``{"stats": {peer_id: stats}, "failed": {peer_id: error}}`` of
        ``target``, or with ``every`` of each registered peer that has an
        address or a link (controllers, which answer no stats, left out);
        ``error`` is as :func:`error_json` makes it.
        """
        return defer.Deferred.fromCoroutine(self._stats(target, every, timeout_s))

    async def _stats(self, target, every, timeout_s):
        if every and target:
            raise InvalidRequestError("give a target or --all, not both")
        if not every:
            if not target:
                raise InvalidRequestError("give a target, or --all")
            connection = await self._connect(target, timeout_s)
            stats = await self._ask(connection, target, "report its stats",
                                    self.controller.get_remote_stats(connection.peer_id))
            return {"stats": {connection.peer_id: json.loads(marshal(stats))}, "failed": {}}
        results, failed = {}, {}

        async def ask(peer):
            try:
                connection = await self._connect(peer.id, timeout_s)
                stats = await self._ask(connection, peer.id, "report its stats",
                                        self.controller.get_remote_stats(connection.peer_id))
            except LetheanError as e:
                failed[peer.id] = error_json(e, {"id": peer.id, "name": peer.name,
                                                 "address": peer.address})
            else:
                results[peer.id] = json.loads(marshal(stats))

        slots = defer.DeferredSemaphore(DIAL_CONCURRENCY)
        await defer.DeferredList([
            slots.run(lambda peer=peer: defer.Deferred.fromCoroutine(ask(peer)))
            for peer in self.registry.list_peers()
            if peer.role != "controller"
            and (peer.address or self.transport.connection(peer.id) is not None)])
        return {"stats": dict(sorted(results.items())), "failed": dict(sorted(failed.items()))}

    def logs(self, target, miner, lines, timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "miner", "lines"}``: a miner's last console lines."""
        async def logs():
            if not isinstance(miner, str) or not miner:
                raise InvalidRequestError("give the miner's name")
            if isinstance(lines, bool) or not isinstance(lines, int) \
                    or not 0 < lines <= MAX_LOG_LINES:
                raise InvalidRequestError("lines must be a whole number from 1 to {}".format(
                    MAX_LOG_LINES))
            connection = await self._connect(target, timeout_s)
            got = await self._ask(connection, target, "show the miner's lines",
                                  self.controller.get_remote_logs(connection.peer_id, miner,
                                                                  lines))
            return self._result(connection, miner=miner, lines=got)
        return defer.Deferred.fromCoroutine(logs())

    def start_miner(self, target, miner_type, profile="", config=None,
                    timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "started"}``; ``config`` (JSON data) overrides the profile."""
        async def start():
            if not isinstance(miner_type, str) or not miner_type:
                raise InvalidRequestError("give the miner type, e.g. xmrig")
            if not profile and config is None:
                raise InvalidRequestError("give --profile NAME (a profile deployed to the "
                                          "node) or --config JSON")
            connection = await self._connect(target, timeout_s)
            name = await self._ask(connection, target, "start the miner",
                                   self.controller.start_remote_miner(
                                       connection.peer_id, miner_type, profile or "", config))
            return self._result(connection, started=name)
        return defer.Deferred.fromCoroutine(start())

    def stop_miner(self, target, name, timeout_s=CONNECT_TIMEOUT_S):
        """``{"peerId", "stopped"}``."""
        async def stop():
            if not isinstance(name, str) or not name:
                raise InvalidRequestError("give the miner's name")
            connection = await self._connect(target, timeout_s)
            stopped = await self._ask(connection, target, "stop the miner",
                                      self.controller.stop_remote_miner(connection.peer_id, name))
            return self._result(connection, stopped=stopped)
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
        # A v2 link's own bundle secret; a Go peer's is the static pair secret.
        password = frame_password(connection.bundle_secret)
        bundle = await in_thread(self._reactor, _build_bundle, source, kind, name,
                                 miner_file_name, password)
        total = len(bundle.data)
        ack = await self._ask(connection, target, "install the " + kind,
                              self.controller.deploy_bundle(connection.peer_id, bundle,
                                                            progress=progress))
        return self._result(connection, name=ack.name or bundle.name, success=ack.success,
                            bytes=total)

    def bundle_for(self, target, source, kind, name, miner_file_name=None,
                   timeout_s=CONNECT_TIMEOUT_S):
        """
        A Deferred firing with ``(peer_json_fields, bundle)``: ``source`` (a
        profile JSON or a miner binary, a path or a binary file) bundled and
        encrypted for this node's link to ``target``, as ``deploy`` would
        send it, for deploying later (``lethean bundle create --for``).  A
        registered peer with a known key is not dialled.
        """
        return defer.Deferred.fromCoroutine(
            self._bundle_for(target, source, kind, name, miner_file_name, timeout_s))

    async def _bundle_for(self, target, source, kind, name, miner_file_name, timeout_s):
        from lethean.smsg import frame_password

        if kind not in ("profile", "miner"):
            raise InvalidRequestError("a bundle is made of a profile or a miner")
        check_deploy(target, kind, name)
        _, peer_id, _, label, peer = self.resolve(target)
        record = self.registry.get_peer(peer_id) if peer_id else None
        if record is not None and record.public_key:
            secret = self.transport.identity.shared_secret(record.public_key)
        else:
            connection = await self._connect(target, timeout_s)
            secret = connection.shared_secret
            _, peer = self._described(connection)
        bundle = await in_thread(self._reactor, _build_bundle, source, kind, name,
                                 miner_file_name, frame_password(secret))
        return peer, bundle

    # -- the registry ------------------------------------------------------

    def list_peers(self):
        """Every registered peer, best score first, with whether it is connected."""
        return [peer_json(p, self.registry.is_connected(p.id))
                for p in self.registry.peers_by_score()]

    def add_peer(self, address, public_key, name="", role=""):
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
        if not parsed.is_address:
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

    def remove_peer(self, peer_id):
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

    def allow(self, public_key):
        """Add a key to the allowlist; ``{"allowed": key}``."""
        self._need_key(public_key)
        self.registry.allow_public_key(public_key)
        return {"allowed": public_key}

    def revoke(self, public_key):
        """Remove a key from the allowlist; ``{"revoked": key}``."""
        self._need_key(public_key)
        if not self.registry.is_public_key_allowed(public_key):
            from lethean.peers import NotAllowlistedError

            error = NotAllowlistedError(public_key)
            error.line = "{} is not on the allowlist: nothing was revoked".format(public_key)
            raise error
        self.registry.revoke_public_key(public_key)
        return {"revoked": public_key}

    def _need_key(self, public_key):
        from lethean.identity import decode_public_key

        self._need_string(public_key, "a public key")
        try:
            decode_public_key(public_key)
        except LetheanError:
            raise InvalidRequestError(
                "{!r} is not a public key: give the base64 X25519 key that 'lethean identity "
                "show' prints on the peer".format(public_key[:100])) from None

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


def _already_registered(record, command):
    """Refuse to add ``record``'s peer again, naming it and the way to change it."""
    from lethean.peers import PeerExistsError

    error = PeerExistsError("peer {} already exists".format(record.id))
    error.line = ("{} is already registered: to change it, forget it with '{}' and add it "
                  "again".format(peer_label(record.id, record.name, record.address),
                                 command("peers remove " + record.id)))
    raise error
