"""BarTable: one contiguous table per interval; Bars are views; a snapshot is a few arrays."""

import datetime as dt
import gc
import pickle

import numpy as np
import pytest

from preopen.calendar import get_calendar
from preopen.errors import BarsError
from preopen.model import Bars, BarTable, SessionSnapshot, validate
from preopen.store.synthetic import Defect, plant, synthetic_bars

XNYS = get_calendar("XNYS")
DAYS = XNYS.sessions(dt.date(2024, 7, 1), dt.date(2024, 7, 5))  # July 3 early, July 4 closed
T0 = 1_720_013_400_000_000_000
MIN = 60_000_000_000


def loaded(n=30, intervals=("1m", "1d")):
    data = {}
    for interval in intervals:
        for symbol, bars in synthetic_bars([f"S{i:03d}" for i in range(n)], XNYS, DAYS,
                                           interval).items():
            data[symbol, interval] = bars
    return data


def assembled(n=30, intervals=("1m", "1d")):
    day = dt.date(2024, 7, 8)
    built = dt.datetime(2024, 7, 8, 12, tzinfo=dt.UTC)
    return SessionSnapshot.assemble(day, XNYS.open_at(day), XNYS.close_at(day),
                                    loaded(n, intervals), XNYS, DAYS, intervals, built)


def test_table_is_contiguous_sorted_by_symbol_then_ts_with_offsets():
    data = loaded(5, ("1m",))
    table = BarTable.from_bars("1m", {s: b for (s, _), b in reversed(data.items())})
    assert table.symbols == ("S000", "S001", "S002", "S003", "S004")
    per_symbol = 390 * 3 + 210
    assert table.offsets.tolist() == [k * per_symbol for k in range(6)]
    for column in table.columns:
        assert column.flags.c_contiguous
        assert not column.flags.writeable
    assert np.array_equal(table.close[per_symbol:2 * per_symbol], data["S001", "1m"].close)
    assert table.nbars == 5 * per_symbol
    assert table.nbytes == 48 * 5 * per_symbol


def test_bars_of_a_table_are_views_of_its_columns():
    snap = assembled()
    table = snap.table("1m")
    bars = snap.bars("S007", "1m")
    lo = int(table.offsets[7])
    for name in ("ts", "open", "high", "low", "close", "volume"):
        column, whole = getattr(bars, name), getattr(table, name)
        assert np.shares_memory(column, whole)
        assert column.ctypes.data == whole.ctypes.data + lo * 8
        assert column.flags.c_contiguous
        with pytest.raises(ValueError, match="read-only"):
            column[0] = 0
    assert bars.equals(loaded()["S007", "1m"])


def test_the_snapshot_holds_a_handful_of_arrays_not_one_per_symbol():
    snap = assembled(n=200)

    def arrays_held(root):
        seen, stack, found = set(), [root], 0
        while stack:
            obj = stack.pop()
            if id(obj) in seen or isinstance(obj, (type, type(gc))):
                continue
            seen.add(id(obj))
            found += isinstance(obj, np.ndarray)
            stack.extend(gc.get_referents(obj))
        return found

    # per interval: six columns, offsets, two repair arrays (+ their bases); the report: one
    assert arrays_held(snap) < 40


def test_summary_is_computed_when_frozen():
    snap = assembled(n=12)
    assert snap.symbols == tuple(f"S{i:03d}" for i in range(12))
    assert snap.intervals == ("1d", "1m")
    assert snap.nbars == 12 * (390 * 3 + 210 + 4)
    assert snap.nbytes == 48 * snap.nbars
    assert snap.report.complete
    assert snap.report.ok
    assert len(snap.data) == 24
    assert ("S003", "1d") in snap.data


def test_unknown_interval_and_symbol_are_clear_key_errors():
    snap = assembled(n=3)
    with pytest.raises(KeyError, match=r"'5m'.*held: 1d, 1m"):
        snap.table("5m")
    with pytest.raises(KeyError, match="'ZZZ'"):
        snap.table("1m").bars("ZZZ")
    assert "ZZZ" not in snap.table("1m")


def test_repairs_travel_with_the_table():
    data = loaded(3, ("1m",))
    data["S001", "1m"] = plant(data["S001", "1m"], Defect.DUPLICATE, 2)
    data["S002", "1m"] = plant(data["S002", "1m"], Defect.UNSORTED)
    table = BarTable.from_bars("1m", {s: b for (s, _), b in data.items()})
    assert table.bars("S001").repairs.duplicates_dropped == 2
    assert table.bars("S002").repairs.was_unsorted
    assert not table.bars("S000").repairs


