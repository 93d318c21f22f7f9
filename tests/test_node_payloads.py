"""Tests for lethean.node._payloads: Go-exact encoding and tolerant decoding."""

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean._gojson import RawJSON, decode_base64, loads_strict, marshal
from lethean.errors import LetheanError
from lethean.mesh._envelope import decode_message
from lethean.node._payloads import (
    DeployAckPayload,
    DeployPayload,
    DisconnectPayload,
    ErrorPayload,
    GetLogsPayload,
    InvalidPayloadError,
    LogsPayload,
    MinerAckPayload,
    MinerStatsItem,
    PingPayload,
    PongPayload,
    StartMinerPayload,
    StatsPayload,
    StopMinerPayload,
)
from tests.strategies import json_values, node_payloads
from tests._accel import PurePath

_ALL = (PingPayload, PongPayload, DisconnectPayload, StartMinerPayload, StopMinerPayload,
        MinerAckPayload, MinerStatsItem, StatsPayload, GetLogsPayload, LogsPayload,
        DeployPayload, DeployAckPayload, ErrorPayload)


def encode(payload):
    return marshal(payload, html=False)


class EncodingTests(SynchronousTestCase):
    """The reference encodings of envelope.md section 4."""

    def test_ping_pong(self):
        """ping and pong keep Go's field order."""
        self.assertEqual(encode(PingPayload(1767323045120)), '{"sentAt":1767323045120}')
        self.assertEqual(encode(PongPayload(1767323045120, 1767323045131)),
                         '{"sentAt":1767323045120,"receivedAt":1767323045131}')

    def test_stats(self):
        """stats writes miners in order, integral floats without a fraction, no cpuThreads."""
        stats = StatsPayload("bc84", "bravo", [MinerStatsItem(
            "xmrig-0", "xmrig", 1234.5, 10, 1, 3600, "pool.example:3333", "rx/0")], 7200)
        self.assertEqual(encode(stats), (
            '{"nodeId":"bc84","nodeName":"bravo","miners":[{"name":"xmrig-0","type":"xmrig",'
            '"hashrate":1234.5,"shares":10,"rejected":1,"uptime":3600,'
            '"pool":"pool.example:3333","algorithm":"rx/0"}],"uptime":7200}'))
        self.assertEqual(encode(MinerStatsItem("a", "b", 50.0, cpu_threads=4)),
                         '{"name":"a","type":"b","hashrate":50,"shares":0,"rejected":0,'
                         '"uptime":0,"pool":"","algorithm":"","cpuThreads":4}')

    def test_empty_stats_has_empty_list(self):
        """A worker without miners sends "miners":[] (never null)."""
        self.assertIn('"miners":[]', encode(StatsPayload("a", "b")))

    def test_start_miner(self):
        """profileId and config are omitted when empty; config is embedded verbatim."""
        self.assertEqual(encode(StartMinerPayload("xmrig", "p1", RawJSON('{"threads": 4}'))),
                         '{"minerType":"xmrig","profileId":"p1","config":{"threads":4}}')
        self.assertEqual(encode(StartMinerPayload("xmrig")), '{"minerType":"xmrig"}')
        self.assertEqual(encode(StartMinerPayload("x", config=RawJSON("null"))),
                         '{"minerType":"x","config":null}')

    def test_get_logs(self):
        """since is omitted when zero."""
        self.assertEqual(encode(GetLogsPayload("xmrig-0", 100, 1767323045120)),
                         '{"minerName":"xmrig-0","lines":100,"since":1767323045120}')
        self.assertEqual(encode(GetLogsPayload("xmrig-0", 0)), '{"minerName":"xmrig-0","lines":0}')

    def test_logs(self):
        """lines is null when the miner returned nothing; no HTML escaping."""
        self.assertEqual(encode(LogsPayload("xmrig-0", ["a <b> & c"])),
                         '{"minerName":"xmrig-0","lines":["a <b> & c"],"hasMore":false}')
        self.assertEqual(encode(LogsPayload("xmrig-0", None)),
                         '{"minerName":"xmrig-0","lines":null,"hasMore":false}')

    def test_deploy(self):
        """deploy carries data as padded base64, keys type, data, checksum, name."""
        self.assertEqual(encode(DeployPayload("profile", b'{"a":1}', "c" * 64, "gpu-profile")),
                         '{"type":"profile","data":"eyJhIjoxfQ==","checksum":"' + "c" * 64
                         + '","name":"gpu-profile"}')

    def test_acks_and_errors(self):
        """miner_ack, deploy_ack and error omit their empty optional fields."""
        self.assertEqual(encode(MinerAckPayload(False, error="boom")),
                         '{"success":false,"error":"boom"}')
        self.assertEqual(encode(MinerAckPayload(True, "xmrig-0")),
                         '{"success":true,"minerName":"xmrig-0"}')
        self.assertEqual(encode(DeployAckPayload(True, "n")), '{"success":true,"name":"n"}')
        self.assertEqual(encode(ErrorPayload(1004, "Worker.handleGetLogs: miner not found: nope")),
                         '{"code":1004,"message":"Worker.handleGetLogs: miner not found: nope"}')
        self.assertEqual(encode(DisconnectPayload("server shutdown", 1004)),
                         '{"reason":"server shutdown","code":1004}')


