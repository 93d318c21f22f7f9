"""Small assertion helpers shared by the conformance checkers."""

from collections.abc import Callable, Iterator
from typing import Any

from lethean.conformance._errors import VectorMismatch
from lethean.errors import LetheanError

__all__ = ["equal", "raises_kind", "Case", "Check", "Cases"]

#: One case of a vectors file (a JSON object).
Case = dict[str, Any]
#: A case's check: returns on success, raises on a mismatch.
Check = Callable[[], object]
#: What a checker's ``cases(document)`` yields.
Cases = Iterator[tuple[str, Check]]


def equal(what: str, got: object, expected: object) -> None:
    """Raise :class:`VectorMismatch` unless ``got == expected``."""
    if got != expected:
        raise VectorMismatch("{}: got {!r}, expected {!r}".format(what, got, expected))


def raises_kind(kind: str, function: Callable[..., object], *args: Any,
                **kwargs: Any) -> LetheanError:
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


def _kinds(cls: type[LetheanError]) -> list[str]:
    """Every ``kind`` along the class hierarchy, most specific first."""
    kinds = (getattr(k, "kind", None) for k in cls.__mro__)
    return [kind for kind in kinds if isinstance(kind, str)]
