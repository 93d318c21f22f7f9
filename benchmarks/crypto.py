"""
How fast are lethean's cryptographic paths?

Measures, one JSON line each (``{"name": ..., "ops_per_s": ...}``):

* ``identity_generate``: a new X25519 key and its public key and node id;
* ``shared_secret``: X25519 + SHA-256 with a peer's public key;
* ``challenge_sign_verify``: the handshake HMAC, made and checked;
* ``smsg_seal_open_1k``: what every mesh message costs, as gobench times
  it for the Go reference: the envelope JSON (a ``stats`` message whose
  payload is ``{"blob": 900 x "x"}``, ``message_bytes`` long), the SMSG
  object JSON, the key stream, XChaCha20-Poly1305, the container, then all
  of it undone and the envelope parsed back into a message;
* ``bundle_create_extract_10mb``: a 10 MB miner bundle created (tar, two
  sigil seals, checksum) and extracted (checksum, decryption, vetting,
  atomic write with fsync) into a fresh folder.

Each round runs gobench once (``--gobench``, when present) and then each of
our figures once; ``smsg_seal_open_1k``, which gobench also measures, gets
``go_ops_per_s`` (median), ``go_ratio`` (median of ours / Go's per round)
and ``go_ratio_range``.  ``accelerator`` says whether the compiled speedups
were used.  A part whose layer is missing prints ``"ops_per_s": null`` with
a ``skipped`` reason instead of failing the run.

Run from the checkout: ``python benchmarks/crypto.py [--seconds S] [--rounds N]``.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _gobench  # noqa: E402
from benchmarks._timing import emit  # noqa: E402
from lethean._accel import speedups  # noqa: E402


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
    """Seal and open gobench's ~1 KB message, as a mesh connection does."""
    from lethean.smsg import FrameCipher, Timestamp
    from lethean.mesh._envelope import Message, open_message

    cipher = FrameCipher(bytes([7]) * 32)
    # gobench's message: its ts is time.Now(), nanoseconds included.
    message = Message(
        id="0b6e7a8e-5a6b-4b7e-9d7e-0c1d2e3f4a5b", type="stats",
        from_="a" * 32, to="b" * 32, ts=Timestamp.from_unix_nanos(time.time_ns()),
        payload={"blob": "x" * 900},
    )
    size = len(message.to_bytes())
    if open_message(cipher, cipher.seal(message, timestamp=0)) != message:
        raise AssertionError("SMSG round trip changed the message")

    def seal_open():
        # What the transport does per message: seal with the clock's
        # seconds, then open the frame and decode its envelope.
        frame = cipher.seal(message, timestamp=int(time.time()))
        open_message(cipher, frame)

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
                        help="time spent on each sample of each figure (default %(default)s)")
    _gobench.add_arguments(parser)
    args = parser.parse_args(argv)

    scratch = tempfile.mkdtemp(prefix="lethean-bench-")
    try:
        groups = [
            (("identity_generate", "shared_secret", "challenge_sign_verify"),
             identity_benchmarks, {}),
            (("smsg_seal_open_1k",), smsg_benchmarks, {}),
            (("bundle_create_extract_10mb",), bundle_benchmarks, {"scratch": scratch}),
        ]
        figures, skipped = {}, []
        for names, build, kwargs in groups:
            extra = {}
            try:
                built = build(**kwargs)
            except ImportError as e:
                skipped += [{"name": name, "ops_per_s": None,
                             "skipped": "layer not available: {}".format(e)} for name in names]
                continue
            if isinstance(built, tuple):
                built, extra["message_bytes"] = built
            figures.update((name, (operation, extra)) for name, operation in built.items())
        figures = _gobench.selected(figures, args.only)
        lines, _ = _gobench.compare(figures, args.seconds, gobench=args.gobench,
                                    rounds=args.rounds, go=not args.no_go)
        accelerator = "compiled" if speedups is not None else "pure Python"
        for line in lines:
            line["accelerator"] = accelerator
            emit(line)
        for line in skipped:
            emit(line)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
