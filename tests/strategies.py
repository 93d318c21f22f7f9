"""
Hypothesis strategies shared by the codec tests.

Each layer adds its strategies in its own section below.
"""

from hypothesis import strategies as st  # noqa: F401  (used by the sections)


# --- UEPS ---------------------------------------------------------------

from lethean.ueps import Header, Packet  # noqa: E402

#: Shared secrets: any length works as an HMAC key, including none.
ueps_secrets = st.binary(max_size=64)
_ueps_u8 = st.integers(min_value=0, max_value=0xFF)
ueps_headers = st.builds(
    Header,
    intent_id=_ueps_u8,
    version=_ueps_u8,
    current_layer=_ueps_u8,
    target_layer=_ueps_u8,
    threat_score=st.integers(min_value=0, max_value=0xFFFF),
)
ueps_payloads = st.binary(max_size=2048)
ueps_packets = st.builds(Packet, ueps_headers, ueps_payloads)


# --- Levin ----------------------------------------------------------------

from functools import partial as _partial  # noqa: E402

from lethean import levin as _levin  # noqa: E402
from lethean.levin._header import MAX_PAYLOAD_SIZE as _LEVIN_MAX_PAYLOAD_SIZE  # noqa: E402
from lethean.levin._values import MAX_NAME_LENGTH as _LEVIN_MAX_NAME_LENGTH  # noqa: E402
from lethean.levin._varint import VARINT_MAX as _LEVIN_VARINT_MAX  # noqa: E402

#: Levin headers with every field anywhere in its range (payload sizes up to
#: the 100 MiB maximum, so they all decode).
levin_headers = st.builds(
    _levin.Header,
    payload_size=st.integers(min_value=0, max_value=_LEVIN_MAX_PAYLOAD_SIZE),
    expect_response=st.booleans(),
    command=st.integers(min_value=0, max_value=2**32 - 1),
    return_code=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    flags=st.integers(min_value=0, max_value=2**32 - 1),
    protocol_version=st.integers(min_value=0, max_value=2**32 - 1),
)

#: Varint values, weighted towards every width boundary.
levin_varint_values = st.one_of(
    st.integers(min_value=0, max_value=_LEVIN_VARINT_MAX),
    st.sampled_from([0, 63, 64, 2**14 - 1, 2**14, 2**30 - 1, 2**30, _LEVIN_VARINT_MAX]),
)

_LEVIN_INTEGERS = {
    _levin.Int64: (-(2**63), 2**63 - 1), _levin.Int32: (-(2**31), 2**31 - 1),
    _levin.Int16: (-(2**15), 2**15 - 1), _levin.Int8: (-(2**7), 2**7 - 1),
    _levin.Uint64: (0, 2**64 - 1), _levin.Uint32: (0, 2**32 - 1),
    _levin.Uint16: (0, 2**16 - 1), _levin.Uint8: (0, 2**8 - 1),
}
#: One strategy per scalar value class (every class but Section and Array).
levin_scalar_by_type = {
    cls: st.integers(min_value=low, max_value=high).map(cls)
    for cls, (low, high) in _LEVIN_INTEGERS.items()
}
levin_scalar_by_type[_levin.Double] = st.integers(
    min_value=0, max_value=2**64 - 1).map(_levin.Double.from_bits)
levin_scalar_by_type[_levin.String] = st.binary(max_size=40).map(_levin.String)
levin_scalar_by_type[_levin.Bool] = st.booleans().map(_levin.Bool)
levin_scalars = st.one_of(*levin_scalar_by_type.values())

#: Entry names: text, and raw bytes that need not be UTF-8.
levin_names = st.one_of(
    st.text(max_size=12),
    st.binary(max_size=_LEVIN_MAX_NAME_LENGTH).map(
        lambda raw: raw.decode("utf-8", "surrogateescape")),
)


def _levin_scalar_arrays(epee_arrays):
    types = levin_scalar_by_type if epee_arrays else (
        _levin.Uint64, _levin.Uint32, _levin.String)
    return st.one_of(*(
        st.lists(levin_scalar_by_type[cls], max_size=5).map(_partial(_levin.Array, cls))
        for cls in types))


