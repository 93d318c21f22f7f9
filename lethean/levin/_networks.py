"""
CryptoNote networks: the id peers must share and the genesis block we
claim, for the Monero family and for Lethean (spec/levin.md section 5).
"""

from __future__ import annotations

import re

from attrs import frozen

from ._errors import UnknownNetworkError

__all__ = [
    "Network",
    "NETWORKS",
    "MONERO_MAINNET",
    "MONERO_TESTNET",
    "MONERO_STAGENET",
    "LETHEAN_MAINNET_PORT",
    "LETHEAN_TESTNET_PORT",
    "NETWORK_ID_SIZE",
    "HASH_SIZE",
    "parse_hash",
    "resolve_network",
    "network_label",
]

#: Lethean's default P2P ports (its network ids are not in the spec: pass
#: them as hex).
LETHEAN_MAINNET_PORT = 36942
LETHEAN_TESTNET_PORT = 46942

#: Bytes of a network id and of a block hash.
NETWORK_ID_SIZE = 16
HASH_SIZE = 32


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


def parse_hash(text: str, size: int, what: str) -> bytes:
    """The ``size`` raw bytes of hex ``text``, or :class:`UnknownNetworkError`."""
    cleaned = text.strip().replace("-", "")
    if len(cleaned) != 2 * size or not _HEX.match(cleaned):
        raise UnknownNetworkError("{} must be {} hex digits, not {!r}".format(
            what, 2 * size, text))
    return bytes.fromhex(cleaned)


def resolve_network(name_or_hex: str, genesis_hex: str | None = None) -> Network:
    """
    The :class:`Network` for a name (``mainnet``, ``testnet``, ``stagenet``)
    or a 16-byte hex network id (dashes allowed, as daemons log it).

    ``genesis_hex`` overrides the genesis hash.  A hex id of a known network
    gets that network's genesis; an unknown one gets 32 zero bytes, which a
    daemon accepts (it then asks us for blocks, which we ignore).  Raises
    :class:`UnknownNetworkError`.
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


def network_label(network_id: bytes | None) -> str:
    """How a network id reads in a message: its name when it is a known one."""
    if network_id is None:
        return "no network id"
    names = [n.name for n in NETWORKS.values() if n.network_id == network_id]
    if names:
        return "{} ({})".format(names[0], network_id.hex())
    return "network id {}".format(network_id.hex())
