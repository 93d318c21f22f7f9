"""Sealing and opening mesh frames (lethean.smsg._frame)."""

import gzip
import json

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.errors import LetheanError
from lethean.mesh._envelope import Message, decode_message, open_message
from lethean.mesh._errors import InvalidMessageJSONError
from lethean.smsg import (
    Body,
    ContainerError,
    DecryptionError,
    FrameCipher,
    FrameTooLargeError,
    InvalidSMSGPayloadError,
    MAX_FRAME_BYTES,
    PlaintextTooLargeError,
    Timestamp,
    UnsupportedFormatError,
    encrypt,
    frame_password,
    pack_trix,
)
from lethean.smsg._frame import decode_plaintext, encode_plaintext, frame_key, open_frame, seal
from lethean._gojson import fold_key, marshal, utf8
from tests._accel import PurePath
from tests.strategies import json_values, messages, shared_secrets

# smsg.md sections 2 and 7: identities A and B, their secret, the ping
# envelope, SMSG timestamp 1767323045 and nonce a0..b7 give this frame.
SECRET_AB = bytes.fromhex("6b68632dd4bb0bc478c3d5de1c0664875ae1245d9c8062e5f0591da87ccfcb0d")
PING = ('{"id":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","type":"ping",'
        '"from":"aaa8fff703b50b2297f4f6e13508f724","to":"bc841db8fea3efd84555a7f8eeb92503",'
        '"ts":"2026-01-02T03:04:05.12Z","payload":{"sentAt":1767323045120}}')
NONCE = bytes(range(0xA0, 0xB8))
FRAME = bytes.fromhex(
    "534d534702000000307b22616c676f726974686d223a226368616368613230706f6c793133303522"
    "2c2276657273696f6e223a22312e30227da0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6"
    "b781ddce20c10528fbd1f4a873e8b31c7d6632d4c7ecc3709ea505e6cc0a5edf83471ab04efe6f2d"
    "15e1ef3f6619de08bcf506133f85a73acff23de53221de35c40ddec762fbb79549895962ec642816"
    "16f4d5ca7f9fe0d04d48b6a28b91ace8b0655517df4d6acc8e98562c0b5a891c9326636acd0745cf"
    "763aa67876a3cbc91fe32f8bf79e150a3923e7636584d85ea1585b37b6481c5b7c8d7ba6e8e5666f"
    "29512b35f37f5115ff25058b9fede16a4047e518fbc2146a12d29a4d650632ec05b320d6c9a4e99c"
    "6c257de20e00624a5a032f8543d1647947d80ac688e1a5964bebdc053f0478e620faaf43fa2d0400"
    "1e3a32cecb61ed7b969c4c9888dcf356d0033dada6665623225e9be4b6f71420e20075bd23a0257f"
    "5e3b")
PLAINTEXT = ('{"body":' + json.dumps(PING) + ',"timestamp":1767323045}').encode()


class KeyTests(SynchronousTestCase):
    """Password and key derivation from the shared secret."""

    def test_password_and_key(self):
        """password = base64(secret), key = SHA-256(password) (smsg.md section 2)."""
        self.assertEqual(frame_password(SECRET_AB), "a2hjLdS7C8R4w9XeHAZkh1rhJF2cgGLl8FkdqHzPyw0=")
        self.assertEqual(frame_key(SECRET_AB).hex(),
                         "ffb4e274c8ac9be6daf63ab164af2c7a659bc97a066fc1af430587bb104cd93c")

    def test_secret_must_be_32_bytes(self):
        """A cipher needs a 32-byte secret or key."""
        self.assertRaises(ValueError, FrameCipher, bytes(31))
        self.assertRaises(ValueError, FrameCipher.from_key, bytes(33))

    def test_key_not_in_repr(self):
        """Neither the secret nor the key shows in repr()."""
        text = repr(FrameCipher(SECRET_AB))
        self.assertNotIn(SECRET_AB.hex()[:8], text)
        self.assertNotIn(frame_key(SECRET_AB).hex()[:8], text)
        self.assertNotIn("ffb4", text)


