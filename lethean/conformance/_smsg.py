"""
Conformance checks for ``smsg.json``: key derivation, the SMSG plaintext,
pre-obfuscation, byte-exact sealing with the given nonce, opening, and the
rejection of damaged frames with the right error kind and container error.

A decrypt case that opens gives the message the reference ends up with:
its ``json.Unmarshal`` into ``Message`` then its encoder.  So the body is
not compared as it is (it may carry unknown keys, other spellings or
duplicates): the decoded message is encoded again and compared, with the
mesh encoder's text (HTML characters as they are) or, should a generator
have used ``json.Marshal``, its HTML-escaped text.
"""

from functools import partial
from typing import Any

from lethean.conformance._expect import Case, Cases, equal, raises_kind
from lethean.mesh._envelope import Message, decode_message, open_message
from lethean.smsg import FrameCipher, derive_key, frame_password
from lethean.smsg._frame import SMSG_HEADER, decode_plaintext, encode_plaintext, frame_key, seal
from lethean._gojson import marshal
from lethean.smsg._sigil import xor_obfuscate

__all__ = ["cases"]


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of the SMSG vectors."""
    for case in document.get("vectors", ()):
        yield "vectors/" + case["name"] + "/keys", partial(_check_keys, case)
        yield "vectors/" + case["name"] + "/seal", partial(_check_seal, case)
        yield "vectors/" + case["name"] + "/open", partial(_check_open, case)
        yield "vectors/" + case["name"] + "/message", partial(_check_message, case)
    for case in document.get("decrypt_cases", ()):
        yield "decrypt_cases/" + case["name"], partial(_check_decrypt_case, case)


def _check_keys(case: Case) -> None:
    secret = bytes.fromhex(case["shared_secret_hex"])
    equal("password", frame_password(secret), case["password"])
    equal("key", frame_key(secret).hex(), case["key_hex"])
    equal("key from password", derive_key(case["password"]).hex(), case["key_hex"])


def _check_seal(case: Case) -> None:
    secret = bytes.fromhex(case["shared_secret_hex"])
    nonce = bytes.fromhex(case["nonce_hex"])
    plaintext = encode_plaintext(case["mesh_message_json"], case["smsg_timestamp"])
    equal("SMSG plaintext", plaintext.decode("utf-8"), case["smsg_plaintext_json"])
    equal("header", marshal(SMSG_HEADER, sort_keys=True), case["header_json"])
    equal("obfuscated plaintext", xor_obfuscate(plaintext, nonce).hex(),
          case["obfuscated_plaintext_hex"])
    frame = seal(secret, case["mesh_message_json"], timestamp=case["smsg_timestamp"], nonce=nonce)
    equal("frame", frame.hex(), case["frame_hex"])
    message = decode_message(case["mesh_message_json"])
    frame = seal(secret, message, timestamp=case["smsg_timestamp"], nonce=nonce)
    equal("frame from the decoded message", frame.hex(), case["frame_hex"])


def _check_open(case: Case) -> None:
    cipher = FrameCipher.from_key(derive_key(case["password"]))
    frame = bytes.fromhex(case["frame_hex"])
    equal("plaintext", cipher.open_plaintext(frame).decode("utf-8"), case["smsg_plaintext_json"])
    equal("body", cipher.open_body(frame), case["mesh_message_json"])
    equal("re-encoded message", open_message(cipher, frame).to_json(), case["mesh_message_json"])


def _as_vector(message: Message) -> dict[str, Any]:
    document = {"id": message.id, "type": message.type, "from": message.from_,
                "to": message.to, "ts": str(message.ts), "payload": message.payload}
    if message.reply_to:
        document["replyTo"] = message.reply_to
    return document


def _check_message(case: Case) -> None:
    expected = dict(case["mesh_message"])
    expected.setdefault("payload", None)
    message = decode_message(decode_plaintext(case["smsg_plaintext_json"].encode("utf-8")))
    equal("mesh message", _as_vector(message), expected)
    equal("mesh message JSON", message.to_json(), case["mesh_message_json"])


def _check_reencoded(message: Message, expected: str) -> None:
    encoded = message.to_json()
    if encoded != expected and message.to_json(html=True) != expected:
        equal("re-encoded message", encoded, expected)


def _check_decrypt_case(case: Case) -> None:
    secret = bytes.fromhex(case["shared_secret_hex"])
    equal("password", frame_password(secret), case["password"])
    cipher = FrameCipher(secret)
    frame = bytes.fromhex(case["frame_hex"])
    if case["expect"] == "ok":
        _check_reencoded(open_message(cipher, frame), case["mesh_message_json"])
        return
    error = raises_kind(case["error_kind"], open_message, cipher, frame)
    if "container_error" in case:
        equal("container error", getattr(error, "container_error", None), case["container_error"])
    # A cipher keyed from the password agrees.
    raises_kind(case["error_kind"], open_message,
                FrameCipher.from_key(derive_key(case["password"])), frame)
