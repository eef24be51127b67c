"""Midday breaks, hours that change from a date, and the TOML checks that go with them.

The calendars here are small TOML files written by the tests; the expected
times are the ones the files state, written out by hand.
"""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from preopen.calendar import get_calendar
from preopen.calendar.timing import Phase, next_phase_change, phase_at
from preopen.errors import CalendarError, CalendarFileError

TOKYO = pendulum.timezone("Asia/Tokyo")

BREAKS = """
name = "TBRK"
timezone = "Asia/Tokyo"
open = "09:00"
close = "15:00"
break_start = "11:30"
break_end = "12:30"
first_year = 2024
last_year = 2025
horizon = "2025-06-30"
early_closes = {"2024-12-27" = "11:00", "2024-12-30" = "12:00", "2024-12-20" = "14:00"}

[[hours]]
since = "2024-11-05"
open = "09:00"
close = "15:30"
break_start = "11:30"
break_end = "12:30"

[[hours]]
since = "2025-03-03"
open = "09:30"
close = "15:30"
"""


def _write(tmp_path, text, name="cal.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def tbrk(tmp_path):
    return get_calendar(_write(tmp_path, BREAKS))


def _at(day, hh, mm=0):
    return pendulum.datetime(day.year, day.month, day.day, hh, mm, tz=TOKYO)


def _hm(value):
    return value.strftime("%H:%M")


@pytest.mark.parametrize(
    ("day", "opening", "pause", "closing", "minutes"),
    [
        (dt.date(2024, 11, 1), "09:00", ("11:30", "12:30"), "15:00", 300),
        (dt.date(2024, 11, 5), "09:00", ("11:30", "12:30"), "15:30", 330),
        # An early close after the break's end keeps the break.
        (dt.date(2024, 12, 20), "09:00", ("11:30", "12:30"), "14:00", 240),
        # Before the break's start, or inside the break: no break.
        (dt.date(2024, 12, 27), "09:00", None, "11:00", 120),
        (dt.date(2024, 12, 30), "09:00", None, "12:00", 180),
        # Hours without a break from 2025-03-03.
        (dt.date(2025, 3, 3), "09:30", None, "15:30", 360),
    ],
)
def test_hours_and_breaks_by_date(tbrk, day, opening, pause, closing, minutes):  # noqa: PLR0917 - parametrized
    assert _hm(tbrk.open_at(day)) == opening
    assert _hm(tbrk.close_at(day)) == closing
    found = tbrk.breaks(day)
    assert (None if found is None else (_hm(found[0]), _hm(found[1]))) == pause
    assert tbrk.session_minutes(day) == minutes
    spans = tbrk.trading_spans(day)
    assert len(spans) == (1 if pause is None else 2)
    assert _hm(spans[0][0]) == opening
    assert _hm(spans[-1][1]) == closing


def test_a_break_is_inside_the_session(tbrk):
    day = dt.date(2024, 11, 6)
    window = dt.timedelta(hours=1)
    in_break = _at(day, 12)
    assert tbrk.session_at(in_break) == day
    assert tbrk.session_at(in_break.in_tz("UTC")) == day
    assert not tbrk.is_trading(in_break)
    assert tbrk.is_trading(_at(day, 11, 29))
    assert tbrk.is_trading(_at(day, 12, 30))
    assert phase_at(in_break, tbrk, window) is Phase.OPEN
    # The break changes no phase: from the morning, the next change is the close.
    assert next_phase_change(_at(day, 10), tbrk, window) == _at(day, 15, 30)


def test_the_horizon_ends_the_range(tbrk):
    assert tbrk.horizon == dt.date(2025, 6, 30)
    assert tbrk.last_session == dt.date(2025, 6, 30)
    with pytest.raises(CalendarError, match="past the calendar's range"):
        tbrk.next_session(dt.date(2025, 6, 30))
    with pytest.raises(CalendarError, match="2025-07-01 is outside"):
        tbrk.is_session(dt.date(2025, 7, 1))
    assert all(d <= dt.date(2025, 6, 30) for d in tbrk.holidays(2025))


def test_shortest_break_is_between_sessions(tbrk):
    # 15:30 to the next day's 09:00 is the shortest night; the midday break is not a gap.
    assert tbrk.shortest_break == dt.timedelta(hours=17, minutes=30)


MINIMAL = """
name = "TEST"
timezone = "Asia/Tokyo"
open = "09:00"
close = "15:00"
first_year = 2000
last_year = 2001
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL + 'break_start = "11:30"\n', "break_start and break_end"),
        (MINIMAL + 'break_start = "12:30"\nbreak_end = "11:30"\n', "break 12:30:00-11:30:00"),
        (MINIMAL + 'break_start = "08:30"\nbreak_end = "11:30"\n', "open=09:00:00 < break_start"),
        (MINIMAL + '[[hours]]\nopen = "09:00"\nclose = "15:30"\n', "hours[0].since is missing"),
        (MINIMAL + '[[hours]]\nsince = "2000-05-01"\nopen = "09:00"\n',
         "hours[0].close is missing"),
        (MINIMAL + '[[hours]]\nsince = "2000-05-01"\nopen = "09:00"\nclose = "15:00"\nlunch = 1\n',
         "hours[0].lunch is not a known key"),
        (MINIMAL + '[[hours]]\nsince = "2003-05-01"\nopen = "09:00"\nclose = "15:00"\n',
         "hours since 2003-05-01 is not accepted"),
        (MINIMAL + 'horizon = "2003-01-01"\n', "range 2000-01-01..2003-01-01"),
        # The checks amended() makes, made on the file too.
        (MINIMAL + 'closures = ["2000-01-08"]\n',
         "closure 2000-01-08 is not accepted: it is a weekend"),
        (MINIMAL + 'closures = ["2005-01-04"]\n',
         "closure 2005-01-04 is not accepted: a date within"),
        (MINIMAL + 'early_closes = {"2000-01-09" = "12:00"}\n',
         "early close 2000-01-09 is not accepted: it is a weekend"),
        (MINIMAL + 'early_closes = {"1999-12-31" = "12:00"}\n',
         "early close 1999-12-31 is not accepted: a date within"),
        (MINIMAL + 'closures = ["2000-01-04"]\nearly_closes = {"2000-01-04" = "12:00"}\n',
         "2000-01-04 is not accepted both as a closure and as an early close"),
    ],
)
def test_malformed_break_and_date_files(tmp_path, text, key):
    path = _write(tmp_path, text)
    with pytest.raises(CalendarFileError) as info:
        get_calendar(path)
    assert key in str(info.value)


THAI = """
name = "THAI"
timezone = "Asia/Bangkok"
open = "10:00"
close = "16:30"
first_year = 2020
last_year = 2026

[[holidays]]
name = "New Year's Day"
month = 1
day = 1
observance = "next_weekday"

[[holidays]]
name = "New Year's Eve"
month = 12
day = 31
observance = "next_weekday"
"""


@pytest.mark.parametrize(
    ("year", "closed"),
    [
        # 2022-12-31 is a Saturday (moved to Monday 2023-01-02), 2023-01-01 a
        # Sunday: it moves on to Tuesday 2023-01-03.
        (2023, ("2023-01-02", "2023-01-03")),
        (2022, ("2022-01-03",)),  # 2022-01-01 a Saturday; 2021-12-31 a Friday
        (2021, ("2021-01-01", "2021-12-31")),
    ],
)
def test_substitute_holidays_across_new_year(tmp_path, year, closed):
    calendar = get_calendar(_write(tmp_path, THAI))
    assert tuple(d.isoformat() for d in calendar.holidays(year)) == closed


def test_the_adapter_without_the_extra_names_it(monkeypatch):
    import sys  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "exchange_calendars", None)  # as if not installed
    with pytest.raises(CalendarError) as info:
        get_calendar("xcals:XSES")
    assert "pip install 'preopen[exchange-calendars]'" in str(info.value)


def test_importing_the_calendar_loads_no_optional_or_heavy_module():
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys, preopen.calendar, preopen.calendar.timing;"
        "from preopen.calendar import get_calendar; get_calendar('XTKS');"
        "print(sorted(m for m in ('numpy', 'pandas', 'exchange_calendars', 'pykka')"
        " if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
