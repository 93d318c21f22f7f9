"""P2P request bodies (handshake, timed sync, ping, support flags) as the reference builds them."""

import json

from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.levin import (
    Command,
    Header,
    Section,
    String,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    encode_header,
    encode_storage,
    from_typed_json,
    handshake_request,
    monero_node_data,
    monero_sync_data,
)
from lethean.levin._replies import parse_sync_data
from lethean.levin._requests import (
    lethean_node_data,
    lethean_sync_data,
    ping_request,
    support_flags_request,
    timed_sync_request,
    timed_sync_response,
)
from tests._levin_p2p import TESTNET
from tests._paths import VECTORS


#: spec levin.md section 2.8: a Lethean-style handshake request (281 bytes).
LETHEAN_HANDSHAKE_HEX = (
    "01110101010102010108096e6f64655f646174610c100a6c6f63616c5f74696d6501a535576900000000076d"
    "795f706f7274064e9000000a6e6574776f726b5f69640a40101112131415161718191a1b1c1d1e1f07706565"
    "725f69640508070605040302010c7061796c6f61645f646174610c180e636c69656e745f76657273696f6e0a"
    "14362e302e3009636f72655f74696d6505a5355769000000000e63757272656e745f686569676874056400"
    "000000000000166c6173745f636865636b706f696e745f68656967687405000000000000000018"
    "6e6f6e5f7072756e696e675f6d6f64655f656e61626c65640b0106746f705f69640a80" + "00" * 32)

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
