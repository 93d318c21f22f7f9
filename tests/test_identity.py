"""Keys, node ids, shared secrets, challenges and NodeIdentity JSON (lethean.identity)."""

import base64
import json

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import (
    IdentityMismatchError,
    InvalidIdentityError,
    InvalidNodeNameError,
    InvalidPublicKeyError,
    LocalIdentity,
    LowOrderPointError,
    NodeIdentity,
    PrivateKey,
    decode_public_key,
    default_node_name,
    encode_public_key,
    generate_challenge,
    node_id_for,
    shared_secret,
    sign_challenge,
    validate_node_name,
    verify_challenge,
)
from lethean.mesh._envelope import Message
from lethean.smsg import FrameCipher, Timestamp

# identity.md sections 3-5: keys A and B, their secret, a challenge.
PRIVATE_A = bytes.fromhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
PRIVATE_B = bytes.fromhex("4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60")
PUBLIC_A_B64 = "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw="
PUBLIC_B_B64 = "ZLEBsdC+WocEvQePmJUAH8A+jp+VIvGI3RKNmEbUhGY="
ID_A = "aaa8fff703b50b2297f4f6e13508f724"
ID_B = "bc841db8fea3efd84555a7f8eeb92503"
SECRET_AB = bytes.fromhex("6b68632dd4bb0bc478c3d5de1c0664875ae1245d9c8062e5f0591da87ccfcb0d")
CHALLENGE = bytes(range(0xC0, 0xE0))
RESPONSE = bytes.fromhex("05a59e38b3bbf275441137cf5243b30a5627e0b2b1942bf4df7812f1e2d7258f")
# identity.md 7.3, byte for byte (no trailing newline).
NODE_JSON = (b'{\n  "id": "aaa8fff703b50b2297f4f6e13508f724",\n  "name": "alpha",\n'
             b'  "publicKey": "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw=",\n'
             b'  "createdAt": "2026-01-02T03:04:05.12Z",\n  "role": "dual"\n}')
CREATED = Timestamp.parse("2026-01-02T03:04:05.12Z")

private_keys = st.binary(min_size=32, max_size=32).map(PrivateKey)


class KeyTests(SynchronousTestCase):
    """X25519 keys and node ids (identity.md 1-3)."""

    def test_public_keys_and_ids(self):
        """The spec's keys A and B give their public keys and node ids."""
        a, b = PrivateKey(PRIVATE_A), PrivateKey(PRIVATE_B)
        self.assertEqual(a.public_key.hex(),
                         "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c")
        self.assertEqual((a.public_key_b64, a.node_id), (PUBLIC_A_B64, ID_A))
        self.assertEqual((b.public_key_b64, b.node_id), (PUBLIC_B_B64, ID_B))

    def test_node_id_of_raw_or_base64(self):
        """node_id_for takes raw bytes or base64."""
        self.assertEqual(node_id_for(PUBLIC_A_B64), ID_A)
        self.assertEqual(node_id_for(decode_public_key(PUBLIC_A_B64)), ID_A)

    def test_generated_keys_differ(self):
        """Fresh keys come from the CSPRNG."""
        self.assertNotEqual(PrivateKey.generate().public_key, PrivateKey.generate().public_key)

    def test_private_bytes_never_in_repr(self):
        """repr() of a key or a local identity shows no key material."""
        key = PrivateKey(PRIVATE_A)
        local = LocalIdentity.create(key, "alpha", "dual", CREATED)
        for text in (repr(key), repr(local), str(key)):
            self.assertNotIn(PRIVATE_A.hex()[:10], text)
            self.assertNotIn("AQIDBAUG", text)  # base64 of the private key
            self.assertNotIn("\\x01\\x02\\x03", text)

    def test_private_key_size(self):
        """A private key is exactly 32 bytes."""
        self.assertRaises(ValueError, PrivateKey, bytes(31))
        self.assertRaises(ValueError, PrivateKey, "x" * 32)


