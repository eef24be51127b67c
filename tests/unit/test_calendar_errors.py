"""Edges of the range, non-sessions, bad arguments, and amendments."""

from __future__ import annotations

import datetime as dt
import pickle

import pendulum
import pytest

from preopen.calendar import available_calendars, get_calendar
from preopen.errors import (
    CalendarError,
    DateOutOfRangeError,
    NotASessionError,
    UnknownExchangeError,
)


@pytest.fixture(scope="module")
def xnys():
    return get_calendar("XNYS")


def test_next_and_previous_never_wrap(xnys):
    with pytest.raises(DateOutOfRangeError) as info:
        xnys.previous_session(dt.date(1990, 1, 2))
    assert info.value.value == dt.date(1990, 1, 2)
    assert "1990-01-02" in str(info.value)
    with pytest.raises(DateOutOfRangeError):
        xnys.previous_session(dt.date(1990, 1, 1))
    with pytest.raises(DateOutOfRangeError) as info:
        xnys.next_session(dt.date(2099, 12, 31))
    assert info.value.last == dt.date(2099, 12, 31)
    assert xnys.next_session(dt.date(2099, 12, 30)) == dt.date(2099, 12, 31)
    assert xnys.previous_session(dt.date(1990, 1, 3)) == dt.date(1990, 1, 2)


@pytest.mark.parametrize(
    "day", [dt.date(1989, 12, 29), dt.date(2100, 1, 4), dt.date(1, 1, 1), dt.date(9999, 12, 31)]
)
def test_dates_outside_the_range(xnys, day):
    for ask in (xnys.is_session, xnys.next_session, xnys.previous_session, xnys.open_at):
        with pytest.raises(DateOutOfRangeError) as info:
            ask(day)
        assert day.isoformat() in str(info.value)
    with pytest.raises(DateOutOfRangeError):
        xnys.sessions(day, dt.date(2000, 1, 1))
    with pytest.raises(DateOutOfRangeError):
        xnys.holidays(day.year)


def test_trailing_sessions_at_the_start(xnys):
    assert xnys.trailing_sessions(dt.date(1990, 1, 5), 3) == (
        dt.date(1990, 1, 2),
        dt.date(1990, 1, 3),
        dt.date(1990, 1, 4),
    )
    with pytest.raises(DateOutOfRangeError, match="fewer than 4 sessions"):
        xnys.trailing_sessions(dt.date(1990, 1, 5), 4)


@pytest.mark.parametrize("n", [-1, 1.5, True, "3"])
def test_trailing_sessions_refuses_bad_counts(xnys, n):
    with pytest.raises(CalendarError, match="n="):
        xnys.trailing_sessions(dt.date(2025, 1, 13), n)


@pytest.mark.parametrize("day", [dt.date(2025, 1, 9), dt.date(2025, 7, 5), dt.date(2022, 6, 20)])
def test_non_sessions_where_a_session_is_required(xnys, day):
    for ask in (
        xnys.open_at,
        xnys.close_at,
        xnys.premarket_open_at,
        xnys.afterhours_close_at,
        xnys.session_minutes,
    ):
        with pytest.raises(NotASessionError) as info:
            ask(day)
        assert info.value.value == day
        assert info.value.exchange == "XNYS"
        assert f"{day.isoformat()} is not a XNYS session" in str(info.value)


@pytest.mark.parametrize(
    "value", [dt.datetime(2025, 1, 2, 12, tzinfo=dt.UTC), "2025-01-02", 20250102]
)
def test_dates_must_be_dates(xnys, value):
    with pytest.raises(CalendarError, match=r"datetime\.date"):
        xnys.is_session(value)


def test_instants_must_be_aware(xnys):
    with pytest.raises(CalendarError, match="time-zone aware"):
        xnys.session_at(dt.datetime(2025, 1, 2, 12))
    with pytest.raises(CalendarError, match="time-zone aware"):
        xnys.next_open(dt.datetime(2025, 1, 2, 12))


def test_next_open_after_the_last_open(xnys):
    last_open = pendulum.datetime(2099, 12, 31, 9, 30, tz="America/New_York")
    assert xnys.next_open(last_open.subtract(seconds=1)) == last_open
    with pytest.raises(DateOutOfRangeError):
        xnys.next_open(last_open)


def test_unknown_exchange():
    with pytest.raises(UnknownExchangeError) as info:
        get_calendar("XXXX")
    assert info.value.name == "XXXX"
    assert "XNYS" in str(info.value)
    assert isinstance(info.value, LookupError)
    assert available_calendars() == ("XHKG", "XNYS", "XTKS")


def test_calendar_is_immutable(xnys):
    with pytest.raises(AttributeError):
        xnys.name = "XLON"
    with pytest.raises(AttributeError):
        xnys.spec.open = dt.time(8)
    before = xnys.early_closes(2025)
    before[dt.date(2025, 1, 2)] = dt.time(12)
    assert dt.date(2025, 1, 2) not in xnys.early_closes(2025)


def test_calendar_pickles(xnys):
    copy = pickle.loads(pickle.dumps(xnys))  # noqa: S301 - our own bytes, just made
    assert copy == xnys
    assert hash(copy) == hash(xnys)
    assert copy.holidays(2025) == xnys.holidays(2025)


