"""
Deferred-returning twins of the bundle functions, for reactor code.

Everything that grows with a bundle's size is CPU work (the cipher, its
key stream, SHA-256, base64) or disk work (reading the binary, writing and
fsyncing files): in the reactor thread it would stall every connection
(tens of milliseconds per megabyte).  Each ``NAME_in_thread(reactor,
*args, **kwargs)`` runs ``NAME(*args, **kwargs)`` in ``reactor``'s thread
pool (``deferToThreadPool``, i.e. ``deferToThread`` with an explicit
reactor) and fires with its result or fails with its error, the very same
ones.  The synchronous functions stay for scripts and for code that is
already in a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

from twisted.internet.threads import deferToThreadPool

from lethean.bundles._bundle import checksum_of, write_bundle
from lethean.bundles._create import (
    create_miner_bundle,
    create_miner_bundle_from_file,
    create_profile_bundle,
    read_miner,
)
from lethean.bundles._extract import extract_tar
from lethean.bundles._open import (
    extract_miner_bundle,
    extract_profile_bundle,
    inspect_bundle,
    install_miner_bundle,
)
from lethean.bundles._reader import read_bundle
from lethean.bundles._stim import open_stim, seal_stim
from lethean.bundles._tar import scan_tar

_T = TypeVar("_T")

__all__ = [
    "in_thread",
    "IN_THREAD",
    "checksum_of_in_thread",
    "create_profile_bundle_in_thread",
    "create_miner_bundle_in_thread",
    "create_miner_bundle_from_file_in_thread",
    "read_miner_in_thread",
    "read_bundle_in_thread",
    "write_bundle_in_thread",
    "seal_stim_in_thread",
    "open_stim_in_thread",
    "scan_tar_in_thread",
    "inspect_bundle_in_thread",
    "extract_profile_bundle_in_thread",
    "extract_miner_bundle_in_thread",
    "install_miner_bundle_in_thread",
    "extract_tar_in_thread",
]


def in_thread(reactor: Any, function: Callable[..., _T], *args: Any,
              **kwargs: Any) -> Deferred[_T]:
    """A Deferred of ``function(*args, **kwargs)`` run in ``reactor``'s thread pool."""
    return deferToThreadPool(reactor, reactor.getThreadPool(), function, *args, **kwargs)


def _wrap(function: Callable[..., Any]) -> Any:
    def wrapper(reactor: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        return in_thread(reactor, function, *args, **kwargs)
    wrapper.__name__ = function.__name__ + "_in_thread"
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = ":func:`{}` in a thread; returns a Deferred (first argument: reactor).".format(
        function.__name__)
    wrapper.synchronous = function  # type: ignore[attr-defined]
    return wrapper


checksum_of_in_thread = _wrap(checksum_of)
create_profile_bundle_in_thread = _wrap(create_profile_bundle)
create_miner_bundle_in_thread = _wrap(create_miner_bundle)
create_miner_bundle_from_file_in_thread = _wrap(create_miner_bundle_from_file)
read_miner_in_thread = _wrap(read_miner)
read_bundle_in_thread = _wrap(read_bundle)
write_bundle_in_thread = _wrap(write_bundle)
seal_stim_in_thread = _wrap(seal_stim)
open_stim_in_thread = _wrap(open_stim)
scan_tar_in_thread = _wrap(scan_tar)
inspect_bundle_in_thread = _wrap(inspect_bundle)
extract_profile_bundle_in_thread = _wrap(extract_profile_bundle)
extract_miner_bundle_in_thread = _wrap(extract_miner_bundle)
install_miner_bundle_in_thread = _wrap(install_miner_bundle)
extract_tar_in_thread = _wrap(extract_tar)

#: Every Deferred twin, by the name of the synchronous function it runs.
IN_THREAD = {wrapper.synchronous.__name__: wrapper for wrapper in (
    checksum_of_in_thread,
    create_profile_bundle_in_thread,
    create_miner_bundle_in_thread,
    create_miner_bundle_from_file_in_thread,
    read_miner_in_thread,
    read_bundle_in_thread,
    write_bundle_in_thread,
    seal_stim_in_thread,
    open_stim_in_thread,
    scan_tar_in_thread,
    inspect_bundle_in_thread,
    extract_profile_bundle_in_thread,
    extract_miner_bundle_in_thread,
    install_miner_bundle_in_thread,
    extract_tar_in_thread,
)}
