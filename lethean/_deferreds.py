"""
The public API's one asynchronous convention: a call returns a Deferred.

Bodies are ``async def``; :func:`returns_deferred` wraps one so that its
callers get ``Deferred.fromCoroutine`` of it, never a bare coroutine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from twisted.internet.defer import Deferred

__all__ = ["returns_deferred"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def returns_deferred(
        function: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, Deferred[_T]]:
    """``function`` (an ``async def``) as a function returning a Deferred of its result."""
    @functools.wraps(function)
    def deferred(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
        return Deferred.fromCoroutine(function(*args, **kwargs))
    return deferred
