import datetime as dt
import pickle

import numpy as np
import pytest

from preopen.errors import BarsError
from preopen.model import INTERVALS, RECORD_DTYPE, Bars, parse_interval, to_ns

T0 = 1_720_013_400_000_000_000  # 2024-07-03 13:30 UTC
MIN = 60_000_000_000


def make(ts, symbol="AAPL", interval="1m"):
    n = len(ts)
    return Bars.from_arrays(
        symbol, interval, ts, np.arange(n) + 1.0, np.arange(n) + 2.0,
        np.arange(n) + 0.5, np.arange(n) + 1.5, np.full(n, 100.0),
    )


def test_intervals_are_the_published_lengths():
    assert dict(INTERVALS) == {
        "1m": 60 * 10**9, "5m": 300 * 10**9, "15m": 900 * 10**9,
        "30m": 1800 * 10**9, "1h": 3600 * 10**9, "1d": 86400 * 10**9,
    }


def test_unknown_interval_names_the_value_and_the_accepted():
    with pytest.raises(BarsError, match=r"'2m'.*1m, 5m, 15m, 30m, 1h, 1d"):
        parse_interval("2m")


def test_sorted_input_is_kept_without_repairs():
    bars = make([T0, T0 + MIN, T0 + 2 * MIN])
    assert len(bars) == 3
    assert not bars.repairs
    assert bars.ts.tolist() == [T0, T0 + MIN, T0 + 2 * MIN]


def test_unsorted_and_duplicates_are_repaired_and_counted():
    bars = Bars.from_arrays(
        "X", "1m", [T0 + 2 * MIN, T0, T0 + MIN, T0], [3.0, 1.0, 2.0, 9.0],
        [3.0, 1.0, 2.0, 9.0], [3.0, 1.0, 2.0, 9.0], [3.0, 1.0, 2.0, 9.0], [1, 1, 1, 1],
    )
    assert bars.ts.tolist() == [T0, T0 + MIN, T0 + 2 * MIN]
    # the first of the duplicates in input order is kept
    assert bars.open.tolist() == [1.0, 2.0, 3.0]
    assert bars.repairs.duplicates_dropped == 1
    assert bars.repairs.was_unsorted is True


def test_adjacent_duplicates_are_not_called_unsorted():
    bars = make([T0, T0, T0 + MIN])
    assert bars.repairs.duplicates_dropped == 1
    assert bars.repairs.was_unsorted is False


def test_arrays_are_read_only():
    bars = make([T0, T0 + MIN])
    for name in ("ts", "open", "high", "low", "close", "volume"):
        column = getattr(bars, name)
        assert not column.flags.writeable
        with pytest.raises(ValueError):
            column[0] = 0
    with pytest.raises(ValueError):
        bars.records()["close"][0] = 0.0
    with pytest.raises(ValueError):
        bars.records().flags.writeable = True


def test_input_arrays_are_not_shared():
    ts = np.array([T0, T0 + MIN])
    opens = np.array([1.0, 2.0])
    bars = Bars.from_arrays("X", "1m", ts, opens, opens, opens, opens, opens)
    opens[0] = 99.0
    ts[0] = 0
    assert bars.open[0] == 1.0
    assert bars.ts[0] == T0


def test_attributes_cannot_be_set():
    bars = make([T0])
    with pytest.raises(AttributeError):
        bars.symbol = "MSFT"  # type: ignore[misc]


def test_48_bytes_a_bar():
    assert RECORD_DTYPE.itemsize == 48
    assert make(list(range(T0, T0 + 390 * MIN, MIN))).nbytes == 390 * 48


