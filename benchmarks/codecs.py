"""
How fast are lethean's wire codecs?

Measures, one JSON line each (``{"name": ..., "ops_per_s": ..., "bytes": ...}``):

* ``ueps_encode_1k`` / ``ueps_decode_1k``: one UEPS frame with a 1 KB
  payload built and signed / read and verified;
* ``levin_header_encode`` / ``levin_header_decode`` and
  ``levin_header_round_trip`` (both, one op): the 33-byte Levin header;
* ``levin_storage_encode_handshake`` / ``levin_storage_decode_handshake``: the
  portable-storage body of a COMMAND_HANDSHAKE request, as
  ``lethean levin handshake`` sends it.

Then, unless ``--no-ceiling``, it runs the shared codec ceiling
(``codec_ceiling.py``: the same primitives in a bare loop) and adds to the
figures it bounds ``ceiling`` (its mode), ``ceiling_ops_per_s`` and
``ceiling_ratio`` (ours / ceiling): UEPS encode and decode are each one
HMAC-SHA256 over about 1 KB (``hmac_sha256_digest_1k``, the call the codec
makes), the header round trip is one struct pack and unpack
(``struct_levin_hdr``).  The storage codec has no comparable ceiling.

Measures only; nothing is asserted about the speeds.

Run from the checkout: ``python benchmarks/codecs.py [--seconds S]``.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import emit, rate  # noqa: E402
from lethean import levin, ueps  # noqa: E402

#: The shared ceiling script, when this machine has it.
DEFAULT_CEILING = "/work/shared/bench/codec_ceiling.py"

#: Our figure -> the ceiling mode that bounds it.
CEILINGS = {
    "ueps_encode_1k": "hmac_sha256_digest_1k",
    "ueps_decode_1k": "hmac_sha256_digest_1k",
    "levin_header_round_trip": "struct_levin_hdr",
}


def ueps_benchmarks():
    """Sign and verify one frame with a 1 KB payload."""
    secret = os.urandom(32)
    packet = ueps.Packet(ueps.Header(intent_id=0x20), os.urandom(1024))
    frame = ueps.encode(packet, secret)
    if ueps.decode(frame, secret) != packet:
        raise AssertionError("UEPS round trip changed the packet")
    return {
        "ueps_encode_1k": (lambda: ueps.encode(packet, secret), len(frame)),
        "ueps_decode_1k": (lambda: ueps.decode(frame, secret), len(frame)),
    }


def levin_header_benchmarks():
    """The 33-byte header alone, each way and both."""
    header = levin.Header.request(levin.Command.HANDSHAKE, 262)
    data = levin.encode_header(header)
    if levin.decode_header(data) != header:
        raise AssertionError("Levin header round trip changed the header")
    encode, decode = levin.encode_header, levin.decode_header
    return {
        "levin_header_encode": (lambda: encode(header), len(data)),
        "levin_header_decode": (lambda: decode(data), len(data)),
        "levin_header_round_trip": (lambda: decode(encode(header)), len(data)),
    }


def levin_storage_benchmarks():
    """The body of a handshake request, built as the CLI builds it."""
    network = levin.resolve_network("testnet")
    section = levin.handshake_request(
        levin.monero_node_data(network.network_id, peer_id=0x1234567890ABCDEF,
                               my_port=0, support_flags=0),
        levin.monero_sync_data(network.genesis_hash))
    data = levin.encode_storage(section)
    if levin.decode_storage(data) != section:
        raise AssertionError("Levin storage round trip changed the section")
    return {
        "levin_storage_encode_handshake": (lambda: levin.encode_storage(section), len(data)),
        "levin_storage_decode_handshake": (lambda: levin.decode_storage(data), len(data)),
    }


def run_ceiling(script, modes, seconds):
    """
    ``{mode: ops_per_s}`` from the shared ceiling script, or a reason string
    when it cannot run here.
    """
    if not os.path.exists(script):
        return "no ceiling script at {}".format(script)
    samples = 5
    command = [sys.executable, script, "--only", ",".join(sorted(modes)),
               "--samples", str(samples), "--sample-seconds", str(seconds / samples)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return "ceiling script failed: {}".format(done.stderr.strip()[-200:])
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {row["mode"]: row["ops_per_s"] for row in rows}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip(),
        epilog="Prints one JSON line per figure; see the module docstring for the names.")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time spent on each measurement, ours and the ceiling's "
                             "(default %(default)s)")
    parser.add_argument("--ceiling", default=DEFAULT_CEILING, metavar="PATH",
                        help="the shared codec_ceiling.py to compare with "
                             "(default %(default)s)")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="only measure lethean's codecs; add no ceiling_ratio")
    args = parser.parse_args(argv)

    figures = {}
    for build in (ueps_benchmarks, levin_header_benchmarks, levin_storage_benchmarks):
        for name, (operation, size) in build().items():
            figures[name] = {"name": name, "ops_per_s": round(rate(operation, args.seconds), 1),
                             "bytes": size}

    if not args.no_ceiling:
        ceiling = run_ceiling(args.ceiling, set(CEILINGS.values()), args.seconds)
        for name, mode in CEILINGS.items():
            line = figures[name]
            line["ceiling"] = mode
            if isinstance(ceiling, str):
                line["ceiling_skipped"] = ceiling
            elif ceiling.get(mode):
                line["ceiling_ops_per_s"] = ceiling[mode]
                line["ceiling_ratio"] = round(line["ops_per_s"] / ceiling[mode], 3)

    for line in figures.values():
        emit(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
