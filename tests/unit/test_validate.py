"""validate against answer data from the published NYSE rules.

2024-07-01..05: Monday and Tuesday regular (09:30-16:00 EDT = 13:30-20:00
UTC), Wednesday July 3 closes at 13:00, Thursday July 4 is a holiday, Friday
regular. Intraday bars start at open + k * interval, a trailing partial bar
included (a 6.5 h session has 7 one-hour bars).
"""

import datetime as dt

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.model import Bars, session_grid, validate
from preopen.store.synthetic import Defect, plant, synthetic_bars

XNYS = get_calendar("XNYS")
WEEK = (dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3), dt.date(2024, 7, 5))
H = 3_600_000_000_000
MIN = 60_000_000_000
OPEN_0701 = 1_719_840_600_000_000_000  # 2024-07-01 13:30 UTC


@pytest.mark.parametrize(
    ("interval", "expected"),
    [("1m", 390 * 3 + 210), ("5m", 78 * 3 + 42), ("15m", 26 * 3 + 14),
     ("30m", 13 * 3 + 7), ("1h", 7 * 3 + 4), ("1d", 4)],
)
def test_expected_counts_follow_the_calendar(interval, expected):
    bars = synthetic_bars(["A"], XNYS, WEEK, interval)
    report = validate({("A", interval): bars["A"]}, XNYS, WEEK, [interval])
    entry = report["A", interval]
    assert entry.expected == expected
    assert entry.found == expected
    assert entry.complete
    assert entry.ok
    assert report.complete
    assert report.ok
    assert report.findings() == []


def test_grid_stamps_of_an_early_close_and_across_dst():
    grid = session_grid(XNYS, [dt.date(2024, 7, 3)], "1h")
    first = OPEN_0701 + 2 * 24 * H
    assert grid.stamps.tolist() == [first + k * H for k in range(4)]
    daily = session_grid(XNYS, [dt.date(2024, 3, 8), dt.date(2024, 3, 11)], "1d")
    # 09:30 EST = 14:30 UTC on Friday; 09:30 EDT = 13:30 UTC on Monday
    assert daily.stamps.tolist() == [1_709_908_200_000_000_000, 1_710_163_800_000_000_000]


def test_a_missing_symbol_or_interval_is_reported_empty_not_raised():
    bars = synthetic_bars(["A"], XNYS, WEEK, "1m")["A"]
    report = validate({("A", "1m"): bars, ("B", "1m"): Bars.empty("B", "1m")},
                      XNYS, WEEK, ["1m", "1d"])
    assert report["A", "1m"].ok
    assert report["A", "1d"].empty
    assert report["A", "1d"].expected == 4
    assert report["B", "1m"].empty
    assert report["B", "1m"].gaps == 4
    assert report.failed_symbols == ("A", "B")
    assert "B 1m: no bars (expected 1380)" in report.findings()
    assert not report.complete


@pytest.mark.parametrize(
    ("defect", "count", "field", "value"),
    [
        (Defect.BAD_PRICE, 3, "bad_prices", 3),
        (Defect.HIGH_BELOW_LOW, 2, "high_below_low", 2),
        (Defect.NEGATIVE_VOLUME, 4, "negative_volume", 4),
        (Defect.DUPLICATE, 5, "duplicates", 5),
        (Defect.OUTSIDE_SESSION, 2, "outside_session", 2),
        (Defect.GAP, 7, "gaps", 1),
        (Defect.UNSORTED, 1, "unsorted", True),
    ],
)
def test_each_planted_defect_and_only_it_is_flagged(defect, count, field, value):
    good = synthetic_bars(["A"], XNYS, WEEK, "1m")["A"]
    entry = validate({("A", "1m"): plant(good, defect, count)}, XNYS, WEEK, ["1m"])["A", "1m"]
    assert getattr(entry, field) == value
    clean = {"gaps": 0, "duplicates": 0, "unsorted": False, "bad_prices": 0,
             "high_below_low": 0, "negative_volume": 0, "outside_session": 0,
             "misaligned": 0, "empty": False}
    clean.pop(field)
    assert {k: getattr(entry, k) for k in clean} == clean
    assert entry.found == 1380 - (count if defect is Defect.GAP else 0)


def test_repairs_are_findings_but_not_failures():
    good = synthetic_bars(["A"], XNYS, WEEK, "1m")["A"]
    entry = validate({("A", "1m"): plant(good, Defect.DUPLICATE, 2)}, XNYS, WEEK, ["1m"])["A", "1m"]
    assert entry.ok
    assert entry.findings() == ["A 1m: 2 duplicate bars dropped"]


def test_misaligned_bar_inside_the_session():
    ts = [OPEN_0701, OPEN_0701 + 30_000_000_000]  # 09:30:00 and 09:30:30
    bars = Bars.from_arrays("A", "1m", ts, [1, 1], [1, 1], [1, 1], [1, 1], [1, 1])
    entry = validate({("A", "1m"): bars}, XNYS, WEEK[:1], ["1m"])["A", "1m"]
    assert (entry.found, entry.misaligned, entry.outside_session) == (1, 1, 0)
    assert entry.gaps == 1
    assert entry.missing == 389


def test_gaps_are_runs_and_do_not_span_sessions():
    grid = session_grid(XNYS, WEEK[:2], "1m")
    keep = np.ones(780, dtype=bool)
    keep[385:395] = False  # end of Monday and start of Tuesday: two runs
    keep[500] = False
    ts = grid.stamps[keep]
    ones = np.ones(ts.shape[0])
    bars = Bars.from_arrays("A", "1m", ts, ones, ones, ones, ones, ones)
    entry = validate({("A", "1m"): bars}, XNYS, WEEK[:2], ["1m"])["A", "1m"]
    assert (entry.gaps, entry.missing) == (3, 11)


def test_nan_prices_count_once_per_bar():
    bars = Bars.from_arrays("A", "1d", [OPEN_0701], [np.nan], [np.nan], [1.0], [-1.0], [1.0])
    entry = validate({("A", "1d"): bars}, XNYS, WEEK[:1], ["1d"])["A", "1d"]
    assert entry.bad_prices == 1
    assert entry.high_below_low == 0
    assert entry.complete
    assert not entry.ok


def test_missing_days_in_a_row_are_one_daily_gap():
    good = synthetic_bars(["A"], XNYS, WEEK, "1d")["A"]
    entry = validate({("A", "1d"): plant(good, Defect.GAP, 2)}, XNYS, WEEK, ["1d"])["A", "1d"]
    assert (entry.gaps, entry.found) == (1, 2)
