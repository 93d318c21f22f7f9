"""
The P2P commands CryptoNote daemons speak over Levin: handshake, timed sync,
ping and support flags, for the Monero family and for Lethean.

Four parts:

* constants: command names, the Monero network ids and genesis hashes;
* builders of request (and our response) sections, with the field names
  and types daemons expect (a ``uint32`` port is not an ``int64``);
* parsers of replies into small attrs records.  Daemons omit fields that hold
  their default, so every field is optional; a field that is present with
  the wrong type or size is refused with :class:`UnexpectedReplyError`;
* a small client: :func:`connect_peer`, then :func:`ping_peer` or
  :func:`handshake_peer`, then :func:`close_peer`.  While connected it
  answers the daemon's own requests (support flags, timed sync) as a polite
  peer does (spec/levin.md section 5).
"""

import ipaddress
import re
import struct

from attrs import frozen
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.logger import Logger

from ._errors import BadSignatureError, ConnectionLostError, LevinError, LevinMalformedError
from ._header import (
    COMMAND_GET_TXPOOL_COMPLEMENT,
    COMMAND_HANDSHAKE,
    COMMAND_NOTIFY_NEW_BLOCK,
    COMMAND_NOTIFY_NEW_FLUFFY_BLOCK,
    COMMAND_NOTIFY_NEW_TRANSACTIONS,
    COMMAND_PING,
    COMMAND_REQUEST_CHAIN,
    COMMAND_REQUEST_FLUFFY_MISSING_TX,
    COMMAND_REQUEST_GET_OBJECTS,
    COMMAND_REQUEST_SUPPORT_FLAGS,
    COMMAND_RESPONSE_CHAIN_ENTRY,
    COMMAND_RESPONSE_GET_OBJECTS,
    COMMAND_TIMED_SYNC,
    LEVIN_SIGNATURE,
)
from ._json import to_json_value
from ._protocol import LevinFactory, LevinProtocol
from ._values import (
    Array,
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
)

__all__ = [
    "COMMAND_NAMES",
    "Network",
    "NETWORKS",
    "MONERO_MAINNET",
    "MONERO_TESTNET",
    "MONERO_STAGENET",
    "LETHEAN_MAINNET_PORT",
    "LETHEAN_TESTNET_PORT",
    "resolve_network",
    "parse_hash",
    "PING_OK_STATUS",
    "P2P_SUPPORT_FLAG_FLUFFY_BLOCKS",
    "monero_node_data",
    "monero_sync_data",
    "lethean_node_data",
    "lethean_sync_data",
    "handshake_request",
    "timed_sync_request",
    "timed_sync_response",
    "ping_request",
    "support_flags_request",
    "support_flags_response",
    "NodeData",
    "SyncData",
    "PeerEntry",
    "HandshakeReply",
    "TimedSyncReply",
    "PingReply",
    "SupportFlagsReply",
    "parse_node_data",
    "parse_sync_data",
    "parse_handshake_reply",
    "parse_timed_sync_reply",
    "parse_ping_reply",
    "parse_support_flags_reply",
    "reply_to_json",
    "UnexpectedReplyError",
    "UnknownNetworkError",
    "PeerUnreachableError",
    "HandshakeRejectedError",
    "NotLevinError",
    "polite_handlers",
    "connect_peer",
    "CLIENT_MAX_PAYLOAD_SIZE",
    "close_peer",
    "ping_peer",
    "handshake_peer",
]

_log = Logger()

#: Command names by id (both families; the 2xxx pool is the CryptoNote
#: protocol, see spec/levin.md section 1.3).
COMMAND_NAMES = {
    COMMAND_HANDSHAKE: "handshake",
    COMMAND_TIMED_SYNC: "timed_sync",
    COMMAND_PING: "ping",
    1004: "stat_info",
    1005: "network_state",
    1006: "peer_id",
    COMMAND_REQUEST_SUPPORT_FLAGS: "support_flags",
    COMMAND_NOTIFY_NEW_BLOCK: "notify_new_block",
    COMMAND_NOTIFY_NEW_TRANSACTIONS: "notify_new_transactions",
    COMMAND_REQUEST_GET_OBJECTS: "request_get_objects",
    COMMAND_RESPONSE_GET_OBJECTS: "response_get_objects",
    COMMAND_REQUEST_CHAIN: "request_chain",
    COMMAND_RESPONSE_CHAIN_ENTRY: "response_chain_entry",
    COMMAND_NOTIFY_NEW_FLUFFY_BLOCK: "notify_new_fluffy_block",
    COMMAND_REQUEST_FLUFFY_MISSING_TX: "request_fluffy_missing_tx",
    COMMAND_GET_TXPOOL_COMPLEMENT: "get_txpool_complement",
}

