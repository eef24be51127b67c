"""validate flags exactly the defects the generator planted, and nothing else."""

import datetime as dt
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from preopen.calendar import get_calendar
from preopen.model import INTERVALS, assemble_tables, known_heads, validate, validate_tables
from preopen.store.synthetic import Defect, plant, synthetic_bars

XNYS = get_calendar("XNYS")
SESSIONS = XNYS.sessions(dt.date(2024, 6, 24), dt.date(2024, 7, 12))  # July 3 early, July 4 closed
FIELDS = ("gaps", "duplicates", "unsorted", "bad_prices", "high_below_low",
          "negative_volume", "outside_session", "misaligned", "empty")


MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60}


def expected_bars(interval, days):
    """Bars a session range should hold, from the published hours alone.

    Daily: one per session. Intraday: a bar starts every ``interval`` from the
    open while before the close, so a trailing partial bar counts (6.5 h is 7
    one-hour bars; the 13:00 close of 2024-07-03 is 210 one-minute bars).
    """
    if interval == "1d":
        return len(days)
    total = 0
    for day in days:
        minutes = (XNYS.close_at(day) - XNYS.open_at(day)).total_seconds() / 60
        total += math.ceil(minutes / MINUTES[interval])
    return total


@st.composite
def case(draw):
    interval = draw(st.sampled_from(sorted(INTERVALS)))
    days = draw(st.lists(st.sampled_from(SESSIONS), min_size=1, max_size=4, unique=True))
    plan = draw(st.lists(st.sampled_from([*Defect, None]), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**16))
    counts = [draw(st.integers(1, 6)) for _ in plan]
    return interval, sorted(days), plan, counts, seed


def _feasible(defect, count, interval, n, sessions):
    """Shrink a plan to what the bars can hold (a gap needs a bar on each side)."""
    count = min(count, max(n - 2, 1))
    per_session = n if interval == "1d" else n // sessions
    if defect is Defect.GAP:
        if per_session < 3:
            return None, count
        count = min(count, per_session - 2)
    return defect, count


@settings(max_examples=200, deadline=None)
@given(case())
def test_validate_flags_exactly_what_was_planted(args):
    interval, days, plan, counts, seed = args
    names = [f"S{i}" for i in range(len(plan))]
    good = synthetic_bars(names, XNYS, days, interval, seed=seed)
    n = len(good[names[0]])
    data, answers = {}, {}
    for name, planned, wanted in zip(names, plan, counts, strict=True):
        defect, count = _feasible(planned, wanted, interval, n, len(days))
        answer = dict.fromkeys(FIELDS, 0) | {"unsorted": False, "empty": False, "found": n}
        if defect is None:
            bars = good[name]
        else:
            bars = plant(good[name], defect, count, seed=seed)
            if defect is Defect.EMPTY:
                # intraday a gap per session; daily, missing days in a row are one
                gaps = 1 if interval == "1d" else len(days)
                answer |= {"empty": True, "found": 0, "gaps": gaps}
            elif defect is Defect.UNSORTED:
                answer["unsorted"] = n > 1
            elif defect is Defect.GAP:
                answer |= {"gaps": 1, "found": n - count}
            else:
                answer[defect.value] = count
        data[name, interval] = bars
        answers[name] = answer
    report = validate(data, XNYS, days, [interval])
    for name in names:
        entry = report[name, interval]
        got = {key: getattr(entry, key) for key in (*FIELDS, "found")}
        assert got == answers[name], name
        assert entry.expected == expected_bars(interval, days)


@st.composite
def split_case(draw):
    interval = draw(st.sampled_from(sorted(INTERVALS)))
    days = sorted(draw(st.lists(st.sampled_from(SESSIONS), min_size=2, max_size=4,
                                unique=True)))
    known = draw(st.integers(1, len(days) - 1))
    plan = draw(st.lists(st.sampled_from([*Defect, None]), min_size=1, max_size=4))
    counts = [draw(st.integers(1, 4)) for _ in plan]
    clean = [draw(st.booleans()) for _ in plan]
    return interval, days, known, plan, counts, clean, draw(st.integers(0, 2**16))


@settings(max_examples=150, deadline=None)
@given(split_case())
def test_known_clean_heads_change_nothing_in_the_report(args):
    # Each symbol: clean bars of the first sessions (reused, taken as known or
    # not) followed by the later sessions' bars, with one planted defect.
    interval, days, known, plan, counts, clean, seed = args
    names = [f"S{i}" for i in range(len(plan))]
    heads = synthetic_bars(names, XNYS, days[:known], interval, seed=seed)
    tails = synthetic_bars(names, XNYS, days[known:], interval, seed=seed + 1)
    n = len(tails[names[0]])
    loaded = {}
    for name, planned, wanted in zip(names, plan, counts, strict=True):
        defect, count = _feasible(planned, wanted, interval, n, len(days) - known)
        bars = tails[name] if defect is None else plant(tails[name], defect, count, seed=seed)
        loaded[name, interval] = bars
    reused = {(name, interval): heads[name] for name in names}
    tables = assemble_tables(loaded, reused)
    vouched = frozenset(k for k, ok in zip(reused, clean, strict=True) if ok)
    symbols = tables[interval].symbols
    whole = validate_tables(tables, XNYS, days, [interval], symbols)
    fast = validate_tables(tables, XNYS, days, [interval], symbols,
                           known=known_heads(tables, reused, vouched), known_sessions=known)
    assert fast == whole
