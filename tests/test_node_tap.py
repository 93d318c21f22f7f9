"""The options of ``twistd lethean-node`` and the service they build."""

import os

from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

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
        options = self.parse("--peer", "a:1", "--peer", "b:2", "--allow", "K1", "--allow", "K2")
        self.assertEqual((options["peer"], options["allow"]), (["a:1", "b:2"], ["K1", "K2"]))

    def test_refused(self):
        """A bad role, auth mode, half a TLS pair or a zero cap is a usage error."""
        for argv in (["--role", "boss"], ["--auth", "closed"], ["--tls-cert", "c.pem"],
                     ["--max-conns", "0"], ["--max-pending", "0"], ["--rate-limit", "0"],
                     ["--rate-limit-bytes", "-1"], ["--offender-backoff", "0"],
                     ["--max-uploads-mb", "0"]):
            self.assertRaises(usage.UsageError, self.parse, *argv)


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
                              "--offender-backoff", "30", "--max-uploads-mb", "5"])
        node = makeService(options, Clock())
        config = node.getServiceNamed("transport").config
        self.assertEqual((config.max_pending, config.rate_per_s, config.rate_burst,
                          config.rate_bytes_per_s, config.offender_backoff_s),
                         (7, 10.0, 20, 2 * 1024 * 1024, 30.0))
        worker = node.getServiceNamed("application").worker
        self.assertEqual(worker.max_upload_total_bytes, 5 * 1024 * 1024)
