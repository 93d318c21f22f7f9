"""
Bundles made and opened by the real Go reference (``gonode bundle``) against
ours: a miner bundle without a profile, and STIMs the reference refuses
with ``decryption_failed``.  Skipped when gonode is not built.
"""

import json
import os
import struct
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from lethean.bundles import (
    Bundle,
    create_miner_bundle,
    create_profile_bundle,
    extract_miner_bundle,
    extract_profile_bundle,
)
from lethean.bundles._stim import DEFAULT_TIM_CONFIG, open_stim, parse_stim
from lethean.errors import LetheanError
from lethean.smsg import pack_trix
from tests._paths import GONODE

#: What a reference error says, and the vectors' kind for it.
_KINDS = [("checksum mismatch", "checksum_mismatch"), ("password is required", "password_required"),
          ("invalid stim payload", "invalid_stim_payload"), ("decryption failed", "decryption_failed"),
          ("failed to decode stim", "invalid_container")]


class GoReferenceBundleTests(SynchronousTestCase):
    """Our bundles agree with the reference's, both ways."""

    def setUp(self):
        if not os.access(GONODE, os.X_OK):
            self.skipTest("the Go reference is not built at {}".format(GONODE))
        self.scratch = self.mktemp()
        os.makedirs(self.scratch)

    def path(self, name):
        return os.path.join(self.scratch, name)

    def gonode(self, *args):
        result = subprocess.run([os.fspath(GONODE), "bundle", *args], capture_output=True,
                                text=True, timeout=120)
        return json.loads(result.stdout.splitlines()[-1])

    def write(self, name, content):
        with open(self.path(name), "wb") as f:
            f.write(content)
        return self.path(name)

    def reference_kind(self, bundle, password):
        answer = self.gonode("extract-profile", "--in", self.write("case.json", bundle.to_json()),
                             "--password", password, "--out", self.path("out.json"))
        self.assertFalse(answer["ok"])
        return next(kind for text, kind in _KINDS if text in answer["error"])

    def our_kind(self, bundle, password):
        try:
            extract_profile_bundle(bundle, password)
        except LetheanError as e:
            return e.kind
        self.fail("lethean opened a bundle the reference refuses")

    def test_reference_miner_without_profile(self):
        """A reference miner bundle without a profile carries the default TIM config."""
        miner = self.write("xmrig", b"\x7fELF" + bytes(300))
        answer = self.gonode("create-miner", "--in", miner, "--name", "m", "--password", "pw",
                             "--out", self.path("m.json"))
        self.assertTrue(answer["ok"], answer)
        with open(self.path("m.json"), "rb") as f:
            bundle = Bundle.from_json(f.read())
        self.assertEqual(open_stim(bundle.data, "pw").config, DEFAULT_TIM_CONFIG)
        result = extract_miner_bundle(bundle, "pw", self.path("installed"))
        self.assertEqual(result.config, DEFAULT_TIM_CONFIG)
        self.assertIsNone(result.profile_json)

    def test_our_miner_without_profile(self):
        """Our miner bundle without a profile gives the reference its own default config."""
        bundle = create_miner_bundle("xmrig", b"\x7fELF" + bytes(300), "m", "pw")
        answer = self.gonode("extract-miner", "--in", self.write("m.json", bundle.to_json()),
                             "--password", "pw", "--out", self.path("installed"))
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["profile"], DEFAULT_TIM_CONFIG.decode())
        with open(self.path("installed/xmrig"), "rb") as f:
            self.assertEqual(f.read(), b"\x7fELF" + bytes(300))

    def test_config_length_zero_and_short_parts(self):
        """STIMs with a 0 config length or a short part fail as in the reference, header aside."""
        stim = create_profile_bundle(b'{"id":"p"}', "p", "pw").data
        layout = parse_stim(stim)
        rest = layout.config_part + layout.rootfs_part
        zero = struct.pack(">I", 0) + rest
        short = (struct.pack(">I", len(layout.config_part)) + layout.config_part
                 + layout.rootfs_part[:39])
        cases = [
            (dict(layout.header, config_size=0), zero, "pw"),
            (layout.header, zero, "pw"),
            (dict(layout.header, config_size=0, rootfs_size=len(rest)), zero, "pw"),
            (layout.header, short, "pw"),
            (dict(layout.header, tim=False), struct.pack(">I", len(layout.config_part)) + rest,
             "wrong"),
            (layout.header, struct.pack(">I", len(rest) + 1) + rest, "pw"),
        ]
        for header, payload, password in cases:
            bundle = Bundle.seal("profile", "p", pack_trix(b"STIM", header, payload))
            self.assertEqual(self.our_kind(bundle, password),
                             self.reference_kind(bundle, password), header)