#: The ``status`` of a successful ping reply.
PING_OK_STATUS = "OK"
#: Monero's only support flag: the node relays "fluffy" (compact) blocks.
P2P_SUPPORT_FLAG_FLUFFY_BLOCKS = 0x01

#: Lethean's default P2P ports (its network ids are not in the spec: pass
#: them as hex).
LETHEAN_MAINNET_PORT = 36942
LETHEAN_TESTNET_PORT = 46942

NETWORK_ID_SIZE = 16
HASH_SIZE = 32
_LETHEAN_PEER_RECORD = struct.Struct("<IIQq")


class UnexpectedReplyError(LevinMalformedError):
    """The peer's reply does not have the shape of the command's answer."""

    kind = "bad_reply"


class PeerUnreachableError(LevinError):
    """Could not connect to the Levin peer."""

    kind = "unreachable"


class HandshakeRejectedError(LevinError):
    """The peer rejected the Levin handshake."""

    kind = "handshake_rejected"


class NotLevinError(BadSignatureError):
    """The peer does not speak Levin; is that its P2P port?"""


class UnknownNetworkError(LevinError):
    """Unknown network: give mainnet, testnet, stagenet or a 32-digit hex network id."""

    kind = "unknown_network"


@frozen
class Network:
    """A CryptoNote network: the id peers must share, and its first block."""

    name: str
    network_id: bytes
    #: Hash of block 0; sent as ``top_id`` with height 1 so that any daemon
    #: of the network accepts us without trying to sync from us.
    genesis_hash: bytes
    default_port: int


MONERO_MAINNET = Network(
    "mainnet",
    bytes.fromhex("1230f171610441611731008216a1a110"),
    bytes.fromhex("418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"),
    18080,
)
MONERO_TESTNET = Network(
    "testnet",
    bytes.fromhex("1230f171610441611731008216a1a111"),
    bytes.fromhex("48ca7cd3c8de5b6a4d53d2861fbdaedca141553559f9be9520068053cda8430b"),
    28080,
)
MONERO_STAGENET = Network(
    "stagenet",
    bytes.fromhex("1230f171610441611731008216a1a112"),
    bytes.fromhex("76ee3cc98646292206cd3e86f74d88b4dcc1d937088645e9b0cbca84b7ce74eb"),
    38080,
)
#: Monero networks by name (regtest uses mainnet's id and genesis).
NETWORKS = {network.name: network for network in (MONERO_MAINNET, MONERO_TESTNET, MONERO_STAGENET)}

_HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})+\Z")


def parse_hash(text, size, what):
    """The ``size`` raw bytes of hex ``text``, or :class:`UnknownNetworkError`."""
    cleaned = text.strip().replace("-", "")
    if len(cleaned) != 2 * size or not _HEX.match(cleaned):
        raise UnknownNetworkError("{} must be {} hex digits, not {!r}".format(
            what, 2 * size, text))
    return bytes.fromhex(cleaned)


def resolve_network(name_or_hex, genesis_hex=None):
    """
    The :class:`Network` for a name (``mainnet``, ``testnet``, ``stagenet``)
    or a 16-byte hex network id (dashes allowed, as daemons log it).

    ``genesis_hex`` overrides the genesis hash.  A hex id of a known network
    gets that network's genesis; an unknown one gets 32 zero bytes, which a
    daemon accepts (it then asks us for blocks, which we ignore).
    """
    network = NETWORKS.get(name_or_hex.strip().lower())
    if network is None:
        network_id = parse_hash(name_or_hex, NETWORK_ID_SIZE, "a network id")
        known = [n for n in NETWORKS.values() if n.network_id == network_id]
        if known:
            network = known[0]
        else:
            network = Network(network_id.hex(), network_id, bytes(HASH_SIZE), 0)
    if genesis_hex is not None:
        genesis = parse_hash(genesis_hex, HASH_SIZE, "a genesis hash")
        network = Network(network.name, network.network_id, genesis, network.default_port)
    return network


