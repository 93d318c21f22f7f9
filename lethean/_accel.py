"""
The optional compiled accelerator, ``_lethean_speedups``.

``pip install .`` builds it from the C files in ``csrc/`` when a C compiler
is there, and skips it otherwise.  It holds compiled versions of a
few hot loops (the SMSG sigil's key stream, HMAC-SHA256).  A module with
such a loop keeps its pure-Python function and binds the name it calls
with :func:`pick`, which gives the compiled twin when there is one; both
give the same bytes (the suite runs both, see ``docs/performance.md``).

Set ``LETHEAN_PURE_PYTHON=1`` to ignore the compiled module and run
everything on the pure-Python path.
"""

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from lethean._source_digest import source_digest

__all__ = ["speedups", "unavailable_reason", "load", "pick", "shortcut", "no_shortcut", "twins",
           "SOURCE", "source_digest"]

#: The folder of the C sources; present in a checkout, not in an installed copy.
SOURCE = Path(__file__).resolve().parent.parent / "csrc"


_F = TypeVar("_F", bound=Callable[..., Any])


def load(source: Path = SOURCE,
         environ: Mapping[str, str] = os.environ) -> tuple[ModuleType | None, str]:
    """``(module, "")``, or ``(None, why not)``; see :data:`speedups`."""
    if environ.get("LETHEAN_PURE_PYTHON"):
        return None, "LETHEAN_PURE_PYTHON is set"
    try:
        import _lethean_speedups as module
    except ImportError as e:
        return None, "not built ({})".format(e)
    if source.is_dir():
        # Running from a checkout: a build of another version of the source
        # (an older pip install) must not stand in for this one.
        if module.SOURCE_SHA256 != source_digest(source):
            return None, "built from another version of {}/; run pip install .".format(
                source.name)
    return module, ""


#: The compiled module, or None when lethean runs on pure Python only;
#: ``unavailable_reason`` then says why.  Any: the module has no stubs, and
#: its users check a flag of their own (``pick``'s ``usable``) before using it.
speedups: Any
speedups, unavailable_reason = load()

_twins: list[tuple[Callable[..., Any], Callable[..., Any]]] = []


def pick(pure: _F, name: str, usable: bool = True) -> _F:
    """
    The compiled function ``name`` when the accelerator is loaded (and
    ``usable``: what it needs is there), else ``pure``, its pure-Python
    twin, which must give the same results and errors.
    """
    if speedups is None or not usable:
        return pure
    compiled: _F = getattr(speedups, name)
    _twins.append((pure, compiled))
    return compiled


def no_shortcut(*args: object) -> None:
    """The pure-Python twin of every compiled shortcut: there is none (None)."""
    return None


def shortcut(name: str, usable: bool = True) -> Callable[..., Any]:
    """
    A compiled shortcut: it does the common case and returns None for
    anything else, which the caller then handles in Python from the start
    (so every error comes from the Python code).  :func:`no_shortcut`
    when the accelerator is not loaded.
    """
    return pick(no_shortcut, name, usable)


def twins() -> tuple[tuple[Callable[..., Any], Callable[..., Any]], ...]:
    """The ``(pure, compiled)`` pairs :func:`pick` chose the compiled one of."""
    return tuple(_twins)
