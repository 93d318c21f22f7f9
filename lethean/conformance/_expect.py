"""Small assertion helpers shared by the conformance checkers."""

from lethean.conformance._errors import VectorMismatch
from lethean.errors import LetheanError

__all__ = ["equal", "raises_kind"]


def equal(what, got, expected):
    """Raise :class:`VectorMismatch` unless ``got == expected``."""
    if got != expected:
        raise VectorMismatch("{}: got {!r}, expected {!r}".format(what, got, expected))


def raises_kind(kind, function, *args, **kwargs):
    """
    Call ``function`` and require it to raise a lethean error of ``kind``.

    ``kind`` ``"malformed"`` accepts any :class:`LetheanError` (the vectors
    use it for inputs that crash the reference: any clean error will do).
    A non-lethean exception is always a failure: decoders raise only ours.
    """
    try:
        result = function(*args, **kwargs)
    except LetheanError as e:
        if kind == "malformed" or kind in _kinds(type(e)):
            return e
        raise VectorMismatch("expected error kind {!r}, got {} (kind {!r}): {}".format(
            kind, type(e).__name__, e.kind, e))
    raise VectorMismatch("expected error kind {!r}, got a result: {!r}".format(kind, result))


def _kinds(cls):
    """Every ``kind`` along the class hierarchy, most specific first."""
    return [k.kind for k in cls.__mro__ if isinstance(getattr(k, "kind", None), str)]
