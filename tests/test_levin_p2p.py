"""P2P command bodies (handshake, timed sync, ping) and the small Levin client."""

import json

from hypothesis import given, settings
from twisted.internet import task
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import ConnectingCancelledError, ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.levin import (
    Array,
    Bool,
    Command,
    ConnectionLostError,
    LevinHandshakeRejectedError,
    Header,
    InvokeTimeoutError,
    LevinFactory,
    NotLevinError,
    PeerUnreachableError,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    UnexpectedReplyError,
    UnknownNetworkError,
    close_peer,
    connect_peer,
    decode_storage,
    encode_header,
    encode_storage,
    from_typed_json,
    handshake_peer,
    handshake_request,
    monero_node_data,
    monero_sync_data,
    parse_handshake_reply,
    parse_ping_reply,
    parse_timed_sync_reply,
    ping_peer,
    polite_handlers,
    reply_to_json,
    resolve_network,
)
from lethean.levin._client import CLIENT_MAX_PAYLOAD_SIZE, _ClientFactory
from lethean.levin._networks import MONERO_MAINNET, MONERO_STAGENET, MONERO_TESTNET
from lethean.levin._replies import (
    NodeData,
    PeerEntry,
    PingReply,
    SyncData,
    parse_node_data,
    parse_support_flags_reply,
    parse_sync_data,
)
from lethean.levin._requests import (
    lethean_node_data,
    lethean_sync_data,
    ping_request,
    support_flags_request,
    timed_sync_request,
    timed_sync_response,
)
from tests._paths import VECTORS
from tests.strategies import levin_p2p_replies

#: Replies of a real monerod 0.18 (``--testnet``, fresh chain), captured on
#: loopback: handshake (1001), timed sync (1002) and ping (1003) bodies.
MONEROD_HANDSHAKE_REPLY = bytes.fromhex(
    "01110101010102010108096e6f64655f646174610c10076d795f706f72740605a800000a6e6574776f726b"
    "5f69640a401230f171610441611731008216a1a11107706565725f696405e3880b032e25d91b0d73757070"
    "6f72745f666c61677306010000000c7061796c6f61645f646174610c141563756d756c61746976655f6469"
    "66666963756c74790501000000000000001b63756d756c61746976655f646966666963756c74795f746f70"
    "36340500000000000000000e63757272656e745f68656967687405010000000000000006746f705f69640a"
    "8048ca7cd3c8de5b6a4d53d2861fbdaedca141553559f9be9520068053cda8430b0b746f705f7665727369"
    "6f6e0801")
MONEROD_TIMED_SYNC_REPLY = bytes.fromhex(
    "011101010101020101040c7061796c6f61645f646174610c141563756d756c61746976655f646966666963"
    "756c74790501000000000000001b63756d756c61746976655f646966666963756c74795f746f7036340500"
    "000000000000000e63757272656e745f68656967687405010000000000000006746f705f69640a8048ca7c"
    "d3c8de5b6a4d53d2861fbdaedca141553559f9be9520068053cda8430b0b746f705f76657273696f6e0801")
MONEROD_PING_REPLY = bytes.fromhex(
    "0111010101010201010807706565725f69640536f9491b3b8508e4067374617475730a084f4b")

#: spec levin.md section 2.8: a Lethean-style handshake request (281 bytes).
LETHEAN_HANDSHAKE_HEX = (
    "01110101010102010108096e6f64655f646174610c100a6c6f63616c5f74696d6501a535576900000000076d"
    "795f706f7274064e9000000a6e6574776f726b5f69640a40101112131415161718191a1b1c1d1e1f07706565"
    "725f69640508070605040302010c7061796c6f61645f646174610c180e636c69656e745f76657273696f6e0a"
    "14362e302e3009636f72655f74696d6505a5355769000000000e63757272656e745f686569676874056400"
    "000000000000166c6173745f636865636b706f696e745f68656967687405000000000000000018"
    "6e6f6e5f7072756e696e675f6d6f64655f656e61626c65640b0106746f705f69640a80" + "00" * 32)

TESTNET = MONERO_TESTNET


def _storage_vectors():
    with open(VECTORS / "levin_storage.json") as f:
        return json.load(f)