# --- builders -------------------------------------------------------------

def _optional(entries, name, wrap, value):
    if value is not None:
        entries[name] = wrap(value)


def monero_node_data(network_id, peer_id, my_port=0, *, support_flags=None,
                     rpc_port=None, rpc_credits_per_hash=None):
    """
    A Monero ``basic_node_data`` section (``node_data``).

    ``my_port`` 0 tells the daemon we do not listen; optional fields are
    written only when given (even as 0).
    """
    entries = {
        "network_id": String(network_id),
        "peer_id": Uint64(peer_id),
        "my_port": Uint32(my_port),
    }
    _optional(entries, "support_flags", Uint32, support_flags)
    _optional(entries, "rpc_port", Uint16, rpc_port)
    _optional(entries, "rpc_credits_per_hash", Uint32, rpc_credits_per_hash)
    return Section(entries)


def monero_sync_data(top_id, current_height=1, cumulative_difficulty=1, *,
                     top_version=1, pruning_seed=None):
    """
    A Monero ``CORE_SYNC_DATA`` section (``payload_data``).

    ``cumulative_difficulty`` is the full 128-bit value; it is written as
    its low and high 64 bits, as daemons do.  The defaults (height 1,
    version 1) with a network's genesis hash describe a node holding only
    block 0, which daemons of that network accept and never sync from.
    """
    if not 0 <= cumulative_difficulty < (1 << 128):
        raise UnknownNetworkError("cumulative difficulty must fit 128 bits")
    entries = {
        "current_height": Uint64(current_height),
        "cumulative_difficulty": Uint64(cumulative_difficulty & ((1 << 64) - 1)),
        "cumulative_difficulty_top64": Uint64(cumulative_difficulty >> 64),
        "top_id": String(top_id),
        "top_version": Uint8(top_version),
    }
    _optional(entries, "pruning_seed", Uint32, pruning_seed)
    return Section(entries)


def lethean_node_data(network_id, peer_id, local_time, my_port=0):
    """A Lethean ``basic_node_data`` section (``local_time`` in Unix seconds)."""
    return Section({
        "network_id": String(network_id),
        "peer_id": Uint64(peer_id),
        "local_time": Int64(local_time),
        "my_port": Uint32(my_port),
    })


def lethean_sync_data(top_id, current_height, core_time, *, last_checkpoint_height=0,
                      client_version="", non_pruning_mode_enabled=True):
    """A Lethean ``CORE_SYNC_DATA`` section (``current_height`` = top + 1)."""
    return Section({
        "current_height": Uint64(current_height),
        "top_id": String(top_id),
        "last_checkpoint_height": Uint64(last_checkpoint_height),
        "core_time": Uint64(core_time),
        "client_version": String(client_version),
        "non_pruning_mode_enabled": Bool(non_pruning_mode_enabled),
    })


def handshake_request(node_data, payload_data, maintrs_entry=None):
    """The COMMAND_HANDSHAKE (1001) request body."""
    entries = {"node_data": node_data, "payload_data": payload_data}
    _optional(entries, "maintrs_entry", Section, maintrs_entry)
    return Section(entries)


def timed_sync_request(payload_data, maintrs_entry=None):
    """The COMMAND_TIMED_SYNC (1002) request body."""
    entries = {"payload_data": payload_data}
    _optional(entries, "maintrs_entry", Section, maintrs_entry)
    return Section(entries)


def timed_sync_response(payload_data, local_time=None):
    """
    Our answer to a daemon's timed sync: our ``payload_data`` (Lethean
    daemons also expect ``local_time``).
    """
    entries = {"payload_data": payload_data}
    _optional(entries, "local_time", Int64, local_time)
    return Section(entries)


