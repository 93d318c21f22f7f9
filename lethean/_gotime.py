"""
RFC 3339 timestamps exactly as Go's ``time.Time`` writes and reads them.

Python's ``datetime`` keeps microseconds only and cannot represent year 0,
while Go keeps nanoseconds and the zone offset; :class:`Timestamp` keeps
both, so a received ``ts`` is written back byte for byte.
"""

import datetime
import re
from typing import TypeVar

import attrs

from lethean.errors import MalformedError

__all__ = ["Timestamp", "InvalidTimestampError"]


class InvalidTimestampError(MalformedError):
    """The timestamp is not an RFC 3339 time Go accepts."""

    kind = "invalid_timestamp"


_NS = 1_000_000_000
_new = object.__new__
_set = object.__setattr__
_DAY_S = 86400
_EPOCH = datetime.datetime(1970, 1, 1)

# Go's strict RFC 3339 reader: fixed-width date and time, "T", optional
# fraction (Go keeps 9 digits and ignores the rest), then "Z" or +hh:mm.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))", re.ASCII)


_T = TypeVar("_T", bound="Timestamp")


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    if month == 2 and _is_leap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def _year_zero(text: str, match: "re.Match[str]") -> int:
    """Seconds since the epoch of a valid year-0 time (``datetime`` stops at 1)."""
    year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
    if (year != 0 or not 1 <= month <= 12 or not 1 <= day <= _days_in(month, year)
            or hour >= 24 or minute >= 60 or second >= 60):
        raise InvalidTimestampError("date or time out of range: {!r}".format(text))
    return _days_from_civil(year, month, day) * _DAY_S + hour * 3600 + minute * 60 + second


#: The last second written and read, with its text: a node stamps and
#: reads many messages within one second.
_last_written: tuple[int | None, str] = (None, "")
_last_read = ("", 0)


