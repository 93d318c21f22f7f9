"""
Every page in docs/ is runnable documentation.

Each ```python block of each ``docs/*.md`` page runs; a new page is picked up
without touching this file (one test per page, ``test_<page>``).

How the blocks run:

* The blocks of a page run in order, in one namespace, in a fresh Python
  process (so pages cannot disturb each other or the test run); its working
  directory and ``tempfile``'s default directory are a scratch folder that is
  removed afterwards.
* A block that starts a reactor (it calls ``task.react(`` or ``reactor.run(``)
  is a whole program: it runs alone, in a process of its own, because the
  global reactor runs once per process.  Such a block must import what it
  uses.  It must end with exit status 0.

What is checked, besides "runs without an exception":

* ``print(...)  # shown`` -- a line printed by the block, after the line that
  matched the previous claim, must start with ``shown`` (surrounding spaces
  ignored; ``...`` in ``shown`` matches any text).  The comment may add an
  explanation after a colon, ``# True: registered``; the printed line is then
  exactly the text before the colon.

Markers (HTML comments, invisible once the page is rendered):

* ``<!-- docs-test: skip REASON -->`` on the line just before a code block:
  that block does not run; the test ``test_<page>_skipped_<line>`` reports
  it as skipped with REASON (use it for examples that need a real daemon).
* ``<!-- docs-test: skip-page REASON -->`` anywhere in a page: none of its
  blocks run and ``test_<page>`` is skipped with REASON (for a page whose
  examples all need a running network).

Shell, JSON and other blocks are never run.
"""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import attr
from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Seconds one page (or one reactor block) may take before the test fails.
PAGE_TIMEOUT_S = 120

_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
_SKIP_BLOCK = re.compile(r"<!--\s*docs-test:\s*skip\s+(.*?)\s*-->\s*\n$")
_SKIP_PAGE = re.compile(r"<!--\s*docs-test:\s*skip-page\s+(.*?)\s*-->")
_CLAIM = re.compile(r"^\s*print\(.*\)\s+#\s?(.+)$")
_STARTS_REACTOR = re.compile(r"\btask\.react\(|\breactor\.run\(")


@attr.frozen
class Block:
    """One ```python block of a page."""

    source: str
    line: int  # line of the block's first code line in the page
    skip: str = None  # reason, when marked to be skipped

    @property
    def starts_reactor(self):
        return bool(_STARTS_REACTOR.search(self.source))


def python_blocks(text):
    """The ```python blocks of a Markdown text, in order, with their skip markers."""
    blocks = []
    for match in _BLOCK.finditer(text):
        before = text[:match.start()]
        marker = _SKIP_BLOCK.search(before)
        blocks.append(Block(match.group(1), before.count("\n") + 2,
                            marker.group(1) if marker else None))
    return blocks


def page_skip_reason(text):
    """The reason a page opts out of running, or None."""
    marker = _SKIP_PAGE.search(text)
    return marker.group(1) if marker else None


def claims(source):
    """The ``print(...)  # shown`` claims of a block, in order."""
    return [m.group(1).strip() for m in map(_CLAIM.match, source.splitlines()) if m]


def claim_holds(claim, printed):
    """Whether one printed line is what ``claim`` says."""
    printed = printed.strip()
    pattern = ".*".join(map(re.escape, claim.split("...")))
    if re.match(pattern, printed):
        return True
    shown, colon, _ = claim.partition(": ")
    return bool(colon) and printed == shown


def unmet_claim(source, output):
    """The first claim of ``source`` that ``output`` does not show, or None."""
    printed = iter(output.splitlines())
    for claim in claims(source):
        if not any(claim_holds(claim, line) for line in printed):
            return claim
    return None


def run_in_child(path, blocks):
    """
    Run ``blocks`` of the page at ``path`` in a fresh Python process.

    Returns one ``{"output": ..., "error": ...}`` per block that ran; the
    process stops at the first block that fails.
    """
    scratch = tempfile.mkdtemp(prefix="lethean-docs-")
    try:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        request = {"path": str(path), "scratch": scratch,
                   "blocks": [[b.source, b.line] for b in blocks]}
        child = subprocess.run(
            [sys.executable, "-c", "from tests.test_docs import child_main; child_main()"],
            input=json.dumps(request), capture_output=True, text=True, cwd=scratch, env=env,
            timeout=PAGE_TIMEOUT_S)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if child.returncode != 0:
        raise AssertionError("docs runner for {} failed:\n{}".format(path.name, child.stderr))
    return json.loads(child.stdout.splitlines()[-1])


