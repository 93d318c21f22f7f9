"""The options of ``twistd lethean-node`` and the service they build."""

import contextlib
import io
import os

from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import PrivateKey
from lethean.node.tap import Options, makeService
from lethean.peers import AuthMode


class OptionsTests(SynchronousTestCase):
    """Defaults, repeatable options and refused combinations."""

    def parse(self, *argv):
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self):
        """No options: tcp:9091, dual role, XDG files, open to anyone who keeps the saved mode."""
        options = self.parse()
        self.assertEqual((options["listen"], options["role"], options["data-dir"],
                          options["auth"], options["peer"], options["max-conns"]),
                         ("tcp:9091", "dual", None, None, [], 100))

    def test_repeatable(self):
        """--peer and --allow collect every occurrence."""
        k1, k2 = (PrivateKey.generate().public_key_b64 for _ in range(2))
        options = self.parse("--peer", "a:1", "--peer", "b:2", "--allow", k1, "--allow", k2)
        self.assertEqual((options["peer"], options["allow"]), (["a:1", "b:2"], [k1, k2]))

    def test_refused(self):
        """A bad role, auth mode, half a TLS pair or a zero cap is a usage error."""
        for argv in (["--role", "boss"], ["--auth", "closed"], ["--tls-cert", "c.pem"],
                     ["--max-conns", "0"], ["--max-pending", "0"], ["--rate-limit", "0"],
                     ["--rate-limit-bytes", "-1"], ["--offender-backoff", "0"],
                     ["--max-clock-skew", "0"],
                     ["--max-uploads-mb", "0"], ["--max-conns-per-address", "0"],
                     ["--max-pending-per-address", "0"], ["--connect-rate", "0"]):
            self.assertRaises(usage.UsageError, self.parse, *argv)


class VersionTests(SynchronousTestCase):
    """twistd lethean-node --version names lethean's version, not only Twisted's."""

    def test_version(self):
        """--version prints lethean's version and Twisted's, and exits 0."""
        import io
        import sys

        from twisted import version

        from lethean import __version__

        out = io.StringIO()
        self.patch(sys, "stdout", out)
        error = self.assertRaises(SystemExit, Options().parseOptions, ["--version"])
        self.assertEqual(error.code, 0)
        self.assertEqual(out.getvalue(), "lethean {} (Twisted {})\n".format(
            __version__, version.short()))


