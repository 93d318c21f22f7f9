"""
The package's shape: exception names a user can tell apart, and modules
(of lethean, its tests and its benchmarks) small enough to hold one
concept each.
"""

import importlib
import inspect
import pkgutil
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import lethean

PACKAGE = Path(lethean.__file__).resolve().parent

#: The checkout, and its folders whose modules are held to the same limit.
CHECKOUT = Path(__file__).resolve().parent.parent
BESIDE_PACKAGE = ("tests", "benchmarks")

#: Lines a module of lethean may hold.
MAX_MODULE_LINES = 500

#: Modules over the limit whose split is under way elsewhere; each entry
#: goes once its module is back under the limit.
PENDING_SPLIT: set[str] = set()


def _modules():
    """Every module of the lethean package, imported."""
    yield lethean
    for info in pkgutil.walk_packages(lethean.__path__, "lethean."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        yield importlib.import_module(info.name)


def _exception_classes():
    """Every exception class defined in lethean, once each."""
    classes = set()
    for module in _modules():
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__.split(".")[0] == "lethean"):
                classes.add(value)
    return classes


def _line_counts(root=PACKAGE, folders=(".",)):
    """``{path relative to root: lines}`` for every module in root's ``folders``."""
    counts = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            with path.open("rb") as f:
                counts[path.relative_to(root).as_posix()] = sum(1 for _ in f)
    return counts


class ExceptionNameTests(SynchronousTestCase):
    """Each exception class name means one situation across lethean."""

    def test_walk_finds_every_layer(self):
        """The walk sees the exceptions of every layer (so the next test has something to check)."""
        modules = {cls.__module__.split(".")[1] for cls in _exception_classes()}
        for layer in ("errors", "bundles", "identity", "levin", "mesh", "node", "peers",
                      "smsg", "ueps"):
            self.assertIn(layer, modules)

    def test_names_are_unique(self):
        """No two exception classes of lethean share a name."""
        by_name = {}
        for cls in _exception_classes():
            by_name.setdefault(cls.__name__, []).append(cls)
        clashes = {
            name: sorted("{}.{}".format(c.__module__, c.__qualname__) for c in classes)
            for name, classes in by_name.items() if len(classes) > 1
        }
        self.assertEqual(clashes, {})


class TestAndBenchmarkSizeTests(SynchronousTestCase):
    """No module of tests/ or benchmarks/ grows past MAX_MODULE_LINES either."""

    def test_modules_under_limit(self):
        """Every test and benchmark module holds at most MAX_MODULE_LINES lines."""
        counts = _line_counts(CHECKOUT, BESIDE_PACKAGE)
        self.assertIn("tests/test_package_shape.py", counts)
        self.assertIn("benchmarks/_timing.py", counts)
        over = {path: lines for path, lines in counts.items() if lines > MAX_MODULE_LINES}
        self.assertEqual(over, {})


class ModuleSizeTests(SynchronousTestCase):
    """No module of lethean grows past MAX_MODULE_LINES."""

    def test_modules_under_limit(self):
        """Every module holds at most MAX_MODULE_LINES lines."""
        over = {path: lines for path, lines in _line_counts().items()
                if lines > MAX_MODULE_LINES and path not in PENDING_SPLIT}
        self.assertEqual(over, {})

    def test_pending_splits_still_pending(self):
        """A module listed as pending a split is still over the limit (else drop it from the list)."""
        counts = _line_counts()
        done = sorted(path for path in PENDING_SPLIT if counts.get(path, 0) <= MAX_MODULE_LINES)
        self.assertEqual(done, [], "remove these from PENDING_SPLIT in " + __name__)
