"""The package as users install it: the wheel's contents and the twistd plugin."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests._accel import can_build_extensions

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


def _wheel_names(testcase, source, **env):
    """The file names in a wheel pip builds from ``source`` (with ``env`` set)."""
    out = os.path.abspath(testcase.mktemp())
    result = subprocess.run(
        # Built as users build it: pip, with build isolation.
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, str(source)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))
    testcase.assertEqual(result.returncode, 0, result.stderr)
    [wheel] = Path(out).glob("lethean-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def _accelerators(names):
    return [name for name in names if name.startswith("_lethean_speedups")]


class WheelTests(SynchronousTestCase):
    """A built wheel ships the plugin dropin and no twisted/__init__.py."""

    def test_wheel_contents(self):
        """The wheel holds twisted/plugins/lethean_node.py, every package, and no twisted/__init__.py."""
        names = _wheel_names(self, ROOT)
        self.assertIn("twisted/plugins/lethean_node.py", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertIn("lethean/py.typed", names)
        for package in ("ueps", "levin", "identity", "smsg", "mesh", "peers", "bundles",
                        "node", "cli", "conformance", "testing"):
            self.assertIn("lethean/{}/__init__.py".format(package), names)
            self.assertIn("lethean/{}/py.typed".format(package), names)
        missing = can_build_extensions()
        if missing is None:
            self.assertEqual(len(_accelerators(names)), 1, sorted(names))

    def test_wheel_without_a_compiler(self):
        """Without a working C compiler the build still succeeds, pure Python only."""
        # A clean copy: an earlier build's objects would stand in for the compiler.
        source = Path(self.mktemp())
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "_trial_temp*", "*.so"))
        names = _wheel_names(self, source, CC="false", LDSHARED="false")
        self.assertIn("twisted/plugins/lethean_node.py", names)
        self.assertIn("lethean/smsg/_sigil.py", names)
        self.assertEqual(_accelerators(names), [])


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
