"""
Our figures beside the Go reference's, measured in the same run.

``../shared/gonode/bin/gobench`` times the reference's own code for some of
the operations our benchmarks measure (its README lists the steps of each).
On a shared machine only same-run ratios mean anything, and even those move
from run to run, so :func:`compare` alternates: one gobench run, then one
measurement of each of our figures, again and again; it reports medians and
pairs each of our samples with the Go sample of the same round.
"""

import json
import os
import statistics
import subprocess
from pathlib import Path

from benchmarks._timing import rate

#: Where the built reference lives, beside the checkout.
DEFAULT_GOBENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "gonode" / "bin" / "gobench"


#: The figures gobench prints (cmd/gobench/main.go), by our names (the same).
GO_FIGURES = frozenset((
    "ueps_encode_1k", "ueps_decode_1k", "levin_storage_encode_handshake",
    "levin_storage_decode_handshake", "levin_header_round_trip", "smsg_seal_open_1k",
))


def add_arguments(parser):
    """The options every benchmark that compares with Go shares."""
    parser.add_argument("--gobench", default=str(DEFAULT_GOBENCH), metavar="PATH",
                        help="the reference's gobench binary (default %(default)s)")
    parser.add_argument("--no-go", action="store_true",
                        help="measure lethean only; print no go_ratio")
    parser.add_argument("--rounds", type=int, default=5, metavar="N",
                        help="gobench runs, each followed by one measurement of each of our "
                             "figures; medians are over these (default %(default)s)")
    parser.add_argument("--only", metavar="NAME,...",
                        help="measure only these figures (comma-separated names)")


def selected(figures, only):
    """``figures`` cut down to the names of ``--only`` (all when it is not given)."""
    if not only:
        return figures
    names = only.split(",")
    unknown = sorted(set(names) - set(figures))
    if unknown:
        raise SystemExit("unknown figure(s): {}; known: {}".format(
            ", ".join(unknown), ", ".join(figures)))
    return {name: figures[name] for name in names}


def run_gobench(path):
    """
    One gobench run: ``({name: ops_per_s}, {other key: value})``.

    ``GOMAXPROCS=1``, as its README asks: our benchmarks use one core too.
    """
    done = subprocess.run([path], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, GOMAXPROCS="1"))
    if done.returncode != 0:
        raise RuntimeError("gobench failed: {}".format(done.stderr.strip()[-200:]))
    rates, extra = {}, {}
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if "name" in row:
            rates[row["name"]] = row["ops_per_s"]
        else:
            extra.update(row)
    return rates, extra


def compare(figures, seconds, *, gobench, rounds, go=True):
    """
    Measure ``figures`` (``{name: (operation, extra fields)}``) interleaved
    with gobench; returns one output line (a dict) per figure, in order.

    Each line has ``ops_per_s`` (median of ``rounds`` samples of
    ``seconds`` each) and, for a figure gobench also measures
    (:data:`GO_FIGURES`), ``go_ops_per_s`` (median) and ``go_ratio``: the
    median over rounds of ours / Go's in that round, with
    ``go_ratio_range`` (lowest, highest); without gobench, ``go_skipped``
    says why.  Also returns gobench's other output (e.g.
    ``levin_storage_bytes``).
    """
    rounds = max(1, rounds)
    skipped = None
    if not go:
        skipped = "--no-go"
    elif not GO_FIGURES.intersection(figures):
        skipped = "gobench measures none of these"
    elif not os.access(gobench, os.X_OK):
        skipped = "no gobench at {}".format(gobench)
    ours = {name: [] for name in figures}
    theirs = {name: [] for name in figures}
    extra = {}
    for _ in range(rounds):
        if skipped is None:
            go_rates, extra = run_gobench(gobench)
            for name in figures:
                theirs[name].append(go_rates.get(name))
        for name, (operation, _) in figures.items():
            ours[name].append(rate(operation, seconds))

    lines = []
    for name, (_, fields) in figures.items():
        line = {"name": name, "ops_per_s": round(statistics.median(ours[name]), 1)}
        line.update(fields)
        if name in GO_FIGURES:
            line.update(_go_fields(name, ours[name], theirs[name], skipped))
        line["rounds"] = rounds
        lines.append(line)
    return lines, extra


def _go_fields(name, ours, theirs, skipped):
    if skipped is None and None in theirs:
        skipped = "gobench did not print {}".format(name)
    if skipped is not None:
        return {"go_skipped": skipped}
    ratios = sorted(o / g for o, g in zip(ours, theirs))
    return {"go_ops_per_s": round(statistics.median(theirs), 1),
            "go_ratio": round(statistics.median(ratios), 3),
            "go_ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)]}