class PublicKeyEncodingTests(SynchronousTestCase):
    """Public keys travel as padded standard base64, read as Go reads it."""

    def test_round_trip(self):
        """Encoding gives 44 characters ending in '=' and decodes back."""
        raw = PrivateKey(PRIVATE_A).public_key
        text = encode_public_key(raw)
        self.assertEqual((len(text), text[-1]), (44, "="))
        self.assertEqual(decode_public_key(text), raw)

    def test_line_breaks_are_skipped(self):
        """CR and LF anywhere are ignored, as Go's decoder does."""
        wrapped = PUBLIC_B_B64[:20] + "\r\n" + PUBLIC_B_B64[20:30] + "\n" + PUBLIC_B_B64[30:] + "\r"
        self.assertEqual(decode_public_key(wrapped), decode_public_key(PUBLIC_B_B64))

    def test_rejected_spellings(self):
        """Unpadded, URL-safe, spaced, wrong-length or non-string keys are refused."""
        raw = bytes([0xFB]) * 32
        standard = base64.b64encode(raw).decode()
        self.assertEqual(decode_public_key(standard), raw)
        for bad in (standard.rstrip("="), base64.urlsafe_b64encode(raw).decode(),
                    " " + standard, standard + " ", standard[:20] + "\t" + standard[20:], "",
                    base64.b64encode(bytes(31)).decode(), base64.b64encode(bytes(33)).decode(),
                    "é" * 44, None, b"x" * 44):
            error = self.assertRaises(InvalidPublicKeyError, decode_public_key, bad)
            self.assertEqual(error.kind, "invalid_public_key")

    @settings(max_examples=300)
    @given(st.text(max_size=60))
    def test_random_text_raises_only_our_error(self, text):
        """Random text decodes to 32 bytes or raises InvalidPublicKeyError."""
        try:
            self.assertEqual(len(decode_public_key(text)), 32)
        except InvalidPublicKeyError:
            pass


class SharedSecretTests(SynchronousTestCase):
    """The shared secret (identity.md 4)."""

    def test_spec_vector(self):
        """A and B derive the spec's secret, in both directions."""
        a, b = PrivateKey(PRIVATE_A), PrivateKey(PRIVATE_B)
        self.assertEqual(a.exchange(PUBLIC_B_B64).hex(),
                         "26c2c17fdb82161cb21ad16e721315355b64d1763119b10bfc962530dc7cc163")
        self.assertEqual(a.shared_secret(PUBLIC_B_B64), SECRET_AB)
        self.assertEqual(b.shared_secret(a.public_key), SECRET_AB)
        self.assertEqual(shared_secret(PRIVATE_A, PUBLIC_B_B64), SECRET_AB)

    def test_low_order_points(self):
        """All-zero X25519 output (and libsodium's small-order list) is refused."""
        p = 2 ** 255 - 19
        order8 = 325606250916557431795983626356110631294008115727848805560023387167927233504
        for u in (0, 1, order8, p - 1, p, p + 1, 2 ** 255 + 1):
            point = (u % 2 ** 256).to_bytes(32, "little")
            error = self.assertRaises(LowOrderPointError, shared_secret, PRIVATE_A, point)
            self.assertEqual(error.kind, "low_order_point")
            self.assertRaises(LowOrderPointError, shared_secret, PRIVATE_A, encode_public_key(point))

    def test_malformed_keys(self):
        """Malformed peer keys are invalid_public_key."""
        for bad in ("this is not base64!", "", bytes(31), bytes(33)):
            self.assertRaises(InvalidPublicKeyError, shared_secret, PRIVATE_A, bad)

    def test_frame_cipher(self):
        """A local identity builds the frame cipher for a peer."""
        local = LocalIdentity.create(PrivateKey(PRIVATE_A), "alpha", "dual", CREATED)
        frame = local.frame_cipher(PUBLIC_B_B64).seal("{}", timestamp=1)
        self.assertEqual(FrameCipher(SECRET_AB).open_body(frame), "{}")

    @settings(max_examples=100)
    @given(private_keys, private_keys)
    def test_symmetric(self, a, b):
        """Both sides always derive the same secret."""
        self.assertEqual(a.shared_secret(b.public_key), b.shared_secret(a.public_key_b64))


