"""The SQLite store's blobs: many symbols' bars built from one concatenation, as one at a time."""

from __future__ import annotations

import numpy as np

from preopen.store._sqlblob import (
    BLOB_DTYPE,
    bars_from_blob,
    bars_from_concatenated,
    stamped_within,
)


def blob(ts, seed):
    rng = np.random.default_rng(seed)
    records = np.empty(len(ts), BLOB_DTYPE)
    records["ts"] = ts
    for name in BLOB_DTYPE.names[1:]:
        records[name] = rng.uniform(1, 2, len(ts))
    return records.tobytes()


def check(found):
    names = [symbol for symbol, _ in found]
    counts = [len(data) // BLOB_DTYPE.itemsize if data else 0 for _, data in found]
    data = b"".join(data for _, data in found if data) or None
    got = bars_from_concatenated(names, counts, data, "1m")
    assert sorted(got) == sorted(symbol for symbol, data in found if data)
    for symbol, data in found:
        if data:
            assert got[symbol].equals(bars_from_blob(data, symbol, "1m", "bars")), symbol
            assert not got[symbol].repairs
    return got


def test_mixed_counts_and_orders_give_the_bars_of_one_at_a_time():
    got = check([
        ("A", blob([1, 2, 3], 1)),
        ("B", blob([3, 1, 2], 2)),  # an order SQL does not promise
        ("C", None),  # no bars
        ("D", blob([5, 6], 3)),
        ("E", blob([7, 8, 9], 4)),
        ("F", blob([4], 5)),
    ])
    assert got["B"].ts.tolist() == [1, 2, 3]


def test_one_count_for_every_symbol_and_no_bars_at_all():
    check([("A", blob([1, 2], 1)), ("B", blob([2, 3], 2)), ("C", blob([3, 4], 3))])
    assert bars_from_concatenated(["A", "B"], [0, 0], None, "1m") == {}


def test_stamped_within_reads_every_bar_s_ts_and_a_shifted_concatenation_fails_it():
    data = blob([10, 20, 30], 1) + blob([15, 25], 2)
    assert stamped_within(data, 10, 31)
    assert not stamped_within(data, 11, 31)
    assert not stamped_within(data, 10, 30)
    assert stamped_within(b"", 0, 1)
    shifted = data[8:] + bytes(8)  # what a 40-byte bar does to the bars after it
    assert not stamped_within(shifted, 10, 31)
