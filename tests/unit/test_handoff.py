"""The hand-off from a snapshot's history to live bars, and joining live bars onto it.

Expected instants are written by hand from the NYSE's published hours (09:30
to 16:00 New York time, 13:00 on the day after Thanksgiving; EST is UTC-5,
EDT UTC-4), never computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.errors import (
    BarsError,
    CalendarError,
    LiveGapError,
    LiveJoinError,
    LiveOverlapError,
)
from preopen.model import (
    RECORD_DTYPE,
    Bars,
    SessionSnapshot,
    check_join,
    handoff,
    handoffs,
    join_live,
    session_grid,
    to_ns,
)
from preopen.store.synthetic import synthetic_bars

XNYS = get_calendar("XNYS")
MINUTE = 60_000_000_000


def ns(text: str) -> int:
    """Nanoseconds of an ISO instant written with its offset."""
    return to_ns(dt.datetime.fromisoformat(text))


def snapshot_of(session: dt.date, data: dict[tuple[str, str], Bars], calendar=XNYS):
    return SessionSnapshot(session=session, open=calendar.open_at(session),
                           close=calendar.close_at(session), data=data)


def history(symbols, sessions, intervals, calendar=XNYS):
    data = {}
    for interval in intervals:
        for symbol, bars in synthetic_bars(symbols, calendar, sessions, interval).items():
            data[symbol, interval] = bars
    return data


def live_bars(symbol: str, interval: str, stamps) -> Bars:
    records = np.zeros(len(stamps), RECORD_DTYPE)
    records["ts"] = stamps
    for name in ("open", "high", "low", "close"):
        records[name] = 100.0
    records["volume"] = 10.0
    return Bars.from_records(symbol, interval, records)


def minutes(first: str, count: int) -> np.ndarray:
    return ns(first) + MINUTE * np.arange(count, dtype=np.int64)


# --- the hand-off ------------------------------------------------------------------

EARLY = dt.date(2024, 11, 29)   # closes 13:00 EST
MONDAY = dt.date(2024, 12, 2)


@pytest.mark.parametrize(("interval", "expected_last"), [
    ("1m", "2024-11-29T12:59-05:00"),
    ("5m", "2024-11-29T12:55-05:00"),
    ("1h", "2024-11-29T12:30-05:00"),   # 09:30, 10:30, 11:30, 12:30
    ("1d", "2024-11-29T09:30-05:00"),   # daily bars are stamped at the open
])
def test_after_an_early_close_the_history_ends_at_the_early_close(interval, expected_last):
    days = [dt.date(2024, 11, 26), dt.date(2024, 11, 27), EARLY]
    snap = snapshot_of(MONDAY, history(["A"], days, [interval]))
    h = handoff(snap, "A", interval, calendar=XNYS)
    assert h.session == MONDAY
    assert h.next_ts == ns("2024-12-02T09:30-05:00")
    assert h.next_at == dt.datetime.fromisoformat("2024-12-02T09:30-05:00")
    assert h.expected_last_ts == ns(expected_last)
    assert h.last_ts == ns(expected_last)
    assert h.complete
    assert (h.missing, h.beyond) == (0, 0)


def test_across_the_spring_dst_change_the_open_moves_an_hour_in_utc():
    # Friday 2024-03-08 is EST; DST starts Sunday 03-10; Monday 03-11 is EDT.
    days = [dt.date(2024, 3, 7), dt.date(2024, 3, 8)]
    snap = snapshot_of(dt.date(2024, 3, 11), history(["A"], days, ["1m", "1d"]))
    minute = handoff(snap, "A", "1m", calendar=XNYS)
    assert minute.last_ts == minute.expected_last_ts == ns("2024-03-08T20:59Z")
    assert minute.next_ts == ns("2024-03-11T13:30Z")
    daily = handoff(snap, "A", "1d", calendar=XNYS)
    assert daily.last_ts == ns("2024-03-08T14:30Z")
    assert daily.next_ts == ns("2024-03-11T13:30Z")


def test_across_the_autumn_dst_change():
    days = [dt.date(2024, 10, 31), dt.date(2024, 11, 1)]
    snap = snapshot_of(dt.date(2024, 11, 4), history(["A"], days, ["1m"]))
    h = handoff(snap, "A", "1m", calendar=XNYS)
    assert h.expected_last_ts == ns("2024-11-01T19:59Z")
    assert h.next_ts == ns("2024-11-04T14:30Z")
    assert h.complete


def test_a_session_closed_by_an_amendment_hands_off_to_the_next_session():
    days = [dt.date(2024, 7, 5), dt.date(2024, 7, 8)]
    snap = snapshot_of(dt.date(2024, 7, 9), history(["A"], days, ["1m"]))
    amended = XNYS.amended(closures=[dt.date(2024, 7, 9)])
    h = handoff(snap, "A", "1m", calendar=amended)
    assert h.session == dt.date(2024, 7, 10)
    assert h.next_ts == ns("2024-07-10T09:30-04:00")
    assert h.expected_last_ts == ns("2024-07-08T15:59-04:00")
    assert h.complete


def test_a_previous_session_closed_after_the_snapshot_was_built_is_beyond_the_history():
    days = [dt.date(2024, 7, 5), dt.date(2024, 7, 8), dt.date(2024, 7, 9)]
    snap = snapshot_of(dt.date(2024, 7, 10), history(["A"], days, ["1m"]))
    amended = XNYS.amended(closures=[dt.date(2024, 7, 9)])
    h = handoff(snap, "A", "1m", calendar=amended)
    assert h.expected_last_ts == ns("2024-07-08T15:59-04:00")
    assert h.last_ts == ns("2024-07-09T15:59-04:00")
    assert not h.complete
    assert h.beyond == 390   # the closed day's bars
    assert h.missing == 0


def test_an_incomplete_history_says_how_many_bars_a_backfill_must_bring():
    days = [dt.date(2024, 7, 5), dt.date(2024, 7, 8)]
    data = history(["FULL", "SHORT", "OLD"], days, ["1m"])
    data["SHORT", "1m"] = data["SHORT", "1m"].between(0, ns("2024-07-08T15:50-04:00"))
    data["OLD", "1m"] = data["OLD", "1m"].between(0, ns("2024-07-08T09:30-04:00"))
    data["NONE", "1m"] = Bars.empty("NONE", "1m")
    snap = snapshot_of(dt.date(2024, 7, 9), data)
    table = handoffs(snap, "1m", calendar=XNYS)
    assert table.symbols == ("FULL", "NONE", "OLD", "SHORT")
    assert table.complete.tolist() == [True, False, False, False]
    assert table.has_history.tolist() == [True, False, True, True]
    assert table.missing.tolist() == [0, -1, 390, 10]
    assert table.last_ts[3] == ns("2024-07-08T15:49-04:00")
    assert table.last_ts[2] == ns("2024-07-05T15:59-04:00")
    short = handoff(snap, "SHORT", "1m", calendar=XNYS)
    assert short == table.row("SHORT")
    assert (short.missing, short.complete) == (10, False)
    empty = table.row("NONE")
    assert (empty.last_ts, empty.missing, empty.last_at) == (None, None, None)
    assert not table.has_history.flags.writeable


def test_handoff_refuses_what_the_snapshot_does_not_hold():
    snap = snapshot_of(dt.date(2024, 7, 9), history(["A"], [dt.date(2024, 7, 8)], ["1m"]))
    with pytest.raises(KeyError, match="'B'"):
        handoff(snap, "B", "1m", calendar=XNYS)
    with pytest.raises(BarsError, match="'2m'"):
        handoffs(snap, "2m", calendar=XNYS)
    with pytest.raises(KeyError, match="'B'"):
        handoffs(snap, "1m", calendar=XNYS).row("B")
    # Asked for explicitly, a symbol the snapshot lacks is a row without history.
    assert handoffs(snap, "1m", calendar=XNYS, symbols=["B"]).missing.tolist() == [-1]


# --- joining live bars --------------------------------------------------------------

def seven_eight() -> Bars:
    return synthetic_bars(["A"], XNYS, [dt.date(2024, 7, 5), dt.date(2024, 7, 8)], "1m")["A"]


def test_live_bars_from_the_handoff_join_with_no_gap_and_no_overlap():
    past = seven_eight()
    snap = snapshot_of(dt.date(2024, 7, 9), {("A", "1m"): past})
    h = handoff(snap, "A", "1m", calendar=XNYS)
    first = live_bars("A", "1m", minutes("2024-07-09T09:30-04:00", 30))
    joined = join_live(past, first, calendar=XNYS, next_ts=h.next_ts)
    assert len(joined) == len(past) + 30
    assert joined.ts[len(past)] == h.next_ts
    # And again: the joined bars are the history of the next join.
    more = live_bars("A", "1m", minutes("2024-07-09T10:00-04:00", 5))
    assert len(join_live(joined, more, calendar=XNYS)) == len(past) + 35


def test_a_feed_that_starts_late_is_a_gap_naming_the_missing_bars():
    past = seven_eight()
    late = live_bars("A", "1m", minutes("2024-07-09T09:33-04:00", 10))
    with pytest.raises(LiveGapError) as caught:
        join_live(past, late, calendar=XNYS)
    (gap,) = caught.value.check.gaps
    assert (gap.first_ts, gap.last_ts, gap.bars) == (
        ns("2024-07-09T13:30Z"), ns("2024-07-09T13:32Z"), 3)
    assert "3 bars missing" in str(caught.value)
    assert len(join_live(past, late, calendar=XNYS, allow_gaps=True)) == len(past) + 10


def test_a_missed_minute_inside_the_feed_is_a_gap():
    stamps = np.delete(minutes("2024-07-09T09:30-04:00", 10), 4)
    check = check_join(seven_eight().ts, stamps, interval="1m", calendar=XNYS)
    assert [(g.first_ts, g.bars) for g in check.gaps] == [(ns("2024-07-09T09:34-04:00"), 1)]
    assert check.missing == 1
    assert not check.ok


def test_an_incomplete_history_joined_to_the_feed_is_a_gap_of_its_missing_tail():
    past = seven_eight().between(0, ns("2024-07-08T15:50-04:00"))
    live = live_bars("A", "1m", minutes("2024-07-09T09:30-04:00", 3))
    with pytest.raises(LiveGapError) as caught:
        join_live(past, live, calendar=XNYS)
    (gap,) = caught.value.check.gaps
    assert (gap.first_ts, gap.last_ts, gap.bars) == (
        ns("2024-07-08T15:50-04:00"), ns("2024-07-08T15:59-04:00"), 10)
    # A backfill that brings the missing tail with the live bars joins.
    backfill = minutes("2024-07-08T15:50-04:00", 10)
    both = live_bars("A", "1m", np.concatenate([backfill, live.ts]))
    assert len(join_live(past, both, calendar=XNYS)) == len(past) + 13


def test_a_feed_that_replays_bars_already_held_is_an_overlap():
    past = seven_eight()
    replay = live_bars("A", "1m", minutes("2024-07-08T15:57-04:00", 6))  # 3 old, 3 new
    with pytest.raises(LiveOverlapError) as caught:
        join_live(past, replay, calendar=XNYS)
    check = caught.value.check
    assert (check.overlap, check.first_overlap_ts) == (3, ns("2024-07-08T15:57-04:00"))
    assert check.gaps == ()
    # The same bar twice in the feed is an overlap too.
    twice = np.array([ns("2024-07-09T09:30-04:00")] * 2 + [ns("2024-07-09T09:31-04:00")])
    assert check_join(past.ts, twice, interval="1m", calendar=XNYS).overlap == 1


def test_bars_off_the_grid_are_refused_as_neither_gap_nor_overlap():
    past = seven_eight()
    odd = live_bars("A", "1m", [ns("2024-07-09T09:30:30-04:00")])
    with pytest.raises(LiveJoinError) as caught:
        join_live(past, odd, calendar=XNYS, allow_gaps=True)
    assert not isinstance(caught.value, LiveGapError | LiveOverlapError)
    assert caught.value.check.off_grid == 1
    premarket = check_join(past.ts, [ns("2024-07-09T09:00-04:00")], interval="1m",
                           calendar=XNYS)
    assert premarket.off_grid == 1


def test_live_bars_across_an_early_close_a_weekend_and_a_dst_change_join():
    # History to Wed 11-27; live: Fri 11-29 (13:00 close), Mon 12-02. And March 2024 DST.
    past = synthetic_bars(["A"], XNYS, [dt.date(2024, 11, 27)], "1m")["A"]
    friday = minutes("2024-11-29T09:30-05:00", 210)
    monday = minutes("2024-12-02T09:30-05:00", 390)
    assert check_join(past.ts, np.concatenate([friday, monday]), interval="1m",
                      calendar=XNYS).ok
    spring = synthetic_bars(["A"], XNYS, [dt.date(2024, 3, 8)], "1m")["A"]
    edt = minutes("2024-03-11T13:30Z", 390)
    assert check_join(spring.ts, edt, interval="1m", calendar=XNYS).ok
    # The same wall-clock minutes at the winter offset are an hour off the grid.
    est = minutes("2024-03-11T14:30Z", 390)
    off = check_join(spring.ts, est, interval="1m", calendar=XNYS)
    assert (off.off_grid, off.missing) == (60, 60)


def test_live_bars_across_an_amended_closure_join():
    past = seven_eight()
    amended = XNYS.amended(closures=[dt.date(2024, 7, 9)])
    wednesday = minutes("2024-07-10T09:30-04:00", 390)
    assert check_join(past.ts, wednesday, interval="1m", calendar=amended).ok
    gap = check_join(past.ts, wednesday, interval="1m", calendar=XNYS)
    assert gap.missing == 390   # without the amendment, Tuesday is missing


def test_an_empty_history_starts_at_the_handoff():
    empty = Bars.empty("A", "1m")
    next_ts = ns("2024-07-09T09:30-04:00")
    on_time = live_bars("A", "1m", minutes("2024-07-09T09:30-04:00", 5))
    assert len(join_live(empty, on_time, calendar=XNYS, next_ts=next_ts)) == 5
    late = live_bars("A", "1m", minutes("2024-07-09T09:32-04:00", 5))
    with pytest.raises(LiveGapError):
        join_live(empty, late, calendar=XNYS, next_ts=next_ts)
    # Without a hand-off to start from, the first live bar starts the series.
    assert len(join_live(empty, late, calendar=XNYS)) == 5


def test_daily_bars_join_at_the_open_of_each_session():
    past = synthetic_bars(["A"], XNYS, [dt.date(2024, 11, 27)], "1d")["A"]
    stamps = [ns("2024-11-29T09:30-05:00"), ns("2024-12-02T09:30-05:00")]
    assert check_join(past.ts, stamps, interval="1d", calendar=XNYS).ok
    midnight = check_join(past.ts, [ns("2024-11-29T00:00-05:00")], interval="1d",
                          calendar=XNYS)
    assert midnight.off_grid == 1


def test_join_refuses_bars_of_another_symbol_or_interval():
    with pytest.raises(BarsError, match="'B'"):
        join_live(seven_eight(), live_bars("B", "1m", []), calendar=XNYS)


def test_nothing_live_is_seamless():
    assert check_join(seven_eight().ts, [], interval="1m", calendar=XNYS).ok


# --- a calendar with a midday break -------------------------------------------------

def _break_calendar():
    if not hasattr(XNYS, "breaks"):
        pytest.skip("the calendar has no midday breaks yet (ExchangeCalendar.breaks)")
    for name in ("XHKG", "XTKS"):
        try:
            calendar = get_calendar(name)
        except CalendarError:
            continue
        return calendar
    pytest.skip("no calendar with a midday break is shipped")
    return None


def test_the_handoff_and_the_join_follow_a_midday_break():
    calendar = _break_calendar()
    session = calendar.next_session(dt.date(2024, 6, 3))
    previous = calendar.previous_session(session)
    breaks = calendar.breaks(previous)
    assert breaks is not None
    snap = snapshot_of(session, history(["A"], [previous], ["1m"], calendar), calendar)
    h = handoff(snap, "A", "1m", calendar=calendar)
    assert h.complete
    assert h.expected_last_ts == to_ns(calendar.close_at(previous)) - MINUTE
    start, end = calendar.breaks(session)
    morning = np.arange(to_ns(calendar.open_at(session)), to_ns(start), MINUTE)
    afternoon = np.arange(to_ns(end), to_ns(calendar.close_at(session)), MINUTE)
    past = snap.bars("A", "1m").ts
    assert check_join(past, np.concatenate([morning, afternoon]), interval="1m",
                      calendar=calendar).ok
    inside = check_join(past, np.concatenate([morning, [to_ns(start)], afternoon]),
                        interval="1m", calendar=calendar)
    assert inside.off_grid == 1
    dropped = check_join(past, np.concatenate([morning, afternoon[1:]]), interval="1m",
                         calendar=calendar)
    assert [(g.first_ts, g.bars) for g in dropped.gaps] == [(to_ns(end), 1)]
    # Validation's grid and the join's are one: the break holds no stamp.
    grid = session_grid(calendar, [session], "1m").stamps
    assert not np.any((grid >= to_ns(start)) & (grid < to_ns(end)))


# --- the example host -----------------------------------------------------------------

def test_the_example_host_joins_live_bars_and_reports_what_does_not_join():
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}  # this checkout's preopen
    proc = subprocess.run([sys.executable, "examples/handoff.py"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "the live feed starts at 2024-12-02 09:30" in out
    assert "the history should end at 2024-11-29 12:59" in out
    assert "S0000: joined 15 live bars" in out
    assert "LATE: history ends 2024-11-27 15:59, 210 bars missing" in out
    assert "S0002: refused: 1 gap, 2 bars missing" in out


def test_the_readme_snippet_is_the_example_code():
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    section = readme.split("## Handing over to the live feed", 1)[1].split("\n## ", 1)[0]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = (root / "examples" / "handoff.py").read_text()
    lines = [line for line in snippet.splitlines() if line.strip()]
    assert len(lines) > 5
    for line in lines:
        assert line in example, line