class ChallengeTests(SynchronousTestCase):
    """Challenge generation, signing and verification (identity.md 5)."""

    def test_spec_vector(self):
        """The spec's challenge gives the spec's response, which verifies."""
        self.assertEqual(sign_challenge(SECRET_AB, CHALLENGE), RESPONSE)
        self.assertTrue(verify_challenge(SECRET_AB, CHALLENGE, RESPONSE))

    def test_bad_responses(self):
        """Truncated, empty, flipped or wrong-secret responses fail."""
        self.assertFalse(verify_challenge(SECRET_AB, CHALLENGE, RESPONSE[:31]))
        self.assertFalse(verify_challenge(SECRET_AB, CHALLENGE, b""))
        self.assertFalse(verify_challenge(SECRET_AB, CHALLENGE, bytes([RESPONSE[0] ^ 1]) + RESPONSE[1:]))
        self.assertFalse(verify_challenge(bytes(32), CHALLENGE, RESPONSE))
        self.assertFalse(verify_challenge(SECRET_AB, CHALLENGE[::-1], RESPONSE))

    def test_generate(self):
        """Challenges are 32 fresh random bytes."""
        first, second = generate_challenge(), generate_challenge()
        self.assertEqual(len(first), 32)
        self.assertNotEqual(first, second)


class NodeNameTests(SynchronousTestCase):
    """Default and chosen names pass the peer name rules (peers.md 5)."""

    def test_default_from_host_name(self):
        """Dotted and odd host names become valid names."""
        cases = {"node.example.com": "node", "my_host": "my_host", "-x!y-": "x-y",
                 "": "lethean-node", ".": "lethean-node", "ünïcode": "n-code",
                 "a" * 80: "a" * 64, "host name ": "host name", "---": "lethean-node"}
        for hostname, name in cases.items():
            self.assertEqual(default_node_name(hostname), name)
            validate_node_name(name)

    def test_default_uses_this_host(self):
        """Without an argument the real host name is used, and is valid."""
        validate_node_name(default_node_name())

    @settings(max_examples=300)
    @given(st.text(max_size=80))
    def test_default_always_valid(self, hostname):
        """Whatever the host name, the default passes validation (also the peers layer's)."""
        name = default_node_name(hostname)
        validate_node_name(name)
        try:
            from lethean.peers import validate_peer_name
        except ImportError:  # pragma: no cover - peers layer absent
            return
        validate_peer_name(name)

    def test_invalid_names(self):
        """Dots, edges, tabs, newlines, non-ASCII and over-long names are refused."""
        for name in ("a.b", "-a", "a-", " a", "a\tb", "abc\n", "é", "a" * 65, "", None):
            self.assertRaises(InvalidNodeNameError, validate_node_name, name)
        for name in ("a", "a b", "a-b_c", "A" * 64, "9"):
            validate_node_name(name)