class BuilderTests(SynchronousTestCase):
    """Request bodies have the daemons' field names, types and bytes."""

    def test_monero_handshake_matches_vector(self):
        """A Monero handshake body built from its fields equals the vector's bytes."""
        document = _storage_vectors()
        vector = next(e for e in document["encode"]
                      if e["name"] == "monero_style_handshake_request")
        expected = from_typed_json(vector["section"])
        node = expected["node_data"]
        sync = expected["payload_data"]
        built = handshake_request(
            monero_node_data(
                node["network_id"].value, node["peer_id"].value, node["my_port"].value,
                support_flags=node["support_flags"].value, rpc_port=node["rpc_port"].value,
                rpc_credits_per_hash=node["rpc_credits_per_hash"].value),
            monero_sync_data(
                sync["top_id"].value, sync["current_height"].value,
                sync["cumulative_difficulty"].value,
                top_version=sync["top_version"].value, pruning_seed=sync["pruning_seed"].value))
        self.assertEqual(built, expected)
        self.assertEqual(encode_storage(built).hex(), vector["hex"])
        packet = document["handshake_packet"]
        body = encode_storage(built)
        self.assertEqual(
            (encode_header(Header.request(Command.HANDSHAKE, len(body))) + body).hex(),
            packet["packet_hex"])

    def test_lethean_handshake_matches_worked_example(self):
        """The Lethean builders give the 281 bytes of spec section 2.8."""
        built = handshake_request(
            lethean_node_data(bytes(range(0x10, 0x20)), 0x0102030405060708,
                                   1767323045, 36942),
            lethean_sync_data(bytes(32), 100, 1767323045, client_version="6.0.0"))
        body = encode_storage(built)
        self.assertEqual(len(body), 281)
        self.assertEqual(body.hex(), LETHEAN_HANDSHAKE_HEX)

    def test_ping_and_support_flags_requests_are_empty(self):
        """Ping and support-flags requests are the empty section."""
        for request in (ping_request(), support_flags_request()):
            self.assertEqual(encode_storage(request).hex(), "01110101010102010100")

    def test_cumulative_difficulty_split_in_two_u64(self):
        """The 128-bit difficulty is written as low and high 64 bits."""
        sync = monero_sync_data(TESTNET.genesis_hash, 5, (7 << 64) | 9)
        self.assertEqual(sync["cumulative_difficulty"], Uint64(9))
        self.assertEqual(sync["cumulative_difficulty_top64"], Uint64(7))
        self.assertEqual(parse_sync_data(sync).cumulative_difficulty, (7 << 64) | 9)

    def test_difficulty_over_128_bits_refused(self):
        """A difficulty that does not fit 128 bits raises a lethean error."""
        self.assertRaises(LetheanError, monero_sync_data, TESTNET.genesis_hash, 1, 1 << 128)

    def test_optional_node_fields_only_when_given(self):
        """Optional node_data fields are absent unless given, and typed when given."""
        bare = monero_node_data(TESTNET.network_id, 1)
        self.assertEqual(set(bare), {"network_id", "peer_id", "my_port"})
        self.assertEqual(bare["my_port"], Uint32(0))
        full = monero_node_data(TESTNET.network_id, 1, 2, support_flags=0, rpc_port=3,
                                     rpc_credits_per_hash=0)
        self.assertEqual(full["rpc_port"], Uint16(3))
        self.assertEqual(full["support_flags"], Uint32(0))

    def test_default_sync_data_is_a_chain_of_genesis_only(self):
        """The default payload_data claims height 1, version 1, top block = genesis."""
        sync = monero_sync_data(TESTNET.genesis_hash)
        self.assertEqual(sync["current_height"], Uint64(1))
        self.assertEqual(sync["top_version"], Uint8(1))
        self.assertEqual(sync["top_id"], String(TESTNET.genesis_hash))
        self.assertNotIn("pruning_seed", sync)

    def test_timed_sync_bodies(self):
        """Timed sync request and response carry payload_data (and local_time if given)."""
        sync = monero_sync_data(TESTNET.genesis_hash)
        self.assertEqual(timed_sync_request(sync), Section({"payload_data": sync}))
        self.assertEqual(timed_sync_response(sync, local_time=5)["local_time"].value, 5)
        self.assertNotIn("local_time", timed_sync_response(sync))

    def test_maintainers_entry_passed_through(self):
        """A Lethean maintrs_entry is written only when given."""
        node = lethean_node_data(TESTNET.network_id, 1, 2)
        sync = lethean_sync_data(bytes(32), 1, 2)
        entry = {"maintainers_info_buff": String(b"x"), "sign": String(bytes(64))}
        self.assertNotIn("maintrs_entry", handshake_request(node, sync))
        self.assertEqual(handshake_request(node, sync, entry)["maintrs_entry"],
                         Section(entry))


