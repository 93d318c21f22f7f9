"""
How fast are lethean's wire codecs, beside the Go reference's?

Measures, one JSON line each (``{"name": ..., "ops_per_s": ..., "bytes": ...}``),
on the same inputs as ``gobench`` (the Go reference's own code):

* ``ueps_encode_1k`` / ``ueps_decode_1k``: a UEPS packet with intent 0x20
  and a 1 KB payload built and signed (``Packet(Header(...), payload)`` then
  :func:`lethean.ueps.encode`, as gobench times ``NewBuilder`` +
  ``MarshalAndSign``) / read and verified (``ReadAndVerify``);
  ``ueps_sign_1k`` is the signing alone, of a packet built once (gobench
  has no such figure: Go's builder costs next to nothing);
* ``levin_header_encode`` / ``levin_header_decode`` and
  ``levin_header_round_trip`` (both, one op): the 33-byte Levin header;
* ``levin_storage_encode_handshake`` / ``levin_storage_decode_handshake``:
  gobench's Monero-style handshake section (``node_data`` +
  ``payload_data``, 318 bytes; ``go_bytes`` is the size gobench printed).

Each round runs gobench once (``--gobench``, when present) and then each of
our figures once; the figures gobench also measures get ``go_ops_per_s``
(median), ``go_ratio`` (median of ours / Go's per round) and
``go_ratio_range``.  Then, unless ``--no-ceiling``, the shared codec
ceiling (``codec_ceiling.py``: the same primitives in a bare loop) adds
``ceiling``, ``ceiling_ops_per_s`` and ``ceiling_ratio`` to the figures it
bounds: UEPS encode and decode are each one HMAC-SHA256 over about 1 KB, the
header round trip is one struct pack and unpack.

``accelerator`` says whether the compiled speedups were used.  Measures
only; nothing is asserted about the speeds.

Run from the checkout: ``python benchmarks/codecs.py [--seconds S] [--rounds N]``.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _gobench  # noqa: E402
from benchmarks._timing import emit  # noqa: E402
from lethean import levin, ueps  # noqa: E402
from lethean._accel import speedups  # noqa: E402

#: The shared ceiling script, when this machine has it.
DEFAULT_CEILING = "/work/shared/bench/codec_ceiling.py"

#: Our figure -> the ceiling mode that bounds it.
CEILINGS = {
    "ueps_encode_1k": "hmac_sha256_digest_1k",
    "ueps_sign_1k": "hmac_sha256_digest_1k",
    "ueps_decode_1k": "hmac_sha256_digest_1k",
    "levin_header_round_trip": "struct_levin_hdr",
}


def ueps_benchmarks():
    """gobench's UEPS input: intent 0x20, 1 KB of "A", a secret of 32 sevens."""
    secret = bytes([7]) * 32
    payload = b"A" * 1024
    Packet, Header, encode, decode = ueps.Packet, ueps.Header, ueps.encode, ueps.decode
    frame = encode(Packet(Header(intent_id=0x20), payload), secret)
    if decode(frame, secret) != Packet(Header(intent_id=0x20), payload):
        raise AssertionError("UEPS round trip changed the packet")
    size = {"bytes": len(frame)}
    built = Packet(Header(intent_id=0x20), payload)
    return {
        "ueps_encode_1k": (lambda: encode(Packet(Header(intent_id=0x20), payload), secret), size),
        "ueps_sign_1k": (lambda: encode(built, secret), size),
        "ueps_decode_1k": (lambda: decode(frame, secret), size),
    }


def levin_header_benchmarks():
    """gobench's header: a 262-byte handshake invoke, flags and return code 0."""
    header = levin.Header(262, True, levin.Command.HANDSHAKE, 0, 0)
    data = levin.encode_header(header)
    if levin.decode_header(data) != header:
        raise AssertionError("Levin header round trip changed the header")
    encode, decode = levin.encode_header, levin.decode_header
    size = {"bytes": len(data)}
    return {
        "levin_header_encode": (lambda: encode(header), size),
        "levin_header_decode": (lambda: decode(data), size),
        "levin_header_round_trip": (lambda: decode(encode(header)), size),
    }


def handshake_section():
    """The section gobench encodes: Monero-style ``node_data`` and ``payload_data``."""
    return levin.Section({
        "node_data": {
            "network_id": levin.String(bytes([0x12]) * 16),
            "my_port": levin.Uint32(18080),
            "rpc_port": levin.Uint16(0),
            "rpc_credits_per_hash": levin.Uint32(0),
            "peer_id": levin.Uint64(0x1234567890ABCDEF),
            "support_flags": levin.Uint32(1),
        },
        "payload_data": {
            "current_height": levin.Uint64(1),
            "cumulative_difficulty": levin.Uint64(1),
            "cumulative_difficulty_top64": levin.Uint64(0),
            "top_id": levin.String(bytes([0x48]) * 32),
            "top_version": levin.Uint8(1),
            "pruning_seed": levin.Uint32(0),
        },
    })


def levin_storage_benchmarks():
    """Encode and decode gobench's handshake section."""
    section = handshake_section()
    data = levin.encode_storage(section)
    if levin.decode_storage(data) != section:
        raise AssertionError("Levin storage round trip changed the section")
    encode, decode = levin.encode_storage, levin.decode_storage
    size = {"bytes": len(data)}
    return {
        "levin_storage_encode_handshake": (lambda: encode(section), size),
        "levin_storage_decode_handshake": (lambda: decode(data), size),
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
                        help="time spent on each sample of each figure, ours and the "
                             "ceiling's (default %(default)s)")
    _gobench.add_arguments(parser)
    parser.add_argument("--ceiling", default=DEFAULT_CEILING, metavar="PATH",
                        help="the shared codec_ceiling.py to compare with "
                             "(default %(default)s)")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="add no ceiling_ratio")
    args = parser.parse_args(argv)

    figures = {}
    for build in (ueps_benchmarks, levin_header_benchmarks, levin_storage_benchmarks):
        figures.update(build())
    figures = _gobench.selected(figures, args.only)
    lines, go_extra = _gobench.compare(figures, args.seconds, gobench=args.gobench,
                                       rounds=args.rounds, go=not args.no_go)
    lines = {line["name"]: line for line in lines}
    if "levin_storage_bytes" in go_extra:
        for name in ("levin_storage_encode_handshake", "levin_storage_decode_handshake"):
            if name in lines:
                lines[name]["go_bytes"] = go_extra["levin_storage_bytes"]

    if not args.no_ceiling:
        ceiling = run_ceiling(args.ceiling, set(CEILINGS.values()), args.seconds)
        for name, mode in CEILINGS.items():
            line = lines.get(name)
            if line is None:
                continue
            line["ceiling"] = mode
            if isinstance(ceiling, str):
                line["ceiling_skipped"] = ceiling
            elif ceiling.get(mode):
                line["ceiling_ops_per_s"] = ceiling[mode]
                line["ceiling_ratio"] = round(line["ops_per_s"] / ceiling[mode], 3)

    accelerator = "compiled" if speedups is not None else "pure Python"
    for line in lines.values():
        line["accelerator"] = accelerator
        emit(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