class NodeIdentityTests(SynchronousTestCase):
    """NodeIdentity JSON exactly as the reference writes and reads it."""

    def identity(self):
        return LocalIdentity.create(PrivateKey(PRIVATE_A), "alpha", "dual", CREATED).identity

    def test_node_json(self):
        """node.json is indented, HTML-escaped and has no trailing newline."""
        self.assertEqual(self.identity().to_node_json(), NODE_JSON)

    def test_node_json_html_escaping(self):
        """node.json uses the standard (HTML-escaping) encoder."""
        identity = NodeIdentity(ID_A, "a<b>&c", PUBLIC_A_B64, CREATED, "dual")
        self.assertIn(b'"name": "a\\u003cb\\u003e\\u0026c"', identity.to_node_json())

    def test_compact_in_messages(self):
        """Inside an envelope the identity is compact and not HTML-escaped."""
        identity = NodeIdentity(ID_A, "a<b", PUBLIC_A_B64, CREATED, "controller")
        text = Message("x", "handshake", ID_A, ID_B, CREATED, {"identity": identity}).to_json()
        self.assertIn('"payload":{"identity":{"id":"' + ID_A + '","name":"a<b","publicKey":"'
                      + PUBLIC_A_B64 + '","createdAt":"2026-01-02T03:04:05.12Z","role":"controller"}}',
                      text)

    def test_read_node_json(self):
        """node.json reads back to the same identity."""
        self.assertEqual(NodeIdentity.from_node_json(NODE_JSON), self.identity())

    def test_go_tolerance(self):
        """Keys fold case, unknown keys are ignored, null leaves a field empty."""
        document = {"ID": ID_A, "Name": None, "PUBLICKEY": PUBLIC_A_B64,
                    "createdat": "2026-01-02T03:04:05.12Z", "role": "worker", "extra": [1]}
        identity = NodeIdentity.from_json_value(document)
        self.assertEqual((identity.id, identity.name, identity.role), (ID_A, "", "worker"))
        self.assertTrue(NodeIdentity.from_json_value({}).created_at.is_zero())

    def test_invalid(self):
        """Wrong types, bad times and non-objects raise InvalidIdentityError."""
        for document in ({"id": 1}, {"createdAt": "yesterday"}, {"role": []}, [], "x", None):
            self.assertRaises(InvalidIdentityError, NodeIdentity.from_json_value, document)
        for data in (b"", b"[]", b"{", b"null", b'{"id":"a"} {}'):
            self.assertRaises(InvalidIdentityError, NodeIdentity.from_node_json, data)

    def test_verify_binding(self):
        """A claimed id must be the id of the presented key (weakness 1)."""
        self.identity().verify_binding()
        forged = NodeIdentity(ID_B, "alpha", PUBLIC_A_B64, CREATED, "dual")
        error = self.assertRaises(IdentityMismatchError, forged.verify_binding)
        self.assertEqual(error.kind, "identity_mismatch")
        broken = NodeIdentity(ID_A, "alpha", "nope", CREATED, "dual")
        self.assertRaises(InvalidPublicKeyError, broken.verify_binding)

    def test_local_identity_check(self):
        """A local identity whose public part is not its key's is refused."""
        key = PrivateKey(PRIVATE_A)
        LocalIdentity(self.identity(), key).check()
        other = NodeIdentity(ID_A, "alpha", PUBLIC_B_B64, CREATED, "dual")
        self.assertRaises(IdentityMismatchError, LocalIdentity(other, key).check)
        wrong_id = NodeIdentity(ID_B, "alpha", PUBLIC_A_B64, CREATED, "dual")
        self.assertRaises(IdentityMismatchError, LocalIdentity(wrong_id, key).check)
        garbage = NodeIdentity(ID_A, "alpha", "!!", CREATED, "dual")
        self.assertRaises(IdentityMismatchError, LocalIdentity(garbage, key).check)

    @settings(max_examples=200)
    @given(key=private_keys, name=st.text(max_size=30), role=st.text(max_size=12),
           seconds=st.integers(0, 2 ** 34), nanos=st.integers(0, 999_999_999))
    def test_round_trip(self, key, name, role, seconds, nanos):
        """Any identity survives node.json and compact JSON."""
        identity = LocalIdentity.create(key, name, role, Timestamp(seconds, nanos)).identity
        self.assertEqual(NodeIdentity.from_node_json(identity.to_node_json()), identity)
        compact = Message("x", "t", "", "", CREATED, identity).to_json()
        self.assertEqual(NodeIdentity.from_json_value(json.loads(compact)["payload"]), identity)

    @settings(max_examples=200)
    @given(st.binary(max_size=200))
    def test_random_node_json_raises_only_our_error(self, data):
        """Random bytes read as an identity or raise InvalidIdentityError."""
        try:
            NodeIdentity.from_node_json(data)
        except InvalidIdentityError:
            pass