def test_between_is_a_view_by_start_inclusive_end_exclusive():
    bars = make([T0 + k * MIN for k in range(10)])
    part = bars.between(T0 + 2 * MIN, T0 + 5 * MIN)
    assert part.ts.tolist() == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    assert np.shares_memory(part.ts, bars.ts)
    start = dt.datetime(2024, 7, 3, 9, 32, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert bars.between(start, T0 + 100 * MIN).ts[0] == T0 + 2 * MIN
    assert len(bars.between(T0 + 5 * MIN, T0)) == 0


def test_naive_datetimes_are_refused():
    bars = make([T0])
    with pytest.raises(BarsError, match="naive"):
        bars.between(dt.datetime(2024, 7, 3), T0)


def test_to_ns_of_pendulum_and_stdlib_agree():
    pendulum = pytest.importorskip("pendulum")
    instant = pendulum.datetime(2024, 7, 3, 9, 30, tz="America/New_York")
    assert to_ns(instant) == T0
    assert to_ns(dt.datetime(2024, 7, 3, 13, 30, 0, 1, tzinfo=dt.UTC)) == T0 + 1000


def test_columns_are_contiguous_and_records_a_packed_copy():
    bars = make([T0, T0 + MIN])
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert getattr(bars, name).flags.c_contiguous
    records = bars.records()
    assert records.dtype == RECORD_DTYPE
    assert not np.shares_memory(records, bars.close)
    assert records["close"].tolist() == [1.5, 2.5]


def test_read_only_native_columns_are_taken_without_a_copy():
    ts = np.array([T0, T0 + MIN])
    price = np.array([1.0, 2.0])
    ts.flags.writeable = price.flags.writeable = False
    bars = Bars.from_arrays("X", "1m", ts, price, price, price, price, price)
    assert np.shares_memory(bars.ts, ts)
    assert np.shares_memory(bars.close, price)


def test_from_records_converts_packed_rows_into_columns():
    bars = make([T0, T0 + MIN])
    again = Bars.from_records("AAPL", "1m", bars.records())
    assert again.equals(bars)
    assert again.close.flags.c_contiguous


def test_datetime64_ts_is_accepted():
    ts = np.array(["2024-07-03T13:30", "2024-07-03T13:31"], dtype="datetime64[m]")
    bars = Bars.from_arrays("X", "1m", ts, [1, 2], [1, 2], [1, 2], [1, 2], [1, 2])
    assert bars.ts.tolist() == [T0, T0 + MIN]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ts": [T0, T0 + MIN], "close": [1.0]}, "equal length"),
        ({"ts": [[T0]], "close": [[1.0]]}, "one-dimensional"),
        ({"ts": [1.5, 2.5]}, "ts has dtype float64"),
        ({"close": ["a", "b"]}, "column close"),
    ],
)
def test_bad_columns_name_what_is_wrong(kwargs, match):
    columns = {"ts": [T0, T0 + MIN], "open": [1.0, 2.0], "high": [1.0, 2.0],
               "low": [1.0, 2.0], "close": [1.0, 2.0], "volume": [1.0, 2.0]}
    columns.update(kwargs)
    if np.ndim(columns["ts"]) == 2:
        columns = {k: [v] if np.ndim(v) == 1 else v for k, v in columns.items()}
    with pytest.raises(BarsError, match=match):
        Bars.from_arrays("X", "1m", **columns)


@pytest.mark.parametrize("symbol", ["", None, 5])
def test_bad_symbol_is_refused(symbol):
    with pytest.raises(BarsError, match="symbol"):
        Bars.empty(symbol, "1m")


def test_equals_is_bitwise_and_nan_aware():
    a = Bars.from_arrays("X", "1m", [T0], [np.nan], [1.0], [1.0], [0.0], [1.0])
    b = Bars.from_arrays("X", "1m", [T0], [np.nan], [1.0], [1.0], [0.0], [1.0])
    c = Bars.from_arrays("X", "1m", [T0], [np.nan], [1.0], [1.0], [-0.0], [1.0])
    assert a.equals(b)
    assert a == b
    assert hash(a) == hash(b)
    assert not a.equals(c)
    assert not a.equals(make([T0], symbol="X"))
    assert a != "X"


def test_empty_and_concat():
    empty = Bars.empty("X", "1d")
    assert len(empty) == 0
    assert empty.ts.dtype == np.int64
    joined = Bars.concat("X", "1m", [make([T0 + MIN], "X"), make([T0], "X")])
    assert joined.ts.tolist() == [T0, T0 + MIN]
    assert joined.repairs.was_unsorted


def test_pickle_round_trip_stays_read_only():
    bars = make([T0, T0 + MIN])
    back = pickle.loads(pickle.dumps(bars))  # noqa: S301 - our own bytes
    assert back == bars
    assert not back.close.flags.writeable


def test_repr_names_symbol_and_size():
    assert "AAPL" in repr(make([T0]))
    assert "1 bars" in repr(make([T0]))
