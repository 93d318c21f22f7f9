"""lethean._compat: the dependency internals lethean relies on are still there."""

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from lethean import _compat


class UpstreamTests(SynchronousTestCase):
    """Each check names the upstream change that would break lethean."""

    def test_no_problems(self):
        """Every internal in lethean/_compat.py is present in the installed versions."""
        found = _compat.problems()
        self.assertEqual(found, [], "upstream changed:\n" + "\n".join(found))

    def test_sodium_handle_calls_libsodium(self):
        """PyNaCl's handle seals as nacl.bindings does."""
        from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

        ffi, lib = _compat.sodium_handle()
        key, nonce, text = b"k" * 32, b"n" * 24, b"hello"
        out = ffi.new("unsigned char[]", len(text) + 16)
        lib.crypto_aead_xchacha20poly1305_ietf_encrypt(
            out, ffi.NULL, text, len(text), ffi.NULL, 0, ffi.NULL, nonce, key)
        self.assertEqual(ffi.buffer(out)[:],
                         crypto_aead_xchacha20poly1305_ietf_encrypt(text, None, nonce, key))

    def test_autobahn_timer_is_the_one_used(self):
        """An Autobahn connection schedules its opening-handshake timeout on our timer."""
        from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

        from lethean.mesh._stacking import ReactorTimer

        clock = Clock()
        factory = WebSocketServerFactory()
        factory.protocol = WebSocketServerProtocol
        factory.setProtocolOptions(openHandshakeTimeout=7)
        _compat.set_autobahn_timer(factory, ReactorTimer(clock))
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        self.assertEqual([call.getTime() for call in clock.getDelayedCalls()], [7],
                         "Autobahn no longer schedules its timeouts on factory._batched_timer")
        protocol.connectionLost(Failure(ConnectionDone()))

    def test_server_endpoint_types(self):
        """Twisted's own server endpoint prefixes are known."""
        self.assertTrue({"tcp", "unix", "ssl"} <= _compat.server_endpoint_types())

    def test_a_missing_internal_is_named(self):
        """A vanished internal is reported by name, with what it costs."""
        from twisted.internet import endpoints

        self.patch(endpoints, "_serverParsers", {})
        [problem] = _compat.problems()
        self.assertIn("_serverParsers", problem)
