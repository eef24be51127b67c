"""Cutting rows of a table: reuse_bars' per-row bisection and check_table's gather of row tails.

Both work on all rows at once (a bisection step per halving; one strided copy
for rows of one length at one stride); the expected values here come from
slicing each row on its own.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from support.week import XNYS

from preopen.model import Bars, BarTable, check_table, reuse_bars, session_grid
from preopen.store.synthetic import synthetic_bars

DAYS = list(XNYS.sessions(dt.date(2024, 11, 18), dt.date(2024, 11, 22)))


def ts_rows():
    """Rows of strictly increasing stamps (small ints), some empty."""
    row = st.lists(st.integers(0, 60), max_size=25, unique=True).map(sorted)
    return st.lists(row, min_size=1, max_size=12)


def table_of(rows, *, unsorted=()):
    names = [f"S{i:02d}" for i in range(len(rows))]
    bars = {}
    for name, ts in zip(names, rows, strict=True):
        t = np.array(ts, np.int64)
        price = np.full(t.shape[0], 1.0)
        bars[name] = Bars.from_arrays(name, "1m", t, price, price, price, price, price)
    table = BarTable.from_bars("1m", bars)
    if unsorted:
        flags = np.array([name in unsorted for name in table.symbols])
        table = BarTable("1m", table.symbols, table.offsets, table.columns,
                         duplicates=table.duplicates, unsorted=flags, check_order=False)
    return names, table


@settings(max_examples=150, deadline=None)
@given(rows=ts_rows(), lo=st.integers(-5, 65), width=st.integers(-5, 70),
       data=st.data())
def test_reuse_bars_cuts_each_row_as_its_own_searchsorted(rows, lo, width, data):
    names, table = table_of(rows)
    hi = lo + width
    wanted = data.draw(st.lists(st.sampled_from([*names, "ZZZ"]), unique=True))
    served = SimpleNamespace(tables={"1m": table})
    out = reuse_bars(served, lo, hi, wanted, ["1m", "1d"])
    assert set(out) == {(name, "1m") for name in wanted if name in names}
    for (name, _), bars in out.items():
        ts = np.array(rows[names.index(name)], np.int64)
        a = int(np.searchsorted(ts, lo))
        b = max(a, int(np.searchsorted(ts, hi)))
        assert bars.ts.tolist() == ts[a:b].tolist()
        assert bars.close.shape == bars.ts.shape


def test_reuse_bars_leaves_out_rows_that_were_repaired():
    names, table = table_of([[1, 2, 3], [1, 2, 3]], unsorted=("S01",))
    out = reuse_bars(SimpleNamespace(tables={"1m": table}), 0, 10, names, ["1m"])
    assert list(out) == [("S00", "1m")]


@settings(max_examples=60, deadline=None)
@given(cut=st.lists(st.integers(0, 3), min_size=6, max_size=6),
       chosen=st.lists(st.booleans(), min_size=6, max_size=6),
       skip=st.sampled_from([0, 5, 390]))
def test_check_table_of_row_tails_is_the_check_of_those_tails_alone(cut, chosen, skip):
    # Most draws give rows of one length at one stride (the strided gather),
    # the others rows of mixed lengths or strides (slice by slice).
    names = [f"S{i}" for i in range(6)]
    bars = synthetic_bars(names, XNYS, DAYS, "1m", seed=3)
    trimmed = {name: Bars.from_arrays(name, "1m", *(c[: len(c) - 7 * k] for c in b.columns))
               for (name, b), k in zip(bars.items(), cut, strict=True)}
    table = BarTable.from_bars("1m", trimmed)
    rows = np.flatnonzero(np.array(chosen)).astype(np.intp)
    grid = session_grid(XNYS, DAYS, "1m")
    got = check_table(table, grid, rows, skip)
    tails = {table.symbols[i]: Bars.from_arrays(
        table.symbols[i], "1m", *(c[skip:] for c in trimmed[table.symbols[i]].columns))
        for i in rows.tolist()}
    want = check_table(BarTable.from_bars("1m", tails), grid) if tails else got[:0]
    assert got.tolist() == want.tolist()
