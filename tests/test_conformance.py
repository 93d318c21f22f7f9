"""The conformance runner, on the shared vectors and on files of our own."""

import json
import os
import subprocess
import sys
from pathlib import Path

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from lethean.conformance import check_directory
from tests._paths import VECTORS


class SharedVectorsTests(SynchronousTestCase):
    """Every case of ``../shared/vectors`` holds."""

    def setUp(self):
        if not VECTORS.is_dir():
            self.skipTest("no shared vectors at {}".format(VECTORS))

    def test_every_case_passes(self):
        """No vectors case fails."""
        report = check_directory(VECTORS)
        self.assertEqual(report.failures, [])
        self.assertGreater(report.passed, 0)


class RunnerTests(SynchronousTestCase):
    """The command-line runner reports and exits as documented."""

    def run_runner(self, directory):
        # The checkout under test, not whatever copy is installed.
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        return subprocess.run(
            [sys.executable, "-m", "lethean.conformance", directory],
            capture_output=True, text=True, timeout=120, env=env,
        )

    def test_unknown_file_is_skipped_not_passed(self):
        """A vectors file with no checker is reported skipped, and nothing passes."""
        folder = FilePath(self.mktemp())
        folder.makedirs()
        folder.child("no_such_layer.json").setContent(json.dumps({}).encode())
        result = self.run_runner(folder.path)
        self.assertIn("skipped: no_such_layer.json", result.stdout)
        self.assertEqual(result.stdout.splitlines()[-1], "0 passed, 0 failed")
        self.assertNotEqual(result.returncode, 0)

    def test_missing_folder(self):
        """A folder that does not exist is a usage error."""
        result = self.run_runner(self.mktemp())
        self.assertEqual(result.returncode, 2)
        self.assertIn("no such folder", result.stderr)
