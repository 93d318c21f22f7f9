"""The Levin conformance checkers catch wrong answers, not only pass right ones."""

import copy
import json

from twisted.trial.unittest import SynchronousTestCase

from lethean.conformance import _levin_header, _levin_storage, _levin_varint
from lethean.conformance._errors import VectorMismatch
from tests._paths import VECTORS


def load(name):
    with (VECTORS / name).open("rb") as f:
        return json.load(f)


def run(checker, document):
    """Names of the failing cases, and how many cases ran."""
    failed, total = [], 0
    for name, check in checker.cases(document):
        total += 1
        try:
            check()
        except VectorMismatch:
            failed.append(name)
    return failed, total


class CheckerTests(SynchronousTestCase):
    """Each checker passes the shared vectors and fails tampered ones."""

    def test_header(self):
        """A changed encoding or a different error kind is a failure."""
        document = load("levin_header.json")
        self.assertEqual(run(_levin_header, document)[0], [])
        tampered = copy.deepcopy(document)
        tampered["encode"][0]["hex"] = tampered["encode"][0]["hex"][:-2] + "02"
        tampered["decode"][2]["error_kind"] = "payload_too_big"
        failed, _ = run(_levin_header, tampered)
        self.assertEqual(failed, ["encode/" + document["encode"][0]["name"],
                                  "decode/" + document["decode"][2]["name"]])

    def test_varint(self):
        """A wrong value, or an out-of-range value we would accept, is a failure."""
        document = load("levin_varint.json")
        self.assertEqual(run(_levin_varint, document)[0], [])
        tampered = copy.deepcopy(document)
        tampered["encode"][1]["value"] = 2
        tampered["encode_out_of_range"][0]["value"] = 5
        failed, _ = run(_levin_varint, tampered)
        self.assertEqual(len(failed), 2)

    def test_storage(self):
        """A different type tag for the same number is a failure."""
        document = load("levin_storage.json")
        failed, total = run(_levin_storage, document)
        self.assertEqual(failed, [])
        self.assertGreater(total, 30)
        tampered = copy.deepcopy(document)
        case = next(c for c in tampered["decode"] if c["name"] == "unsorted_keys_accepted")
        case["section"]["aa"] = {"type": "uint16", "tag": 7, "value": 2}
        failed, _ = run(_levin_storage, tampered)
        self.assertEqual(failed, ["decode/unsorted_keys_accepted"])

    def test_description_without_a_number(self):
        """An encode_errors description that cannot be read is a failure, not a pass."""
        self.assertRaises(VectorMismatch, _levin_storage.section_from_description, "a long name")