def ping_request():
    """The COMMAND_PING (1003) request body: an empty section."""
    return Section()


def support_flags_request():
    """The COMMAND_REQUEST_SUPPORT_FLAGS (1007) request body: empty."""
    return Section()


def support_flags_response(support_flags=0):
    """Our answer to a daemon's support-flags request."""
    return Section({"support_flags": Uint32(support_flags)})


# --- replies --------------------------------------------------------------

_INTEGERS = (Int64, Int32, Int16, Int8, Uint64, Uint32, Uint16, Uint8)


def _field(section, where, name, kinds, size=None):
    """The plain value of an optional field, checked against ``kinds``."""
    value = section.get(name)
    if value is None:
        return None
    if not isinstance(value, kinds):
        raise UnexpectedReplyError("{}.{} is {}, expected {}".format(
            where, name, type(value).__name__, "/".join(k.__name__ for k in kinds)))
    if isinstance(value, Section):
        return value
    if size is not None and len(value.value) != size:
        raise UnexpectedReplyError("{}.{} holds {} bytes, expected {}".format(
            where, name, len(value.value), size))
    return value.value


def _integer(section, where, name):
    return _field(section, where, name, _INTEGERS)


def _blob(section, where, name, size=None):
    return _field(section, where, name, (String,), size)


def _text(section, where, name):
    raw = _blob(section, where, name)
    return None if raw is None else raw.decode("utf-8", "replace")


def _object(section, where, name):
    found = _field(section, where, name, (Section,))
    return Section() if found is None else found


@frozen
class NodeData:
    """A peer's ``node_data``; fields it did not send are ``None``."""

    network_id: object = None
    peer_id: object = None
    my_port: object = None
    rpc_port: object = None
    rpc_credits_per_hash: object = None
    support_flags: object = None
    #: Lethean only: the peer's clock, Unix seconds.
    local_time: object = None


@frozen
class SyncData:
    """A peer's ``payload_data`` (chain state); absent fields are ``None``."""

    current_height: object = None
    #: Monero: the full 128-bit cumulative difficulty.
    cumulative_difficulty: object = None
    top_id: object = None
    top_version: object = None
    pruning_seed: object = None
    #: Lethean only.
    last_checkpoint_height: object = None
    core_time: object = None
    client_version: object = None
    non_pruning_mode_enabled: object = None


@frozen
class PeerEntry:
    """One peer from a reply's peer list."""

    peer_id: object
    #: Text form of the address for IPv4/IPv6, else ``None``.
    host: object
    port: object
    #: Address type (1 IPv4, 2 IPv6, 3 I2P, 4 Tor).
    address_type: int = 1
    last_seen: object = None
    pruning_seed: object = None
    rpc_port: object = None


@frozen
class HandshakeReply:
    """The answer to COMMAND_HANDSHAKE."""

    node_data: NodeData
    payload_data: SyncData
    peers: tuple = ()


@frozen
class TimedSyncReply:
    """The answer to COMMAND_TIMED_SYNC."""

    payload_data: SyncData
    peers: tuple = ()
    #: Lethean only.
    local_time: object = None


@frozen
class PingReply:
    """The answer to COMMAND_PING."""

    status: object
    peer_id: object

    @property
    def ok(self):
        """True when the peer answered ``status`` ``"OK"``."""
        return self.status == PING_OK_STATUS


@frozen
class SupportFlagsReply:
    """The answer to COMMAND_REQUEST_SUPPORT_FLAGS."""

    support_flags: object


def parse_node_data(section, where="node_data"):
    """A :class:`NodeData` from a ``node_data`` section."""
    return NodeData(
        network_id=_blob(section, where, "network_id", NETWORK_ID_SIZE),
        peer_id=_integer(section, where, "peer_id"),
        my_port=_integer(section, where, "my_port"),
        rpc_port=_integer(section, where, "rpc_port"),
        rpc_credits_per_hash=_integer(section, where, "rpc_credits_per_hash"),
        support_flags=_integer(section, where, "support_flags"),
        local_time=_integer(section, where, "local_time"),
    )


