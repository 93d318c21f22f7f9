"""
Builds the optional C accelerator; every other setting is in setup.cfg.

``_lethean_speedups`` is optional: without a compiler (or when it fails to
build) ``pip install .`` still succeeds and lethean runs its pure-Python
code, which gives the same bytes (see docs/performance.md).
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "csrc/_lethean_speedups.c"
# lethean._accel refuses a build of another version of this file.
DIGEST = hashlib.sha256((Path(__file__).resolve().parent / SOURCE).read_bytes()).hexdigest()

setup(ext_modules=[Extension(
    "_lethean_speedups", [SOURCE], optional=True,
    define_macros=[("LETHEAN_SOURCE_SHA256", '"{}"'.format(DIGEST))],
)])