class DecodingTests(SynchronousTestCase):
    """Payloads are read with the Go decoder's tolerance."""

    def test_null_and_absent_payload_give_zero_values(self):
        """A null payload decodes to every field's zero value."""
        for cls in _ALL:
            self.assertEqual(cls.from_json_value(None), cls())

    def test_keys_match_case_insensitively(self):
        """Go matches keys case-insensitively and ignores unknown ones."""
        self.assertEqual(GetLogsPayload.from_json_value(
            {"MINERNAME": "x", "Lines": 5, "extra": [1]}), GetLogsPayload("x", 5))

    def test_null_leaves_zero(self):
        """A null field keeps its zero value."""
        self.assertEqual(MinerAckPayload.from_json_value({"success": None, "error": None}),
                         MinerAckPayload())

    def test_config_presence(self):
        """A present config, even null, is kept as raw JSON; absent is None."""
        self.assertEqual(StartMinerPayload.from_json_value({"minerType": "x", "config": None}).config,
                         RawJSON("null"))
        self.assertIsNone(StartMinerPayload.from_json_value({"minerType": "x"}).config)

    def test_wrong_types_raise(self):
        """Wrong JSON types, fractions in integer fields and bad base64 raise InvalidPayloadError."""
        for cls, value in [
            (PingPayload, {"sentAt": 1.5}),
            (PingPayload, {"sentAt": "1"}),
            (PingPayload, {"sentAt": 2**63}),
            (PingPayload, [1]),
            (MinerAckPayload, {"success": 1}),
            (LogsPayload, {"lines": "x"}),
            (LogsPayload, {"lines": [1]}),
            (StatsPayload, {"miners": [{"shares": "1"}]}),
            (DeployPayload, {"data": "eyJhIjoxfQ"}),
            (DeployPayload, {"data": 5}),
        ]:
            self.assertRaises(InvalidPayloadError, cls.from_json_value, value)

    def test_type_errors_read_as_go_writes_them(self):
        """Type errors are encoding/json's texts: Go type names, the path as received."""
        for cls, value, text in [
            (GetLogsPayload, [], "array into Go value of type node.GetLogsPayload"),
            (PingPayload, "x", "string into Go value of type node.PingPayload"),
            (StopMinerPayload, 5, "number into Go value of type node.StopMinerPayload"),
            (GetLogsPayload, {"minerName": 5},
             "number into Go struct field GetLogsPayload.minerName of type string"),
            (StopMinerPayload, {"MINERNAME": True},
             "bool into Go struct field StopMinerPayload.MINERNAME of type string"),
            (GetLogsPayload, {"lines": 1.5},
             "number 1.5 into Go struct field GetLogsPayload.lines of type int"),
            (GetLogsPayload, {"lines": loads_strict("-1E2")},
             "number -1E2 into Go struct field GetLogsPayload.lines of type int"),
            (GetLogsPayload, {"lines": 2**64},
             "number 18446744073709551616 into Go struct field GetLogsPayload.lines of type int"),
            (GetLogsPayload, {"since": "x"},
             "string into Go struct field GetLogsPayload.since of type int64"),
            (GetLogsPayload, {"minerName": 7, "lines": "x"},
             "number into Go struct field GetLogsPayload.minerName of type string"),
            (DeployPayload, {"data": {}},
             "object into Go struct field DeployPayload.data of type []uint8"),
            (DeployPayload, {"data": "e30=x"},
             "string into Go struct field DeployPayload.data of type []uint8: "
             "illegal base64 data at input byte 4"),
            (DeployPayload, {"data": [1, 256]},
             "number 256 into DeployPayload.data.1 of type uint8"),
            (DeployPayload, {"data": [-0.0]},
             "number -0.0 into DeployPayload.data.0 of type uint8"),
            (StatsPayload, {"miners": {}},
             "object into Go struct field StatsPayload.miners of type []node.MinerStatsItem"),
            (StatsPayload, {"miners": [5]},
             "number into StatsPayload.miners.0 of type node.MinerStatsItem"),
            (StatsPayload, {"Miners": [{}, {"NAME": 1}]},
             "number into Go struct field StatsPayload.Miners.1.NAME of type string"),
            (StatsPayload, {"miners": [{"hashrate": "x"}]},
             "string into Go struct field StatsPayload.miners.0.hashrate of type float64"),
            (StatsPayload, {"miners": [{"hashrate": 10**400}]},
             "number 1" + "0" * 400 + " into Go struct field StatsPayload.miners.0.hashrate "
             "of type float64"),
            (LogsPayload, {"lines": ["a", 2]}, "number into LogsPayload.lines.1 of type string"),
            (LogsPayload, {"lines": "x"},
             "string into Go struct field LogsPayload.lines of type []string"),
        ]:
            error = self.assertRaises(InvalidPayloadError, cls.from_json_value, value)
            self.assertEqual(str(error), "json: cannot unmarshal " + text)

    def test_byte_arrays_read_as_go_reads_them(self):
        """A []byte field also takes a JSON array of bytes; null elements are zero."""
        self.assertEqual(DeployPayload.from_json_value({"data": [1, 255, None]}).data,
                         b"\x01\xff\x00")

    def test_raw_json_and_instances_accepted(self):
        """from_json_value takes RawJSON text and returns instances unchanged."""
        ping = PingPayload(5)
        self.assertIs(PingPayload.from_json_value(ping), ping)
        self.assertEqual(PingPayload.from_json_value(RawJSON('{"sentAt":5}')), ping)

    def test_numbers_beyond_float64_refused_by_typed_fields(self):
        """A received 1e400 (kept as text) fails a float or int field, as in Go."""
        received = decode_message('{"payload":{"sentAt":1e400,"miners":[{"hashrate":-1e400}]}}')
        self.assertRaises(InvalidPayloadError, PingPayload.from_json_value, received.payload)
        self.assertRaises(InvalidPayloadError, StatsPayload.from_json_value, received.payload)
        self.assertRaises(InvalidPayloadError, MinerStatsItem.from_json_value,
                          RawJSON('{"hashrate":1e400}'))
        config = StartMinerPayload.from_json_value(RawJSON('{"config":{"x":1e400}}')).config
        self.assertEqual(config, RawJSON('{"x":1e400}'))

    def test_integral_floats_accepted_for_hashrate(self):
        """A float field accepts JSON integers."""
        self.assertEqual(MinerStatsItem.from_json_value({"hashrate": 12}).hashrate, 12.0)

    @settings(max_examples=200)
    @given(node_payloads)
    def test_round_trip(self, payload):
        """Encoding then decoding gives the same payload back."""
        again = type(payload).from_json_value(loads_strict(encode(payload)))
        self.assertEqual(again, payload)
        self.assertEqual(encode(again), encode(payload))

    @settings(max_examples=200)
    @given(st.sampled_from(_ALL), json_values)
    def test_any_json_raises_only_our_error(self, cls, value):
        """Any JSON value either decodes or raises a lethean error."""
        try:
            cls.from_json_value(value)
        except LetheanError:
            pass

    @settings(max_examples=200)
    @given(st.sampled_from(_ALL),
           st.dictionaries(st.sampled_from(["sentAt", "minerName", "lines", "miners", "data",
                                            "config", "success", "code", "hashrate", "type"]),
                           json_values, max_size=5))
    def test_payload_shaped_json_raises_only_our_error(self, cls, value):
        """Objects with the payloads' keys and random values raise nothing but our error."""
        try:
            cls.from_json_value(value)
        except LetheanError:
            pass


