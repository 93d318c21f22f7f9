"""
The few pieces of Go's ``encoding/json`` that peers.json needs, byte for byte.

A Go peer and a Python peer should be able to share one registry file, and
an unchanged registry should not churn on every save, so numbers, strings
and timestamps are written exactly as Go writes them: integral floats
without ``.0``, ``<``, ``>`` and ``&`` escaped, RFC 3339 times with trailing
fractional zeros trimmed and ``0001-01-01T00:00:00Z`` for "never".
"""

import datetime
import json
import math
import re
from decimal import Decimal

__all__ = [
    "ZERO_TIME",
    "go_float",
    "go_string",
    "format_time",
    "parse_time",
]

#: Go's zero ``time.Time`` as ``encoding/json`` writes it; Python uses None.
ZERO_TIME = "0001-01-01T00:00:00Z"

_ZERO_INSTANT = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)

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

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)


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


def format_time(moment):
    """
    An aware datetime (or None for Go's zero time) in Go's RFC 3339 form.

    UTC is written ``Z``; other offsets as ``+hh:mm``; the fraction keeps
    only its significant digits.
    """
    if moment is None:
        return ZERO_TIME
    offset = moment.utcoffset()
    text = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(
        moment.year, moment.month, moment.day,
        moment.hour, moment.minute, moment.second,
    )
    if moment.microsecond:
        text += ".{:06d}".format(moment.microsecond).rstrip("0")
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return text + "{}{:02d}:{:02d}".format(sign, hours, minutes)


def parse_time(text):
    """
    An RFC 3339 timestamp as Go accepts it, as an aware datetime.

    Go's zero time (at any offset) becomes None.  Fractions finer than a
    microsecond are truncated: Python's datetime stops there.  Raises
    ValueError for anything else.
    """
    match = _RFC3339_RE.match(text)
    if match is None:
        raise ValueError("not an RFC 3339 timestamp: {!r}".format(text[:40]))
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    if zulu:
        tz = datetime.timezone.utc
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("bad time zone offset in {!r}".format(text[:40]))
        delta = datetime.timedelta(hours=int(off_h), minutes=int(off_m))
        tz = datetime.timezone(-delta if sign == "-" else delta)
        if not delta:
            tz = datetime.timezone.utc
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, microsecond, tz)
    except (ValueError, OverflowError) as e:
        raise ValueError(str(e)) from None
    try:
        if moment == _ZERO_INSTANT:
            return None
    except OverflowError:  # pragma: no cover - comparison near datetime.min
        pass
    return moment
