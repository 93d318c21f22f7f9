"""
What every lethean benchmark shares: the rate measurement and the output line.

The scripts in ``benchmarks/`` put the checkout root first on ``sys.path``
(so ``python benchmarks/NAME.py`` measures this checkout, not an installed
copy) and import this module as ``benchmarks._timing``.
"""

import json
import time


def rate(operation, seconds):
    """
    Calls of ``operation()`` per second, measured for at least ``seconds``.

    One untimed call warms up (imports, caches).  Calls run in batches that
    double while they are short, so the clock is read rarely for fast
    operations and a slow one does not overshoot by much.
    """
    operation()
    calls, batch = 0, 1
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            operation()
        calls += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed
        if elapsed < seconds / 10:
            batch = min(batch * 2, 1000)


def emit(line):
    """Print one measurement as a JSON line, at once (a run can be long)."""
    print(json.dumps(line), flush=True)