class ValidationTests(SynchronousTestCase):
    """Every option is checked while parsing: one usage line, never a traceback."""

    def refused(self, *argv):
        """The one-line usage error ``argv`` gets."""
        options = Options()
        error = self.assertRaises(usage.UsageError, options.parseOptions, list(argv))
        self.assertEqual(len(str(error).splitlines()), 1, str(error))
        return str(error)

    def parse(self, *argv):
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_listen_forms(self):
        """A bare port and HOST:PORT are read as tcp endpoints; endpoint strings stay."""
        for given, meant in (("9105", "tcp:9105"),
                             ("127.0.0.1:9105", "tcp:9105:interface=127.0.0.1"),
                             ("[::1]:9105", "tcp6:9105:interface=\\:\\:1"),
                             ("tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1"),
                             ("unix:/tmp/x.sock", "unix:/tmp/x.sock")):
            self.assertEqual(self.parse("--listen", given)["listen"], meant)

    def test_listen_refused(self):
        """An endpoint Twisted cannot build, or a port out of range, is a usage error."""
        self.assertIn("not an endpoint type", self.refused("--listen", "bogus:thing:1:2"))
        self.assertIn("e.g. tcp:9091", self.refused("--listen", "tcp:notaport"))
        self.assertIn("65535", self.refused("--listen", "70000"))
        self.assertIn("--control", self.refused("--control", "tcp:notaport"))

    def test_names_keys_and_peers(self):
        """A bad name, key or peer is refused with what would do."""
        self.assertIn("letters, digits", self.refused("--name", "bad.name"))
        self.assertIn("lethean identity show", self.refused("--allow", "notakey"))
        self.assertIn("give HOST:PORT", self.refused("--peer", "127.0.0.1"))
        self.assertIn("endpoint string", self.refused("--peer", "tcp:127.0.0.1:9091"))
        self.assertIn("/ws", self.refused("--peer", "ws://127.0.0.1:9091/other"))
        options = self.parse("--peer", "ws://127.0.0.1:9091/ws", "--peer", "wss://h:1",
                             "--peer", "bravo", "--peer", "6105b23c")
        self.assertEqual(len(options["peer"]), 4)

    def test_miner_command(self):
        """A command that does not split into words, or names no program, is refused."""
        self.assertIn("quote it", self.refused("--miner-command", '"unbalanced'))
        self.assertIn("not an executable", self.refused("--miner-command",
                                                        "no-such-miner-program --x"))
        self.parse("--miner-command", "sh -c 'echo hashrate 1'")

    def test_tls_files(self):
        """Missing or unusable TLS files, and two ways of trusting, are refused."""
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        junk = os.path.join(folder, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate")
        missing = os.path.join(folder, "missing.pem")
        self.assertIn("No such file", self.refused("--tls-cert", missing, "--tls-key", missing))
        line = self.refused("--tls-cert", junk, "--tls-key", junk)
        self.assertIn("--tls-cert/--tls-key", line)
        self.assertIn("junk.pem holds no PEM certificate", line)
        self.assertNotIn("routines", line)  # OpenSSL's error tuples are not a message
        from tests.test_tls_nodes import self_signed
        cert, key, _ = self_signed(folder, "a")
        other_cert, other_key, _ = self_signed(folder, "b")
        self.assertIn("holds no PEM private key", self.refused("--tls-cert", cert, "--tls-key", junk))
        self.assertIn("{} is not the private key of the certificate".format(other_key),
                      self.refused("--tls-cert", cert, "--tls-key", other_key))
        self.assertIn("No such file", self.refused("--tls-ca", missing))
        self.assertIn("no PEM certificate", self.refused("--tls-ca", junk))
        self.assertIn("SHA-256", self.refused("--tls-fingerprint", "abcd"))
        self.assertIn("not both", self.refused("--tls-ca", junk, "--tls-fingerprint", "0" * 64))
        self.assertEqual(self.parse("--tls-fingerprint", ":".join(["AB"] * 32))["tls-verify"],
                         "sha256:" + "ab" * 32)

    def test_data_dir(self):
        """A data folder that cannot be a folder is refused; a new one is fine."""
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        a_file = os.path.join(folder, "file")
        open(a_file, "w").close()
        self.assertIn("is not a folder", self.refused("--data-dir", os.path.join(a_file, "d")))
        self.assertEqual(self.parse("--data-dir", os.path.join(folder, "new"))["data-dir"],
                         os.path.join(folder, "new"))

    def test_no_short_options(self):
        """No option has a short form that twistd's own (-n, -d, -l, -r...) could shadow."""
        options = Options()
        shorts = [p[1] for p in options.optParameters + getattr(options, "optFlags", [])
                  if p[1]]
        shorts += [name[4:] for name in dir(options)
                   if name.startswith("opt_") and len(name) == 5]
        self.assertEqual(shorts, [])
        self.refused("-n", "alpha")


class MakeServiceTests(SynchronousTestCase):
    """makeService creates the identity and applies --auth and --allow to the registry."""

    def test_builds_the_node(self):
        """The identity is created in --data-dir and the saved auth mode follows --auth."""
        from lethean.identity import PrivateKey

        folder = os.path.abspath(self.mktemp())
        key = PrivateKey.generate().public_key_b64
        options = Options()
        options.parseOptions(["--data-dir", folder, "--name", "alpha", "--role", "worker",
                              "--auth", "allowlist", "--allow", key,
                              "--listen", "tcp:0:interface=127.0.0.1"])
        node = makeService(options, Clock())
        transport = node.getServiceNamed("transport")
        self.assertEqual((transport.identity.identity.name, transport.identity.identity.role),
                         ("alpha", "worker"))
        self.assertTrue(os.path.exists(os.path.join(folder, "private.key")))
        self.assertEqual(transport.registry.auth_mode, AuthMode.ALLOWLIST)
        self.assertTrue(transport.registry.is_public_key_allowed(key))

    def test_limits_reach_the_transport(self):
        """The limit options become the transport's and the worker's settings."""
        options = Options()
        options.parseOptions(["--data-dir", os.path.abspath(self.mktemp()),
                              "--listen", "tcp:0:interface=127.0.0.1", "--max-pending", "7",
                              "--rate-limit", "10", "--rate-limit-bytes", "2",
                              "--offender-backoff", "30", "--max-uploads-mb", "5",
                              "--max-clock-skew", "900"])
        node = makeService(options, Clock())
        config = node.getServiceNamed("transport").config
        self.assertEqual((config.max_pending, config.rate_per_s, config.rate_burst,
                          config.rate_bytes_per_s, config.offender_backoff_s,
                          config.max_clock_skew_s, config.dedup_ttl_s),
                         (7, 10.0, 20, 2 * 1024 * 1024, 30.0, 900.0, 1800.0))
        worker = node.getServiceNamed("application").worker
        self.assertEqual(worker.max_upload_total_bytes, 5 * 1024 * 1024)

    def test_address_limits_reach_the_transport(self):
        """The per-address options become the transport's admission settings."""
        options = Options()
        options.parseOptions(["--data-dir", os.path.abspath(self.mktemp()),
                              "--listen", "tcp:0:interface=127.0.0.1",
                              "--max-conns-per-address", "3", "--max-pending-per-address", "2",
                              "--connect-rate", "0.5"])
        config = makeService(options, Clock()).getServiceNamed("transport").config
        self.assertEqual((config.max_connections_per_address, config.max_pending_per_address,
                          config.connect_per_s, config.connect_burst), (3, 2, 0.5, 2))


def _twistd_exits_on_usage_errors():
    """
    Whether twistd itself exits non-zero after an options error: it does
    from Twisted 26.10 on; before, it printed the error and exited 0
    whatever the plugin did.
    """
    from twisted.application import app

    class Refused:
        def parseOptions(self):
            raise usage.UsageError("refused")

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app.run(lambda config: None, Refused)
    except SystemExit as e:
        return e.code != 0
    return False


_TWISTD_EXITS_ON_USAGE_ERRORS = _twistd_exits_on_usage_errors()


class HelpTests(SynchronousTestCase):
    """``twistd lethean-node --help`` is grouped and explained; a usage error is short."""

    def twistd(self, *argv):
        """Run twistd (no reactor starts for --help or a usage error); (status, output)."""
        import subprocess
        import sys

        from tests._processes import PROCESS_TEST_TIMEOUT_S, ROOT, environment

        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        done = subprocess.run(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *argv],
            cwd=home, env=environment(home), capture_output=True, text=True,
            timeout=PROCESS_TEST_TIMEOUT_S)
        self.assertTrue(ROOT)
        return done.returncode, done.stdout + done.stderr

    def test_help_groups_every_option(self):
        """Every option appears once, under a heading, with its explanation and value name."""
        from lethean.node.tap import OPTION_GROUPS

        status, text = self.twistd("lethean-node", "--help")
        self.assertEqual(status, 0, text)
        grouped = [name for _, names in OPTION_GROUPS for name in names]
        options = Options()
        every = {name.rstrip("=") for name in options.longOpt}
        self.assertEqual(sorted(grouped), sorted(every))
        for title, names in OPTION_GROUPS:
            self.assertIn("\n" + title + ":\n", text)
        self.assertIn("  --listen=ENDPOINT\n", text)
        self.assertIn("  --peer=TARGET\n", text)
        self.assertIn("[default: tcp:9091]", text)
        self.assertLess(max(len(line) for line in text.splitlines()), 100)

    def test_usage_error_is_short(self):
        """A bad value prints the error and where the options are, not the whole list."""
        status, text = self.twistd("-n", "--pidfile=", "lethean-node", "--role", "boss")
        if _TWISTD_EXITS_ON_USAGE_ERRORS:
            self.assertNotEqual(status, 0)
        self.assertLessEqual(len(text.strip().splitlines()), 3, text)
        self.assertIn("--role must be one of", text)
        self.assertIn("twistd lethean-node --help", text)
        self.assertNotIn("--max-pending", text)
