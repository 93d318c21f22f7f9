"""
The two pieces of Go's ``encoding/json`` that peers.json needs, byte for byte.

A Go peer and a Python peer should be able to share one registry file, and
an unchanged registry should not churn on every save, so numbers and
strings are written exactly as Go writes them: integral floats without
``.0``, ``<``, ``>`` and ``&`` escaped.  (Times use
:class:`lethean.smsg.Timestamp`.)
"""

import json
import math
import re
from decimal import Decimal

__all__ = ["go_float", "go_string"]

# Go additionally escapes these inside strings (HTML escaping is on).
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Anything that makes a string literal differ from '"' + text + '"'.
_NEEDS_ESCAPE_RE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')



def go_string(text):
    """
    ``text`` as a JSON string literal the way Go writes it.

    Lone surrogates cannot be UTF-8; Go writes U+FFFD for invalid text, and
    so does this.
    """
    if _NEEDS_ESCAPE_RE.search(text) is None:
        return '"' + text + '"'
    text = _SURROGATE_RE.sub("\ufffd", text)
    literal = json.dumps(text, ensure_ascii=False)
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], literal)


def go_float(value):
    """
    A finite float64 as Go's ``encoding/json`` writes it.

    Shortest round-trip digits; plain notation for 1e-6 <= |x| < 1e21,
    otherwise exponent notation with a two-digit negative exponent cut to
    one digit (``1e-7``, ``1e+21``).
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("JSON cannot represent {!r}".format(value))
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    magnitude = abs(value)
    if 1e-4 <= magnitude < 1e16:
        # Python's repr is plain notation here, with the same shortest digits.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = repr(value)  # Python uses exponent form throughout this range
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