def parse_sync_data(section, where="payload_data"):
    """A :class:`SyncData` from a ``payload_data`` section."""
    low = _integer(section, where, "cumulative_difficulty")
    high = _integer(section, where, "cumulative_difficulty_top64")
    difficulty = None
    if low is not None or high is not None:
        difficulty = ((high or 0) << 64) | (low or 0)
    return SyncData(
        current_height=_integer(section, where, "current_height"),
        cumulative_difficulty=difficulty,
        top_id=_blob(section, where, "top_id", HASH_SIZE),
        top_version=_integer(section, where, "top_version"),
        pruning_seed=_integer(section, where, "pruning_seed"),
        last_checkpoint_height=_integer(section, where, "last_checkpoint_height"),
        core_time=_integer(section, where, "core_time"),
        client_version=_text(section, where, "client_version"),
        non_pruning_mode_enabled=_field(section, where, "non_pruning_mode_enabled", (Bool,)),
    )


def _ipv4(m_ip):
    return str(ipaddress.IPv4Address(m_ip.to_bytes(4, "little")))


def _monero_peer(entry, where):
    if not isinstance(entry, Section):
        raise UnexpectedReplyError("{} holds {}, expected objects".format(
            where, type(entry).__name__))
    address = _object(entry, where, "adr")
    address_type = _integer(address, where + ".adr", "type")
    inner = _object(address, where + ".adr", "addr")
    host = None
    if address_type == 1:
        m_ip = _integer(inner, where + ".adr.addr", "m_ip")
        host = None if m_ip is None else _ipv4(m_ip & 0xFFFFFFFF)
    elif address_type == 2:
        raw = _blob(inner, where + ".adr.addr", "addr", 16)
        host = None if raw is None else str(ipaddress.IPv6Address(raw))
    return PeerEntry(
        peer_id=_integer(entry, where, "id"),
        host=host,
        port=_integer(inner, where + ".adr.addr", "m_port"),
        address_type=address_type if address_type is not None else 0,
        last_seen=_integer(entry, where, "last_seen"),
        pruning_seed=_integer(entry, where, "pruning_seed"),
        rpc_port=_integer(entry, where, "rpc_port"),
    )


def _lethean_peers(blob):
    if len(blob) % _LETHEAN_PEER_RECORD.size:
        raise UnexpectedReplyError(
            "local_peerlist holds {} bytes, not a multiple of {}".format(
                len(blob), _LETHEAN_PEER_RECORD.size))
    return tuple(
        PeerEntry(peer_id=peer_id, host=_ipv4(ip), port=port, last_seen=last_seen)
        for ip, port, peer_id, last_seen in _LETHEAN_PEER_RECORD.iter_unpack(blob))


def _peers(section):
    peers = ()
    listed = section.get("local_peerlist_new")
    if listed is not None:
        if not isinstance(listed, Array):
            raise UnexpectedReplyError("local_peerlist_new is {}, expected an array".format(
                type(listed).__name__))
        peers += tuple(_monero_peer(entry, "local_peerlist_new[]") for entry in listed)
    blob = _blob(section, "reply", "local_peerlist")
    if blob is not None:
        peers += _lethean_peers(blob)
    return peers


def parse_handshake_reply(section):
    """A :class:`HandshakeReply` from the daemon's handshake answer."""
    return HandshakeReply(
        node_data=parse_node_data(_object(section, "reply", "node_data")),
        payload_data=parse_sync_data(_object(section, "reply", "payload_data")),
        peers=_peers(section),
    )


def parse_timed_sync_reply(section):
    """A :class:`TimedSyncReply` from the daemon's timed-sync answer."""
    return TimedSyncReply(
        payload_data=parse_sync_data(_object(section, "reply", "payload_data")),
        peers=_peers(section),
        local_time=_integer(section, "reply", "local_time"),
    )


def parse_ping_reply(section):
    """A :class:`PingReply` from the daemon's ping answer."""
    return PingReply(
        status=_text(section, "reply", "status"),
        peer_id=_integer(section, "reply", "peer_id"),
    )


