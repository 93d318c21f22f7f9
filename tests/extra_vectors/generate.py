"""
Make the extra vectors of this folder with the Go reference.

Bundles come from ``gonode bundle`` (created, and opened to learn the error
each damaged bundle gets); the mesh-message and portable-storage answers
come from ``harness.go`` in this folder, a small program linking the
reference's packages (build it inside gonode's unpacked ``src.tar.gz`` as
``cmd/harness``).  Frames are sealed by lethean: the reference opens them.

    python tests/extra_vectors/generate.py GONODE HARNESS
"""

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from lethean.bundles import Bundle
from lethean.bundles._stim import open_stim, parse_stim
from lethean.bundles._tar import scan_tar
from lethean.bundles._tar import member_content
from lethean.smsg import frame_password, pack_trix
from lethean.smsg._frame import encode_plaintext
from lethean.smsg import FrameCipher

HERE = Path(__file__).resolve().parent
SECRET = bytes(range(100, 132))
PASSWORD = "extra-pass"


def harness(binary, requests):
    text = "".join(json.dumps(r) + "\n" for r in requests)
    out = subprocess.run([binary], input=text, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def gonode(binary, *args):
    result = subprocess.run([binary, "bundle", *args], capture_output=True, text=True)
    return json.loads(result.stdout.splitlines()[-1])


_KINDS = [("checksum mismatch", "checksum_mismatch"), ("password is required", "password_required"),
          ("invalid stim payload", "invalid_stim_payload"), ("decryption failed", "decryption_failed"),
          ("failed to decode stim", "invalid_container")]


def kind_of(error):
    return next(kind for text, kind in _KINDS if text in error)


def bundles(binary, scratch):
    miner = scratch / "xmrig"
    miner.write_bytes(hashlib.sha256(b"miner").digest() * 20)
    out = scratch / "miner.json"
    assert gonode(binary, "create-miner", "--in", str(miner), "--name", "miner-default-config",
                  "--password", PASSWORD, "--out", str(out))["ok"]
    bundle_json = out.read_text()
    bundle = Bundle.from_json(bundle_json.encode())
    layout = parse_stim(bundle.data)
    tim = open_stim(bundle.data, PASSWORD)
    header_length = struct.unpack(">I", bundle.data[5:9])[0]
    files = [m for m in scan_tar(tim.rootfs) if not m.is_dir]
    content = miner.read_bytes().hex()
    miner_bundle = {
        "password": PASSWORD, "miner_file_name": "xmrig", "miner_content_hex": content,
        "bundle_json": bundle_json,
        "stim": {
            "header_json": bundle.data[9:9 + header_length].decode(),
            "config_ciphertext_len": len(layout.config_part),
            "config_nonce_hex": layout.config_part[:24].hex(),
            "rootfs_nonce_hex": layout.rootfs_part[:24].hex(),
            "config_plaintext_utf8": tim.config.decode(),
            "rootfs_tar_len": len(tim.rootfs),
            "rootfs_tar_sha256_hex": hashlib.sha256(tim.rootfs).hexdigest(),
            "rootfs_files": [{"name": m.path, "mode": "{:04o}".format(m.mode), "typeflag": "0",
                              "content_hex": bytes(member_content(tim.rootfs, m)).hex()}
                             for m in files],
        },
        "expected_config_utf8": tim.config.decode(),
        "expected_extracted_files": [{"path": "xmrig", "mode": "0600", "content_hex": content}],
        "expected_returned_miner_path": "",
        "note": "made by gonode bundle create-miner without --profile: the config is the "
                "default TIM config",
    }
    profile = scratch / "profile.json"
    profile.write_text('{"id":"p","minerType":"xmrig"}')
    out = scratch / "profile-bundle.json"
    assert gonode(binary, "create-profile", "--in", str(profile), "--name", "p",
                  "--password", PASSWORD, "--out", str(out))["ok"]
    stim = Bundle.from_json(out.read_bytes()).data
    layout = parse_stim(stim)
    rest = layout.config_part + layout.rootfs_part
    damaged = {
        "config_size_zero": (dict(layout.header, config_size=0), struct.pack(">I", 0) + rest),
        "config_size_zero_header_unchanged": (layout.header, struct.pack(">I", 0) + rest),
        "config_size_zero_header_consistent": (
            dict(layout.header, config_size=0, rootfs_size=len(rest)),
            struct.pack(">I", 0) + rest),
        "rootfs_part_39_bytes": (layout.header, struct.pack(">I", len(layout.config_part))
                                 + layout.config_part + layout.rootfs_part[:39]),
        "header_wrong_and_password_wrong": (dict(layout.header, tim=False, config_size=1), None),
    }
    errors = []
    for name, (header, payload) in damaged.items():
        data = pack_trix(b"STIM", header, payload if payload is not None else
                         struct.pack(">I", len(layout.config_part)) + rest)
        case = Bundle.seal("profile", "p", data)
        password = "wrong" if name.endswith("password_wrong") else PASSWORD
        path = scratch / (name + ".json")
        path.write_bytes(case.to_json())
        answer = gonode(binary, "extract-profile", "--in", str(path), "--password", password,
                        "--out", str(scratch / "out"))
        errors.append({"name": name, "password": password, "bundle_json": case.to_json().decode(),
                       "error_kind": kind_of(answer["error"]), "reference_error": answer["error"]})
    return {"description": "Extra bundle cases made with gonode (tests/extra_vectors).",
            "miner_bundle": miner_bundle, "errors": errors}


BASE = '"id":"m1","type":"ping","from":"a","to":"b","ts":"2026-01-02T03:04:05.12Z"'
BODIES = {
    "unknown_fields_dropped": '{%s,"payload":{"sentAt":1},"extra":{"x":[1,2]},"more":null}' % BASE,
    "unknown_fields_other_spellings": (
        '{"Extra":true,"ID":"m2","TYPE":"ping","From":"a","TO":"b","Ts":"2026-01-02T03:04:05Z",'
        '"PAYLOAD":{"a":1},"REPLYTO":"r","replyto2":1}'),
    "unknown_fields_duplicates_and_null": (
        '{%s,"id":"m3","id":null,"payload":{"x":1},"Payload":[2],"extra":1}' % BASE),
    "unknown_field_with_huge_number": '{%s,"extra":1e400,"payload":null}' % BASE,
    "payload_kept_as_received": (
        '{%s,"unknown":0,"payload": { "b" : 1, "a" : [1.0, 1E+2, -0], "b" : "\\u0041\\/<>&" } }'
        % BASE),
}
PLAINTEXTS = {
    "smsg_meta_value_not_a_string": b'{"body":"{}","meta":{"a":1}}',
    "smsg_attachment_size_not_an_integer": b'{"body":"{}","attachments":[{"size":1.5}]}',
    "smsg_null_plaintext": b"null",
    "smsg_unknown_field_with_huge_number": ('{"body":%s,"x":1e400}' % json.dumps(
        '{%s,"payload":null}' % BASE)).encode(),
}


def smsg(binary):
    cipher = FrameCipher(SECRET)
    password = frame_password(SECRET)
    frames = {name: cipher.seal_plaintext(encode_plaintext(body, 1767323045), bytes(24))
              for name, body in BODIES.items()}
    frames.update({name: cipher.seal_plaintext(plaintext, bytes(24))
                   for name, plaintext in PLAINTEXTS.items()})
    answers = harness(binary, [{"op": "open_frame", "hex": frame.hex(), "password": password}
                               for frame in frames.values()])
    cases = []
    for (name, frame), answer in zip(frames.items(), answers):
        case = {"name": name, "shared_secret_hex": SECRET.hex(), "password": password,
                "frame_hex": frame.hex()}
        if answer.get("error") is None:
            case.update(expect="ok", mesh_message_json=answer["mesh"])
        else:
            kind = "invalid_payload" if answer["stage"] == "smsg" else "invalid_message_json"
            case.update(expect="error", error_kind=kind, reference_error=answer["error"])
        cases.append(case)
    return {"description": "Extra SMSG decrypt cases opened by the Go reference "
                           "(tests/extra_vectors).", "decrypt_cases": cases}


STORAGE = {
    "empty_name": "0111010101010201010400" "0807",
    "empty_names_nested": "0111010101010201010800080701610c04000a0478",
    "empty_name_in_object_array": "0111010101010201010400" "8c0404" "00" "0b01",
}


def storage(binary):
    answers = harness(binary, [{"op": "storage_decode", "hex": h} for h in STORAGE.values()])
    encode = []
    for (name, hex_), answer in zip(STORAGE.items(), answers):
        assert answer["error"] is None and answer["reencoded"] == hex_, answer
        encode.append({"name": name, "section": answer["section"], "hex": hex_})
    return {"description": "Extra portable-storage cases encoded and decoded by the Go "
                           "reference (tests/extra_vectors).", "encode": encode}


def main(gonode_binary, harness_binary):
    with tempfile.TemporaryDirectory() as scratch:
        documents = {"bundles.json": bundles(gonode_binary, Path(scratch)),
                     "smsg.json": smsg(harness_binary),
                     "levin_storage.json": storage(harness_binary)}
    for name, document in documents.items():
        (HERE / name).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(HERE.parent.parent))
    main(*sys.argv[1:3])
