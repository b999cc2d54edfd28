"""The fast date-time parser (shape check + datetime.fromisoformat + timedelta arithmetic) agrees
with the reference (the RFC 3339 grammar as regexes, integer calendar arithmetic) on valid strings
and on near misses: wrong separators, a missing or malformed offset, 7 fraction digits, Feb 29 of
non-leap years, lowercase t/z, offsets ±23:59, years 0000/0001/9999, stray characters."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine import timestamps
from policy_engine.inputs import InputIssue, compile_input_checker
from policy_engine.timestamps import parse_date_time, reference_date_time

# (part, replacement): one per near miss, or a valid edge (years 0001 and 9999, offsets ±23:59)
VARIANTS = [
    ("sep", "t"), ("sep", " "), ("sep", "_"), ("sep", ""), ("sep", "TT"), ("offset", "z"), ("offset", ""),
    ("offset", "+23:59"), ("offset", "-23:59"), ("offset", "+24:00"), ("offset", "+05:60"), ("offset", "+0530"),
    ("offset", "+05"), ("offset", "+05:30:00"), ("offset", "UTC"), ("offset", "ZZ"), ("offset", "+5:30"),
    ("fraction", ".1234567"), ("fraction", "."), ("fraction", ",5"), ("fraction", ".5.5"), ("fraction", ".٣"),
    ("year", "0001"), ("year", "9999"), ("year", "0000"), ("year", "10000"), ("year", "999"), ("year", "２０２５"),
    ("month", "13"), ("month", "00"), ("day", "00"), ("day", "32"), ("hour", "24"), ("minute", "60"),
    ("second", "60"), ("dash", "/"), ("dash", ""), ("colon", "."), ("prefix", " "), ("prefix", "+"),
    ("suffix", "\n"), ("suffix", " "), ("suffix", "0"),
]
FEB_29 = st.sampled_from([1900, 2000, 2023, 2024, 2100, 1, 4, 9996, 9999])


@st.composite
def near_date_times(draw: st.DrawFn) -> str:
    """Valid RFC 3339 date-times, about half of them changed in one part into a near miss or an edge."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
    digits = draw(st.integers(0, 6))
    hh, mm = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    parts = {"prefix": "", "year": f"{moment.year:04d}", "month": f"{moment.month:02d}", "day": f"{moment.day:02d}",
             "sep": "T", "hour": f"{moment.hour:02d}", "minute": f"{moment.minute:02d}",
             "second": f"{moment.second:02d}", "fraction": f".{moment.microsecond:06d}"[:digits + 1] if digits else "",
             "offset": draw(st.sampled_from(["Z", f"+{hh:02d}:{mm:02d}", f"-{hh:02d}:{mm:02d}"])), "suffix": "",
             "dash": "-", "colon": ":"}
    if draw(st.booleans()):
        part, value = draw(st.sampled_from(VARIANTS))
        parts[part] = value
    if draw(st.integers(0, 9)) == 0:
        parts.update(year=f"{draw(FEB_29):04d}", month="02", day="29")
    p = parts
    return (f"{p['prefix']}{p['year']}{p['dash']}{p['month']}{p['dash']}{p['day']}{p['sep']}{p['hour']}{p['colon']}"
            f"{p['minute']}{p['colon']}{p['second']}{p['fraction']}{p['offset']}{p['suffix']}")


def exact_us(text: str) -> int:
    """A third opinion on a valid string: datetime on the naive parts, the offset subtracted."""
    moment = datetime.fromisoformat(text.upper())
    offset = moment.utcoffset() or timedelta(0)
    return (moment.replace(tzinfo=None) - datetime(1970, 1, 1) - offset) // timedelta(microseconds=1)


@settings(max_examples=1000, deadline=None)
@given(near_date_times(), st.booleans())
def test_fast_parser_agrees_with_the_reference(text: str, cached: bool) -> None:
    if not cached:
        timestamps.DATES.pop(text, None)
    expected = reference_date_time(text)
    assert parse_date_time(text) == expected
    assert parse_date_time(text) == expected  # a second time, from the cache when valid
    if expected is not None:
        assert expected == exact_us(text)


def test_edges_of_the_accepted_set() -> None:
    valid = {
        "0001-01-01T00:00:00Z": -62_135_596_800_000_000,
        "9999-12-31T23:59:59.999999Z": 253_402_300_799_999_999,
        "2024-02-29t12:00:00z": 1_709_208_000_000_000,
        "1970-01-01T00:00:00+23:59": -86_340_000_000,
        "1970-01-01T00:00:00-23:59": 86_340_000_000,
        "1970-01-01T00:00:00.1Z": 100_000,
        "1969-12-31T23:59:59.999999Z": -1,
    }
    for text, expected in valid.items():
        assert parse_date_time(text) == reference_date_time(text) == expected, text
    for text in ["2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2025-01-01T00:00:00.1234567Z",
                 "2025-01-01T23:59:60Z", "2025-01-01 00:00:00Z", "2025-01-01T00:00:00", "2025-W01-1T00:00:00Z",
                 "20250101T000000Z", "2025-01-01T00:00:00+24:00", "2025-01-01T00:00:00+05:60",
                 "2025-01-01T00:00:00,5Z", "2025-01-01T00:00:00Z\n"]:
        assert parse_date_time(text) is None and reference_date_time(text) is None, text


def test_the_epoch_is_zero_also_from_the_cache() -> None:
    """0 is falsy: the checker's cache lookup must not mistake it for a miss that fails."""
    schema = {"type": "string", "format": "date-time"}
    for _ in range(2):
        assert compile_input_checker(schema).check("1970-01-01T00:00:00Z") == (0, [])


def test_a_str_subclass_is_parsed_as_its_text_never_by_its_own_hash_or_methods() -> None:
    class Sneaky(str):
        def __hash__(self) -> int:
            return hash("2025-01-01T00:00:00Z")

        def __eq__(self, other: object) -> bool:
            return True

        def isascii(self) -> bool:
            return True

    assert parse_date_time("2025-01-01T00:00:00Z") == 1_735_689_600_000_000  # now in the cache
    assert parse_date_time(Sneaky("garbage")) is None
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    assert compile_input_checker(schema).check({"at": Sneaky("garbage")}) == (
        None, [InputIssue("$.at", "not an RFC 3339 date-time with offset")])
    assert compile_input_checker(schema).check({"at": Sneaky("2025-01-01T00:00:01Z")})[0] == {
        "at": 1_735_689_601_000_000}
