"""ColumnReservation: a table's memory reserved while its bars load, used at the freeze."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest
from support.week import XNYS

from preopen.model import (
    Bars,
    BarTable,
    ColumnReservation,
    SessionSnapshot,
    TableMemory,
    assemble_tables,
)
from preopen.store.synthetic import symbol_names, synthetic_bars

WAIT = 10.0


DAY = dt.date(2024, 11, 26)


def bars_of(n, sessions=2):
    return synthetic_bars(symbol_names(n), XNYS, XNYS.trailing_sessions(DAY, sessions), "1m")


def test_a_table_that_fits_is_written_into_the_reserved_memory():
    bars = bars_of(30)
    total = sum(len(b) for b in bars.values())
    reservation = ColumnReservation(total + 100)
    assert reservation.faulted.wait(WAIT)  # the daemon thread ends on its own
    table = BarTable.from_bars("1m", bars, reservation)
    plain = BarTable.from_bars("1m", bars)
    for column, expected in zip(table.columns, plain.columns, strict=True):
        assert np.array_equal(column, expected)
    assert np.array_equal(table.offsets, plain.offsets)
    # every column views the one reserved mapping, capacity bars apart
    addresses = [column.ctypes.data for column in table.columns]
    assert np.diff(addresses).tolist() == [8 * (total + 100)] * 5
    assert not any(column.flags.writeable for column in table.columns)
    assert repr(reservation) == f"ColumnReservation({total + 100} bars, taken)"
    assert reservation.take(1) is None  # taken once


def test_a_table_larger_than_reserved_is_allocated_at_the_freeze():
    bars = bars_of(10)
    total = sum(len(b) for b in bars.values())
    reservation = ColumnReservation(total - 1)
    table = BarTable.from_bars("1m", bars, reservation)
    assert table.nbars == total
    assert table.ts.base is not None
    assert repr(reservation) == f"ColumnReservation({total - 1} bars, free)"  # not used


def test_a_snapshot_assembled_with_a_reservation_is_the_same_snapshot():
    day = DAY
    trailing = XNYS.trailing_sessions(day, 2)
    loaded = synthetic_bars(symbol_names(12), XNYS, trailing, "1m")
    data = {(s, "1m"): b for s, b in loaded.items()}
    args = (day, XNYS.open_at(day), XNYS.close_at(day), data, XNYS, trailing, ("1m",),
            XNYS.open_at(day))
    reserved = SessionSnapshot.assemble(*args, reserved={"1m": ColumnReservation(12 * 780)})
    assert reserved == SessionSnapshot.assemble(*args)
    assert reserved.report == SessionSnapshot.assemble(*args).report


def test_a_negative_capacity_is_refused_naming_it():
    with pytest.raises(ValueError, match="capacity -1 is not accepted"):
        ColumnReservation(-1)
    assert ColumnReservation(0).take(0) is None


def address(table):
    return table.ts.ctypes.data


def table_in(memory, bars):
    total = sum(len(b) for b in bars.values())
    reservation = memory.reserve(total)
    assert reservation.faulted.wait(WAIT)
    return BarTable.from_bars("1m", bars, reservation)


def test_kept_memory_is_reused_once_nothing_views_it():
    memory = TableMemory(keep=2)
    bars = bars_of(20)
    first = table_in(memory, bars)
    where = address(first)
    view = first.bars("S0001").close  # a host still holds one column's view
    expected = view.copy()
    del first
    second = table_in(memory, bars_of(20, sessions=1))  # needs less: would fit in the first's
    assert address(second) != where  # not reused: a view of it is alive
    assert np.array_equal(view, expected)  # and what it shows never changed
    assert repr(memory) == "TableMemory(2 kept, 0 idle, keep=2)"
    del view
    assert memory.idle == 1
    third = table_in(memory, bars_of(20, sessions=1))
    assert address(third) == where  # the first table's memory, as it was
    assert np.array_equal(third.columns[4], BarTable.from_bars("1m", bars_of(20, 1)).close)


def test_an_arrow_buffer_keeps_the_memory_from_being_reused():
    pa = pytest.importorskip("pyarrow")
    memory = TableMemory(keep=2)
    first = table_in(memory, bars_of(10))
    where = address(first)
    exported = pa.py_buffer(first.close)
    del first
    assert memory.idle == 0
    other = table_in(memory, bars_of(10))
    assert address(other) != where
    del exported
    assert memory.idle == 1


def test_at_most_keep_mappings_are_kept():
    memory = TableMemory(keep=1)
    first = table_in(memory, bars_of(5))
    second = table_in(memory, bars_of(5))
    where = address(first)
    del first, second
    assert memory.idle == 1  # the first was let go when the second was kept
    assert address(table_in(memory, bars_of(5))) != where


def test_a_smaller_idle_mapping_grows_and_a_much_larger_one_is_passed_over():
    memory = TableMemory(keep=2)
    small = table_in(memory, bars_of(5, sessions=1))
    del small
    grown = table_in(memory, bars_of(5, sessions=2))  # twice as many bars: mremap'd
    assert np.array_equal(grown.ts, BarTable.from_bars("1m", bars_of(5, sessions=2)).ts)
    where = address(grown)
    del grown
    tiny = memory.reserve(10)  # far less than the idle mapping holds
    assert tiny.capacity == 10
    assert memory.idle == 1
    assert address(table_in(memory, bars_of(5, sessions=2))) == where


def test_close_ends_the_fault_in_thread_of_a_reservation_given_up():
    reservation = ColumnReservation(4_000_000)  # 192 MB: several chunks to fault in
    assert reservation.close(WAIT)  # the thread ended (within one chunk of being told)
    assert reservation.faulted.is_set()
    assert ColumnReservation(0).close(WAIT)  # nothing to end


# --- the prefill: reused heads copied into place while the rest loads -----------------


def split_rows(n=8):
    """Per symbol of a 2-session load: the first session (the head) and the second (the tail)."""
    days = XNYS.trailing_sessions(DAY, 2)
    heads = synthetic_bars(symbol_names(n), XNYS, days[:1], "1m", seed=5)
    tails = synthetic_bars(symbol_names(n), XNYS, days[1:], "1m", seed=6)
    reused = {(s, "1m"): b for s, b in heads.items()}
    loaded = {(s, "1m"): b for s, b in tails.items()}
    return reused, loaded, 780  # two full 1m sessions a symbol


def prefilled(reused, names, row_bars, capacity):
    reservation = ColumnReservation(capacity)
    heads = [reused.get((name, "1m")) for name in names]
    assert reservation.prefill(tuple(names), heads, row_bars)
    return reservation


def test_prefilled_heads_are_kept_and_only_the_loaded_bars_copied():
    reused, loaded, row_bars = split_rows()
    names = sorted(s for s, _ in loaded)
    reservation = prefilled(reused, names, row_bars, len(names) * row_bars)
    tables = assemble_tables(loaded, reused, {"1m": reservation})
    plain = assemble_tables(loaded, reused)
    assert tables["1m"].equals(plain["1m"])
    assert repr(reservation) == f"ColumnReservation({len(names) * row_bars} bars, taken)"


def changed(bars):
    close = bars.close.copy()
    close[0] += 1.0
    return Bars.from_arrays(bars.symbol, "1m", bars.ts, bars.open, np.maximum(bars.high, close),
                            bars.low, close, bars.volume)


def test_a_table_other_than_predicted_is_copied_whole_over_the_prefill():
    reused, loaded, row_bars = split_rows()
    names = sorted(s for s, _ in loaded)
    short = names[3]
    b = loaded[short, "1m"]
    cases = {
        # a row one bar short of the prediction: every later row starts earlier
        "short row": ({**loaded, (short, "1m"): Bars.from_arrays(
            short, "1m", *(c[:-1] for c in b.columns))}, reused),
        # a symbol the prediction did not have
        "new symbol": ({**loaded, ("ZZZ", "1m"): Bars.from_arrays("ZZZ", "1m", *b.columns)},
                       reused),
        # another head than the one copied (a price changed)
        "other head": (loaded, {**reused, (short, "1m"): changed(reused[short, "1m"])}),
    }
    for case, (now_loaded, now_reused) in cases.items():
        reservation = prefilled(reused, names, row_bars, (len(names) + 1) * row_bars)
        table = assemble_tables(now_loaded, now_reused, {"1m": reservation})["1m"]
        assert table.equals(assemble_tables(now_loaded, now_reused)["1m"]), case
        assert table.ts.base is not None, case


def test_a_prefill_that_cannot_fit_is_not_started():
    reused, loaded, row_bars = split_rows(4)
    names = sorted(s for s, _ in loaded)
    heads = [reused[name, "1m"] for name in names]
    assert not ColumnReservation(4 * row_bars - 1).prefill(tuple(names), heads, row_bars)
    assert not ColumnReservation(4 * row_bars).prefill(tuple(names), heads, 380)  # heads: 390
    reservation = ColumnReservation(4 * row_bars)
    assert not reservation.prefill(tuple(names[:3]), heads, row_bars)  # a head a row
    assert reservation.prefill(tuple(names), heads, row_bars)
    assert not reservation.prefill(tuple(names), heads, row_bars)  # once
    # Rows other than predicted: not taken as prefilled, still free for a whole copy.
    offsets = np.arange(5) * row_bars
    offsets[1:] -= 1
    assert reservation.take_prefilled(offsets, tuple(names), heads) is None
    assert reservation.take_prefilled(offsets + 1, tuple(names), heads[:3]) is None
    assert reservation.take(4 * row_bars - 1) is not None


def test_close_ends_the_prefill_thread():
    reused, loaded, row_bars = split_rows(200)
    names = sorted(s for s, _ in loaded)
    reservation = prefilled(reused, names, row_bars, len(names) * row_bars)
    assert reservation.close(WAIT)
    assert not [t for t in threading.enumerate() if t.name == "preopen-prefill"]
