"""
The ``lethean`` command's contract, checked mostly in this process: the
parser, ``main()``, exit statuses of bugs and errors, progress and tables,
what a peer's text may do to the terminal, and which layers a command loads.
"""

import io
import json
import os
import sys

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from lethean.cli import _main, build_parser
from tests._loopback_node import start_node
from tests._processes import ROOT, environment


#: What no command should load unless it needs it.
HEAVY_MODULES = ("twisted", "autobahn", "nacl", "prometheus_client", "rich", "cryptography",
                 "OpenSSL", "lethean.mesh", "lethean.smsg", "lethean.identity", "lethean.peers",
                 "lethean.bundles", "lethean.levin", "lethean.ueps", "lethean.node._controller")


def reporting_heavy_modules(command, allowed=()):
    """
    Python code that runs ``command`` and at exit prints, as its last line
    on stderr, which of :data:`HEAVY_MODULES` (but ``allowed``) it loaded.
    """
    heavy = tuple(h for h in HEAVY_MODULES if h not in allowed)
    return ("import atexit, sys\n"
            "def report():\n"
            "    loaded = sorted({{h for h in {!r} for m in sys.modules\n"
            "                     if m == h or m.startswith(h + '.')}})\n"
            "    sys.stderr.write('heavy modules: {{}}\\n'.format(loaded))\n"
            "atexit.register(report)\n"
            "{}\n").format(heavy, command)


class ThroughNodeImportsTests(TestCase):
    """A request through the running node needs the reactor and HTTP, not the mesh."""

    timeout = 60

    async def test_ping_through_the_node_loads_no_mesh(self):
        """lethean ping with a node running: it answers without the mesh, PyNaCl, Autobahn or rich."""
        from twisted.internet.utils import getProcessOutputAndValue

        from lethean.node._control import unix_endpoint
        from tests._processes import short_folder

        home = short_folder(self)
        _, bravo = start_node(self, home, "bravo")
        alpha, _ = start_node(self, home, "alpha", control=[
            unix_endpoint(os.path.join(home, "alpha", "control.sock"))])
        # Twisted's reactor imports its TLS support (cryptography, OpenSSL) itself.
        program = reporting_heavy_modules("from lethean.cli import main; main()",
                                          allowed=("twisted", "cryptography", "OpenSSL"))
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-c", program, "ping", bravo, "--data-dir",
                             os.path.join(home, "alpha"), "--json"],
            env=environment(home), path=ROOT, reactor=reactor)
        self.assertEqual(code, 0, err)
        bravo_id = alpha.getServiceNamed("transport").connections()[0].peer_id
        self.assertEqual(json.loads(out)["peerId"], bravo_id)
        self.assertEqual(err.decode().splitlines()[-1], "heavy modules: []")