class SealTests(SynchronousTestCase):
    """Frames are byte-identical to a Go sender's."""

    def test_worked_example(self):
        """The smsg.md section 7 frame is reproduced byte for byte."""
        self.assertEqual(seal(SECRET_AB, PING, timestamp=1767323045, nonce=NONCE), FRAME)

    def test_seal_a_message_object(self):
        """Sealing a Message encodes it first."""
        cipher = FrameCipher(SECRET_AB)
        self.assertEqual(cipher.seal(decode_message(PING), timestamp=1767323045, nonce=NONCE), FRAME)

    def test_seal_utf8_bytes(self):
        """Envelope text given as UTF-8 bytes seals the same frame."""
        self.assertEqual(seal(SECRET_AB, PING.encode(), timestamp=1767323045, nonce=NONCE), FRAME)

    def test_from_key(self):
        """A cipher built from the derived key seals the same frame."""
        cipher = FrameCipher.from_key(frame_key(SECRET_AB))
        self.assertEqual(cipher.seal(PING, timestamp=1767323045, nonce=NONCE), FRAME)

    def test_plaintext_is_html_safe(self):
        """The SMSG object escapes <, >, & and the line separators inside the body."""
        self.assertEqual(encode_plaintext('a<b>&\u2028"', 7),
                         b'{"body":"a\\u003cb\\u003e\\u0026\\u2028\\"","timestamp":7}')

    def test_zero_timestamp_is_omitted(self):
        """Go's omitempty drops a zero timestamp."""
        self.assertEqual(encode_plaintext("x", 0), b'{"body":"x"}')

    def test_empty_body_refused(self):
        """A Go sender refuses an empty body, and so do we."""
        self.assertRaises(ValueError, seal, SECRET_AB, "", timestamp=1)

    def test_random_nonces(self):
        """Without a nonce every frame differs."""
        cipher = FrameCipher(SECRET_AB)
        self.assertNotEqual(cipher.seal(PING, timestamp=1), cipher.seal(PING, timestamp=1))

    def test_oversize_refused_before_sending(self):
        """A frame the peer would drop (over its 1 MiB limit) is never produced."""
        cipher = FrameCipher(SECRET_AB, max_frame_bytes=len(FRAME))
        self.assertEqual(cipher.seal(PING, timestamp=1767323045, nonce=NONCE), FRAME)
        cipher = FrameCipher(SECRET_AB, max_frame_bytes=len(FRAME) - 1)
        error = self.assertRaises(FrameTooLargeError, cipher.seal, PING, timestamp=1767323045)
        self.assertEqual(error.kind, "frame_too_large")
        big = "x" * MAX_FRAME_BYTES
        self.assertRaises(FrameTooLargeError, FrameCipher(SECRET_AB).seal, big, timestamp=1)

    def test_bad_nonce(self):
        """A nonce of the wrong size is a programming error."""
        self.assertRaises(ValueError, seal, SECRET_AB, PING, timestamp=1, nonce=bytes(23))