def child_main():
    """The child process: run the blocks named on stdin, print the results as JSON."""
    request = json.load(sys.stdin)
    tempfile.tempdir = request["scratch"]
    namespace = {"__name__": "__main__"}
    results = []
    real_stdout = sys.stdout
    for source, line in request["blocks"]:
        output = io.StringIO()
        error = None
        try:
            code = compile("\n" * (line - 1) + source, request["path"], "exec")
            with contextlib.redirect_stdout(output):
                exec(code, namespace)
        except SystemExit as e:
            if e.code not in (None, 0):
                error = "exited with status {!r}".format(e.code)
        except BaseException:
            error = traceback.format_exc()
        results.append({"output": output.getvalue(), "error": error})
        if error:
            break
    real_stdout.write("\n" + json.dumps(results) + "\n")
    real_stdout.flush()
    # A reactor block has run the reactor; do not let atexit hooks hang.
    os._exit(0)


class DocsTests(SynchronousTestCase):
    """The examples of docs/*.md run and print what they claim."""

    def check_page(self, path):
        text = path.read_text()
        reason = page_skip_reason(text)
        if reason:
            self.skipTest(reason)
        every = python_blocks(text)
        self.assertTrue(every, "{} has no python example (or a skip-page marker)".format(path.name))
        blocks = [b for b in every if b.skip is None]
        if not blocks:
            self.skipTest("every example of {} is marked skip".format(path.name))
        # Plain blocks share one process and namespace; a reactor block gets its own.
        runs = [[b for b in blocks if not b.starts_reactor]]
        runs += [[b] for b in blocks if b.starts_reactor]
        for run in filter(None, runs):
            results = run_in_child(path, run)
            for block, result in zip(run, results):
                where = "{}:{}".format(path.name, block.line)
                self.assertIsNone(result["error"], "{}\n{}".format(where, result["error"]))
                claim = unmet_claim(block.source, result["output"])
                self.assertIsNone(claim, "{}: printed\n{}\nnot showing {!r}".format(
                    where, result["output"], claim))
            self.assertEqual(len(results), len(run))


class ClaimTests(SynchronousTestCase):
    """The runner's reading of pages and claims."""

    def test_claim_is_a_prefix(self):
        """A claim holds for a printed line that starts with it."""
        self.assertTrue(claim_holds("b'{\"type\":\"prof", "b'{\"type\":\"profile\"}'"))
        self.assertFalse(claim_holds("refused: hmac_mismatch", "refused: value_too_large"))

    def test_claim_with_explanation(self):
        """Text after ': ' explains; the line must then be exactly the text before it."""
        self.assertTrue(claim_holds("True: registered", "True"))
        self.assertFalse(claim_holds("True: registered", "True False"))

    def test_ellipsis_matches_anything(self):
        """'...' in a claim matches any text."""
        self.assertTrue(claim_holds("PingReply(status='OK', peer_id=...)",
                                    "PingReply(status='OK', peer_id=77)"))

    def test_claims_are_met_in_order(self):
        """Each claim must be met by a line after the previous claim's line."""
        source = "print(1)  # one\nprint(2)  # two\n"
        self.assertIsNone(unmet_claim(source, "one\nnoise\ntwo\n"))
        self.assertEqual(unmet_claim(source, "two\none\n"), "two")

    def test_markers(self):
        """Skip markers apply to the next block or to the whole page."""
        text = ("# t\n\n```python\nprint(1)\n```\n\n<!-- docs-test: skip needs monerod -->\n"
                "```python\nprint(2)\n```\n")
        blocks = python_blocks(text)
        self.assertEqual([(b.line, b.skip) for b in blocks], [(4, None), (9, "needs monerod")])
        self.assertIsNone(page_skip_reason(text))
        self.assertEqual(page_skip_reason("<!-- docs-test: skip-page needs a network -->"),
                         "needs a network")

    def test_broken_pages_fail(self):
        """A page whose example raises, or prints something else than claimed, fails."""
        page = Path(self.mktemp() + ".md")
        checker = DocsTests("check_page")
        for body in ("x = 1\nraise ValueError(x)\n", "print(2)  # 3\n"):
            page.write_text("# t\n\n```python\n" + body + "```\n")
            self.assertRaises(checker.failureException, checker.check_page, page)

    def test_every_page_is_tested(self):
        """Each docs page has its test, and there are pages."""
        pages = sorted(DOCS.glob("*.md"))
        self.assertTrue(pages)
        for page in pages:
            self.assertTrue(hasattr(DocsTests, _test_name(page)), page.name)