class ContractTests(SynchronousTestCase):
    """The parser and main() in this process."""

    def test_every_data_command_has_json(self):
        """Each command that prints data takes --json."""
        import argparse

        def leaves(parser, path):
            actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            if not actions:
                yield path, parser
                return
            for name, sub in actions[0].choices.items():
                yield from leaves(sub, path + [name])

        found = list(leaves(build_parser(), []))
        self.assertGreater(len(found), 15)
        for path, parser in found:
            options = {o for a in parser._actions for o in a.option_strings}
            self.assertIn("--json", options, " ".join(path))

    def test_repeated_constants_agree(self):
        """The choices and limits the parser repeats (to keep --help fast) are the layers' own."""
        from lethean import bundles, identity
        from lethean.bundles import _tar
        from lethean.cli import _bundle, _identity

        self.assertEqual(tuple(_identity.ROLES), tuple(identity.ROLES))
        self.assertEqual((_identity.REPAIR, _identity.REFUSE), (identity.REPAIR, identity.REFUSE))
        self.assertEqual((_bundle.MAX_BUNDLE_DATA_BYTES, _bundle.MAX_MEMBER_BYTES,
                          _bundle.MAX_TOTAL_BYTES, _bundle.MAX_MEMBERS),
                         (bundles.MAX_BUNDLE_DATA_BYTES, _tar.MAX_MEMBER_BYTES,
                          _tar.MAX_TOTAL_BYTES, _tar.MAX_MEMBERS))
        self.assertEqual((_bundle.BUNDLE_MINER, _bundle.BUNDLE_FULL, _bundle.BUNDLE_PROFILE),
                         (bundles.BUNDLE_MINER, bundles.BUNDLE_FULL, bundles.BUNDLE_PROFILE))

    def test_help_imports_no_heavy_layer(self):
        """lethean --help imports no Twisted, crypto, mesh, web server, metrics or rich."""
        import subprocess

        code = reporting_heavy_modules("from lethean.cli import main; main(['--help'])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ping", out.stdout)
        self.assertEqual(out.stderr.splitlines()[-1], "heavy modules: []")

    def test_version(self):
        """lethean --version prints the version and exits 0."""
        from lethean import __version__

        out = io.StringIO()
        self.patch(sys, "stdout", out)
        error = self.assertRaises(SystemExit, _main.main, ["--version"])
        self.assertEqual((error.code, out.getvalue()), (0, "lethean {}\n".format(__version__)))

    def test_a_bug_exits_70_and_asks_to_report_it(self):
        """An exception that is not a lethean error: traceback, a report line, status 70."""
        err = io.StringIO()
        self.patch(sys, "stderr", err)

        def broken(args):
            raise ValueError("a bug")
        parser = build_parser()
        real = parser.parse_args
        self.patch(_main, "build_parser", lambda: parser)
        self.patch(parser, "parse_args", lambda argv: real(argv) if False else
                   __import__("argparse").Namespace(func=broken, json=False))
        error = self.assertRaises(SystemExit, _main.main, ["peers", "list"])
        self.assertEqual(error.code, 70)
        self.assertIn("ValueError: a bug", err.getvalue())
        self.assertIn("please report it", err.getvalue().splitlines()[-1])

    def test_progress_shows_bytes_rate_and_time_left(self):
        """On a terminal the deploy progress has bytes, a rate and the time left; in a pipe, nothing."""
        from lethean.cli._output import Progress

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        for stream, drawn in ((Terminal(), True), (io.StringIO(), False)):
            self.patch(sys, "stderr", stream)
            progress = Progress("deploying miner.bin")
            progress(0, 3_000_000)
            progress(1_500_000, 3_000_000)
            progress(3_000_000, 3_000_000)
            progress.close()
            text = stream.getvalue()
            if drawn:
                for words in ("deploying miner.bin", "3.0/3.0 MB", "/s", "0:00:00"):
                    self.assertIn(words, text)
            else:
                self.assertEqual(text, "")

    def test_tables_plain_in_a_pipe(self):
        """Without a terminal a table is plain aligned text, whole."""
        from lethean.cli._output import print_table

        out = io.StringIO()
        self.patch(sys, "stdout", out)
        print_table([["a" * 32, "x"]], ["ID", "NAME"])
        self.assertEqual(out.getvalue(), "ID{}NAME\n{}  x\n".format(" " * 32, "a" * 32))

    def test_tables_show_a_peer_s_text_as_text(self):
        """Names a peer chose are neither rich markup nor terminal controls, on a terminal or not."""
        from lethean.cli._output import print_table

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        name = "[/bold] [red]evil\x1b]0;owned\x07\nlethean: all good"
        for stream in (Terminal(), io.StringIO()):
            self.patch(sys, "stdout", stream)
            print_table([[name, "ab" * 16]], ["NAME", "ID"])
            text = stream.getvalue()
            self.assertIn("[/bold] [red]evil", text)
            self.assertNotIn("\x1b]", text)
            self.assertNotIn("\x07", text)
            self.assertEqual(len(text.strip().splitlines()), 2, text)

    def test_a_peer_s_words_cannot_drive_the_terminal(self):
        """Stats and, on a terminal, log lines show a peer's control characters escaped."""
        from lethean.cli import _node

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        evil = "x\x1b]0;owned\x07\x1b[2J"
        text = _node._stats_text("ab" * 16, {"nodeName": evil, "uptime": 1, "miners": [
            {"name": evil, "type": evil, "hashrate": 1.0}]})
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\x07", text)
        self.assertEqual(len(text.splitlines()), 2)
        lines = ["speed 10 H/s", evil]
        self.patch(sys, "stdout", Terminal())
        shown = _node._log_text(lines)
        self.assertEqual(shown.splitlines()[0], "speed 10 H/s")
        self.assertNotIn("\x1b", shown)
        # In a pipe the lines are the miner's own, byte for byte.
        self.patch(sys, "stdout", io.StringIO())
        self.assertEqual(_node._log_text(lines), "\n".join(lines))

    def test_identity_help_says_what_it_prints(self):
        """identity show and new print text unless --json: their help does not promise JSON."""
        import argparse

        parser = build_parser()
        identity = next(a for a in parser._actions
                        if isinstance(a, argparse._SubParsersAction)).choices["identity"]
        actions = next(a for a in identity._actions if isinstance(a, argparse._SubParsersAction))
        helps = {c.dest: c.help for c in actions._choices_actions}
        for name in ("show", "new"):
            self.assertIn("JSON with --json", helps[name], name)
            self.assertIn("JSON with --json", actions.choices[name].description, name)

    def test_interrupted_is_said_once(self):
        """However many paths see the interruption, 'interrupted' is printed once."""
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        run = _main._Run(__import__("argparse").Namespace(json=False))
        run.interrupted = __import__("signal").SIGINT
        self.assertEqual((run.exit_interrupted(), run.exit_interrupted()), (130, 130))
        self.assertEqual(err.getvalue(), "\ninterrupted\n")

    def test_lethean_errors_map_to_1_or_2(self):
        """A lethean error's status is 1 or 2, whatever it declares."""
        from lethean.errors import LetheanError

        class Odd(LetheanError):
            """Odd."""
            exit_code = 3
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        run = _main._Run(__import__("argparse").Namespace(json=False))
        self.assertEqual(run.fail(Odd("x")), 1)
        self.assertEqual(err.getvalue(), "lethean: Odd (x)\n")

    def test_errors_live_in_errors_modules(self):
        """Every exception of the command and of the conformance checker is defined in its _errors module."""
        import importlib
        import inspect
        import pkgutil

        import lethean.cli
        import lethean.conformance

        found = {}
        for package in (lethean.cli, lethean.conformance):
            for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                if info.name.endswith(".__main__"):
                    continue
                module = importlib.import_module(info.name)
                for value in vars(module).values():
                    if inspect.isclass(value) and issubclass(value, BaseException) and (
                            value.__module__.startswith(package.__name__ + ".")):
                        found[value.__name__] = value.__module__
        self.assertEqual(found, {
            "CommandLineError": "lethean.cli._errors",
            "NodeAnswerError": "lethean.cli._errors",
            "NodeNotAnsweringError": "lethean.cli._errors",
            "NoNodeError": "lethean.cli._errors",
            "PeerFilesError": "lethean.cli._errors",
            "VectorMismatch": "lethean.conformance._errors",
        })
