"""Levin networks: names and ids resolve to their ids and genesis hashes."""

from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import UnknownNetworkError, resolve_network
from tests._levin_p2p import TESTNET


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
