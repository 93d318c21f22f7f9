"""
lethean's test suite (``python -m twisted.trial tests``).

Hypothesis runs under one profile for the whole suite: no deadline,
derandomized and no ``too_slow`` health check, so a loaded CI machine gives
the same result as an idle one.  ``differing_executors`` is off too: a codec
test class and its ``Pure…`` subclass (tests/_accel.py) run the same
properties on the compiled and the pure-Python path.  ``HYPOTHESIS_PROFILE=explore`` keeps the
same limits but draws fresh random examples, for hunting new bugs locally.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "lethean",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile("explore", settings.get_profile("lethean"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lethean"))