def test_a_table_refuses_offsets_columns_and_order_that_do_not_make_one():
    ts = np.array([T0, T0 + MIN, T0], dtype=np.int64)
    price = np.ones(3)
    columns = (ts, price, price, price, price, price)
    with pytest.raises(BarsError, match="offsets must be int64 of 3"):
        BarTable("1m", ("A", "B"), np.array([0, 3]), columns)
    with pytest.raises(BarsError, match="offsets must rise"):
        BarTable("1m", ("A", "B"), np.array([0, 2, 1]), columns)
    with pytest.raises(BarsError, match="column close"):
        BarTable("1m", ("A",), np.array([0, 3]), (ts, price, price, price, price[:2], price))
    with pytest.raises(BarsError, match="sorted and unique"):
        BarTable("1m", ("B", "A"), np.array([0, 2, 3]), columns)
    with pytest.raises(BarsError, match="not increasing within a symbol at bar 2"):
        BarTable("1m", ("A",), np.array([0, 3]), columns)
    table = BarTable("1m", ("A", "B"), np.array([0, 2, 3]), columns)  # a new symbol may go back
    assert table.bars("B").ts.tolist() == [T0]


def test_a_key_that_names_other_bars_is_refused():
    bars = synthetic_bars(["A"], XNYS, DAYS, "1m")["A"]
    with pytest.raises(BarsError, match="'B'"):
        BarTable.from_bars("1m", {"B": bars})


def test_pickle_round_trip_copies_and_stays_read_only():
    snap = assembled(n=4)
    again = pickle.loads(pickle.dumps(snap))  # noqa: S301 - our own bytes
    assert again == snap
    assert not again.table("1m").close.flags.writeable
    bars = pickle.loads(pickle.dumps(snap.bars("S001", "1m")))  # noqa: S301 - our own bytes
    assert bars.equals(snap.bars("S001", "1m"))


def test_a_symbol_missing_at_one_interval_is_reported_empty_there():
    data = loaded(3)
    del data["S001", "1d"]
    day = dt.date(2024, 7, 8)
    snap = SessionSnapshot.assemble(day, XNYS.open_at(day), XNYS.close_at(day), data, XNYS, DAYS,
                                    ("1m", "1d"), dt.datetime(2024, 7, 8, tzinfo=dt.UTC))
    assert snap.symbols == ("S000", "S001", "S002")
    assert snap.table("1d").symbols == ("S000", "S002")
    assert snap.report["S001", "1d"].empty
    assert snap.report.failed_symbols == ("S001",)
    with pytest.raises(KeyError):
        snap.bars("S001", "1d")


def test_validation_in_slices_agrees_with_one_slice(monkeypatch):
    import preopen.model._validate as validation  # noqa: PLC0415 - the slice size is internal

    data = loaded(40, ("1m", "1h", "1d"))
    for k, key in enumerate(sorted(data)):
        defect = list(Defect)[k % len(Defect)]
        if k % 3 == 0:
            data[key] = plant(data[key], defect, 1 + k % 2, seed=k)
    whole = validate(data, XNYS, DAYS, ["1m", "1h", "1d"])
    monkeypatch.setattr(validation, "_SLICE_BARS", 1000)  # a few symbols per slice
    sliced = validate(data, XNYS, DAYS, ["1m", "1h", "1d"])
    assert sliced == whole
    assert not whole.ok
    assert whole.findings() == sliced.findings()


def test_old_keyword_construction_still_works():
    data = loaded(2, ("1m",))
    day = dt.date(2024, 7, 8)
    snap = SessionSnapshot(session=day, open=XNYS.open_at(day), close=XNYS.close_at(day), data=data)
    assert snap.bars("S001", "1m").equals(data["S001", "1m"])
    assert isinstance(snap.table("1m"), BarTable)
    with pytest.raises(BarsError, match="not both"):
        SessionSnapshot(day, XNYS.open_at(day), XNYS.close_at(day), data=data,
                        tables={"1m": snap.table("1m")})
    empty = Bars.empty("Z", "1m")
    assert len(BarTable.from_bars("1m", {"Z": empty}).bars("Z")) == 0


def test_a_large_table_lives_in_one_anonymous_mapping():
    import mmap  # noqa: PLC0415

    data = loaded(70, ("1m",))  # 70 x 1,380 bars x 48 bytes: above the 4 MiB threshold
    table = BarTable.from_bars("1m", {s: b for (s, _), b in data.items()})
    assert table.nbytes >= 4 << 20

    def root(array):
        while isinstance(array, np.ndarray) and array.base is not None:
            array = array.base
        return array.obj if isinstance(array, memoryview) else array

    assert isinstance(root(table.close), mmap.mmap)
    assert root(table.ts) is root(table.volume)  # one mapping, column after column
    assert not table.close.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        table.bars("S001").close[0] = 1.0
    for (symbol, _), bars in data.items():
        assert table.bars(symbol).equals(bars)
