"""The optional compiled accelerator (lethean._accel, csrc/_lethean_speedups.c)."""

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean import _accel, _gojson
from lethean.levin import _storage
from lethean.smsg import _frame, _sigil, _sigil_stream
from lethean.ueps import Header, Packet, _codec
from tests._accel import PurePath, can_build_extensions, outcome, shortcuts_off

ROOT = Path(__file__).resolve().parent.parent

#: What pick() bound in each module, and the compiled function it must be.
HOT = [(_sigil, "xor_obfuscate", "xor_obfuscate"),
       (_sigil, "xor_obfuscate_at", "xor_obfuscate_at"),
       (_sigil_stream, "xor_obfuscate_at", "xor_obfuscate_at"),
       (_sigil, "seal_obfuscated", "sigil_seal"),
       (_sigil, "open_obfuscated", "sigil_open"),
       (_gojson, "go_string", "go_string"), (_frame, "_common_plaintext", "smsg_body"),
       (_storage, "_decode_common", "levin_decode"),
       (_storage, "_encode_common", "levin_encode")]
#: Bound only where SHA-256 runs on the CPU's SHA instructions.
HOT_SHA_NI = [(_codec, "hmac_sha256", "hmac_sha256"), (_codec, "encode", "ueps_encode")]


class LoadTests(SynchronousTestCase):
    """The accelerator is built and used wherever it can be."""

    def test_built_and_used_where_a_compiler_exists(self):
        """With a compiler, pip install . built it and the codecs call it."""
        missing = can_build_extensions()
        if missing:
            self.skipTest("{}: lethean runs on pure Python here".format(missing))
        if os.environ.get("LETHEAN_PURE_PYTHON"):
            self.skipTest("LETHEAN_PURE_PYTHON is set")
        self.assertIsNotNone(_accel.speedups, _accel.unavailable_reason)
        for module, name, compiled in HOT:
            self.assertIs(getattr(module, name), getattr(_accel.speedups, compiled))
        for module, name, compiled in HOT_SHA_NI:
            self.assertEqual(getattr(module, name) is getattr(_accel.speedups, compiled),
                             "sha-ni" in _accel.speedups.BACKENDS)
        self.assertIs(Header.__new__, _accel.speedups.ueps_header_new)
        self.assertIs(Packet.__new__, _accel.speedups.ueps_packet_new)

    def test_pure_python_when_asked(self):
        """LETHEAN_PURE_PYTHON=1 runs everything on the pure-Python functions."""
        code = ("from lethean import _accel, _gojson; from lethean.smsg import _sigil; "
                "from lethean.ueps import _codec; "
                "print(_accel.speedups, _sigil.xor_obfuscate.__name__, "
                "_codec.hmac_sha256.__name__, _gojson.go_string.__name__)")
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
            env=dict(os.environ, PYTHONPATH=str(ROOT), LETHEAN_PURE_PYTHON="1"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split(),
                         ["None", "pure_xor_obfuscate", "pure_hmac_sha256", "pure_go_string"])

    def test_build_of_another_source_is_refused(self):
        """A build whose source differs from the checkout's is not used."""
        if _accel.speedups is None:
            self.skipTest("accelerator not built: {}".format(_accel.unavailable_reason))
        source = Path(self.mktemp())
        source.write_bytes(b"/* another version */\n")
        module, reason = _accel.load(source, environ={})
        self.assertIsNone(module)
        self.assertIn("pip install .", reason)

    def test_build_of_this_source_is_used(self):
        """The checkout's own build carries the digest of csrc/_lethean_speedups.c."""
        if _accel.speedups is None:
            self.skipTest("accelerator not built: {}".format(_accel.unavailable_reason))
        self.assertEqual(_accel.speedups.SOURCE_SHA256,
                         hashlib.sha256(_accel.SOURCE.read_bytes()).hexdigest())
        self.assertEqual(_accel.load(environ={}), (_accel.speedups, ""))


chunks = st.lists(st.binary(max_size=300), max_size=5)
texts = st.text(st.one_of(
    st.characters(),
    st.sampled_from('<>&"\\\b\f\n\r\t\x00\x1f\x7f\x80\xff\u2028\u2029\ud800\udfff\ufffd\U0001f600'),
), max_size=60)


