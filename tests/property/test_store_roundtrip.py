"""Bars written by a store and loaded back are bit-identical (NaN aside: any NaN is NaN)."""

import datetime as dt
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from preopen.calendar import get_calendar
from preopen.model import INTERVALS, Bars, session_grid
from preopen.store import open_store

XNYS = get_calendar("XNYS")
# Regular sessions, 13:00 closes (July 3, the day after Thanksgiving,
# Christmas Eve) and a DST change.
SESSIONS = (
    dt.date(2024, 3, 8), dt.date(2024, 3, 11), dt.date(2024, 7, 2), dt.date(2024, 7, 3),
    dt.date(2024, 11, 29), dt.date(2024, 12, 24), dt.date(2024, 12, 26),
)
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_names = (f"P{i:06d}" for i in itertools.count())

floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@st.composite
def bars_strategy(draw):
    interval = draw(st.sampled_from(sorted(INTERVALS)))
    days = draw(st.lists(st.sampled_from(SESSIONS), min_size=1, max_size=3, unique=True))
    stamps = session_grid(XNYS, days, interval).stamps
    keep = draw(hnp.arrays(np.bool_, stamps.shape[0]))
    ts = stamps[keep]
    if draw(st.booleans()):
        ts = ts[::-1]  # unsorted input: repaired before it reaches a store
    n = ts.shape[0]
    columns = [draw(hnp.arrays(np.float64, n, elements=floats)) for _ in range(5)]
    return Bars.from_arrays(next(_names), interval, ts, *columns)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('rt')}/rt.db", create=True)
    yield store
    store.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bars=bars_strategy())
def test_sqlite_round_trip(sqlite_store, bars):
    assert sqlite_store.write(bars.interval, {bars.symbol: bars}) == len(bars)
    back = sqlite_store.load([bars.symbol], bars.interval, START, END)[bars.symbol]
    assert back.equals(bars)
    # bit-identical, NaN payloads and the sign of zero included
    assert back.records().tobytes() == bars.records().tobytes()


@pytest.fixture(scope="module")
def pg_store(pg_schema, pg_dsn):
    store = open_store(pg_dsn, table=f"{pg_schema}.roundtrip", create=True, connect_timeout=5)
    yield store
    store.close()


@pytest.mark.postgres
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bars=bars_strategy())
def test_postgres_round_trip(pg_store, bars):
    assert pg_store.write(bars.interval, {bars.symbol: bars}) == len(bars)
    for method in ("arrays", "rows"):
        pg_store.method = method
        back = pg_store.load([bars.symbol, "NONE"], bars.interval, START, END)
        assert back[bars.symbol].equals(bars)
        assert len(back["NONE"]) == 0