def parse_support_flags_reply(section):
    """A :class:`SupportFlagsReply` from a support-flags answer."""
    return SupportFlagsReply(_integer(section, "reply", "support_flags"))


#: String fields that hold text; every other string is a hash, id or blob.
_TEXT_FIELDS = frozenset({"status", "client_version", "maintainers_info_buff"})


def reply_to_json(section):
    """
    JSON-able Python for a reply section, for people.

    Like :func:`to_json_value` but led by the schema: text fields are text,
    every other string is lowercase hex (a hash that happens to be printable
    stays hex), and Lethean's packed ``local_peerlist`` blob is unpacked into
    records.
    """
    return _json_section(section)


def _json_section(section):
    out = {}
    for name, value in section.items():
        if name == "local_peerlist" and isinstance(value, String) \
                and len(value.value) % _LETHEAN_PEER_RECORD.size == 0:
            out[name] = [
                {"ip": peer.host, "port": peer.port, "id": peer.peer_id,
                 "last_seen": peer.last_seen}
                for peer in _lethean_peers(value.value)]
        else:
            out[name] = _json_value(name, value)
    return out


def _json_value(name, value):
    if isinstance(value, Section):
        return _json_section(value)
    if isinstance(value, Array):
        return [_json_value(name, item) for item in value.items]
    if isinstance(value, String):
        if name in _TEXT_FIELDS:
            return value.value.decode("utf-8", "replace")
        return value.value.hex()
    return to_json_value(value)


# --- a small client -------------------------------------------------------

#: Largest packet the client accepts.  P2P replies are tens of kilobytes (a
#: full peer list of 250 entries is about 20 KB); a block notification that
#: slips in stays well under this.  The Go reference's 100 MiB is for nodes.
CLIENT_MAX_PAYLOAD_SIZE = 4 * 1024 * 1024


def polite_handlers(payload_data, support_flags=0):
    """
    Handlers answering what a daemon asks a connected peer: its support
    flags (1007) and a timed sync (1002, about once a minute; a peer that
    leaves it unanswered is dropped).  Notifications need no handler.
    """
    def on_support_flags(protocol, header, section):
        return support_flags_response(support_flags)

    def on_timed_sync(protocol, header, section):
        return timed_sync_response(payload_data)

    return {
        COMMAND_REQUEST_SUPPORT_FLAGS: on_support_flags,
        COMMAND_TIMED_SYNC: on_timed_sync,
    }


_SIGNATURE_BYTES = LEVIN_SIGNATURE.to_bytes(8, "little")


class _ClientProtocol(LevinProtocol):
    """
    A :class:`LevinProtocol` whose ``lost`` Deferred fires when it closes,
    and which remembers in ``not_levin`` a peer whose first bytes are not a
    Levin signature (so the user hears "wrong port", not "connection lost").
    """

    def __init__(self):
        super().__init__()
        self.lost = Deferred()
        self.not_levin = None
        #: The peer's first bytes (up to a signature's worth).
        self.prefix = b""

    def dataReceived(self, data):
        if len(self.prefix) < len(_SIGNATURE_BYTES):
            self.prefix += data[:len(_SIGNATURE_BYTES) - len(self.prefix)]
            if not _SIGNATURE_BYTES.startswith(self.prefix):
                self.not_levin = NotLevinError("it sent {} {!r}".format(
                    self.prefix.hex(), self.prefix))
        super().dataReceived(data)

    def connectionLost(self, reason=None):
        super().connectionLost(reason)
        self.lost.callback(None)

    def packetReceived(self, header, payload):
        # A client has no use for the daemon's notifications (2010 right
        # after the handshake, 2006 when it wants our blocks): skip them
        # without decoding.
        if not header.expect_response and not header.is_response:
            _log.debug("ignored Levin notification {command} from {peer}",
                       command=header.command, peer=self.peer)
            return
        super().packetReceived(header, payload)


class _ClientFactory(LevinFactory):
    protocol = _ClientProtocol


