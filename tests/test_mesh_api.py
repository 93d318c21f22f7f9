"""The mesh's public calls: asynchronous ones return Deferreds, never coroutines."""

import inspect

from twisted.trial.unittest import SynchronousTestCase

import lethean.mesh


def _public_callables():
    """``(name, callable)`` for every exported function and public method of lethean.mesh."""
    for name in lethean.mesh.__all__:
        value = getattr(lethean.mesh, name)
        if inspect.isfunction(value):
            yield name, value
        elif inspect.isclass(value):
            for attribute, member in inspect.getmembers(value, inspect.isfunction):
                if not attribute.startswith("_"):
                    yield "{}.{}".format(name, attribute), member


class DeferredAPITests(SynchronousTestCase):
    """What a caller of the mesh gets back from an asynchronous call."""

    def test_walk_finds_the_asynchronous_calls(self):
        """The walk sees the calls that return Deferreds (so the next test checks something)."""
        names = {name for name, _ in _public_callables()}
        for name in ("MeshTransport.connect", "MeshTransport.stopService",
                     "MeshConnection.close", "MeshConnection.when_lost",
                     "MeshConnection.when_announced"):
            self.assertIn(name, names)

    def test_no_coroutine_functions(self):
        """No public function or method of lethean.mesh is ``async def``."""
        coroutines = sorted(name for name, function in _public_callables()
                            if inspect.iscoroutinefunction(function))
        self.assertEqual(coroutines, [])
