"""The examples in docs/peers.md run, and print what their comments say."""

import contextlib
import io
import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

DOC = Path(__file__).resolve().parent.parent / "docs" / "peers.md"

#: ``print(...)  # expected: explanation`` in an example: some later printed
#: line must start with ``expected``.
_CLAIM = re.compile(r"^print\(.*\)\s+#\s*([^:]+?)(?::\s.*)?$")


def python_blocks(text):
    """The ```python code blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S)


class DocsTests(SynchronousTestCase):
    """docs/peers.md is runnable documentation."""

    def test_examples_run_and_print_what_they_claim(self):
        """Every python block runs, in order, in one namespace; commented prints hold."""
        namespace = {"__name__": "peers_doc"}
        blocks = python_blocks(DOC.read_text())
        self.assertGreater(len(blocks), 5)
        for block in blocks:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(block, str(DOC), "exec"), namespace)
            printed = iter(output.getvalue().splitlines())
            for line in block.splitlines():
                claim = _CLAIM.match(line)
                if claim:
                    expected = claim.group(1).strip()
                    self.assertTrue(any(text.startswith(expected) for text in printed), (line, block))
