"""
From samples to figures: round-trip rates, log counts, the aims, medians.

Pure functions on the events the children print and the bytes the node
logged, so the arithmetic of the instrument can be checked on its own.
"""

import re
import statistics
from collections import Counter

__all__ = [
    "AIMS",
    "MIB",
    "rate",
    "worst_window",
    "round_trips_ms",
    "slope",
    "legit_figures",
    "memory_figures",
    "percentile",
    "log_figures",
    "aims",
    "combine",
    "summary",
]

MIB = 1024 * 1024
LEGIT_RATIO_MIN = 0.9
RSS_GROWTH_MAX_MIB = 32
LOG_LINES_PER_CONNECTION_MAX = 1
LOG_LINES_PER_S_MAX = 20

#: Each aim of issue 9, as the ``pass`` object names it.
AIMS = {
    "legit": "legitimate round trips at >= 0.9 of the baseline (legit_ratio)",
    "memory": "node RSS growth during the attack < 32 MiB (rss_growth_mib)",
    "log_per_connection": "<= 1 log line per attacking connection (log_lines_per_connection)",
    "log_rate": "<= 20 log lines/s (log_lines_per_s)",
    "no_traceback": "no traceback in the node's log (tracebacks)",
    "fresh_connection": "a fresh legitimate connection succeeds during the attack (fresh_ok)",
}


def _at(progress, t):
    """The last progress event at or before ``t`` (else the first one)."""
    chosen = progress[0]
    for event in progress:
        if event["t"] > t:
            break
        chosen = event
    return chosen


def rate(progress, t0, t1):
    """``(round trips/s, errors)`` of the legitimate peer between ``t0`` and ``t1``."""
    if not progress:
        return None, None
    a, b = _at(progress, t0), _at(progress, t1)
    if b["t"] <= a["t"]:
        return None, None
    return (b["ok"] - a["ok"]) / (b["t"] - a["t"]), b["err"] - a["err"]


def worst_window(progress, t0, t1, window_s=1.0):
    """The lowest round trips/s over any ``window_s`` inside ``[t0, t1]``."""
    starts = [e["t"] for e in progress if t0 <= e["t"] <= t1 - window_s]
    rates = [rate(progress, s, s + window_s)[0] for s in starts]
    rates = [r for r in rates if r is not None]
    return min(rates) if rates else None


def round_trips_ms(progress, t0, t1):
    """Every round-trip time (ms) completed between ``t0`` and ``t1``."""
    return [ms for e in progress if t0 < e["t"] <= t1 for ms in e["rtt_ms"]]


def slope(samples, t0, t1, scale=1.0):
    """Least-squares growth per second of ``(t, value)`` samples within ``[t0, t1]``."""
    points = [(t, v * scale) for t, v in samples if t0 <= t <= t1]
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return round(sum((t - mean_t) * (v - mean_v) for t, v in points) / spread, 2)


def legit_figures(progress, baseline, attack):
    """
    The legitimate peer's figures from its progress events, for the
    ``(start, end)`` windows of the baseline and of the attack.
    """
    baseline_rps, _ = rate(progress, *baseline)
    attack_rps, errors = rate(progress, *attack)
    worst = worst_window(progress, *attack)
    base_times = round_trips_ms(progress, *baseline)
    attack_times = round_trips_ms(progress, *attack)

    def ratio(value):
        if value is None or not baseline_rps:
            return None
        return round(value / baseline_rps, 3)
    return {
        "legit_ratio": ratio(attack_rps),
        "legit_baseline_rps": None if baseline_rps is None else round(baseline_rps, 1),
        "legit_attack_rps": None if attack_rps is None else round(attack_rps, 1),
        "legit_ratio_worst_1s": ratio(worst),
        "legit_errors": errors,
        "legit_p50_ms_baseline": percentile(base_times, 0.5),
        "legit_p50_ms": percentile(attack_times, 0.5),
        "legit_p99_ms": percentile(attack_times, 0.99),
    }


def memory_figures(before, peak, after, samples, attack):
    """Node memory figures in MiB: ``before``/``peak``/``after`` are bytes."""
    def mib(value):
        return None if value is None else round(value / MIB, 1)
    start, end = attack
    return {
        "rss_before_mib": mib(before),
        "rss_peak_mib": mib(peak),
        "rss_after_mib": mib(after),
        "rss_growth_mib": mib(peak - before) if before and peak else None,
        "rss_kept_mib": mib(after - before) if before and after else None,
        "rss_slope_mib_per_s": slope(samples, (start + end) / 2, end, scale=1 / MIB),
    }


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


