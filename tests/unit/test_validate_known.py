"""validate_tables with known heads: only the bars after them are checked, same report."""

from __future__ import annotations

import datetime as dt

import numpy as np
from support.week import XNYS

from preopen.model import (
    Bars,
    BarTable,
    SessionSnapshot,
    assemble_tables,
    clean_keys,
    known_heads,
    validate_tables,
)
from preopen.store.synthetic import synthetic_bars

DAYS = list(XNYS.sessions(dt.date(2024, 11, 18), dt.date(2024, 11, 22)))
HEAD_DAYS = 4
NAMES = ("AAA", "BBB", "CCC")


def split_table(interval, calendar=XNYS, tail_extra=None):
    """Each symbol's bars as a clean head (the first 4 sessions) and a tail (the last)."""
    heads = synthetic_bars(NAMES, calendar, DAYS[:HEAD_DAYS], interval, seed=1)
    tails = synthetic_bars(NAMES, calendar, DAYS[HEAD_DAYS:], interval, seed=2)
    if tail_extra is not None:
        tails = tail_extra(tails)
    reused = {(s, interval): b for s, b in heads.items()}
    loaded = {(s, interval): b for s, b in tails.items()}
    tables = assemble_tables(loaded, reused)
    clean = frozenset(reused)
    return tables, known_heads(tables, reused, clean)


def both(tables, known, calendar=XNYS, interval="1m"):
    """The report checking everything, and the one taking the heads as known."""
    symbols = tables[interval].symbols
    whole = validate_tables(tables, calendar, DAYS, [interval], symbols)
    fast = validate_tables(tables, calendar, DAYS, [interval], symbols,
                           known=known, known_sessions=HEAD_DAYS)
    return whole, fast


def with_bad_tail_bar(tails):
    """A negative close in AAA's last session, and BBB missing its last 10 bars."""
    a = tails["AAA"]
    close = a.close.copy()
    close[5] = -1.0
    tails["AAA"] = Bars.from_arrays("AAA", a.interval, a.ts, a.open, a.high, a.low, close,
                                    a.volume)
    b = tails["BBB"]
    tails["BBB"] = Bars.from_arrays("BBB", b.interval, *(c[:-10] for c in b.columns))
    return tails


def test_known_heads_give_the_report_a_whole_check_gives():
    tables, known = split_table("1m", tail_extra=with_bad_tail_bar)
    whole, fast = both(tables, known)
    assert fast == whole
    assert fast["AAA", "1m"].bad_prices == 1
    assert fast["BBB", "1m"].gaps == 1
    assert fast["BBB", "1m"].missing == 10
    assert fast["CCC", "1m"].ok


def test_a_known_head_is_not_checked_again():
    # The caller vouches for a head: a defect planted in one (which an earlier
    # check would have reported) is not seen, which is how we know it was skipped.
    heads = synthetic_bars(NAMES, XNYS, DAYS[:HEAD_DAYS], "1m", seed=1)
    tails = synthetic_bars(NAMES, XNYS, DAYS[HEAD_DAYS:], "1m", seed=2)
    a = heads["AAA"]
    close = a.close.copy()
    close[3] = np.nan
    heads["AAA"] = Bars.from_arrays("AAA", "1m", a.ts, a.open, a.high, a.low, close, a.volume)
    reused = {(s, "1m"): b for s, b in heads.items()}
    tables = assemble_tables({(s, "1m"): b for s, b in tails.items()}, reused)
    whole, fast = both(tables, known_heads(tables, reused, frozenset(reused)))
    assert whole["AAA", "1m"].bad_prices == 1
    assert fast["AAA", "1m"].bad_prices == 0


def test_heads_from_another_calendar_are_checked_whole():
    # The heads were clean on a calendar where 2024-11-21 closed at 13:00;
    # today's calendar says 16:00: the heads' length no longer matches, and
    # every row is checked whole (the report says what is missing).
    early = XNYS.amended(early_closes={DAYS[3]: dt.time(13)})
    tables, known = split_table("1m", calendar=early)
    whole, fast = both(tables, known)
    assert fast == whole
    assert not fast["AAA", "1m"].complete


