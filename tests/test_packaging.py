"""The package as users install it: the wheel's contents and the twistd plugin."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent


def _installed_copy():
    """Where an installed (not checked-out) lethean lives, or None."""
    code = "import lethean, os; print(os.path.dirname(os.path.dirname(lethean.__file__)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd="/", env=dict(os.environ, PYTHONPATH=""))
    if result.returncode != 0:
        return None
    location = Path(result.stdout.strip())
    return None if location == ROOT else location


class WheelTests(SynchronousTestCase):
    """A built wheel ships the plugin dropin and no twisted/__init__.py."""

    def test_wheel_contents(self):
        """The wheel holds twisted/plugins/lethean_node.py, every package, and no twisted/__init__.py."""
        out = os.path.abspath(self.mktemp())
        result = subprocess.run(
            # Built as users build it: pip, with build isolation.
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, str(ROOT)],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        [wheel] = Path(out).glob("lethean-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
        self.assertIn("twisted/plugins/lethean_node.py", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertIn("lethean/py.typed", names)
        for package in ("ueps", "levin", "identity", "smsg", "mesh", "peers", "bundles",
                        "node", "cli", "conformance"):
            self.assertIn("lethean/{}/__init__.py".format(package), names)


class PluginTests(SynchronousTestCase):
    """twistd finds lethean-node from an installed copy, outside the checkout."""

    def test_twistd_help(self):
        """'twistd lethean-node --help' explains the options."""
        if _installed_copy() is None:
            self.skipTest("lethean is not installed here (pip install .)")
        result = subprocess.run(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
             "lethean-node", "--help"],
            capture_output=True, text=True, cwd=self.mktemp_dir(), timeout=120,
            env=dict(os.environ, PYTHONPATH=""))
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in ("--listen", "--name", "--role", "--data-dir", "--peer", "--auth",
                       "--allow", "--tls-cert", "--tls-key", "--max-conns", "--miner-command"):
            self.assertIn(option, result.stdout)

    def mktemp_dir(self):
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path
