"""Go's RFC 3339 times (lethean._gotime.Timestamp), as the envelope's ts carries them."""

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from lethean.smsg import InvalidTimestampError, Timestamp
from tests.strategies import timestamps


class TimestampTests(SynchronousTestCase):
    """RFC 3339 times with nanoseconds and the zone offset kept."""

    def test_canonical_form(self):
        """Trailing zeros are trimmed; +00:00 is written Z; the offset is kept."""
        cases = {"2026-01-01T00:00:00.100Z": "2026-01-01T00:00:00.1Z",
                 "2026-01-01T00:00:00.000Z": "2026-01-01T00:00:00Z",
                 "2026-01-01T00:00:00+00:00": "2026-01-01T00:00:00Z",
                 "2026-01-01T00:00:00-00:00": "2026-01-01T00:00:00Z",
                 "2026-02-28T23:59:59.999999999+05:30": "2026-02-28T23:59:59.999999999+05:30",
                 "2026-01-01T00:00:00.1234567891Z": "2026-01-01T00:00:00.123456789Z",
                 "0000-02-29T12:00:00Z": "0000-02-29T12:00:00Z",
                 "9999-12-31T23:59:59-23:59": "9999-12-31T23:59:59-23:59"}
        for text, canonical in cases.items():
            self.assertEqual(str(Timestamp.parse(text)), canonical)

    def test_instant(self):
        """The offset moves the instant, not the text."""
        ts = Timestamp.parse("2026-01-02T04:04:05.5+01:00")
        self.assertEqual((ts.seconds, ts.nanos, ts.offset), (1767323045, 500_000_000, 3600))
        self.assertEqual(ts.unix_millis, 1767323045500)
        self.assertEqual(Timestamp.from_unix_nanos(ts.unix_nanos, 3600), ts)

    def test_invalid(self):
        """Anything else raises InvalidTimestampError."""
        for text in ("", "2026-02-29T00:00:00Z", "0000-02-30T00:00:00Z", "2026-1-01T00:00:00Z", 5):
            self.assertRaises(InvalidTimestampError, Timestamp.parse, text)

    def test_unwritable_year(self):
        """Years outside 0000-9999 cannot be written, as in Go."""
        self.assertRaises(ValueError, str, Timestamp(253402300800))

    def test_datetime_conversion(self):
        """Aware datetimes convert both ways (to microseconds)."""
        import datetime
        zone = datetime.timezone(datetime.timedelta(hours=-3))
        moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=zone)
        ts = Timestamp.from_datetime(moment)
        self.assertEqual(str(ts), "2026-01-02T03:04:05.12-03:00")
        self.assertEqual(ts.to_datetime(), moment)
        self.assertRaises(ValueError, Timestamp.from_datetime, datetime.datetime(2026, 1, 1))

    def test_from_unix_float(self):
        """Float seconds keep microseconds, not binary noise."""
        self.assertEqual(str(Timestamp.from_unix(1767323045.123456)), "2026-01-02T03:04:05.123456Z")
        self.assertEqual(str(Timestamp.from_unix(0)), "1970-01-01T00:00:00Z")

    def test_validation(self):
        """Out-of-range nanos or offsets are refused."""
        self.assertRaises(ValueError, Timestamp, 0, 10**9)
        self.assertRaises(ValueError, Timestamp, 0, 0, 30)

    def test_from_unix_is_the_checked_constructor(self):
        """from_unix gives the Timestamp the validating constructor gives."""
        for seconds, expected in ((1767323045.123456, (1767323045, 123456000)),
                                  (-0.5, (-1, 500000000)), (7, (7, 0))):
            stamp = Timestamp.from_unix(seconds)
            self.assertEqual(stamp, Timestamp(*expected))
            self.assertEqual(str(stamp), str(Timestamp(*expected)))
        self.assertEqual(Timestamp.from_unix(7, 3600), Timestamp(7, 0, 3600))
        self.assertRaises(ValueError, Timestamp.from_unix, 7, 30)

    def test_seconds_in_turn(self):
        """Times in the same second and in others, read and written in any order, stay exact."""
        texts = ["2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.2Z", "2026-01-02T03:04:06Z",
                 "2026-01-02T03:04:05.3Z", "2026-01-02T03:04:05.3+01:00", "0000-02-29T12:00:00Z",
                 "2026-01-02T03:04:05.3Z"]
        expected = [(1767323045, 10**8), (1767323045, 2 * 10**8), (1767323046, 0),
                    (1767323045, 3 * 10**8), (1767319445, 3 * 10**8),
                    (-62162078400, 0), (1767323045, 3 * 10**8)]
        stamps = [Timestamp.parse(text) for text in texts]
        self.assertEqual([(s.seconds, s.nanos) for s in stamps], expected)
        rebuilt = [Timestamp(s.seconds, s.nanos, s.offset) for s in stamps]
        self.assertEqual([str(s) for s in rebuilt], texts)
        self.assertEqual([str(s) for s in reversed(rebuilt)], texts[::-1])

    @settings(max_examples=300)
    @given(st.lists(timestamps, min_size=2, max_size=5))
    def test_round_trips_in_turn(self, stamps):
        """Reading and writing several times one after another keeps each exact."""
        texts = [str(ts) for ts in stamps]
        self.assertEqual([Timestamp.parse(text) for text in texts], stamps)

    @settings(max_examples=300)
    @given(timestamps)
    def test_round_trip(self, ts):
        """Writing and reading gives the same instant and offset."""
        self.assertEqual(Timestamp.parse(str(ts)), ts)
