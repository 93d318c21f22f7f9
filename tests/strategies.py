"""
Hypothesis strategies shared by the codec tests.

Each layer adds its strategies in its own section below.
"""

from hypothesis import strategies as st  # noqa: F401  (used by the sections)
