"""ColumnReservation: a table's memory reserved while its bars load, used at the freeze."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from support.week import XNYS

from preopen.model import BarTable, ColumnReservation, SessionSnapshot, TableMemory
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