class TwinTests(SynchronousTestCase):
    """Each compiled function gives exactly what its pure-Python twin gives."""

    def setUp(self):
        self.speedups = _accel.speedups
        if self.speedups is None:
            self.skipTest("accelerator not built: {}".format(_accel.unavailable_reason))

    def each_backend(self):
        """Run the caller's checks once per SHA-256 implementation this CPU has."""
        before = self.speedups.get_backend()
        self.addCleanup(self.speedups.set_backend, before)
        for backend in self.speedups.BACKENDS:
            self.speedups.set_backend(backend)
            yield backend

    @settings(max_examples=300)
    @given(data=st.binary(max_size=2100), nonce=st.binary(max_size=140))
    def test_xor_obfuscate(self, data, nonce):
        """The key stream matches for any data and nonce length (one and two tail blocks)."""
        expected = _sigil.pure_xor_obfuscate(data, nonce)
        for _ in self.each_backend():
            self.assertEqual(self.speedups.xor_obfuscate(data, nonce), expected)

    def test_xor_obfuscate_large(self):
        """Past 64 KiB (hashed without the GIL) and past the precomputed counters."""
        data, nonce = os.urandom(70000), os.urandom(24)
        expected = _sigil.pure_xor_obfuscate(data, nonce)
        for _ in self.each_backend():
            self.assertEqual(self.speedups.xor_obfuscate(bytearray(data), memoryview(nonce)),
                             expected)

    @settings(max_examples=300)
    @given(data=st.binary(max_size=2100), nonce=st.binary(max_size=140),
           offset=st.integers(0, 3000))
    def test_xor_obfuscate_at(self, data, nonce, offset):
        """A stretch from any offset, aligned to a block or not, matches the pure key stream."""
        expected = _sigil.pure_xor_obfuscate_at(data, nonce, offset)
        for _ in self.each_backend():
            self.assertEqual(self.speedups.xor_obfuscate_at(data, nonce, offset), expected)

    def test_xor_obfuscate_at_pieces(self):
        """Pieces at their offsets give what the whole does: large ones (no GIL) and past 2**16 blocks."""
        data, nonce = os.urandom(3 * 70000 + 5), os.urandom(24)
        expected = _sigil.pure_xor_obfuscate(data, nonce)
        cuts = [0, 1, 33, 70000, 140017, len(data)]
        for _ in self.each_backend():
            pieces = [self.speedups.xor_obfuscate_at(memoryview(data)[a:b], nonce, a)
                      for a, b in zip(cuts, cuts[1:])]
            self.assertEqual(b"".join(pieces), expected)
        far = 2**16 * 32 + 7
        self.assertEqual(self.speedups.xor_obfuscate_at(data[:100], nonce, far),
                         _sigil.pure_xor_obfuscate_at(data[:100], nonce, far))

    def test_xor_obfuscate_at_refuses_a_negative_offset(self):
        """A negative offset is a ValueError on both paths, even with no data."""
        for function in (self.speedups.xor_obfuscate_at, _sigil.pure_xor_obfuscate_at):
            for data in (b"", b"data"):
                self.assertEqual(outcome(function, data, b"n", -1),
                                 ("error", ValueError, "negative offset"))

    @settings(max_examples=200)
    @given(prefix=st.binary(max_size=60), plaintext=st.binary(max_size=2100),
           nonce=st.binary(min_size=24, max_size=24), key=st.binary(min_size=32, max_size=32))
    def test_sigil_seal(self, prefix, plaintext, nonce, key):
        """The whole sigil (key stream and AEAD) seals to the same bytes."""
        expected = _sigil.pure_seal_obfuscated(prefix, nonce, key, plaintext)
        for _ in self.each_backend():
            self.assertEqual(self.speedups.sigil_seal(prefix, nonce, key, plaintext), expected)

    @settings(max_examples=300)
    @given(plaintext=st.binary(max_size=300), offset=st.integers(0, 8), data=st.data())
    def test_sigil_open(self, plaintext, offset, data):
        """Intact, damaged and short payloads open, or fail, the same way."""
        key = bytes(range(32))
        sealed = bytearray(bytes(offset) + _sigil.pure_seal_obfuscated(b"", bytes(24), key, plaintext))
        if data.draw(st.booleans(), label="damage"):
            at = data.draw(st.integers(0, len(sealed) - 1), label="at")
            sealed[at] ^= data.draw(st.integers(1, 255), label="mask")
        cut = data.draw(st.integers(0, len(sealed)), label="cut")
        for payload in (bytes(sealed), bytes(sealed[:cut])):
            expected = outcome(_sigil.pure_open_obfuscated, payload, offset, key)
            for _ in self.each_backend():
                self.assertEqual(outcome(self.speedups.sigil_open, payload, offset, key), expected)

    def test_sigil_bad_sizes(self):
        """Wrong key and nonce sizes are the same ValueError on both paths."""
        for args in ((b"", bytes(23), bytes(32), b"x"), (b"", bytes(24), bytes(31), b"x")):
            self.assertEqual(outcome(self.speedups.sigil_seal, *args),
                             outcome(_sigil.pure_seal_obfuscated, *args))
        self.assertEqual(outcome(self.speedups.sigil_open, bytes(64), 0, bytes(31)),
                         outcome(_sigil.pure_open_obfuscated, bytes(64), 0, bytes(31)))

    def test_sigil_large(self):
        """A deploy-sized payload (sealed without the GIL) comes back whole."""
        plaintext, key = os.urandom(300000), os.urandom(32)
        sealed = self.speedups.sigil_seal(b"P", bytes(24), key, plaintext)
        self.assertEqual(sealed, _sigil.pure_seal_obfuscated(b"P", bytes(24), key, plaintext))
        self.assertEqual(self.speedups.sigil_open(sealed, 1, key), plaintext)

    @settings(max_examples=300)
    @given(key=st.binary(max_size=140), parts=chunks)
    def test_hmac_sha256(self, key, parts):
        """HMAC-SHA256 of the joined chunks, for keys shorter and longer than a block."""
        expected = hmac.digest(key, b"".join(parts), "sha256")
        self.assertEqual(_codec.pure_hmac_sha256(key, *parts), expected)
        for _ in self.each_backend():
            self.assertEqual(self.speedups.hmac_sha256(key, *parts), expected)

    def test_hmac_keys_past_the_key_table(self):
        """More keys than the table of key states holds, in turns: every MAC is right."""
        keys = [hashlib.sha512(bytes([i])).digest()[:i % 80] * (1 + i % 2) for i in range(200)]
        for _ in self.each_backend():
            for key in keys + keys[::-1] + keys:
                self.assertEqual(self.speedups.hmac_sha256(key, b"m"),
                                 hmac.digest(key, b"m", "sha256"))

    def test_hmac_sha256_large(self):
        """A chunk past 64 KiB is hashed the same."""
        data = os.urandom(200000)
        for _ in self.each_backend():
            self.assertEqual(self.speedups.hmac_sha256(b"k", data[:5], memoryview(data)),
                             hmac.digest(b"k", data[:5] + data, "sha256"))

    @settings(max_examples=1000)
    @given(text=texts, html=st.booleans())
    def test_go_string(self, text, html):
        """Every escape, surrogate and script gives the same literal."""
        self.assertEqual(self.speedups.go_string(text, html), _gojson.pure_go_string(text, html))

    def test_go_string_default_is_html(self):
        """Without ``html``, <, > and & are escaped, as json.Marshal does."""
        self.assertEqual(self.speedups.go_string("<&>"), _gojson.pure_go_string("<&>"))
        self.assertEqual(self.speedups.go_string("<&>"), '"\\u003c\\u0026\\u003e"')

    def test_same_type_errors(self):
        """Wrong argument types raise TypeError on both paths."""
        for compiled, pure, args in (
            (self.speedups.xor_obfuscate, _sigil.pure_xor_obfuscate, ("text", b"n")),
            (self.speedups.xor_obfuscate, _sigil.pure_xor_obfuscate, (b"data", "n")),
            (self.speedups.xor_obfuscate_at, _sigil.pure_xor_obfuscate_at, ("text", b"n", 0)),
            (self.speedups.xor_obfuscate_at, _sigil.pure_xor_obfuscate_at, (b"data", "n", 0)),
            (self.speedups.xor_obfuscate_at, _sigil.pure_xor_obfuscate_at, (b"data", b"n", "0")),
            (self.speedups.hmac_sha256, _codec.pure_hmac_sha256, ("key", b"")),
            (self.speedups.hmac_sha256, _codec.pure_hmac_sha256, (b"key", "text")),
            (self.speedups.go_string, _gojson.pure_go_string, (b"bytes",)),
            (self.speedups.go_string, _gojson.pure_go_string, (5, False)),
        ):
            self.assertRaises(TypeError, pure, *args)
            self.assertRaises(TypeError, compiled, *args)

    def pure_plaintext(self, plaintext):
        """decode_body's outcome with the compiled shortcut off."""
        with shortcuts_off(_frame, "_common_plaintext"):
            return outcome(_frame.decode_body, plaintext)

    @settings(max_examples=500)
    @given(body=texts, timestamp=st.one_of(st.integers(-2**63, 2**63 - 1), st.integers()))
    def test_smsg_body(self, body, timestamp):
        """The message objects senders write read the same; ASCII ones are read in C."""
        plaintext = _frame.encode_plaintext(body, timestamp)
        common = self.speedups.smsg_body(plaintext)
        if body.isascii() and -2**63 <= timestamp < 2**63:
            self.assertEqual(common, (body, timestamp))
            self.assertEqual(_frame.decode_body(plaintext), _frame.Body(body, timestamp))
        self.assertEqual(outcome(_frame.decode_body, plaintext), self.pure_plaintext(plaintext))

    @settings(max_examples=500)
    @given(body=st.text(st.characters(max_codepoint=0x7f), max_size=20), data=st.data())
    def test_smsg_body_damaged(self, body, data):
        """Edited message objects read the same, or fail with the same error."""
        plaintext = bytearray(_frame.encode_plaintext(body, data.draw(st.integers(), label="ts")))
        for _ in range(data.draw(st.integers(1, 3), label="edits")):
            at = data.draw(st.integers(0, len(plaintext)), label="at")
            plaintext[at:at + data.draw(st.integers(0, 2), label="cut")] = data.draw(
                st.sampled_from([b"", b"\\", b'"', b"-", b"0", b"9", b" ", b"\\u00", b"}", b",",
                                 b"\xff", b"e"]), label="insert")
        self.assertEqual(outcome(_frame.decode_body, bytes(plaintext)),
                         self.pure_plaintext(bytes(plaintext)))

    def test_backends(self):
        """Portable C is always there; an unknown backend is refused."""
        self.assertIn("portable", self.speedups.BACKENDS)
        self.assertIn(self.speedups.get_backend(), self.speedups.BACKENDS)
        self.assertRaises(ValueError, self.speedups.set_backend, "abacus")


class PurePathTests(PurePath, SynchronousTestCase):
    """PurePath really swaps every binding of a compiled function."""

    def test_every_binding_is_pure(self):
        """The defining modules and the modules that imported the names hold the twins."""
        self.assertIs(_sigil.xor_obfuscate, _sigil.pure_xor_obfuscate)
        self.assertIs(_sigil_stream.xor_obfuscate_at, _sigil.pure_xor_obfuscate_at)
        self.assertIs(_frame.seal_obfuscated, _sigil.pure_seal_obfuscated)
        self.assertIs(_frame.open_obfuscated, _sigil.pure_open_obfuscated)
        self.assertIs(_codec.hmac_sha256, _codec.pure_hmac_sha256)
        self.assertIs(_codec.encode, _codec.pure_encode)
        self.assertIs(_gojson.go_string, _gojson.pure_go_string)
        self.assertIs(_storage._decode_common, _accel.no_shortcut)
        self.assertIs(_storage._encode_common, _accel.no_shortcut)
        self.assertIs(_frame._common_plaintext, _accel.no_shortcut)
