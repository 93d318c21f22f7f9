"""lethean.node's names, loaded on first use, and what the type checker is told of them."""

import ast
import inspect

from twisted.trial.unittest import SynchronousTestCase

import lethean.node


def _type_checking_imports():
    """``{module: names}`` imported under ``if TYPE_CHECKING:`` in lethean/node/__init__.py."""
    tree = ast.parse(inspect.getsource(lethean.node))
    [block] = [node for node in tree.body
               if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"]
    return {statement.module: tuple(alias.name for alias in statement.names)
            for statement in block.body}


class LazyExportTests(SynchronousTestCase):
    """Each name in ``__all__`` loads from its module, and the type checker sees it there."""

    def test_every_name_loads(self):
        """Every exported name is found, and is the object of the module that defines it."""
        for name in lethean.node.__all__:
            module = lethean.node._WHERE[name]
            self.assertIs(getattr(lethean.node, name),
                          getattr(__import__(module, fromlist=[name]), name), name)

    def test_type_checker_sees_the_same_names(self):
        """The ``TYPE_CHECKING`` imports list exactly the lazily loaded names, module by module."""
        self.assertEqual(_type_checking_imports(), lethean.node._MODULES)
