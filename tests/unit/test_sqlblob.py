"""The SQLite store's blobs: many symbols' built at once are what one at a time gives."""

from __future__ import annotations

import numpy as np
import pytest

from preopen.errors import StoreDataError
from preopen.store._sqlblob import BLOB_DTYPE, bars_from_blob, bars_from_blobs


def blob(ts, seed):
    rng = np.random.default_rng(seed)
    records = np.empty(len(ts), BLOB_DTYPE)
    records["ts"] = ts
    for name in BLOB_DTYPE.names[1:]:
        records[name] = rng.uniform(1, 2, len(ts))
    return records.tobytes()


def test_blobs_of_mixed_lengths_and_orders_give_the_bars_of_one_at_a_time():
    found = [
        ("A", blob([1, 2, 3], 1)),
        ("B", blob([3, 1, 2], 2)),  # group_concat's order is not promised
        ("C", None),  # no bars
        ("D", blob([5, 6], 3)),
        ("E", blob([7, 8, 9], 4)),
        ("F", blob([4], 5)),
    ]
    got = bars_from_blobs(found, "1m", "bars")
    assert sorted(got) == ["A", "B", "D", "E", "F"]
    for symbol, data in found:
        if data is not None:
            one = bars_from_blob(data, symbol, "1m", "bars")
            assert got[symbol].equals(one), symbol
            assert not got[symbol].repairs
    assert got["B"].ts.tolist() == [1, 2, 3]


def test_a_malformed_blob_names_its_symbol():
    found = [("A", blob([1, 2], 1)), ("B", blob([1, 2], 2)[:-8])]
    with pytest.raises(StoreDataError, match="'B'") as caught:
        bars_from_blobs(found, "1m", "bars")
    assert caught.value.symbol == "B"
