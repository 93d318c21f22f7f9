"""The conformance runner, on the shared vectors and on files of our own."""

import json
import os
import subprocess
import sys
from pathlib import Path

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from lethean.conformance import check_directory
from tests._accel import PurePath
from tests._paths import EXTRA_VECTORS, SHARED_VECTORS, VECTOR_FILES, VECTORS


def check_all(testcase, folder):
    """Run every vectors file of ``folder``: no failure, no skip; the number passed."""
    report = check_directory(folder)
    testcase.assertEqual(report.failures, [])
    testcase.assertEqual(report.skipped, [])
    return report.passed


class VectorsTests(SynchronousTestCase):
    """Every case of the suite's vectors (``tests/vectors``) holds."""

    def test_every_vector_file_is_present(self):
        """A missing vector file fails the suite instead of skipping its tests."""
        missing = [name for name in VECTOR_FILES if not (VECTORS / name).is_file()]
        self.assertEqual(missing, [])

    def test_every_case_passes(self):
        """No vectors case fails, and every file has a checker."""
        self.assertGreater(check_all(self, VECTORS), 0)


class PublishedVectorsTests(SynchronousTestCase):
    """The suite's copy matches the published vectors (``../shared/vectors``)."""

    def setUp(self):
        if not SHARED_VECTORS.is_dir():
            self.skipTest("no published vectors at {} (a clone runs on tests/vectors)".format(
                SHARED_VECTORS))

    def test_copy_is_current(self):
        """Each published file is in tests/vectors byte for byte (tests/refresh_vectors.py)."""
        stale = [path.name for path in sorted(SHARED_VECTORS.glob("*.json"))
                 if not (VECTORS / path.name).is_file()
                 or (VECTORS / path.name).read_bytes() != path.read_bytes()]
        self.assertEqual(stale, [])


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


class SmsgCheckerTests(SynchronousTestCase):
    """The smsg checker compares the message the reference ends up with, not the raw body."""

    SECRET = bytes(range(32))
    #: A body with unknown keys, another spelling and a payload Go keeps raw.
    BODY = ('{"id":"m1","extra":{"x":[1]},"TYPE":"ping","from":"a","to":"b",'
            '"ts":"2026-01-02T03:04:05.12Z","payload": {"sentAt" : 1.0,"sentAt":2},"more":1e400}')
    #: What the Go reference's Message gives after json.Unmarshal of BODY.
    GO_MESSAGE = ('{"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z",'
                  '"payload":{"sentAt":1.0,"sentAt":2}}')

    def run_case(self, expected):
        from lethean.conformance import _smsg
        from lethean.smsg import frame_password
        from lethean.smsg._frame import seal
        case = {"name": "unknown_fields", "shared_secret_hex": self.SECRET.hex(),
                "password": frame_password(self.SECRET), "expect": "ok",
                "frame_hex": seal(self.SECRET, self.BODY, timestamp=1).hex(),
                "mesh_message_json": expected}
        [(name, check)] = list(_smsg.cases({"decrypt_cases": [case]}))
        check()

    def test_reencoded_message_compared(self):
        """The reference's re-encoded message passes."""
        self.run_case(self.GO_MESSAGE)

    def test_raw_body_is_not_the_message(self):
        """The raw body (unknown keys and all) is not what the reference produces."""
        self.assertRaises(AssertionError, self.run_case, self.BODY)

    def test_json_marshal_form_accepted(self):
        """A generator that used json.Marshal (HTML escaped) is matched too."""
        self.BODY = self.BODY.replace('"a"', '"<a>"')
        self.run_case(self.GO_MESSAGE.replace('"a"', '"\\u003ca\\u003e"'))
        self.run_case(self.GO_MESSAGE.replace('"a"', '"<a>"'))
        self.assertRaises(AssertionError, self.run_case, self.GO_MESSAGE)


class ExtraVectorsTests(SynchronousTestCase):
    """Our own reference-made cases (tests/extra_vectors) pass the same checkers."""

    def test_every_case_passes(self):
        """Every case of every extra file passes, and none is skipped."""
        self.assertEqual(check_all(self, EXTRA_VECTORS), 20)


class BundleCheckerTests(SynchronousTestCase):
    """The bundle checker reads "no profile" as the vector schema says."""

    def setUp(self):
        with (EXTRA_VECTORS / "bundles.json").open() as f:
            self.miner = json.load(f)["miner_bundle"]

    def run_cases(self, vector):
        from lethean.conformance import _bundles
        for name, check in _bundles.cases({"miner_bundle": vector}):
            check()

    def test_no_profile_spelt_any_way(self):
        """An absent, null or empty profile_json means the default TIM config."""
        self.assertNotIn("profile_json", self.miner)
        for spelling in (None, ""):
            self.run_cases(dict(self.miner, profile_json=spelling))

    def test_no_profile_needs_the_default_config(self):
        """A vector without a profile whose expected config is not the default fails."""
        self.assertRaises(AssertionError, self.run_cases,
                          dict(self.miner, expected_config_utf8='{"a":1}'))

    def test_a_profile_must_match_the_config(self):
        """Giving a profile the reference did not bundle fails the create check."""
        self.assertRaises(AssertionError, self.run_cases,
                          dict(self.miner, profile_json='{"a":1}'))


# The same tests on the pure-Python path (tests/_accel.py).


class PureVectorsTests(PurePath, VectorsTests):
    """VectorsTests, on the pure-Python twins of the compiled functions."""


class PureExtraVectorsTests(PurePath, ExtraVectorsTests):
    """ExtraVectorsTests, on the pure-Python twins of the compiled functions."""
