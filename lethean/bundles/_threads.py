"""
Deferred-returning wrappers for reactor code.

Creating and extracting bundles is CPU work (the cipher, SHA-256) and disk
work (reading the binary, writing and fsyncing files): in the reactor
thread it would stall every connection.  Each wrapper runs the synchronous
function in ``reactor``'s thread pool (``deferToThreadPool``, i.e.
``deferToThread`` with an explicit reactor) and fires with its result or
fails with its error.
"""

from twisted.internet.threads import deferToThreadPool

from lethean.bundles._create import create_miner_bundle, create_profile_bundle, read_miner
from lethean.bundles._extract import extract_tar
from lethean.bundles._open import extract_miner_bundle, extract_profile_bundle, install_miner_bundle

__all__ = [
    "in_thread",
    "create_profile_bundle_in_thread",
    "create_miner_bundle_in_thread",
    "read_miner_in_thread",
    "extract_profile_bundle_in_thread",
    "extract_miner_bundle_in_thread",
    "install_miner_bundle_in_thread",
    "extract_tar_in_thread",
]


def in_thread(reactor, function, *args, **kwargs):
    """A Deferred of ``function(*args, **kwargs)`` run in ``reactor``'s thread pool."""
    return deferToThreadPool(reactor, reactor.getThreadPool(), function, *args, **kwargs)


def _wrap(function):
    def wrapper(reactor, *args, **kwargs):
        return in_thread(reactor, function, *args, **kwargs)
    wrapper.__name__ = function.__name__ + "_in_thread"
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = ":func:`{}` in a thread; returns a Deferred (first argument: reactor).".format(
        function.__name__)
    return wrapper


create_profile_bundle_in_thread = _wrap(create_profile_bundle)
create_miner_bundle_in_thread = _wrap(create_miner_bundle)
read_miner_in_thread = _wrap(read_miner)
extract_profile_bundle_in_thread = _wrap(extract_profile_bundle)
extract_miner_bundle_in_thread = _wrap(extract_miner_bundle)
install_miner_bundle_in_thread = _wrap(install_miner_bundle)
extract_tar_in_thread = _wrap(extract_tar)
