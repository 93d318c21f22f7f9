"""The examples in docs/bundles.md run and print what their comments say."""

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

DOC = Path(__file__).resolve().parent.parent / "docs" / "bundles.md"

#: ``print(...)  # shown`` -- the line printed must start with ``shown``.
_CLAIM = re.compile(r"^\s*print\(.*\)\s+#\s(.+)$")


def python_blocks(text):
    """The ```python code blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S)


class BundleDocsTests(SynchronousTestCase):
    """docs/bundles.md is runnable documentation."""

    def test_examples_run_and_print_what_they_claim(self):
        """Every python block runs in one namespace; each commented print holds."""
        scratch = os.path.abspath(self.mktemp())
        os.makedirs(scratch)
        self.patch(tempfile, "tempdir", scratch)
        namespace = {"__name__": "bundles_doc"}
        blocks = python_blocks(DOC.read_text())
        self.assertGreater(len(blocks), 5)
        for block in blocks:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(block, str(DOC), "exec"), namespace)
            claims = [m.group(1).strip() for m in map(_CLAIM.match, block.splitlines()) if m]
            printed = output.getvalue().splitlines()
            self.assertEqual(len(printed), len(claims), block)
            for shown, claim in zip(printed, claims):
                self.assertTrue(shown.startswith(claim), (shown, claim))