class NetworkTests(SynchronousTestCase):
    """Network names and ids resolve to the ids and genesis hashes of spec section 5."""

    def test_spec_table(self):
        """The three Monero networks carry the spec's ids and genesis hashes."""
        table = {
            "mainnet": ("1230f171610441611731008216a1a110",
                        "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"),
            "testnet": ("1230f171610441611731008216a1a111",
                        "48ca7cd3c8de5b6a4d53d2861fbdaedca141553559f9be9520068053cda8430b"),
            "stagenet": ("1230f171610441611731008216a1a112",
                         "76ee3cc98646292206cd3e86f74d88b4dcc1d937088645e9b0cbca84b7ce74eb"),
        }
        for name, (network_id, genesis) in table.items():
            network = resolve_network(name)
            self.assertEqual((network.network_id.hex(), network.genesis_hash.hex()),
                             (network_id, genesis))

    def test_hex_of_known_network(self):
        """A known id in hex, with or without dashes, gives that network."""
        self.assertEqual(resolve_network("1230F171610441611731008216A1A111"), TESTNET)
        self.assertEqual(resolve_network("1230f171-6104-4161-1731-008216a1a111"), TESTNET)

    def test_unknown_id_gets_zero_genesis(self):
        """An unknown id is used as given, with a zero genesis hash."""
        network = resolve_network("00" * 16)
        self.assertEqual(network.network_id, bytes(16))
        self.assertEqual(network.genesis_hash, bytes(32))

    def test_genesis_override(self):
        """--genesis replaces the genesis hash and keeps the id."""
        network = resolve_network("testnet", "ab" * 32)
        self.assertEqual(network.network_id, TESTNET.network_id)
        self.assertEqual(network.genesis_hash, b"\xab" * 32)

    def test_bad_names_and_hex_refused(self):
        """Unknown names, odd hex and wrong lengths raise UnknownNetworkError."""
        for bad in ("regnet", "", "123", "zz" * 16, "00" * 15, "00" * 17):
            self.assertRaises(UnknownNetworkError, resolve_network, bad)
        self.assertRaises(UnknownNetworkError, resolve_network, "testnet", "00" * 31)


def _monero_peer(ip_octets, port, peer_id, **more):
    entry = {
        "adr": {"type": Uint8(1), "addr": {
            "m_ip": Uint32(int.from_bytes(bytes(ip_octets), "little")), "m_port": Uint16(port)}},
        "id": Uint64(peer_id),
    }
    entry.update(more)
    return Section(entry)