class TestAmended:
    def test_closure_and_early_close(self, xnys):
        mourning = dt.date(2030, 3, 6)
        early = dt.date(2030, 3, 8)
        amended = xnys.amended(closures=[mourning], early_closes={early: dt.time(13)})
        assert not amended.is_session(mourning)
        assert mourning in amended.holidays(2030)
        assert amended.next_session(dt.date(2030, 3, 5)) == dt.date(2030, 3, 7)
        assert amended.close_at(early) == pendulum.datetime(2030, 3, 8, 13, tz="America/New_York")
        assert amended.early_closes(2030)[early] == dt.time(13)
        # The original calendar is unchanged.
        assert xnys.is_session(mourning)
        assert early not in xnys.early_closes(2030)
        assert xnys.close_at(early).hour == 16
        assert amended != xnys

    def test_amending_twice_keeps_both(self, xnys):
        first = xnys.amended(closures=[dt.date(2030, 3, 6)])
        second = first.amended(early_closes={dt.date(2030, 3, 8): dt.time(12, 30)})
        assert not second.is_session(dt.date(2030, 3, 6))
        assert second.session_minutes(dt.date(2030, 3, 8)) == 180

    def test_nothing_to_amend(self, xnys):
        assert xnys.amended() == xnys

    @pytest.mark.parametrize(
        "day", [dt.date(2030, 3, 9), dt.date(2025, 12, 25), dt.date(2025, 1, 9)]
    )
    def test_refuses_non_sessions(self, xnys, day):
        with pytest.raises(NotASessionError, match=day.isoformat()):
            xnys.amended(closures=[day])
        with pytest.raises(NotASessionError, match=day.isoformat()):
            xnys.amended(early_closes={day: dt.time(13)})

    def test_refuses_out_of_range(self, xnys):
        with pytest.raises(DateOutOfRangeError, match="2100-01-04"):
            xnys.amended(closures=[dt.date(2100, 1, 4)])

    @pytest.mark.parametrize("close", [dt.time(9, 30), dt.time(16), dt.time(17), "13:00"])
    def test_refuses_bad_close_times(self, xnys, close):
        with pytest.raises(CalendarError, match="2030-03-08"):
            xnys.amended(early_closes={dt.date(2030, 3, 8): close})

    def test_refuses_a_date_both_closed_and_early(self, xnys):
        day = dt.date(2030, 3, 8)
        with pytest.raises(CalendarError, match="both"):
            xnys.amended(closures=[day], early_closes={day: dt.time(13)})


def test_amended_takes_one_date_or_one_iso_string(xnys):
    # A string is one date, not the characters of one.
    by_text = xnys.amended(closures="2031-03-12")
    assert not by_text.is_session(dt.date(2031, 3, 12))
    assert by_text.is_session(dt.date(2031, 3, 11))
    by_date = xnys.amended(closures=dt.date(2031, 3, 12))
    assert by_date == by_text
    with pytest.raises(CalendarError, match="'2031-13-12' is not accepted"):
        xnys.amended(closures="2031-13-12")
    with pytest.raises(CalendarError, match="closures=5 is not accepted"):
        xnys.amended(closures=5)


def test_amended_refuses_aware_times_and_pairs_with_calendar_errors(xnys):
    aware = dt.time(13, 0, tzinfo=dt.UTC)
    with pytest.raises(CalendarError, match="no time zone"):
        xnys.amended(early_closes={dt.date(2031, 3, 12): aware})
    with pytest.raises(CalendarError, match=r"a mapping of datetime\.date to datetime\.time"):
        xnys.amended(early_closes=[(dt.date(2031, 3, 12), dt.time(13, 0))])


def test_next_session_past_the_range_says_so(xnys):
    with pytest.raises(DateOutOfRangeError) as info:
        xnys.next_session(dt.date(2099, 12, 31))
    text = str(info.value)
    assert text.startswith("no session after 2099-12-31: the next session is past")
    assert "is outside" not in text


@pytest.mark.parametrize("year", [0, -5, 99999999999, 10000, 1989, 2100])
def test_years_out_of_range_are_calendar_errors(xnys, year):
    for ask in (xnys.holidays, xnys.early_closes):
        with pytest.raises(CalendarError) as info:
            ask(year)
        assert f"year {year} is outside" in str(info.value)
        assert "1990..2099" in str(info.value)


def test_next_phase_change_in_the_repeated_hour_is_the_same_in_any_zone(xnys):
    from preopen.calendar.timing import next_phase_change  # noqa: PLC0415

    # 2024-11-03 01:00-02:00 happens twice in New York. With a 32 h window the
    # prefetch for Monday 2024-11-04 (open 14:30 UTC) starts at 06:30 UTC, the
    # second 01:30; the instant 05:45 UTC is the first 01:45.
    window = dt.timedelta(hours=32)
    utc = pendulum.datetime(2024, 11, 3, 5, 45, tz="UTC")
    local = utc.in_tz("America/New_York")
    expected = pendulum.datetime(2024, 11, 3, 6, 30, tz="UTC")
    # Compared in UTC: PEP 495 makes a time in the repeated hour unequal to
    # every time of another zone.
    assert next_phase_change(utc, xnys, window).in_tz("UTC") == expected
    assert next_phase_change(local, xnys, window).in_tz("UTC") == expected


def test_a_closure_announced_after_an_early_close_wins(xnys):
    day = dt.date(2030, 3, 8)
    early = xnys.amended(early_closes={day: dt.time(13)})
    closed = early.amended(closures=[day])
    assert not closed.is_session(day)
    assert day not in closed.early_closes(2030)
    with pytest.raises(NotASessionError):
        closed.amended(early_closes={day: dt.time(12)})
