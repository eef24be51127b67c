"""ColumnReservation: a table's memory reserved while its bars load, used at the freeze."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from support.week import XNYS

from preopen.model import BarTable, ColumnReservation, SessionSnapshot
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
