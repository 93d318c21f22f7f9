"""
The ``lethean`` command line for operators.

Each command group lives in its own private module exposing
``register(subparsers)``; :func:`main` is the console-script entry point.
"""

from lethean.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
