"""P2P reply bodies: parsed into records, refused when wrong, and shown as JSON."""

import json

from hypothesis import given, settings
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Array,
    Bool,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    UnexpectedReplyError,
    decode_storage,
    parse_handshake_reply,
    parse_ping_reply,
    parse_timed_sync_reply,
    reply_to_json,
)
from lethean.levin._replies import (
    NodeData,
    PeerEntry,
    PingReply,
    SyncData,
    parse_node_data,
    parse_support_flags_reply,
    parse_sync_data,
)
from tests._levin_p2p import (
    MONEROD_HANDSHAKE_REPLY,
    MONEROD_PING_REPLY,
    MONEROD_TIMED_SYNC_REPLY,
    TESTNET,
)
from tests.strategies import levin_p2p_replies


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