class ParseTests(SynchronousTestCase):
    """Replies parse into records; absent fields are None, wrong ones are refused."""

    def test_monerod_handshake_reply(self):
        """The captured monerod handshake reply parses to its node and chain data."""
        reply = parse_handshake_reply(decode_storage(MONEROD_HANDSHAKE_REPLY))
        self.assertEqual(reply.node_data.network_id, TESTNET.network_id)
        self.assertEqual(reply.node_data.support_flags, 1)
        self.assertEqual(reply.node_data.rpc_port, None)
        self.assertEqual(reply.payload_data.current_height, 1)
        self.assertEqual(reply.payload_data.top_id, TESTNET.genesis_hash)
        self.assertEqual(reply.payload_data.cumulative_difficulty, 1)
        self.assertEqual(reply.peers, ())

    def test_monerod_timed_sync_and_ping_replies(self):
        """The captured timed sync and ping replies parse."""
        sync = parse_timed_sync_reply(decode_storage(MONEROD_TIMED_SYNC_REPLY))
        self.assertEqual(sync.payload_data.top_version, 1)
        ping = parse_ping_reply(decode_storage(MONEROD_PING_REPLY))
        self.assertEqual(ping, PingReply("OK", 16431529729368652086))
        self.assertTrue(ping.ok)

    def test_empty_reply_is_all_none(self):
        """A reply without any field parses, every field None."""
        reply = parse_handshake_reply(Section())
        self.assertEqual(reply.node_data, NodeData())
        self.assertEqual(reply.payload_data, SyncData())
        self.assertFalse(parse_ping_reply(Section()).ok)

    def test_wrong_types_refused(self):
        """A field of the wrong type raises UnexpectedReplyError naming it."""
        cases = [
            (parse_ping_reply, {"peer_id": String(b"x")}),
            (parse_ping_reply, {"status": Uint32(1)}),
            (parse_handshake_reply, {"node_data": Uint32(1)}),
            (parse_handshake_reply, {"local_peerlist_new": Uint32(1)}),
            (parse_handshake_reply, {"local_peerlist_new": Array(Uint32, [1])}),
            (parse_timed_sync_reply, {"payload_data": {"non_pruning_mode_enabled":
                                                            Uint8(1)}}),
            (parse_support_flags_reply, {"support_flags": Bool(True)}),
        ]
        for parse, fields in cases:
            with self.assertRaises(UnexpectedReplyError) as caught:
                parse(Section(fields))
            self.assertIn(next(iter(fields)), str(caught.exception))

    def test_wrong_sizes_refused(self):
        """A network id that is not 16 bytes or a top id not 32 is refused."""
        self.assertRaises(UnexpectedReplyError, parse_node_data,
                          Section({"network_id": String(bytes(15))}))
        self.assertRaises(UnexpectedReplyError, parse_sync_data,
                          Section({"top_id": String(bytes(33))}))

    def test_monero_peer_list(self):
        """local_peerlist_new entries give address, port and id (m_ip octets in order)."""
        v6 = Section({"adr": {"type": Uint8(2), "addr": {
            "addr": String(bytes(15) + b"\x01"), "m_port": Uint16(18080)}}, "id": Uint64(3)})
        reply = parse_handshake_reply(Section({"local_peerlist_new": Array(Section, [
            _monero_peer([192, 0, 2, 7], 28080, 42, last_seen=Uint64(9)), v6])}))
        self.assertEqual(reply.peers[0], PeerEntry(
            peer_id=42, host="192.0.2.7", port=28080, address_type=1, last_seen=9))
        self.assertEqual((reply.peers[1].host, reply.peers[1].port), ("::1", 18080))

    def test_lethean_peer_blob(self):
        """Lethean's local_peerlist blob is split into 24-byte records."""
        record = bytes([10, 0, 0, 1]) + (36942).to_bytes(4, "little") \
            + (5).to_bytes(8, "little") + (-1).to_bytes(8, "little", signed=True)
        reply = parse_timed_sync_reply(Section({
            "local_peerlist": String(record * 2), "local_time": Uint64(7)}))
        self.assertEqual(reply.peers, (PeerEntry(
            peer_id=5, host="10.0.0.1", port=36942, last_seen=-1),) * 2)
        self.assertEqual(reply.local_time, 7)
        self.assertRaises(UnexpectedReplyError, parse_timed_sync_reply,
                          Section({"local_peerlist": String(record[:-1])}))

    @settings(max_examples=200)
    @given(levin_p2p_replies)
    def test_random_replies_raise_only_lethean_errors(self, section):
        """Any reply-shaped section parses or raises UnexpectedReplyError."""
        for parse in (parse_handshake_reply, parse_timed_sync_reply,
                      parse_ping_reply, parse_support_flags_reply):
            try:
                parse(section)
            except UnexpectedReplyError:
                pass