def levin_sections(epee_arrays=False, max_leaves=30, arrays=True):
    """
    Typed sections with nested objects and arrays.  Arrays are limited to the
    Go reference's types unless ``epee_arrays`` (then every epee array type,
    arrays of arrays included); ``arrays=False`` leaves them out.
    """
    scalar_arrays = _levin_scalar_arrays(epee_arrays)

    def extend(children):
        values = [levin_scalars, children]
        if arrays:
            values += [scalar_arrays,
                       st.lists(children, max_size=3).map(_partial(_levin.Array, _levin.Section))]
        if arrays and epee_arrays:
            values.append(st.lists(scalar_arrays, max_size=3).map(
                _partial(_levin.Array, _levin.Array)))
        return st.dictionaries(levin_names, st.one_of(*values), max_size=5).map(_levin.Section)

    leaf_values = st.one_of(levin_scalars, scalar_arrays) if arrays else levin_scalars
    leaves = st.dictionaries(levin_names, leaf_values, max_size=5)
    return st.recursive(leaves.map(_levin.Section), extend, max_leaves=max_leaves)


# --- Bundles --------------------------------------------------------------

import json as _json  # noqa: E402

from lethean.bundles._bundle import BUNDLE_TYPES, Bundle  # noqa: E402

#: Names a worker accepts as an install folder.
bundle_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", fullmatch=True)
#: Any text a bundle may carry as its name on the wire (HTML characters,
#: U+2028, control characters and quotes included).
bundle_wire_names = st.one_of(
    bundle_names,
    st.text(max_size=30),
    st.sampled_from(["<b>&amp;</b>", "\u2028\u2029", "a\"b\\c", "\x00\x1f\t\n", "../../x"]),
)
#: Valid bundles of every type with arbitrary data (checksum correct).
bundles = st.builds(
    Bundle.seal,
    st.sampled_from(sorted(BUNDLE_TYPES)),
    bundle_wire_names,
    st.binary(max_size=512),
)
_json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))
#: Profile JSON bytes: a JSON object or array, as workers expect.
bundle_profiles = st.one_of(
    st.dictionaries(st.text(max_size=10), st.recursive(
        _json_leaves, lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10), max_size=5),
    st.lists(_json_leaves, max_size=5),
).map(lambda value: _json.dumps(value).encode("utf-8"))
#: Plain relative file paths for a rootfs tar (one to three parts).
bundle_file_paths = st.lists(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,12}", fullmatch=True), min_size=1, max_size=3,
).map("/".join)


def _no_clashes(files):
    """Drop files whose path is a folder of another (a tar cannot hold both)."""
    paths = {path for path, _ in files}
    return [(path, content) for path, content in files
            if not any(other.startswith(path + "/") for other in paths)]


#: ``(path, content)`` lists for a rootfs tar: unique paths, no file/folder clash.
bundle_tree_files = st.lists(
    st.tuples(bundle_file_paths, st.binary(max_size=300)),
    max_size=6, unique_by=lambda pair: pair[0],
).map(_no_clashes)


# --- Levin P2P replies -----------------------------------------------------

#: Every field name of the P2P command bodies (spec levin.md section 3), so
#: that random sections hit the reply parsers' fields with any type.
_LEVIN_P2P_NAMES = st.sampled_from([
    "node_data", "payload_data", "local_peerlist_new", "local_peerlist", "maintrs_entry",
    "network_id", "peer_id", "my_port", "rpc_port", "rpc_credits_per_hash", "support_flags",
    "local_time", "current_height", "cumulative_difficulty", "cumulative_difficulty_top64",
    "top_id", "top_version", "pruning_seed", "last_checkpoint_height", "core_time",
    "client_version", "non_pruning_mode_enabled", "adr", "addr", "type", "m_ip", "m_port",
    "id", "last_seen", "status",
])


def _levin_p2p_children(children):
    objects = st.dictionaries(_LEVIN_P2P_NAMES, children, max_size=6).map(_levin.Section)
    return st.one_of(objects, st.lists(objects, max_size=3).map(
        _partial(_levin.Array, _levin.Section)))


#: Sections shaped like P2P replies: schema names, values of any type.
levin_p2p_replies = st.dictionaries(
    _LEVIN_P2P_NAMES,
    st.recursive(st.one_of(levin_scalars, _levin_scalar_arrays(False)),
                 _levin_p2p_children, max_leaves=20),
    max_size=6,
).map(_levin.Section)


# --- SMSG frames and the mesh envelope ------------------------------------

from lethean.mesh._envelope import Message  # noqa: E402
from lethean.smsg import Timestamp  # noqa: E402