def _date_and_time(local: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of ``local`` seconds since the epoch."""
    global _last_written
    cached, text = _last_written
    if cached == local:
        return text
    days, rest = divmod(local, _DAY_S)
    year, month, day = _civil_from_days(days)
    if not 0 <= year <= 9999:
        raise ValueError("year {} cannot be written as RFC 3339".format(year))
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    text = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(
        year, month, day, hour, minute, second)
    _last_written = (local, text)
    return text


def _local_seconds(text: str, match: "re.Match[str]") -> int:
    """Seconds since the epoch of the date and time ``match`` found in ``text``."""
    global _last_read
    date_time = text[:19]
    cached, local = _last_read
    if cached == date_time:
        return local
    try:
        # The pattern fixed the shape; the C parser checks the ranges
        # (month, day of month, 23:59:59) and does the calendar.
        delta = datetime.datetime.fromisoformat(date_time) - _EPOCH
        local = delta.days * _DAY_S + delta.seconds
    except ValueError:
        local = _year_zero(text, match)
    _last_read = (date_time, local)
    return local


@attrs.frozen(order=False, repr=False)
class Timestamp:
    """
    An instant with nanosecond precision and the zone offset it was written in.

    ``seconds`` counts from the Unix epoch (UTC), ``nanos`` is 0..999999999
    and ``offset`` is the zone offset in seconds east of UTC (0 is written
    ``Z``).  ``str(ts)`` is Go's RFC 3339 text.
    """

    seconds: int
    nanos: int = 0
    offset: int = 0
    _text: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.nanos < _NS:
            raise ValueError("nanos must be in 0..999999999")
        if self.offset % 60 or not -86400 < self.offset < 86400:
            raise ValueError("offset must be whole minutes within a day")

    @classmethod
    def parse(cls: type[_T], text: str) -> _T:
        """Read Go's RFC 3339 form; raises :class:`InvalidTimestampError`."""
        match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidTimestampError("not an RFC 3339 timestamp: {!r}".format(text)[:200])
        local = _local_seconds(text, match)
        fraction, zulu, sign, zone_hour, zone_minute = match.group(7, 8, 9, 10, 11)
        offset = 0
        canonical = True
        if not zulu:
            zone_hour, zone_minute = int(zone_hour), int(zone_minute)
            if zone_hour >= 24 or zone_minute >= 60:
                raise InvalidTimestampError("zone offset out of range: {!r}".format(text))
            offset = (zone_hour * 60 + zone_minute) * 60
            if sign == "-":
                offset = -offset
            canonical = offset != 0
        if fraction is None:
            nanos = 0
        else:
            nanos = int(fraction[:9].ljust(9, "0"))
            canonical = canonical and len(fraction) <= 9 and fraction[-1] != "0"
        if cls is not Timestamp:
            stamp = cls(local - offset, nanos, offset)
            if canonical:
                object.__setattr__(stamp, "_text", text)
            return stamp
        # Every envelope carries one: skip the checks the pattern already
        # made (nanos has at most 9 digits, the zone is under 24 hours).
        stamp = _new(cls)
        _set(stamp, "seconds", local - offset)
        _set(stamp, "nanos", nanos)
        _set(stamp, "offset", offset)
        _set(stamp, "_text", text if canonical else None)
        return stamp

    @classmethod
    def from_unix(cls: type[_T], seconds: int | float, offset: int = 0) -> _T:
        """
        The instant ``seconds`` after the epoch (int or float, e.g. a
        ``clock.seconds()``); floats are rounded to the microsecond, below
        which a double holding today's time is noise anyway.
        """
        if isinstance(seconds, int):
            whole, nanos = seconds, 0
        else:
            micros = round(seconds * 1_000_000)
            whole, micro = divmod(micros, 1_000_000)
            nanos = micro * 1000
        if cls is not Timestamp or offset:
            return cls(whole, nanos, offset)
        # Every message sent is stamped: nanos is in range by construction.
        stamp = _new(cls)
        _set(stamp, "seconds", whole)
        _set(stamp, "nanos", nanos)
        _set(stamp, "offset", 0)
        _set(stamp, "_text", None)
        return stamp

    @classmethod
    def from_unix_nanos(cls: type[_T], nanos: int, offset: int = 0) -> _T:
        """The instant ``nanos`` nanoseconds after the epoch."""
        whole, rest = divmod(nanos, _NS)
        return cls(whole, rest, offset)

    @classmethod
    def from_datetime(cls: type[_T], value: datetime.datetime) -> _T:
        """The instant of an aware ``datetime``, keeping its UTC offset."""
        delta = value.utcoffset()
        if delta is None:
            raise ValueError("a naive datetime has no zone; attach one")
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        since = value - epoch
        seconds = since.days * _DAY_S + since.seconds
        return cls(seconds, since.microseconds * 1000, int(delta.total_seconds()))

    def to_datetime(self) -> datetime.datetime:
        """An aware ``datetime`` (truncated to microseconds)."""
        zone = datetime.timezone(datetime.timedelta(seconds=self.offset))
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        moment = epoch + datetime.timedelta(seconds=self.seconds, microseconds=self.nanos // 1000)
        return moment.astimezone(zone)

    @property
    def unix_nanos(self) -> int:
        """Nanoseconds since the epoch."""
        return self.seconds * _NS + self.nanos

    @property
    def unix_millis(self) -> int:
        """Whole milliseconds since the epoch (Go's ``UnixMilli``)."""
        return self.unix_nanos // 1_000_000

    def is_zero(self) -> bool:
        """True for Go's zero time, ``0001-01-01T00:00:00Z``."""
        return self == ZERO_TIME

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self._format()
            object.__setattr__(self, "_text", text)
        return text

    def _format(self) -> str:
        text = _date_and_time(self.seconds + self.offset)
        if self.nanos:
            text += ".{:09d}".format(self.nanos).rstrip("0")
        if self.offset == 0:
            return text + "Z"
        sign = "-" if self.offset < 0 else "+"
        zone_minutes = abs(self.offset) // 60
        return "{}{}{:02d}:{:02d}".format(text, sign, zone_minutes // 60, zone_minutes % 60)

    def __repr__(self) -> str:
        try:
            return "Timestamp.parse({!r})".format(str(self))
        except ValueError:
            return "Timestamp({}, {}, {})".format(self.seconds, self.nanos, self.offset)

    def to_json_value(self) -> str:
        """The RFC 3339 text (used by the Go-compatible JSON encoder)."""
        return str(self)


#: Go's zero ``time.Time`` (what a never-set time encodes as).
ZERO_TIME = Timestamp(_days_from_civil(1, 1, 1) * _DAY_S)
