"""
Conformance checks for ``identity.json``: keys and node ids, shared
secrets and their rejections, challenge MACs, and the exact JSON of the
unencrypted handshake messages.

The handshake messages are rebuilt from the vectors' private keys and
challenge (public keys, ids, shared secret and response computed here);
only the envelope ids, times, names and reasons are taken from the text.
"""

import base64
from functools import partial

from lethean.conformance._errors import VectorMismatch
from lethean.conformance._expect import Case, Cases, equal, raises_kind
from lethean.identity import (
    NodeIdentity,
    PrivateKey,
    decode_public_key,
    node_id_for,
    shared_secret,
    sign_challenge,
    verify_challenge,
)
from lethean.mesh._envelope import Message, decode_message

__all__ = ["cases"]


def cases(document: Case) -> Cases:
    """Yield ``(name, check)`` for every case of the identity vectors."""
    for case in document.get("keys", ()):
        yield "keys/" + case["name"], partial(_check_key, case)
    for case in document.get("shared_secrets", ()):
        yield "shared_secrets/{}-{}".format(case["a"], case["b"]), partial(_check_secret, case)
    for case in document.get("derive_errors", ()):
        yield "derive_errors/" + case["name"], partial(_check_derive_error, case)
    for case in document.get("derive_accepted", ()):
        yield "derive_accepted/" + case["name"], partial(_check_derive_accepted, case)
    for index, case in enumerate(document.get("challenges", ())):
        yield "challenges/{}".format(index), partial(_check_challenge, case)
    for case in document.get("verify", ()):
        yield "verify/" + case["name"], partial(_check_verify, case)
    handshake = document.get("handshake_messages")
    if handshake:
        for message in handshake["messages"]:
            yield ("handshake_messages/" + message["name"],
                   partial(_check_handshake_message, handshake, message))


def _check_key(case: Case) -> None:
    key = PrivateKey(bytes.fromhex(case["private_key_hex"]))
    equal("public key", key.public_key.hex(), case["public_key_hex"])
    equal("public key base64", key.public_key_b64, case["public_key_b64"])
    equal("node id", key.node_id, case["node_id"])
    equal("decoded base64", decode_public_key(case["public_key_b64"]).hex(), case["public_key_hex"])
    equal("node id of base64", node_id_for(case["public_key_b64"]), case["node_id"])


def _check_secret(case: Case) -> None:
    a = PrivateKey(bytes.fromhex(case["a_private_key_hex"]))
    equal("secret a->b", a.shared_secret(case["b_public_key_b64"]).hex(), case["shared_secret_hex"])
    if "x25519_raw_hex" in case:
        equal("raw X25519", a.exchange(case["b_public_key_b64"]).hex(), case["x25519_raw_hex"])
    if "b_private_key_hex" in case and "a_public_key_b64" in case:
        b = PrivateKey(bytes.fromhex(case["b_private_key_hex"]))
        equal("b's public key", b.public_key_b64, case["b_public_key_b64"])
        equal("secret b->a", b.shared_secret(case["a_public_key_b64"]).hex(),
              case["shared_secret_hex"])


def _check_derive_error(case: Case) -> None:
    raises_kind(case["error_kind"], shared_secret, bytes.fromhex(case["private_key_hex"]),
                case["peer_public_key_b64"])


def _check_derive_accepted(case: Case) -> None:
    secret = shared_secret(bytes.fromhex(case["private_key_hex"]), case["peer_public_key_b64"])
    equal("shared secret", secret.hex(), case["shared_secret_hex"])


def _check_challenge(case: Case) -> None:
    secret = bytes.fromhex(case["shared_secret_hex"])
    challenge = bytes.fromhex(case["challenge_hex"])
    equal("response", sign_challenge(secret, challenge).hex(), case["response_hex"])
    equal("verifies", verify_challenge(secret, challenge, bytes.fromhex(case["response_hex"])), True)


def _check_verify(case: Case) -> None:
    result = verify_challenge(bytes.fromhex(case["shared_secret_hex"]),
                              bytes.fromhex(case["challenge_hex"]),
                              bytes.fromhex(case["response_hex"]))
    equal("valid", result, case["valid"])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_handshake_message(handshake: Case, case: Case) -> None:
    text = case["json"]
    received = decode_message(text)
    initiator = PrivateKey(bytes.fromhex(handshake["initiator_private_key_hex"]))
    responder = PrivateKey(bytes.fromhex(handshake["responder_private_key_hex"]))
    secret = initiator.shared_secret(responder.public_key)
    equal("shared secret", secret.hex(), handshake["shared_secret_hex"])
    equal("shared secret (responder side)", responder.shared_secret(initiator.public_key), secret)
    challenge = bytes.fromhex(handshake["challenge_hex"])
    response = sign_challenge(secret, challenge)
    equal("challenge response", response.hex(), handshake["challenge_response_hex"])

    payload = received.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("identity"), dict):
        raise VectorMismatch("payload carries no identity object")
    claimed = NodeIdentity.from_json_value(payload["identity"])
    claimed.verify_binding()
    if received.type == "handshake":
        sender, peer = initiator, responder
    elif received.type == "handshake_ack":
        sender, peer = responder, initiator
    else:
        raise VectorMismatch("unexpected message type {!r}".format(received.type))
    identity = NodeIdentity(id=sender.node_id, name=claimed.name, public_key=sender.public_key_b64,
                            created_at=claimed.created_at, role=claimed.role)
    equal("identity", claimed, identity)
    equal("from", received.from_, sender.node_id)
    equal("to", received.to, peer.node_id)
    if received.type == "handshake":
        body = {"identity": identity, "challenge": _b64(challenge), "version": "1.0"}
    elif payload.get("accepted"):
        body = {"identity": identity, "challengeResponse": _b64(response), "accepted": True}
        equal("response verifies", verify_challenge(secret, challenge, response), True)
    else:
        body = {"identity": identity, "accepted": False, "reason": payload.get("reason", "")}
    rebuilt = Message(id=received.id, type=received.type, from_=sender.node_id, to=peer.node_id,
                      ts=received.ts, payload=body, reply_to=received.reply_to)
    equal("message JSON", rebuilt.to_json(), text)
