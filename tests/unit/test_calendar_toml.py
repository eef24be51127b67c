"""Calendars described in TOML: the XLON example and malformed files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest

from preopen.calendar import get_calendar
from preopen.errors import CalendarError, CalendarFileError

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "xlon.toml"

# UK bank holidays in England and Wales (gov.uk) plus the LSE's half days,
# written down by hand.
XLON_HOLIDAYS = {
    2020: ["2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25",
           "2020-08-31", "2020-12-25", "2020-12-28"],
    2021: ["2021-01-01", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31",
           "2021-08-30", "2021-12-27", "2021-12-28"],
    2022: ["2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02",
           "2022-06-03", "2022-08-29", "2022-09-19", "2022-12-26", "2022-12-27"],
    2023: ["2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08",
           "2023-05-29", "2023-08-28", "2023-12-25", "2023-12-26"],
}
XLON_EARLY = {
    2021: {"2021-12-24": "12:30", "2021-12-31": "12:30"},
    2022: {"2022-12-23": "12:30", "2022-12-30": "12:30"},
    2023: {"2023-12-22": "12:30", "2023-12-29": "12:30"},
}


@pytest.fixture(scope="module")
def xlon():
    return get_calendar(str(EXAMPLE))


@pytest.mark.parametrize("year", sorted(XLON_HOLIDAYS))
def test_xlon_holidays(xlon, year):
    assert [d.isoformat() for d in xlon.holidays(year)] == XLON_HOLIDAYS[year]


@pytest.mark.parametrize("year", sorted(XLON_EARLY))
def test_xlon_early_closes(xlon, year):
    expected = {
        dt.date.fromisoformat(d): dt.time.fromisoformat(t) for d, t in XLON_EARLY[year].items()
    }
    assert xlon.early_closes(year) == expected


def test_xlon_hours_across_bst(xlon):
    # British Summer Time began on Sunday 2025-03-30.
    assert xlon.open_at(dt.date(2025, 3, 28)) == dt.datetime(2025, 3, 28, 8, tzinfo=dt.UTC)
    assert xlon.open_at(dt.date(2025, 3, 31)) == dt.datetime(2025, 3, 31, 7, tzinfo=dt.UTC)
    assert xlon.close_at(dt.date(2025, 3, 31)) == pendulum.datetime(
        2025, 3, 31, 16, 30, tz="Europe/London"
    )
    assert xlon.shortest_break == dt.timedelta(hours=15, minutes=30)
    assert xlon.name == "XLON"
    assert xlon.timezone == "Europe/London"


def test_path_objects_are_accepted():
    assert get_calendar(EXAMPLE) == get_calendar(str(EXAMPLE))


MINIMAL = """
name = "TEST"
timezone = "Asia/Tokyo"
open = "09:00"
close = "15:00"
first_year = 2000
last_year = 2001
"""


def _write(tmp_path, text):
    path = tmp_path / "cal.toml"
    path.write_text(text)
    return str(path)


def test_minimal_file_and_native_toml_values(tmp_path):
    cal = get_calendar(_write(tmp_path, MINIMAL))
    assert cal.first_session == dt.date(2000, 1, 3)
    assert cal.last_session == dt.date(2001, 12, 31)
    assert cal.holidays(2000) == ()
    native = MINIMAL.replace('"09:00"', "09:00:00") + "closures = [2000-01-04]\n"
    cal = get_calendar(_write(tmp_path, native))
    assert not cal.is_session(dt.date(2000, 1, 4))


def test_friday_saturday_weekend(tmp_path):
    text = MINIMAL + 'weekend = ["friday", "saturday"]\n'
    cal = get_calendar(_write(tmp_path, text))
    assert cal.is_session(dt.date(2000, 1, 2))  # a Sunday
    assert not cal.is_session(dt.date(2000, 1, 7))  # a Friday


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL.replace('name = "TEST"\n', ""), "name is missing"),
        (MINIMAL + "colour = 3\n", "colour is not a known key"),
        (MINIMAL.replace('"09:00"', '"9 o\'clock"'), "open="),
        (MINIMAL.replace('"15:00"', '"08:00"'), "open=09:00:00 is not before close"),
        (MINIMAL.replace("Asia/Tokyo", "Mars/Olympus"), "timezone="),
        (MINIMAL.replace("2001", '"2001"'), "last_year="),
        (MINIMAL + 'closures = ["2000-02-30"]\n', "closures="),
        (MINIMAL + 'weekend = ["caturday"]\n', "weekend="),
        (MINIMAL + 'early_closes = {"2000-01-04" = "16:00"}\n', "early close 16:00:00"),
        (MINIMAL + "[[holidays]]\nmonth = 1\nday = 1\n", "holidays[0].name is missing"),
        (MINIMAL + '[[holidays]]\nname = "x"\nmonth = 13\nday = 1\n', "month=13"),
        (MINIMAL + '[[holidays]]\nname = "x"\nmonth = 2\nday = 30\n', "day=30"),
        (MINIMAL + '[[holidays]]\nname = "x"\nmonth = 1\nday = 1\nobservance = "soon"\n',
         "holidays[0].observance='soon'"),
        (MINIMAL + '[[holidays]]\nname = "x"\nmonth = 1\nweekday = "monday"\nnth = 0\n',
         "nth=0"),
        (MINIMAL + '[[holidays]]\nname = "x"\neaster_offset = 1\nmonth = 4\n',
         "holidays[0].month cannot be given with holidays[0].easter_offset"),
        (MINIMAL + '[[holidays]]\nname = "x"\nmonth = 1\nday = 1\ncolour = 1\n',
         "holidays[0].colour is not a known key"),
        (MINIMAL + '[[early_close_rules]]\nname = "x"\nmonth = 1\nday = 4\n',
         "early_close_rules[0].close is missing"),
        ("name = ", "is not valid TOML"),
    ],
)
def test_malformed_files(tmp_path, text, key):
    path = _write(tmp_path, text)
    with pytest.raises(CalendarFileError) as info:
        get_calendar(path)
    assert info.value.path == path
    assert path in str(info.value)
    assert key in str(info.value)
    assert isinstance(info.value, CalendarError)


def test_missing_file(tmp_path):
    path = str(tmp_path / "absent.toml")
    with pytest.raises(CalendarFileError, match="cannot be read"):
        get_calendar(path)