async def connect_peer(reactor, endpoint, *, timeout, handlers=None,
                       max_payload_size=CLIENT_MAX_PAYLOAD_SIZE):
    """
    Connect to a Levin peer; returns the connected :class:`LevinProtocol`.

    ``endpoint`` is an ``IStreamClientEndpoint`` or a client endpoint string
    (``tcp:host=H:port=P``).  ``handlers`` answer the peer's requests (see
    :func:`polite_handlers`); ``timeout`` bounds the connection attempt and
    is each invoke's default; a packet over ``max_payload_size`` drops the
    connection.  Raises :class:`PeerUnreachableError`.
    """
    if isinstance(endpoint, str):
        endpoint = clientFromString(reactor, endpoint)
    factory = _ClientFactory(reactor, handlers=handlers, invoke_timeout=timeout,
                             max_payload_size=max_payload_size)
    connecting = endpoint.connect(factory)
    connecting.addTimeout(timeout, reactor)
    try:
        return await connecting
    except (ConnectError, DNSLookupError) as e:
        raise PeerUnreachableError(_connect_detail(e)) from None
    except (DeferredTimeoutError, CancelledError):
        raise PeerUnreachableError("no connection within {} s".format(timeout)) from None


def _connect_detail(error):
    detail = str(error).strip().rstrip(".")
    return detail or type(error).__name__


async def close_peer(protocol):
    """Close a connection made by :func:`connect_peer`; fires once it is closed."""
    if not protocol.lost.called:
        protocol.transport.loseConnection()
    await protocol.lost


async def _invoke(protocol, command, section, timeout):
    try:
        return await protocol.invoke(command, section, timeout=timeout)
    except (ConnectionLostError, BadSignatureError) as e:
        not_levin = getattr(protocol, "not_levin", None)
        if not_levin is not None:
            raise not_levin from None
        if isinstance(e, ConnectionLostError) and getattr(protocol, "prefix", None) == b"":
            raise ConnectionLostError(
                "the peer closed it without sending anything; is that its P2P port?") from None
        raise


def _network_label(network_id):
    if network_id is None:
        return "no network id"
    names = [n.name for n in NETWORKS.values() if n.network_id == network_id]
    if names:
        return "{} ({})".format(names[0], network_id.hex())
    return "network id {}".format(network_id.hex())


async def ping_peer(protocol, *, timeout=None):
    """
    COMMAND_PING; returns the reply :class:`Section` after checking that
    its status is ``OK`` (:class:`UnexpectedReplyError` otherwise).
    """
    reply = await _invoke(protocol, COMMAND_PING, ping_request(), timeout)
    parsed = parse_ping_reply(reply)
    if not parsed.ok:
        raise UnexpectedReplyError("ping status {!r}, expected {!r}".format(
            parsed.status, PING_OK_STATUS))
    return reply


async def handshake_peer(protocol, request, *, timeout=None):
    """
    COMMAND_HANDSHAKE with ``request``, then one COMMAND_TIMED_SYNC with the
    request's ``payload_data``; returns both reply Sections.

    A daemon closes the connection without a word when the network id
    differs (spec/levin.md section 5), so a close before the reply, or a
    reply from another network, raises :class:`HandshakeRejectedError`.
    """
    network_id = request["node_data"]["network_id"].value
    try:
        reply = await _invoke(protocol, COMMAND_HANDSHAKE, request, timeout)
    except ConnectionLostError:
        raise HandshakeRejectedError(
            "it closed the connection without a reply, as a daemon does to a peer of "
            "another network; we sent {}".format(_network_label(network_id))) from None
    parsed = parse_handshake_reply(reply)
    if parsed.node_data.network_id != network_id:
        raise HandshakeRejectedError("it is on {}, we sent {}".format(
            _network_label(parsed.node_data.network_id), _network_label(network_id)))
    _log.info("Levin handshake with {peer} done: peer_id {peer_id}, height {height}",
              peer=protocol.peer, peer_id=parsed.node_data.peer_id,
              height=parsed.payload_data.current_height)
    sync = await _invoke(
        protocol, COMMAND_TIMED_SYNC, timed_sync_request(request["payload_data"]), timeout)
    parse_timed_sync_reply(sync)
    return reply, sync
