"""The examples in docs/identity.md run, and print what their comments say."""

import contextlib
import io
import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import lethean.mesh

DOC = Path(__file__).resolve().parent.parent / "docs" / "identity.md"

#: ``print(...)  # expected`` in an example: the matching printed line
#: (in order) must start with ``expected`` (text before any ':').
_CLAIM = re.compile(r"^\s*print\(.*\)\s+#\s*([^:]+?)(?::\s.*)?$")


def python_blocks(text):
    """The ```python code blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S)


class DocsTests(SynchronousTestCase):
    """docs/identity.md is runnable documentation."""

    def setUp(self):
        if not hasattr(lethean.mesh, "new_message"):
            self.skipTest("lethean.mesh does not re-export the envelope names yet")

    def test_examples_run_and_print_what_they_claim(self):
        """Every python block runs, in order, in one namespace; commented prints hold."""
        namespace = {"__name__": "identity_doc"}
        blocks = python_blocks(DOC.read_text())
        self.assertGreater(len(blocks), 8)
        for block in blocks:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(block, str(DOC), "exec"), namespace)
            printed = iter(output.getvalue().splitlines())
            for line in block.splitlines():
                claim = _CLAIM.match(line)
                if claim:
                    expected = claim.group(1).strip()
                    self.assertTrue(any(text.strip().startswith(expected) for text in printed),
                                    (line, output.getvalue()))