class OpenTests(SynchronousTestCase):
    """Frames open into messages, and bad frames raise typed errors."""

    def setUp(self):
        self.cipher = FrameCipher(SECRET_AB)

    def test_worked_example(self):
        """The worked frame opens to the ping envelope."""
        self.assertEqual(self.cipher.open_plaintext(FRAME), PLAINTEXT)
        self.assertEqual(self.cipher.open_body(FRAME), PING)
        self.assertEqual(open_frame(SECRET_AB, FRAME), Body(PING, 1767323045))
        message = open_message(self.cipher, FRAME)
        self.assertEqual((message.type, message.payload), ("ping", {"sentAt": 1767323045120}))

    def test_buffers(self):
        """bytearray and memoryview frames open like bytes."""
        self.assertEqual(self.cipher.open_body(bytearray(FRAME)), PING)
        self.assertEqual(self.cipher.open_body(memoryview(FRAME)), PING)

    def test_wrong_key(self):
        """Another secret fails authentication."""
        error = self.assertRaises(DecryptionError, open_frame, bytes(32), FRAME)
        self.assertEqual(error.kind, "decryption_failed")

    def test_flipped_bits(self):
        """A flipped bit in nonce, ciphertext or tag fails authentication."""
        for offset in (57, 80, 81, 200, len(FRAME) - 1):
            frame = bytearray(FRAME)
            frame[offset] ^= 0x01
            self.assertRaises(DecryptionError, self.cipher.open, bytes(frame))

    def test_flipped_header_bit(self):
        """A changed header is a container error or still opens (Go ignores its values)."""
        frame = bytearray(FRAME)
        frame[11] ^= 0x01  # "algorithm" -> "`lgorithm": still a JSON object
        self.assertEqual(self.cipher.open_body(bytes(frame)), PING)
        frame = bytearray(FRAME)
        frame[9] ^= 0x01  # "{" -> "z"
        error = self.assertRaises(ContainerError, self.cipher.open, bytes(frame))
        self.assertEqual(error.container_error, "bad_header_json")

    def test_bad_magic_and_version(self):
        """Another magic or version is an invalid container."""
        error = self.assertRaises(ContainerError, self.cipher.open, b"STIM" + FRAME[4:])
        self.assertEqual((error.kind, error.container_error), ("invalid_container", "bad_magic"))
        error = self.assertRaises(ContainerError, self.cipher.open, FRAME[:4] + b"\x01" + FRAME[5:])
        self.assertEqual(error.container_error, "bad_version")

    def test_truncation(self):
        """Every prefix fails with a container or decryption error, never anything else."""
        for size in range(len(FRAME)):
            error = self.assertRaises(LetheanError, self.cipher.open, FRAME[:size])
            if size < 57:
                self.assertEqual(error.container_error, "truncated")
            else:
                self.assertIsInstance(error, DecryptionError)

    def test_oversize_refused_before_decrypting(self):
        """A frame over the limit is refused outright."""
        cipher = FrameCipher(SECRET_AB, max_frame_bytes=len(FRAME) - 1)
        self.assertRaises(FrameTooLargeError, cipher.open, FRAME)

    def frame_with(self, plaintext, header=None):
        header = {"algorithm": "chacha20poly1305", "version": "1.0"} if header is None else header
        return pack_trix(b"SMSG", header, encrypt(frame_key(SECRET_AB), plaintext))

    def test_other_header_values_accepted(self):
        """Go does not check the header's values, so neither do we."""
        frame = self.frame_with(PLAINTEXT, {"algorithm": "rot13", "hint": "x"})
        self.assertEqual(self.cipher.open_body(frame), PING)
        self.assertEqual(self.cipher.open_body(self.frame_with(PLAINTEXT, {})), PING)

    def test_plaintext_not_an_object(self):
        """Decrypted bytes that are not a JSON object are an invalid payload."""
        for plaintext in (b"", b"hello", b"[1]", b'"x"', b"\xff\xfe", b"1e400"):
            error = self.assertRaises(InvalidSMSGPayloadError, self.cipher.open, self.frame_with(plaintext))
            self.assertEqual(error.kind, "invalid_payload")

    def test_null_plaintext_is_an_empty_message(self):
        """A null plaintext is an empty SMSG message to Go: its empty body is not an envelope."""
        self.assertEqual(decode_plaintext(b" null "), "")
        error = self.assertRaises(InvalidMessageJSONError, open_message, self.cipher,
                                  self.frame_with(b"null"))
        self.assertEqual(error.kind, "invalid_message_json")

    def test_smsg_field_types(self):
        """Known SMSG fields of the wrong JSON type fail, as Go's decoding does."""
        for plaintext in (b'{"body":1}', b'{"body":"x","timestamp":"1"}',
                          b'{"body":"x","timestamp":1.5}', b'{"body":"x","timestamp":99999999999999999999}',
                          b'{"body":"x","meta":[]}', b'{"body":"x","attachments":{}}',
                          b'{"body":"x","Subject":3}', b'{"body":"x","timestamp":1e400}'):
            self.assertRaises(InvalidSMSGPayloadError, self.cipher.open, self.frame_with(plaintext))

    def test_smsg_nested_field_types(self):
        """Fields inside meta, attachments and reply_key are typed too (Go's json.Unmarshal)."""
        for plaintext in (b'{"body":"x","meta":{"a":1}}', b'{"body":"x","attachments":[1]}',
                          b'{"body":"x","attachments":[{"name":1}]}',
                          b'{"body":"x","attachments":[{"Size":"1"}]}',
                          b'{"body":"x","attachments":[{"size":1.5}]}',
                          b'{"body":"x","attachments":[{"size":1e2}]}',
                          b'{"body":"x","reply_key":{"public_key":1}}',
                          b'{"body":"x","Reply_Key":{"KEY_ID":5}}',
                          b'{"body":"x","meta":{"a":"x","a":3}}'):
            self.assertRaises(InvalidSMSGPayloadError, decode_plaintext, plaintext)
        for plaintext in (b'{"body":"x","meta":{"a":null,"b":"y"}}',
                          b'{"body":"x","attachments":[null,{"name":"n","size":-0,"x":{}}]}',
                          b'{"body":"x","reply_key":{"public_key":"k","other":1}}',
                          b'{"body":"x","reply_key":null,"timestamp":-0}'):
            self.assertEqual(decode_plaintext(plaintext), "x")

    def test_first_duplicate_of_a_wrong_type_fails(self):
        """Go's decoder visits every duplicate: a wrong type fails even if a later one is right."""
        for plaintext in (b'{"body":1,"body":"x"}', b'{"timestamp":"1","timestamp":1,"body":"x"}'):
            self.assertRaises(InvalidSMSGPayloadError, decode_plaintext, plaintext)

    def test_numbers_beyond_float64_in_unknown_fields(self):
        """Go skips an unknown field without reading its number, however large."""
        self.assertEqual(decode_plaintext(b'{"body":"x","timestamp":1,"x":[1e400]}'), "x")

    def test_smsg_other_fields_ignored(self):
        """subject, from, meta, reply_key and unknown keys are ignored; keys fold case."""
        plaintext = json.dumps({"subject": "s", "Body": PING, "from": "f", "meta": {"k": "v"},
                                "reply_key": {}, "attachments": None, "x": 1,
                                "timestamp": 5}).encode()
        self.assertEqual(self.cipher.open_body(self.frame_with(plaintext)), PING)
        self.assertEqual(decode_plaintext(b'{"body":"a","BODY":"b","body":null}'), "b")

    def test_body_not_an_envelope(self):
        """A body that is not an envelope is invalid_message_json."""
        for body in ("", "plain text", "[]"):
            frame = self.frame_with(json.dumps({"body": body}).encode())
            self.assertEqual(self.cipher.open(frame), Body(body))
            error = self.assertRaises(InvalidMessageJSONError, open_message, self.cipher, frame)
            self.assertEqual(error.kind, "invalid_message_json")

    def test_gzip_frames_inflate_within_the_limit(self):
        """A gzip frame (which Go accepts) opens, up to the frame size limit."""
        frame = self.frame_with(gzip.compress(PLAINTEXT), {"compression": "gzip"})
        self.assertEqual(self.cipher.open_body(frame), PING)
        two_members = gzip.compress(PLAINTEXT[:10]) + gzip.compress(PLAINTEXT[10:])
        self.assertEqual(self.cipher.open_body(self.frame_with(two_members, {"compression": "gzip"})),
                         PING)

    def test_gzip_bomb_refused(self):
        """A small frame inflating beyond the limit is refused without inflating it all."""
        bomb = gzip.compress(b'{"body":"' + b"x" * (64 * 1024 * 1024) + b'"}')
        self.assertLess(len(bomb), 100 * 1024)
        error = self.assertRaises(PlaintextTooLargeError, self.cipher.open,
                                  self.frame_with(bomb, {"compression": "gzip"}))
        self.assertEqual(error.kind, "invalid_payload")

    def test_bad_gzip(self):
        """Corrupt or truncated gzip data is an invalid payload."""
        for data in (b"", b"not gzip", gzip.compress(PLAINTEXT)[:-9],
                     gzip.compress(PLAINTEXT) + b"junk"):
            self.assertRaises(InvalidSMSGPayloadError, self.cipher.open,
                              self.frame_with(data, {"compression": "gzip"}))

    def test_zstd_refused(self):
        """zstd frames are refused: no bounded decoder without another dependency."""
        frame = self.frame_with(PLAINTEXT, {"compression": "zstd"})
        self.assertRaises(UnsupportedFormatError, self.cipher.open, frame)

    def test_unknown_compression_means_none(self):
        """Go treats any other compression value as none."""
        self.assertEqual(self.cipher.open_body(self.frame_with(PLAINTEXT, {"compression": "lz4"})), PING)
        self.assertEqual(self.cipher.open_body(self.frame_with(PLAINTEXT, {"compression": 1})), PING)

    def test_format_v2(self):
        """v2 plaintexts carry a length-prefixed JSON object before the attachments."""
        v2 = len(PLAINTEXT).to_bytes(4, "big") + PLAINTEXT + b"attachment bytes"
        self.assertEqual(self.cipher.open_body(self.frame_with(v2, {"format": "v2"})), PING)
        for bad in (b"", b"\x00\x00", (len(PLAINTEXT) + 1).to_bytes(4, "big") + PLAINTEXT):
            self.assertRaises(InvalidSMSGPayloadError, self.cipher.open,
                              self.frame_with(bad, {"format": "v2"}))

    def test_checksum_header_verified(self):
        """A frame whose header carries a checksum is verified like Go does."""
        import hashlib
        payload = encrypt(frame_key(SECRET_AB), PLAINTEXT)
        header = {"checksum": hashlib.sha256(payload).hexdigest(), "checksum_algo": "sha256"}
        self.assertEqual(self.cipher.open_body(pack_trix(b"SMSG", header, payload)), PING)
        header["checksum"] = "0" * 64
        error = self.assertRaises(ContainerError, self.cipher.open, pack_trix(b"SMSG", header, payload))
        self.assertEqual(error.container_error, "checksum_mismatch")

    def test_checksum_costs_nothing_before_authentication(self):
        """A stranger's frame naming a costly checksum fails authentication before any hashing."""
        from lethean.smsg import _trix

        hashed = []
        self.patch(_trix, "trix_checksum", lambda algorithm, data: hashed.append(algorithm))
        payload = encrypt(frame_key(bytes(32)), PLAINTEXT)
        frame = pack_trix(b"SMSG", {"checksum": "0" * 64, "checksum_algo": "lthn"}, payload)
        self.assertRaises(DecryptionError, self.cipher.open, frame)
        self.assertEqual(hashed, [])


