"""
Running tests on both paths: the compiled accelerator and pure Python.

A codec test class runs on the path this install uses (the compiled one
when ``_lethean_speedups`` is built, which ``tests.test_accel`` checks);
its ``Pure…`` subclass, with :class:`PurePath` first, runs the same tests
on the pure-Python twins.  Nothing depends on an environment variable.
"""

import os
import shutil
import sys
import sysconfig
from contextlib import contextmanager
from pathlib import Path

from lethean import _accel


def can_build_extensions():
    """Why a C extension cannot be built here, or None when it can."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return "no C compiler ({})".format(compiler)
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers"
    return None


def _lethean_modules():
    return [module for name, module in list(sys.modules.items())
            if module is not None and (name == "lethean" or name.startswith(("lethean.", "tests.")))]


class PurePath:
    """
    Mixin (put it first): each compiled function lethean bound with
    ``_accel.pick`` is replaced by its pure-Python twin for the test,
    wherever a lethean module (or a test module) holds it.
    """

    def setUp(self):
        pure_of = {id(compiled): (compiled, pure) for pure, compiled in _accel.twins()}
        for module in _lethean_modules():
            for name, value in list(vars(module).items()):
                twin = pure_of.get(id(value))
                if twin is not None and twin[0] is value:
                    self.patch(module, name, twin[1])
        super().setUp()


def outcome(function, *args, **kwargs):
    """What a call gives: ``("value", result)`` or ``("error", type, message)``."""
    try:
        return ("value", function(*args, **kwargs))
    except Exception as e:
        return ("error", type(e), str(e))


@contextmanager
def shortcuts_off(module, *names):
    """Inside the block, ``module``'s compiled shortcuts ``names`` are off."""
    saved = [getattr(module, name) for name in names]
    for name in names:
        setattr(module, name, _accel.no_shortcut)
    try:
        yield
    finally:
        for name, value in zip(names, saved):
            setattr(module, name, value)
