"""The timing rules on hand-worked examples (XNYS, 60-minute window)."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from preopen.calendar import get_calendar
from preopen.calendar.timing import (
    Phase,
    next_phase_change,
    phase_at,
    prefetch_start,
    target_session,
)
from preopen.errors import CalendarError, DateOutOfRangeError, NotASessionError

HOUR = dt.timedelta(hours=1)
NY = "America/New_York"


def ny(*args):
    return pendulum.datetime(*args, tz=NY)


@pytest.fixture(scope="module")
def xnys():
    return get_calendar("XNYS")


def test_prefetch_start(xnys):
    assert prefetch_start(xnys, dt.date(2025, 7, 7), HOUR) == ny(2025, 7, 7, 8, 30)
    assert prefetch_start(xnys, dt.date(2025, 7, 7), dt.timedelta(0)) == ny(2025, 7, 7, 9, 30)
    start = prefetch_start(xnys, dt.date(2025, 7, 7), HOUR)
    assert start.timezone_name == NY
    # Exact elapsed time across the 2025-03-09 DST change: 12 hours before
    # Monday 09:30 EDT (13:30 UTC) is 01:30 UTC, Sunday 21:30 EDT.
    assert prefetch_start(xnys, dt.date(2025, 3, 10), dt.timedelta(hours=12)) == (
        dt.datetime(2025, 3, 10, 1, 30, tzinfo=dt.UTC)
    )
    with pytest.raises(NotASessionError):
        prefetch_start(xnys, dt.date(2025, 7, 4), HOUR)
    with pytest.raises(CalendarError, match="window="):
        prefetch_start(xnys, dt.date(2025, 7, 7), -HOUR)


@pytest.mark.parametrize(
    ("instant", "phase", "target"),
    [
        # Monday 2025-07-07, a regular session.
        (ny(2025, 7, 7, 0, 0), Phase.IDLE, dt.date(2025, 7, 7)),
        (ny(2025, 7, 7, 8, 29, 59), Phase.IDLE, dt.date(2025, 7, 7)),
        (ny(2025, 7, 7, 8, 30), Phase.PREFETCHING, dt.date(2025, 7, 7)),
        (ny(2025, 7, 7, 9, 29, 59), Phase.PREFETCHING, dt.date(2025, 7, 7)),
        (ny(2025, 7, 7, 9, 30), Phase.OPEN, dt.date(2025, 7, 7)),
        (ny(2025, 7, 7, 15, 59, 59), Phase.OPEN, dt.date(2025, 7, 7)),
        (ny(2025, 7, 7, 16, 0), Phase.CLOSED, dt.date(2025, 7, 8)),
        (ny(2025, 7, 7, 23, 59, 59), Phase.CLOSED, dt.date(2025, 7, 8)),
        (ny(2025, 7, 8, 0, 0), Phase.IDLE, dt.date(2025, 7, 8)),
        # Thursday 2025-07-03 closes at 13:00; Friday the 4th is a holiday.
        (ny(2025, 7, 3, 13, 0), Phase.CLOSED, dt.date(2025, 7, 7)),
        (ny(2025, 7, 4, 12, 0), Phase.IDLE, dt.date(2025, 7, 7)),
        (ny(2025, 7, 6, 8, 30), Phase.IDLE, dt.date(2025, 7, 7)),
        # The same instants given in other zones.
        (dt.datetime(2025, 7, 7, 12, 30, tzinfo=dt.UTC), Phase.PREFETCHING, dt.date(2025, 7, 7)),
        (pendulum.datetime(2025, 7, 8, 5, 0, tz="Asia/Tokyo"), Phase.CLOSED, dt.date(2025, 7, 8)),
    ],
)
def test_phase_and_target(xnys, instant, phase, target):
    assert phase_at(instant, xnys, HOUR) is phase
    assert target_session(instant, xnys, HOUR) == target


@pytest.mark.parametrize(
    ("instant", "change"),
    [
        (ny(2025, 7, 7, 0, 0), ny(2025, 7, 7, 8, 30)),
        (ny(2025, 7, 7, 8, 30), ny(2025, 7, 7, 9, 30)),
        (ny(2025, 7, 7, 9, 30), ny(2025, 7, 7, 16, 0)),
        (ny(2025, 7, 7, 16, 0), ny(2025, 7, 8, 0, 0)),
        (ny(2025, 7, 3, 12, 0), ny(2025, 7, 3, 13, 0)),
        (ny(2025, 7, 3, 13, 0), ny(2025, 7, 4, 0, 0)),
        (ny(2025, 7, 4, 0, 0), ny(2025, 7, 7, 8, 30)),
        # Sunday 2025-03-09: DST starts at 02:00; the prefetch still starts at 08:30 EDT.
        (ny(2025, 3, 7, 16, 0), ny(2025, 3, 8, 0, 0)),
        (ny(2025, 3, 8, 0, 0), ny(2025, 3, 10, 8, 30)),
    ],
)
def test_next_phase_change(xnys, instant, change):
    got = next_phase_change(instant, xnys, HOUR)
    assert got == change
    assert got.timezone_name == NY


def test_a_window_longer_than_the_night(xnys):
    # With an 18-hour window the prefetch for Tuesday starts at Monday 15:30,
    # during Monday's session: OPEN wins, then PREFETCHING from the close.
    window = dt.timedelta(hours=18)
    assert phase_at(ny(2025, 7, 7, 15, 45), xnys, window) is Phase.OPEN
    assert phase_at(ny(2025, 7, 7, 16, 0), xnys, window) is Phase.PREFETCHING
    assert next_phase_change(ny(2025, 7, 7, 15, 45), xnys, window) == ny(2025, 7, 7, 16, 0)
    assert next_phase_change(ny(2025, 7, 7, 16, 0), xnys, window) == ny(2025, 7, 8, 9, 30)


def test_bad_arguments(xnys):
    with pytest.raises(CalendarError, match="time-zone aware"):
        phase_at(dt.datetime(2025, 7, 7, 12), xnys, HOUR)
    with pytest.raises(CalendarError, match="window="):
        phase_at(ny(2025, 7, 7, 12), xnys, dt.timedelta(minutes=-1))
    with pytest.raises(CalendarError, match="window="):
        target_session(ny(2025, 7, 7, 12), xnys, 60)


def test_range_edges(xnys):
    after_last_close = ny(2099, 12, 31, 17, 0)
    assert phase_at(after_last_close, xnys, HOUR) is Phase.CLOSED
    with pytest.raises(DateOutOfRangeError):
        next_phase_change(after_last_close, xnys, HOUR)
    with pytest.raises(DateOutOfRangeError):
        target_session(after_last_close, xnys, HOUR)
    with pytest.raises(DateOutOfRangeError):
        phase_at(ny(2100, 1, 1, 12, 0), xnys, HOUR)