class PropertyTests(SynchronousTestCase):
    """Hypothesis: round trips hold and garbage raises only our errors."""

    @settings(max_examples=200)
    @given(json_values)
    def test_any_plaintext_json(self, value):
        """Any JSON document gives a body or raises InvalidSMSGPayloadError."""
        try:
            body = decode_plaintext(utf8(marshal(value)))
        except InvalidSMSGPayloadError:
            return
        self.assertIsInstance(body, str)

    @settings(max_examples=200)
    @given(st.text(max_size=40), st.integers(-2**63, 2**63 - 1),
           st.lists(st.tuples(st.text(max_size=8), json_values), max_size=4))
    def test_unknown_fields_keep_the_body(self, body, timestamp, extras):
        """Unknown keys around body and timestamp change nothing."""
        known = {"subject", "body", "attachments", "reply_key", "from", "timestamp", "meta"}
        document = {key: value for key, value in extras if fold_key(key) not in known}
        document.update(body=body, timestamp=timestamp)
        self.assertEqual(decode_plaintext(utf8(marshal(document))), body)

    @settings(max_examples=150)
    @given(secret=shared_secrets, message=messages, timestamp=st.integers(1, 2**40))
    def test_round_trip(self, secret, message, timestamp):
        """Any message sealed with a secret opens with it to the same envelope."""
        cipher = FrameCipher(secret)
        frame = cipher.seal(message, timestamp=timestamp)
        self.assertEqual(cipher.open_body(frame), message.to_json())
        self.assertEqual(cipher.open(frame), Body(message.to_json(), timestamp))
        opened = open_message(cipher, frame)
        self.assertIsInstance(opened, Message)
        self.assertEqual(opened.to_json(), message.to_json())

    @settings(max_examples=200)
    @given(data=st.binary(max_size=300))
    def test_random_frames(self, data):
        """Random bytes, with or without a valid prefix, raise only lethean errors."""
        cipher = FrameCipher(SECRET_AB)
        for frame in (data, FRAME[:57] + data, b"SMSG\x02" + data):
            try:
                open_message(cipher, frame)
            except LetheanError:
                pass

    @settings(max_examples=200)
    @given(data=st.data())
    def test_mutated_frames(self, data):
        """Changing, cutting or extending the worked frame raises only lethean errors."""
        frame = bytearray(FRAME)
        for _ in range(data.draw(st.integers(1, 4))):
            frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(frame)))
        candidate = bytes(frame[:cut]) + data.draw(st.binary(max_size=20))
        try:
            result = open_message(FrameCipher(SECRET_AB), candidate)
        except LetheanError:
            return
        # Only header changes that keep it a JSON object can still open.
        self.assertEqual(result.to_json(), PING)


class TimestampInFramesTests(SynchronousTestCase):
    """The SMSG timestamp is carried but never checked."""

    def test_any_timestamp_opens(self):
        """Old or future SMSG timestamps do not matter to the receiver."""
        for timestamp in (1, 2**40):
            frame = seal(SECRET_AB, PING, timestamp=timestamp)
            self.assertEqual(FrameCipher(SECRET_AB).open(frame).timestamp, timestamp)
            self.assertEqual(open_message(FrameCipher(SECRET_AB), frame).ts,
                             Timestamp.parse("2026-01-02T03:04:05.12Z"))


# The same tests on the pure-Python path (tests/_accel.py).


class PureSealTests(PurePath, SealTests):
    """SealTests, on the pure-Python twins of the compiled functions."""


class PureOpenTests(PurePath, OpenTests):
    """OpenTests, on the pure-Python twins of the compiled functions."""


class PurePropertyTests(PurePath, PropertyTests):
    """PropertyTests, on the pure-Python twins of the compiled functions."""
