"""The shipped XTKS and XHKG calendars against exchange_calendars, 2000-2030.

The calendars are loaded through preopen's own TOML reader (``get_calendar``
of the shipped name); the expected sessions, opens, closes and breaks come
from exchange_calendars, so this runs only where that extra is installed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from preopen.calendar import get_calendar

xcals = pytest.importorskip("exchange_calendars", reason="the exchange-calendars extra")
pd = pytest.importorskip("pandas")

START, END = dt.date(2000, 1, 1), dt.date(2030, 12, 31)


def _expected(code: str) -> list[tuple[dt.date, object, object, object, object]]:
    oracle = xcals.get_calendar(code, start=START.isoformat(), end=END.isoformat())
    schedule = oracle.schedule
    rows = []
    for day, row in schedule.iterrows():
        pause = (
            None
            if pd.isna(row.break_start)
            else (row.break_start.to_pydatetime(), row.break_end.to_pydatetime())
        )
        rows.append((day.date(), row.open.to_pydatetime(), pause, row.close.to_pydatetime()))
    return rows


@pytest.mark.parametrize("code", ["XTKS", "XHKG"])
def test_shipped_calendar_matches_exchange_calendars(code):
    calendar = get_calendar(code)
    expected = _expected(code)
    assert calendar.sessions(START, END) == tuple(day for day, *_ in expected)
    for day, opening, pause, closing in expected:
        assert calendar.open_at(day) == opening, day
        assert calendar.close_at(day) == closing, day
        assert calendar.breaks(day) == pause, day
    assert calendar.horizon == END


@pytest.mark.parametrize(
    ("code", "day", "hours"),
    [
        # Tokyo moved its close to 15:30 on 2024-11-05.
        ("XTKS", dt.date(2024, 11, 1), ("09:00", ("11:30", "12:30"), "15:00")),
        ("XTKS", dt.date(2024, 11, 5), ("09:00", ("11:30", "12:30"), "15:30")),
        # Hong Kong opened at 10:00 until 2011-03-07, 09:30 from then.
        ("XHKG", dt.date(2011, 3, 4), ("10:00", ("12:00", "13:00"), "16:00")),
        ("XHKG", dt.date(2011, 3, 7), ("09:30", ("12:00", "13:00"), "16:00")),
        # A half day that closes inside the usual break has no break.
        ("XHKG", dt.date(2008, 12, 24), ("10:00", None, "12:30")),
        ("XHKG", dt.date(2024, 12, 24), ("09:30", None, "12:00")),
    ],
)
def test_hours_that_changed(code, day, hours):
    calendar = get_calendar(code)
    opening, pause, closing = hours
    assert calendar.open_at(day).strftime("%H:%M") == opening
    assert calendar.close_at(day).strftime("%H:%M") == closing
    found = calendar.breaks(day)
    assert (None if found is None else tuple(t.strftime("%H:%M") for t in found)) == pause


def test_adapter_answers_through_exchange_calendars():
    calendar = get_calendar("xcals:XTKS")
    oracle = xcals.get_calendar("XTKS")
    day = oracle.last_session.date()
    assert calendar.horizon == day
    last = oracle.schedule.iloc[-1]
    assert calendar.breaks(day) == (
        last.break_start.to_pydatetime(),
        last.break_end.to_pydatetime(),
    )
    assert calendar.sessions(day - dt.timedelta(days=40), day) == tuple(
        d.date() for d in oracle.sessions_in_range(day - dt.timedelta(days=40), day)
    )
