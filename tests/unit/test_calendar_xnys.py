"""XNYS against answer data written from the NYSE's published schedules."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest

from preopen.calendar import get_calendar

ANSWERS = Path(__file__).parent.parent / "answers"
NEW_YORK = "America/New_York"


def _rows(name: str) -> list[dict[str, str]]:
    with (ANSWERS / name).open() as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def _complete_years() -> list[int]:
    for line in (ANSWERS / "xnys_special_days.csv").read_text().splitlines():
        if line.startswith("# years:"):
            return [int(y) for y in line.removeprefix("# years:").split()]
    raise AssertionError("no years line")


SPECIAL = _rows("xnys_special_days.csv")
ADHOC = _rows("xnys_adhoc.csv")
DST = _rows("xnys_dst_2006_2007.csv")


@pytest.fixture(scope="module")
def xnys():
    return get_calendar("XNYS")


@pytest.mark.parametrize("year", _complete_years())
def test_holidays_of_complete_years(xnys, year):
    expected = [
        dt.date.fromisoformat(r["date"])
        for r in SPECIAL
        if r["kind"] == "closed" and r["date"].startswith(str(year))
    ]
    assert list(xnys.holidays(year)) == sorted(expected)


@pytest.mark.parametrize("year", _complete_years())
def test_early_closes_of_complete_years(xnys, year):
    expected = {
        dt.date.fromisoformat(r["date"]): dt.time.fromisoformat(r["close"])
        for r in SPECIAL
        if r["kind"] == "early" and r["date"].startswith(str(year))
    }
    assert xnys.early_closes(year) == expected


@pytest.mark.parametrize("year", _complete_years())
def test_every_weekday_of_complete_years(xnys, year):
    closed = {r["date"] for r in SPECIAL if r["kind"] == "closed"}
    early = {r["date"]: r["close"] for r in SPECIAL if r["kind"] == "early"}
    day = dt.date(year, 1, 1)
    while day.year == year:
        iso = day.isoformat()
        if day.weekday() >= 5 or iso in closed:
            assert not xnys.is_session(day), iso
        else:
            assert xnys.is_session(day), iso
            close = dt.time.fromisoformat(early.get(iso, "16:00"))
            assert xnys.open_at(day) == pendulum.datetime(
                year, day.month, day.day, 9, 30, tz=NEW_YORK
            )
            assert xnys.close_at(day) == pendulum.datetime(
                year, day.month, day.day, close.hour, close.minute, tz=NEW_YORK
            )
        day += dt.timedelta(days=1)


@pytest.mark.parametrize("row", ADHOC, ids=lambda r: r["date"])
def test_adhoc_and_edge_days(xnys, row):
    day = dt.date.fromisoformat(row["date"])
    if row["kind"] == "closed":
        assert not xnys.is_session(day)
        assert day in xnys.holidays(day.year)
        return
    assert xnys.is_session(day)
    close = dt.time.fromisoformat(row["close"] or "16:00")
    assert xnys.close_at(day).time() == close
    assert xnys.session_minutes(day) == (close.hour * 60 + close.minute) - (9 * 60 + 30)
    if row["kind"] == "full":
        assert day not in xnys.early_closes(day.year)
    else:
        assert xnys.early_closes(day.year)[day] == close


@pytest.mark.parametrize("row", DST, ids=lambda r: r["date"])
def test_opens_and_closes_in_utc_across_dst(xnys, row):
    day = dt.date.fromisoformat(row["date"])
    opening = dt.time.fromisoformat(row["open_utc"])
    closing = dt.time.fromisoformat(row["close_utc"])
    utc = dt.UTC
    assert xnys.open_at(day) == dt.datetime.combine(day, opening, tzinfo=utc)
    assert xnys.close_at(day) == dt.datetime.combine(day, closing, tzinfo=utc)
    assert xnys.open_at(day).timezone_name == NEW_YORK


def test_description(xnys):
    assert xnys.name == "XNYS"
    assert xnys.timezone == NEW_YORK
    assert xnys.first_session == dt.date(1990, 1, 2)
    assert xnys.last_session == dt.date(2099, 12, 31)
    assert xnys.shortest_break == dt.timedelta(hours=17, minutes=30)


def test_extended_hours(xnys):
    day = dt.date(2025, 7, 7)
    assert xnys.premarket_open_at(day) == pendulum.datetime(2025, 7, 7, 4, tz=NEW_YORK)
    assert xnys.afterhours_close_at(day) == pendulum.datetime(2025, 7, 7, 20, tz=NEW_YORK)
    # After a 13:00 early close the late session ends at 17:00.
    early = dt.date(2025, 11, 28)
    assert xnys.afterhours_close_at(early) == pendulum.datetime(2025, 11, 28, 17, tz=NEW_YORK)


def test_session_minutes(xnys):
    assert xnys.session_minutes(dt.date(2025, 7, 7)) == 390
    assert xnys.session_minutes(dt.date(2025, 7, 3)) == 210
    assert xnys.session_minutes(dt.date(1992, 11, 27)) == 270


def test_navigation_examples(xnys):
    # Thursday 2025-07-03 (early close), Friday the 4th closed, then a weekend.
    assert xnys.next_session(dt.date(2025, 7, 3)) == dt.date(2025, 7, 7)
    assert xnys.previous_session(dt.date(2025, 7, 7)) == dt.date(2025, 7, 3)
    assert xnys.next_session(dt.date(2001, 9, 10)) == dt.date(2001, 9, 17)
    assert xnys.previous_session(dt.date(2001, 9, 17)) == dt.date(2001, 9, 10)
    assert xnys.sessions(dt.date(2012, 10, 26), dt.date(2012, 11, 1)) == (
        dt.date(2012, 10, 26),
        dt.date(2012, 10, 31),
        dt.date(2012, 11, 1),
    )
    assert xnys.sessions(dt.date(2012, 11, 1), dt.date(2012, 10, 26)) == ()
    assert xnys.trailing_sessions(dt.date(2025, 1, 13), 5) == (
        dt.date(2025, 1, 3),
        dt.date(2025, 1, 6),
        dt.date(2025, 1, 7),
        dt.date(2025, 1, 8),
        dt.date(2025, 1, 10),
    )
    assert xnys.trailing_sessions(dt.date(2025, 1, 13), 0) == ()


def test_session_at_and_next_open(xnys):
    ny = pendulum.timezone(NEW_YORK)
    day = dt.date(2025, 11, 28)
    assert xnys.session_at(dt.datetime(2025, 11, 28, 9, 29, 59, tzinfo=ny)) is None
    assert xnys.session_at(dt.datetime(2025, 11, 28, 9, 30, tzinfo=ny)) == day
    assert xnys.session_at(dt.datetime(2025, 11, 28, 17, 59, tzinfo=dt.UTC)) == day
    assert xnys.session_at(dt.datetime(2025, 11, 28, 18, 0, tzinfo=dt.UTC)) is None
    assert xnys.next_open(dt.datetime(2025, 11, 28, 9, 30, tzinfo=ny)) == pendulum.datetime(
        2025, 12, 1, 9, 30, tz=NEW_YORK
    )
    tokyo = pendulum.timezone("Asia/Tokyo")
    # 2025-12-01 08:00 in Tokyo is 2025-11-30 18:00 in New York (a Sunday).
    assert xnys.next_open(dt.datetime(2025, 12, 1, 8, 0, tzinfo=tokyo)) == pendulum.datetime(
        2025, 12, 1, 9, 30, tz=NEW_YORK
    )


def test_names_are_case_insensitive_and_shared():
    assert get_calendar("xnys") is get_calendar("XNYS")


def test_import_stays_light():
    # A fresh interpreter: importing the calendar and answering must not load
    # numpy, pykka or a database driver (the import-time budget).
    code = (
        "import sys, datetime; from preopen.calendar import get_calendar; "
        "get_calendar('XNYS').next_session(datetime.date(2025, 7, 3)); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'pykka', 'psycopg', 'psycopg_pool', 'pandas')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
