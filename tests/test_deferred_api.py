"""
The public API of the lower layers returns Deferreds, never coroutines.

A caller of an ``async def`` that forgets to wrap it gets a coroutine that
never runs (and only a warning when it is collected); every asynchronous
call of peers, bundles and levin is a plain function returning a Deferred
(its body may be ``async def``, wrapped with ``Deferred.fromCoroutine``).
"""

import inspect

from twisted.trial.unittest import SynchronousTestCase

import lethean.bundles
import lethean.levin
import lethean.peers

PACKAGES = (lethean.peers, lethean.bundles, lethean.levin)


def public_callables(package):
    """``(name, callable)`` of the package's exports and their classes' public methods."""
    for name in package.__all__:
        value = getattr(package, name)
        if inspect.isclass(value):
            for klass in value.__mro__:
                if not klass.__module__.startswith("lethean."):
                    continue
                for attribute, member in vars(klass).items():
                    if attribute.startswith("_"):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if callable(member):
                        yield "{}.{}".format(name, attribute), member
        elif callable(value):
            yield name, value


def is_asynchronous(function):
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


class PublicDeferredTests(SynchronousTestCase):
    """No exported function or public method of peers, bundles or levin is ``async def``."""

    def test_no_public_coroutine_functions(self):
        """Every exported callable and public method returns a value or a Deferred."""
        for package in PACKAGES:
            found = [name for name, function in public_callables(package)
                     if is_asynchronous(function)]
            self.assertEqual(found, [], package.__name__)

    def test_walk_sees_the_api(self):
        """The walk reaches the calls that are asynchronous (so the check above means something)."""
        names = {name for package in PACKAGES for name, _ in public_callables(package)}
        for expected in ("PeerRegistry.flush", "PeerRegistry.close", "OverlayRegistry.flush",
                         "read_bundle_in_thread", "connect_peer", "ping_peer",
                         "handshake_peer", "close_peer", "LevinProtocol.invoke"):
            self.assertIn(expected, names)

    def test_detects_a_coroutine_function(self):
        """An ``async def`` is recognised, bound or not."""
        class Client:
            async def fetch(self):
                pass

        self.assertTrue(is_asynchronous(Client.fetch))
        self.assertTrue(is_asynchronous(Client().fetch))
        self.assertFalse(is_asynchronous(lethean.levin.ping_peer))
