"""
How fast are lethean's cryptographic paths?

Measures, one JSON line each (``{"name": ..., "ops_per_s": ...}``):

* ``identity_generate``: a new X25519 key and its public key and node id;
* ``shared_secret``: X25519 + SHA-256 with a peer's public key;
* ``challenge_sign_verify``: the handshake HMAC, made and checked;
* ``smsg_seal_open_1k``: one mesh message of about 1 KB sealed into an
  SMSG frame and opened again;
* ``bundle_create_extract_10mb``: a 10 MB miner bundle created (tar, two
  sigil seals, checksum) and extracted (checksum, decryption, vetting,
  atomic write with fsync) into a fresh folder.

A part whose layer is missing prints ``"ops_per_s": null`` with a
``skipped`` reason instead of failing the run.

Run from the checkout: ``python benchmarks/crypto.py [--seconds S]``.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import emit, rate  # noqa: E402


def identity_benchmarks():
    """Key generation, shared secret and challenge response."""
    from lethean.identity import PrivateKey, generate_challenge, sign_challenge, verify_challenge

    def generate():
        key = PrivateKey.generate()
        return key.node_id

    ours, theirs = PrivateKey.generate(), PrivateKey.generate()
    peer_public = theirs.public_key
    secret = ours.shared_secret(peer_public)
    challenge = generate_challenge()

    def sign_and_verify():
        if not verify_challenge(secret, challenge, sign_challenge(secret, challenge)):
            raise AssertionError("challenge response does not verify")

    return {
        "identity_generate": generate,
        "shared_secret": lambda: ours.shared_secret(peer_public),
        "challenge_sign_verify": sign_and_verify,
    }


def smsg_benchmarks():
    """Seal and open one ~1 KB mesh message."""
    from lethean.smsg import FrameCipher, Timestamp
    from lethean.mesh._envelope import Message, open_message

    cipher = FrameCipher(os.urandom(32))

    def message_with_log(log):
        return Message(
            id="3f0c1e9a-6a4e-4c55-9a52-2f9f4b0c9d1e", type="stats",
            from_="a" * 32, to="b" * 32, ts=Timestamp(seconds=1767225600, nanos=0, offset=0),
            payload={"miners": [{"name": "xmrig", "hashrate": 1234.5, "log": log}]},
        )

    # Pad the payload so the envelope text is exactly 1,024 bytes.
    message = message_with_log("x" * (1024 - len(message_with_log("").to_json())))
    size = len(message.to_json())

    def seal_open():
        frame = cipher.seal(message, timestamp=1767225600)
        if open_message(cipher, frame) != message:
            raise AssertionError("SMSG round trip changed the message")

    return {"smsg_seal_open_1k": seal_open}, size


def bundle_benchmarks(scratch):
    """Create and extract a 10 MB miner bundle."""
    from lethean.bundles import create_miner_bundle, extract_miner_bundle

    binary = b"\x7fELF" + os.urandom(10 * 1000 * 1000 - 4)
    counter = [0]

    def create_extract():
        bundle = create_miner_bundle("xmrig", binary, "xmrig", "benchmark password")
        counter[0] += 1
        dest = os.path.join(scratch, "m{}".format(counter[0]))
        result = extract_miner_bundle(bundle, "benchmark password", dest)
        if result.miner_path is None:
            raise AssertionError("no miner extracted")
        shutil.rmtree(dest)

    return {"bundle_create_extract_10mb": create_extract}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time spent on each measurement (default %(default)s)")
    args = parser.parse_args(argv)

    scratch = tempfile.mkdtemp(prefix="lethean-bench-")
    try:
        groups = [
            (("identity_generate", "shared_secret", "challenge_sign_verify"),
             identity_benchmarks, {}),
            (("smsg_seal_open_1k",), smsg_benchmarks, {}),
            (("bundle_create_extract_10mb",), bundle_benchmarks, {"scratch": scratch}),
        ]
        for names, build, kwargs in groups:
            extra = {}
            try:
                built = build(**kwargs)
            except ImportError as e:
                for name in names:
                    emit({"name": name, "ops_per_s": None,
                           "skipped": "layer not available: {}".format(e)})
                continue
            if isinstance(built, tuple):
                built, extra["message_bytes"] = built
            for name, operation in built.items():
                emit(dict({"name": name, "ops_per_s": round(rate(operation, args.seconds), 2)},
                           **extra))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
