"""Validation of sessions with a midday break: counts from an answer file, bars by hand.

The bars of the simulated Tokyo session are built from the stated hours
(09:00-11:30 and 12:30-15:30 Asia/Tokyo on 2024-11-06), not from the
calendar, so the calendar and the validation are both checked.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pendulum
import pytest

from preopen.calendar import get_calendar
from preopen.model import Bars, session_grid, validate
from preopen.store.synthetic import synthetic_bars

ANSWERS = Path(__file__).parent.parent / "answers" / "break_bar_counts.csv"
TOKYO_DAY = dt.date(2024, 11, 6)
MIN = 60_000_000_000


def _answers():
    with ANSWERS.open() as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [
            (r["exchange"], dt.date.fromisoformat(r["session"]), r["interval"], int(r["expected"]))
            for r in rows
        ]


@pytest.mark.parametrize(("exchange", "session", "interval", "expected"), _answers())
def test_expected_counts_exclude_the_break(exchange, session, interval, expected):
    calendar = get_calendar(exchange)
    assert session_grid(calendar, [session], interval).stamps.shape[0] == expected
    bars = synthetic_bars(["A"], calendar, [session], interval)["A"]
    report = validate({("A", interval): bars}, calendar, [session], [interval])
    assert report["A", interval].expected == expected
    assert report["A", interval].complete


def _ns(hh, mm):
    return int(pendulum.datetime(2024, 11, 6, hh, mm, tz="Asia/Tokyo").timestamp()) * 10**9


def _tokyo_minutes():
    morning = np.arange(_ns(9, 0), _ns(11, 30), MIN, dtype=np.int64)
    afternoon = np.arange(_ns(12, 30), _ns(15, 30), MIN, dtype=np.int64)
    return np.concatenate([morning, afternoon])


def _bars(ts):
    price = np.full(ts.shape[0], 100.0)
    return Bars.from_arrays("7203", "1m", ts, price, price, price, price, price)


def test_a_tokyo_session_with_bars_that_stop_for_the_break_is_complete():
    ts = _tokyo_minutes()
    assert ts.shape[0] == 330
    report = validate({("7203", "1m"): _bars(ts)}, get_calendar("XTKS"), [TOKYO_DAY], ["1m"])
    entry = report["7203", "1m"]
    assert entry.expected == 330
    assert entry.found == 330
    assert entry.gaps == 0
    assert entry.outside_session == 0
    assert entry.misaligned == 0
    assert report.complete
    assert report.ok


def test_a_missing_morning_bar_is_flagged():
    ts = _tokyo_minutes()
    missing = _ns(10, 15)
    report = validate(
        {("7203", "1m"): _bars(ts[ts != missing])}, get_calendar("XTKS"), [TOKYO_DAY], ["1m"]
    )
    entry = report["7203", "1m"]
    assert entry.found == 329
    assert entry.gaps == 1
    assert not entry.complete
    assert not report.complete


def test_a_bar_inside_the_break_is_outside_the_session_trading():
    ts = np.sort(np.append(_tokyo_minutes(), _ns(12, 0)))
    report = validate({("7203", "1m"): _bars(ts)}, get_calendar("XTKS"), [TOKYO_DAY], ["1m"])
    entry = report["7203", "1m"]
    assert entry.complete
    assert entry.outside_session == 1
    assert not entry.ok