class ReplyJsonTests(SynchronousTestCase):
    """Replies print as JSON led by the schema."""

    def test_monerod_handshake_json(self):
        """Ids and hashes are hex, numbers are numbers."""
        document = reply_to_json(decode_storage(MONEROD_HANDSHAKE_REPLY))
        self.assertEqual(document["node_data"]["network_id"], TESTNET.network_id.hex())
        self.assertEqual(document["payload_data"]["top_id"], TESTNET.genesis_hash.hex())
        self.assertEqual(document["payload_data"]["current_height"], 1)

    def test_text_fields_are_text_and_printable_hashes_stay_hex(self):
        """status is text; a hash made of printable bytes is still hex."""
        document = reply_to_json(Section({
            "status": String(b"OK"), "top_id": String(b"A" * 32)}))
        self.assertEqual(document, {"status": "OK", "top_id": "41" * 32})

    def test_lethean_peer_blob_expanded(self):
        """A Lethean local_peerlist blob prints as records."""
        record = bytes([10, 0, 0, 1]) + bytes(4) + (5).to_bytes(8, "little") + bytes(8)
        document = reply_to_json(Section({"local_peerlist": String(record)}))
        self.assertEqual(document["local_peerlist"],
                         [{"ip": "10.0.0.1", "port": 0, "id": 5, "last_seen": 0}])

    @settings(max_examples=200)
    @given(levin_p2p_replies)
    def test_any_reply_is_json(self, section):
        """Every reply-shaped section converts to something json.dumps accepts."""
        json.dumps(reply_to_json(section))


def _reply(section):
    return lambda protocol, header, request: section


class _Daemon:
    """
    A scripted daemon on a :class:`LevinFactory`: it answers like monerod
    (support-flags request before the handshake reply, a notification
    first), or misbehaves as told.
    """

    def __init__(self, clock, network=TESTNET, *, reply_network_id=None):
        self.network = network
        self.reply_network_id = reply_network_id or network.network_id
        self.support_flags_answer = None
        self.timed_sync_answer = None
        self.factory = LevinFactory(clock, handlers={
            Command.HANDSHAKE: self.handshake,
            Command.TIMED_SYNC: self.timed_sync,
            Command.PING: _reply(Section({"status": String(b"OK"), "peer_id": Uint64(77)})),
        })

    def handshake(self, protocol, header, request):
        if request["node_data"]["network_id"].value != self.network.network_id:
            protocol.transport.loseConnection()
            return Deferred()
        protocol.notify(2010, Section())
        asked = protocol.invoke(Command.REQUEST_SUPPORT_FLAGS, Section())

        def answered(section):
            self.support_flags_answer = section
            return Section({
                "node_data": monero_node_data(self.reply_network_id, 77, 28080,
                                                   support_flags=1),
                "payload_data": monero_sync_data(self.network.genesis_hash),
            })
        return asked.addCallback(answered)

    def timed_sync(self, protocol, header, request):
        # Like monerod, ask the client for a timed sync before answering.
        asked = protocol.invoke(Command.TIMED_SYNC, timed_sync_request(
            monero_sync_data(self.network.genesis_hash)))

        def answered(section):
            self.timed_sync_answer = section
            return timed_sync_request(monero_sync_data(self.network.genesis_hash))
        return asked.addCallback(answered)