_TIMESTAMP = re.compile(rb"^\S+ ")
_DEBUG = re.compile(rb"^\S+ \[[^\]]*#debug\] ")
_VARIABLE = re.compile(rb"0x[0-9a-f]+|[0-9a-f]{32}|\d+")


def log_figures(lines, top=3):
    """
    Lines, bytes, tracebacks and the most frequent line shapes (digits and
    ids folded) of an iterable of log lines (bytes).

    ``log_lines`` counts what a production log keeps, info and above:
    debug lines (a node notes every request it serves at debug level) are
    counted apart, in ``log_debug_lines``.
    """
    count = debug = size = tracebacks = 0
    shapes = Counter()
    examples = {}
    for line in lines:
        size += len(line)
        if b"Traceback (most recent call last)" in line:
            tracebacks += 1
        head = line[:400]
        if _DEBUG.search(head):
            debug += 1
            continue
        count += 1
        body = _TIMESTAMP.sub(b"", head.rstrip(b"\n"), count=1)[:200]
        shape = _VARIABLE.sub(b"#", body)
        shapes[shape] += 1
        examples.setdefault(shape, body)
    return {
        "log_lines": count,
        "log_debug_lines": debug,
        "log_bytes": size,
        "tracebacks": tracebacks,
        "log_top": [{"count": n, "line": examples[shape].decode("utf-8", "replace")}
                    for shape, n in shapes.most_common(top)],
    }


def aims(figures):
    """Whether each aim holds (``None`` when its figure could not be measured)."""
    def check(value, test):
        return None if value is None else bool(test(value))
    return {
        "legit": check(figures.get("legit_ratio"), lambda r: r >= LEGIT_RATIO_MIN),
        "memory": check(figures.get("rss_growth_mib"), lambda g: g < RSS_GROWTH_MAX_MIB),
        "log_per_connection": check(figures.get("log_lines_per_connection"),
                                    lambda n: n <= LOG_LINES_PER_CONNECTION_MAX),
        "log_rate": check(figures.get("log_lines_per_s"), lambda n: n <= LOG_LINES_PER_S_MAX),
        "no_traceback": check(figures.get("tracebacks"), lambda n: n == 0),
        "fresh_connection": figures.get("fresh_ok"),
    }


#: Figures that take the worst run rather than the median.
_WORST = {"tracebacks": max}


def combine(runs):
    """
    One line from repeated runs of an attack: the median of each number
    (the worst for tracebacks), ``fresh_ok`` only if every run connected;
    the details (attacker, log_top, ...) are those of the median run.
    """
    if len(runs) == 1:
        line = dict(runs[0])
    else:
        ordered = sorted(runs, key=lambda r: (r.get("legit_ratio") is None,
                                              r.get("legit_ratio") or 0))
        line = dict(ordered[(len(ordered) - 1) // 2])
        for key, value in runs[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
                if values:
                    combined = _WORST.get(key, statistics.median)(values)
                    line[key] = round(combined, 3) if isinstance(combined, float) else combined
        line["fresh_ok"] = all(r.get("fresh_ok") for r in runs)
        line["fresh_ok_runs"] = "{}/{}".format(sum(bool(r.get("fresh_ok")) for r in runs), len(runs))
        line["legit_ratio_runs"] = [r.get("legit_ratio") for r in runs]
        line["rss_growth_mib_runs"] = [r.get("rss_growth_mib") for r in runs]
    line["runs"] = len(runs)
    line["pass"] = aims(line)
    line["ok"] = all(line["pass"].values()) and not line.get("error")
    return line


def summary(lines):
    """The closing line: which attacks meet every aim, and which aims fail where."""
    failed = {aim: [l["attack"] for l in lines if l["pass"].get(aim) is not True] for aim in AIMS}
    return {
        "attacks": len(lines),
        "passed": sum(1 for l in lines if l["ok"]),
        "failed": [l["attack"] for l in lines if not l["ok"]],
        "aims_failed": {aim: names for aim, names in failed.items() if names},
        "errors": {l["attack"]: l["error"] for l in lines if l.get("error")},
    }
