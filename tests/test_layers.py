"""The layer contract: every lethean layer imports only the layers below it."""

import importlib.util
import os
import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

ROOT = Path(__file__).resolve().parent.parent


class LayerTests(TestCase):
    """import-linter checks the contracts declared in setup.cfg."""

    async def test_contracts_hold(self):
        """Every contract in setup.cfg is kept (smsg never imports mesh, and so on)."""
        if importlib.util.find_spec("importlinter") is None:
            self.fail("import-linter is missing: install lethean with its 'test' extra")
        out, err, status = await getProcessOutputAndValue(
            sys.executable,
            ["-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                   "sys.exit(c(['--config', 'setup.cfg', '--no-cache']))"],
            env=dict(os.environ, PYTHONPATH=os.fspath(ROOT)), path=os.fspath(ROOT),
            reactor=reactor)
        report = (out + err).decode("utf-8", "replace")
        self.assertEqual(status, 0, report)
        self.assertIn("0 broken", report)