def _test_name(path):
    return "test_" + re.sub(r"\W", "_", path.stem)


def _add_page_tests():
    """One test per page, plus one skipped test per marked block."""
    for path in sorted(DOCS.glob("*.md")):
        def test(self, path=path):
            self.check_page(path)
        test.__doc__ = "docs/{} runs and prints what it claims.".format(path.name)
        setattr(DocsTests, _test_name(path), test)
        for block in python_blocks(path.read_text()):
            if block.skip is not None:
                def skipped(self, reason=block.skip):
                    self.skipTest(reason)
                skipped.__doc__ = "docs/{} line {} is not run.".format(path.name, block.line)
                setattr(DocsTests, "{}_skipped_{}".format(_test_name(path), block.line), skipped)


_add_page_tests()


_SHELL_BLOCK = re.compile(r"^```(?:sh|ini)\n(.*?)^```$", re.M | re.S)


def shell_commands(text, program):
    """The command lines of ``program`` in a page's sh (and ini) blocks, continuations joined."""
    import shlex

    commands = []
    for block in _SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("ExecStart="):
                line = line[len("ExecStart="):]
            words = shlex.split(line) if line else []
            if words and os.path.basename(words[0]) == program:
                commands.append(words)
    return commands


class ShellExampleTests(SynchronousTestCase):
    """The shell examples of docs/ use commands and options that exist."""

    def test_lethean_commands_parse(self):
        """Every 'lethean ...' line of every page is a command line the parser takes."""
        from lethean.cli._main import build_parser

        parser = build_parser()
        seen = 0
        for path in sorted(DOCS.glob("*.md")):
            for words in shell_commands(path.read_text(), "lethean"):
                seen += 1
                with contextlib.redirect_stderr(io.StringIO()) as err:
                    try:
                        parser.parse_args(words[1:])
                    except SystemExit:
                        self.fail("{}: {!r} is refused: {}".format(
                            path.name, " ".join(words), err.getvalue().strip()))
        self.assertGreater(seen, 10)

    def test_twistd_lines_use_the_plugin_s_options(self):
        """Every 'twistd ... lethean-node ...' line names only options the plugin has."""
        from lethean.node.tap import Options

        known = {"--" + name.rstrip("=") for name in Options().longOpt}
        seen = 0
        for path in sorted(DOCS.glob("*.md")):
            for words in shell_commands(path.read_text(), "twistd"):
                if "lethean-node" not in words:
                    continue
                seen += 1
                for word in words[words.index("lethean-node") + 1:]:
                    if word.startswith("--"):
                        self.assertIn(word.split("=")[0], known, "{}: {}".format(
                            path.name, " ".join(words)))
        self.assertGreater(seen, 3)

    def test_node_page_lists_every_plugin_option(self):
        """docs/node.md's options table has each option of 'twistd lethean-node --help', and no other."""
        from lethean.node.tap import Options

        known = {"--" + name.rstrip("=") for name in Options().longOpt} - {"--help", "--version"}
        text = (DOCS / "node.md").read_text()
        table = text.split("## Options", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"^\| `(--[a-z-]+)", table, re.M))
        listed |= set(re.findall(r"^\| `--[a-z-]+ [A-Z0-9]+`, `(--[a-z-]+)", table, re.M))
        self.assertEqual(sorted(listed), sorted(known))