def test_a_later_bar_inside_a_head_session_makes_its_row_checked_whole():
    # Daily heads carry no close: they look the same on both calendars. The
    # tail holds an after-hours bar at 14:00 of the early-closed day (13:00 when
    # loaded), which today's calendar places inside the session.
    early = XNYS.amended(early_closes={DAYS[3]: dt.time(13)})

    def after_hours(tails):
        b = tails["AAA"]
        stamp = int(XNYS.open_at(DAYS[3]).add(hours=4, minutes=30).timestamp()) * 10**9
        ts = np.concatenate([[stamp], b.ts])
        tails["AAA"] = Bars.from_arrays("AAA", "1d", ts, *(np.concatenate([[10.0], c])
                                                            for c in b.columns[1:]))
        return tails

    tables, known = split_table("1d", calendar=early, tail_extra=after_hours)
    whole, fast = both(tables, known, interval="1d")
    assert fast == whole
    assert fast["AAA", "1d"].misaligned == 1  # inside 11-21's session, not on the daily grid
    assert fast["AAA", "1d"].outside_session == 0


def test_clean_keys_are_the_entries_with_no_finding_at_all():
    day = DAYS[-1]
    data = synthetic_bars(NAMES, XNYS, DAYS, "1m", seed=3)
    data = with_bad_tail_bar(data)
    snapshot = SessionSnapshot.assemble(
        day, XNYS.open_at(day), XNYS.close_at(day), {(s, "1m"): b for s, b in data.items()},
        XNYS, DAYS, ("1m",), XNYS.open_at(day))
    keys = [(s, "1m") for s in NAMES] + [("ZZZ", "1m"), ("AAA", "5m")]
    assert clean_keys(snapshot.report, keys) == {("CCC", "1m")}


def test_a_snapshot_assembled_with_clean_reused_bars_equals_the_whole_check():
    day = DAYS[-1]
    heads = synthetic_bars(NAMES, XNYS, DAYS[:HEAD_DAYS], "1m", seed=1)
    tails = with_bad_tail_bar(synthetic_bars(NAMES, XNYS, DAYS[HEAD_DAYS:], "1m", seed=2))
    reused = {(s, "1m"): b for s, b in heads.items()}
    loaded = {(s, "1m"): b for s, b in tails.items()}
    args = (day, XNYS.open_at(day), XNYS.close_at(day), loaded, XNYS, DAYS, ("1m",),
            XNYS.open_at(day))
    fast = SessionSnapshot.assemble(*args, reused=reused, clean=frozenset(reused),
                                    reused_sessions=HEAD_DAYS)
    whole = SessionSnapshot.assemble(*args, reused=reused)
    assert fast == whole
    assert isinstance(fast.table("1m"), BarTable)


def shifted_head(name, how):
    """The heads, with ``name``'s stamps changed by ``how`` (its length kept)."""
    heads = synthetic_bars(NAMES, XNYS, DAYS[:HEAD_DAYS], "1m", seed=1)
    b = heads[name]
    heads[name] = Bars.from_arrays(name, "1m", how(b.ts.copy()), *b.columns[1:])
    tails = synthetic_bars(NAMES, XNYS, DAYS[HEAD_DAYS:], "1m", seed=2)
    reused = {(s, "1m"): b for s, b in heads.items()}
    tables = assemble_tables({(s, "1m"): b for s, b in tails.items()}, reused)
    return tables, known_heads(tables, reused, frozenset(reused))


def test_the_first_head_is_compared_stamp_by_stamp_with_todays_grid():
    def nudge(ts):
        ts[100] += 30 * 10**9  # still sorted, no longer on the grid
        return ts

    whole, fast = both(*shifted_head("AAA", nudge))
    assert fast == whole
    assert whole["AAA", "1m"].misaligned == 1


def test_every_heads_ends_are_compared_with_todays_grid():
    def later(ts):
        return ts + 60 * 10**9  # one minute late: the last bar is past the close

    whole, fast = both(*shifted_head("CCC", later))
    assert fast == whole
    assert whole["CCC", "1m"].outside_session > 0