class ClientTests(SynchronousTestCase):
    """The client's ping and handshake flows against a scripted daemon in memory."""

    def connect(self, daemon, clock, request=None):
        handlers = polite_handlers(
            request["payload_data"] if request is not None else Section())
        client_factory = _ClientFactory(clock, handlers=handlers, invoke_timeout=30)
        return connectedServerAndClient(
            lambda: daemon.factory.buildProtocol(None),
            lambda: client_factory.buildProtocol(None), clock=clock)

    def handshake(self, daemon_network=TESTNET, sent_network=TESTNET, **daemon_options):
        clock = task.Clock()
        daemon = _Daemon(clock, daemon_network, **daemon_options)
        request = handshake_request(
            monero_node_data(sent_network.network_id, 1, support_flags=0),
            monero_sync_data(sent_network.genesis_hash))
        client, server, pump = self.connect(daemon, clock, request)
        d = handshake_peer(client, request)
        pump.flush()
        return daemon, request, client, d

    def test_handshake_answers_daemon_requests(self):
        """The handshake answers the daemon's support-flags and timed-sync requests."""
        daemon, request, client, d = self.handshake()
        reply, sync = self.successResultOf(d)
        self.assertEqual(reply["node_data"]["network_id"], String(TESTNET.network_id))
        self.assertIn("payload_data", sync)
        self.assertEqual(daemon.support_flags_answer, Section({"support_flags": Uint32(0)}))
        self.assertEqual(daemon.timed_sync_answer,
                         Section({"payload_data": request["payload_data"]}))

    def test_wrong_network_closed_without_reply(self):
        """A daemon that drops the connection rejects the handshake, naming our network."""
        daemon, request, client, d = self.handshake(sent_network=MONERO_MAINNET)
        failure = self.failureResultOf(d, LevinHandshakeRejectedError)
        self.assertIn("mainnet", str(failure.value))

    def test_reply_from_other_network(self):
        """A reply carrying another network id rejects the handshake."""
        daemon, request, client, d = self.handshake(
            reply_network_id=MONERO_STAGENET.network_id)
        failure = self.failureResultOf(d, LevinHandshakeRejectedError)
        self.assertIn("stagenet", str(failure.value))

    def test_ping(self):
        """ping_peer returns the daemon's OK reply."""
        clock = task.Clock()
        client, server, pump = self.connect(_Daemon(clock), clock)
        d = ping_peer(client)
        pump.flush()
        self.assertEqual(self.successResultOf(d)["peer_id"], Uint64(77))

    def test_ping_without_ok_status(self):
        """A ping reply whose status is not OK raises UnexpectedReplyError."""
        clock = task.Clock()
        daemon = _Daemon(clock)
        daemon.factory.handlers[Command.PING] = _reply(Section({"status": String(b"BUSY")}))
        client, server, pump = self.connect(daemon, clock)
        d = ping_peer(client)
        pump.flush()
        self.failureResultOf(d, UnexpectedReplyError)

    def test_silent_daemon_times_out(self):
        """A daemon that never answers fails the ping after the timeout."""
        clock = task.Clock()
        daemon = _Daemon(clock)
        daemon.factory.handlers[Command.PING] = lambda protocol, header, request: Deferred()
        client, server, pump = self.connect(daemon, clock)
        d = ping_peer(client, timeout=2)
        pump.flush()
        self.assertNoResult(d)
        clock.advance(2)
        self.failureResultOf(d, InvokeTimeoutError)

    def test_close_peer_waits_for_the_close(self):
        """close_peer fires once the connection is closed, and again at once."""
        clock = task.Clock()
        client, server, pump = self.connect(_Daemon(clock), clock)
        d = close_peer(client)
        self.assertNoResult(d)
        pump.flush()
        self.successResultOf(d)
        self.successResultOf(close_peer(client))


class _Chatter(Protocol):
    """Not a Levin peer: greets with a line of text."""

    def connectionMade(self):
        self.transport.write(b"SSH-2.0-OpenSSH\r\n")


class _Hangup(Protocol):
    """Not a Levin peer: closes without a word."""

    def dataReceived(self, data):
        self.transport.loseConnection()


class NotLevinTests(SynchronousTestCase):
    """A peer whose first bytes are not a Levin signature is named as such."""

    def run_against(self, server, flow, error=NotLevinError):
        clock = task.Clock()
        client_factory = _ClientFactory(clock, invoke_timeout=30)
        client, server, pump = connectedServerAndClient(
            server, lambda: client_factory.buildProtocol(None), clock=clock)
        d = flow(client)
        pump.flush()
        return self.failureResultOf(d, error)

    def run_against_chatter(self, flow):
        return self.run_against(_Chatter, flow)

    def test_silent_close(self):
        """A peer that closes without sending a byte is asked about the port."""
        failure = self.run_against(_Hangup, ping_peer, ConnectionLostError)
        self.assertIn("without sending anything", str(failure.value))

    def test_ping(self):
        """ping fails with NotLevinError quoting the peer's bytes."""
        failure = self.run_against_chatter(ping_peer)
        self.assertIn("SSH-2.0-", str(failure.value))
        self.assertEqual(failure.value.kind, "bad_signature")

    def test_handshake(self):
        """A handshake fails with NotLevinError, not as a rejected handshake."""
        request = handshake_request(
            monero_node_data(TESTNET.network_id, 1), monero_sync_data(bytes(32)))
        self.run_against_chatter(lambda client: handshake_peer(client, request))