#: Instants Go can write: years 0000-9999 whatever the zone offset.
timestamps = st.builds(
    Timestamp,
    seconds=st.integers(min_value=-62167219200 + 86400, max_value=253402300799 - 86400),
    nanos=st.integers(min_value=0, max_value=999_999_999),
    offset=st.integers(min_value=-1439, max_value=1439).map(lambda minutes: minutes * 60),
)
#: JSON data as Go peers exchange it (no NaN or infinities, int64 range).
json_values = st.recursive(
    st.none() | st.booleans() | st.text()
    | st.integers(min_value=-2**63, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
#: 32-byte X25519 shared secrets (any 32 bytes work as SMSG key material).
shared_secrets = st.binary(min_size=32, max_size=32)
messages = st.builds(
    Message,
    id=st.text(max_size=40),
    type=st.sampled_from(["ping", "pong", "stats", "logs", "deploy", "error"]) | st.text(max_size=12),
    from_=st.text(max_size=40),
    to=st.text(max_size=40),
    ts=timestamps,
    payload=json_values,
    reply_to=st.text(max_size=40),
)


# --- Peer registry ----------------------------------------------------------

from lethean.peers import Peer  # noqa: E402

_finite_floats = st.floats(allow_nan=False, allow_infinity=False)
#: Peer records with any field content peers.json can hold (times from the
#: SMSG section, so nanoseconds and zone offsets; None is "never").
peer_records = st.builds(
    Peer,
    id=st.text(max_size=40),
    name=st.text(max_size=20),
    public_key=st.text(max_size=50),
    address=st.text(max_size=30),
    role=st.sampled_from(["controller", "worker", "dual", "", "<&>"]) | st.text(max_size=8),
    added_at=st.none() | timestamps,
    last_seen=st.none() | timestamps,
    ping_ms=_finite_floats,
    hops=st.integers(min_value=-2**63, max_value=2**63 - 1),
    geo_km=_finite_floats,
    score=_finite_floats,
)


# --- Node payloads (controller / worker) --------------------------------------

from lethean.node._payloads import (  # noqa: E402
    DeployAckPayload,
    DeployChunkPayload,
    DeployPayload,
    ErrorPayload,
    GetLogsPayload,
    LogsPayload,
    MinerAckPayload,
    MinerStatsItem,
    PingPayload,
    PongPayload,
    StartMinerPayload,
    StatsPayload,
    StopMinerPayload,
)
from lethean._gojson import RawJSON, marshal as _marshal  # noqa: E402

_int64s = st.integers(min_value=-2**63, max_value=2**63 - 1)
_miner_stats_items = st.builds(
    MinerStatsItem, name=st.text(max_size=12), type=st.text(max_size=8),
    hashrate=st.floats(allow_nan=False, allow_infinity=False), shares=_int64s,
    rejected=_int64s, uptime=_int64s, pool=st.text(max_size=12),
    algorithm=st.text(max_size=8), cpu_threads=_int64s)
#: Every controller/worker payload, with any field values Go could send.
node_payloads = st.one_of(
    st.builds(PingPayload, _int64s),
    st.builds(PongPayload, _int64s, _int64s),
    st.builds(StartMinerPayload, st.text(max_size=10), st.text(max_size=10),
              st.none() | json_values.map(lambda v: RawJSON(_marshal(v, html=False)))),
    st.builds(StopMinerPayload, st.text(max_size=10)),
    st.builds(MinerAckPayload, st.booleans(), st.text(max_size=10), st.text(max_size=10)),
    _miner_stats_items,
    st.builds(StatsPayload, st.text(max_size=10), st.text(max_size=10),
              st.lists(_miner_stats_items, max_size=3), _int64s),
    st.builds(GetLogsPayload, st.text(max_size=10), _int64s, _int64s),
    st.builds(LogsPayload, st.text(max_size=10),
              st.none() | st.lists(st.text(max_size=10), max_size=4), st.booleans()),
    st.builds(DeployPayload, st.text(max_size=8), st.binary(max_size=64), st.text(max_size=64),
              st.text(max_size=10)),
    st.builds(DeployAckPayload, st.booleans(), st.text(max_size=10), st.text(max_size=10)),
    st.builds(ErrorPayload, _int64s, st.text(max_size=20), st.text(max_size=10)),
    st.builds(DeployChunkPayload, st.text(max_size=36), _int64s, _int64s, _int64s,
              st.text(max_size=8), st.text(max_size=10), st.text(max_size=64),
              st.binary(max_size=64)),
)
