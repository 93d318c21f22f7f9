"""
Builds the optional C accelerator; every other setting is in setup.cfg.

``_lethean_speedups`` is optional: without a compiler (or when it fails to
build) ``pip install .`` still succeeds and lethean runs its pure-Python
code, which gives the same bytes (see docs/performance.md).  It is one
extension module built from every C file in csrc/ (one concept each,
sharing csrc/speedups.h).
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
SOURCES = sorted(path.relative_to(HERE).as_posix() for path in (HERE / "csrc").glob("*.c"))
HEADERS = sorted(path.relative_to(HERE).as_posix() for path in (HERE / "csrc").glob("*.h"))


def source_digest(folder):
    """lethean/_source_digest.py's, loaded on its own (lethean's dependencies may be missing)."""
    spec = importlib.util.spec_from_file_location(
        "_lethean_source_digest", HERE / "lethean" / "_source_digest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_digest(folder)


# lethean._accel refuses a build of another version of these files.
DIGEST = source_digest(HERE / "csrc")

setup(ext_modules=[Extension(
    "_lethean_speedups", SOURCES, depends=HEADERS, optional=True,
    define_macros=[("LETHEAN_SOURCE_SHA256", '"{}"'.format(DIGEST))],
)])
