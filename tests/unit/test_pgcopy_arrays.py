"""The arrays-shaped binary COPY parser, on streams written here byte by byte."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from preopen.errors import StoreSchemaError
from preopen.model import Bars
from preopen.store._pgcopy import HEADER, PG_EPOCH_US, TRAILER, read_arrays

INT8_OID, FLOAT8_OID = 20, 701


def array(values, oid, fmt, *, size=8, dims=None):
    """One array field: length, then header and (length, value) elements."""
    count = len(values) if dims is None else dims
    body = struct.pack(">iiIii", 1, 0, oid, count, 1)
    body += b"".join(struct.pack(">i", size) + struct.pack(fmt, v) for v in values)
    return struct.pack(">i", len(body)) + body


def tuple_of(index, ts_us, prices, *, null=False, **kwargs):
    out = struct.pack(">h", 7) + struct.pack(">ii", 4, index)
    if null:
        return out + struct.pack(">i", -1) * 6
    out += array(ts_us, INT8_OID, ">q", **kwargs)
    for column in prices:
        out += array(column, FLOAT8_OID, ">d")
    return out


def stream(*tuples):
    return HEADER + b"".join(tuples) + TRAILER


def columns(n, seed):
    rng = np.random.default_rng(seed)
    ts = [int(x) for x in 1_000_000 * np.arange(n) + 86_400_000_000 * seed]
    return ts, [rng.uniform(1, 2, n).tolist() for _ in range(5)]


def test_every_cut_of_the_stream_gives_the_same_bars():
    ts_a, prices_a = columns(5, 1)
    ts_b, prices_b = columns(3, 2)
    data = stream(tuple_of(1, ts_a, prices_a), tuple_of(2, [], [], null=True),
                  tuple_of(3, ts_b, prices_b))
    symbols = ["AAA", "EMPTY", "BBB"]
    whole = read_arrays([data], symbols, "1m")
    assert sorted(whole) == ["AAA", "BBB"]  # no bars: absent, not empty Bars
    assert whole["AAA"].ts.tolist() == [(t + PG_EPOCH_US) * 1000 for t in ts_a]
    assert whole["BBB"].close.tolist() == prices_b[3]
    assert not whole["AAA"].close.flags.writeable
    for cut in range(1, len(data)):
        parts = read_arrays([data[:cut], data[cut:]], symbols, "1m")
        assert sorted(parts) == ["AAA", "BBB"]
        for symbol in parts:
            assert parts[symbol].equals(whole[symbol])


def test_bars_in_scan_order_are_put_in_ts_order():
    ts, prices = columns(4, 3)
    order = [2, 0, 3, 1]
    data = stream(tuple_of(1, [ts[i] for i in order], [[c[i] for i in order] for c in prices]))
    bars = read_arrays([data], ["AAA"], "1m")["AAA"]
    assert bars.ts.tolist() == [(t + PG_EPOCH_US) * 1000 for t in ts]
    assert bars.open.tolist() == prices[0]
    assert not bars.repairs.was_unsorted  # an order the query does not promise, not a repair


def test_arrays_of_different_lengths_are_refused():
    ts, prices = columns(4, 4)
    prices[2] = prices[2][:3]
    with pytest.raises(StoreSchemaError, match="differ in length"):
        read_arrays([stream(tuple_of(1, ts, prices))], ["AAA"], "1m")


def four_byte_ts_tuple(index, ts, prices):
    """A tuple whose ts array holds 4-byte elements (not a timestamptz[])."""
    data = struct.pack(">h", 7) + struct.pack(">ii", 4, index)
    body = struct.pack(">iiIii", 1, 0, INT8_OID, len(ts), 1) + b"".join(
        struct.pack(">i", 4) + struct.pack(">i", v % 1000) for v in ts)
    data += struct.pack(">i", len(body)) + body
    for column in prices:
        data += array(column, FLOAT8_OID, ">d")
    return data


def test_elements_that_are_not_eight_bytes_are_refused():
    ts, prices = columns(2, 5)
    with pytest.raises(StoreSchemaError, match="not 8 bytes"):
        read_arrays([stream(four_byte_ts_tuple(1, ts, prices))], ["AAA"], "1m")


def expected_bars(symbol, ts_us, prices):
    ts = np.array([(t + PG_EPOCH_US) * 1000 for t in ts_us], np.int64)
    order = np.argsort(ts, kind="stable")
    return Bars.from_arrays(symbol, "1m", ts[order], *(np.array(c)[order] for c in prices))


def test_runs_of_one_length_broken_by_other_tuples_give_every_symbols_bars():
    # Runs of n=4 split by an n=2 tuple, a symbol without bars and a tuple in scan order.
    shapes = [4, 4, 4, 2, 4, None, 4, 4]
    tuples, expected, symbols = [], {}, []
    for i, n in enumerate(shapes, start=1):
        symbol = f"S{i}"
        symbols.append(symbol)
        if n is None:
            tuples.append(tuple_of(i, [], [], null=True))
            continue
        ts, prices = columns(n, i)
        if i == 7:  # scan order: reversed
            ts, prices = ts[::-1], [c[::-1] for c in prices]
        tuples.append(tuple_of(i, ts, prices))
        expected[symbol] = expected_bars(symbol, ts, prices)
    data = stream(*tuples)
    for chunks in ([data], [data[:7], data[7:200], data[200:]],
                   [data[i : i + 50] for i in range(0, len(data), 50)]):
        got = read_arrays(chunks, symbols, "1m")
        assert sorted(got) == sorted(expected)
        for symbol, bars in expected.items():
            assert got[symbol].equals(bars), symbol
            assert not got[symbol].repairs


def test_a_malformed_tuple_after_a_run_is_refused():
    ts, prices = columns(3, 8)
    bad = four_byte_ts_tuple(2, ts, prices)
    data = stream(tuple_of(1, ts, prices), bad, tuple_of(3, ts, prices))
    with pytest.raises(StoreSchemaError, match="not 8 bytes"):
        read_arrays([data], ["A", "B", "C"], "1m")