class Base64Tests(SynchronousTestCase):
    """``[]byte`` fields read base64 as Go's StdEncoding does, errors included."""

    #: Text -> the byte Go's decoder reports (None: it decodes), from the Go worker.
    GO_OFFSETS = {
        "!!": 0, "e30": 0, "e30=x": 4, "e3=0": 2, "====": 0, "e===": 1, "e30=\n": None,
        "e\r\n30=": None, "QQ=": 3, "QQ=\n=": None, "QQ=x": 2, "QQ": 0, "Q": 0,
        "QUJD\nRA": 5, "QUJDRA==QQ==": 8, "QUJD\u00e9": 4, "QUJDRA=\n\n": 9, "QR==": None,
        "QUI=": None, "": None,
    }

    def test_go_offsets(self):
        """The offset in 'illegal base64 data at input byte N' is Go's."""
        for text, offset in self.GO_OFFSETS.items():
            if offset is None:
                decode_base64(text)
                continue
            error = self.assertRaises(ValueError, decode_base64, text)
            self.assertEqual(str(error), "illegal base64 data at input byte {}".format(offset),
                             repr(text))

    @given(st.text(alphabet="AQZaz09+/=\r\n!\u00e9", max_size=16))
    def test_decodes_or_names_a_byte(self, text):
        """Any text decodes or names a byte within it; nothing else escapes."""
        try:
            decode_base64(text)
        except ValueError as e:
            offset = int(str(e).rsplit(" ", 1)[1])
            self.assertLessEqual(offset, len(text.encode("utf-8")))


# The same tests on the pure-Python path (tests/_accel.py).


class PureEncodingTests(PurePath, EncodingTests):
    """EncodingTests, on the pure-Python twins of the compiled functions."""


class PureDecodingTests(PurePath, DecodingTests):
    """DecodingTests, on the pure-Python twins of the compiled functions."""