class _Endpoint:
    def __init__(self, result=None):
        self.result = result
        self.factory = None

    def connect(self, factory):
        self.factory = factory
        if self.result is None:
            return succeed(factory.buildProtocol(None))
        return self.result


class ConnectTests(SynchronousTestCase):
    """Connection failures become PeerUnreachableError."""

    def test_refused(self):
        """A refused connection raises PeerUnreachableError with the reason."""
        d = connect_peer(
            task.Clock(), _Endpoint(fail(ConnectionRefusedError())), timeout=5)
        failure = self.failureResultOf(d, PeerUnreachableError)
        self.assertIn("refused", str(failure.value))

    def test_no_connection_in_time(self):
        """A connection attempt that hangs fails after the timeout."""
        clock = task.Clock()
        d = connect_peer(clock, _Endpoint(Deferred()), timeout=5)
        clock.advance(4.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        failure = self.failureResultOf(d, PeerUnreachableError)
        self.assertIn("5 s", str(failure.value))

    def test_client_settings(self):
        """The client's factory has the handlers, the timeout and a modest packet cap."""
        endpoint = _Endpoint()
        handlers = polite_handlers(Section())
        d = connect_peer(
            task.Clock(), endpoint, timeout=5, handlers=handlers)
        self.successResultOf(d)
        self.assertEqual(endpoint.factory.handlers, handlers)
        self.assertEqual(endpoint.factory.invoke_timeout, 5)
        self.assertEqual(endpoint.factory.max_payload_size, CLIENT_MAX_PAYLOAD_SIZE)

    def test_timeout_whatever_the_endpoint_fails_with(self):
        """A TCP endpoint cancelled by the timeout fails as a timeout, not ConnectingCancelledError."""
        clock = task.Clock()

        def cancel(d):
            d.errback(ConnectingCancelledError(None))
        d = connect_peer(clock, _Endpoint(Deferred(cancel)), timeout=5)
        clock.advance(5)
        failure = self.failureResultOf(d, PeerUnreachableError)
        self.assertEqual(str(failure.value), "no connection within 5 s")

    def test_cancelled_by_the_caller(self):
        """Cancelling the attempt fails it with CancelledError, not as a timeout."""
        clock = task.Clock()
        d = connect_peer(clock, _Endpoint(Deferred()), timeout=5)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_endpoint_strings(self):
        """tcp: and unix: endpoint strings are dialled on the given reactor."""
        reactor = MemoryReactorClock()
        tcp = connect_peer(reactor, "tcp:host=192.0.2.7:port=28080", timeout=5)
        unix = connect_peer(reactor, "unix:/run/monerod/p2p.sock", timeout=5)
        self.assertEqual(reactor.tcpClients[0][:2], ("192.0.2.7", 28080))
        self.assertEqual(reactor.unixClients[0][0], "/run/monerod/p2p.sock")
        reactor.advance(5)
        for d in (tcp, unix):
            self.assertIn("no connection within", str(self.failureResultOf(
                d, PeerUnreachableError).value))


class DeferredTests(SynchronousTestCase):
    """Every client call returns a Deferred, as the rest of lethean does."""

    def test_client_calls_return_deferreds(self):
        """connect_peer, ping_peer, handshake_peer and close_peer return Deferreds."""
        clock = task.Clock()
        connecting = connect_peer(clock, _Endpoint(), timeout=5)
        self.assertIsInstance(connecting, Deferred)
        client = self.successResultOf(connecting)
        client.makeConnection(StringTransport())
        request = handshake_request(
            monero_node_data(TESTNET.network_id, 1), monero_sync_data(TESTNET.genesis_hash))
        calls = [ping_peer(client), handshake_peer(client, request), close_peer(client)]
        for d in calls:
            self.assertIsInstance(d, Deferred)
        client.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(calls[0], ConnectionLostError)
        self.failureResultOf(calls[1], LevinHandshakeRejectedError)
        self.successResultOf(calls[2])
