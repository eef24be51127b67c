"""bars_from_block: many symbols' Bars from one (symbols, 6, n) block, as from_arrays makes them."""

from __future__ import annotations

import numpy as np
import pytest

from preopen.errors import BarsError
from preopen.model import Bars, bars_from_block

NS = 60_000_000_000


def block_of(rows):
    """Rows of (ts, five price lists) as a native int64 block (prices as float64 bits)."""
    out = np.empty((len(rows), 6, len(rows[0][0])), np.int64)
    for i, (ts, prices) in enumerate(rows):
        out[i, 0] = ts
        for k, column in enumerate(prices, start=1):
            out[i, k] = np.asarray(column, np.float64).view(np.int64)
    return out


def prices(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(1, 2, n) for _ in range(5)]


def test_ordered_rows_are_the_bars_from_arrays_makes_and_view_the_block():
    rows = [(np.arange(4) * NS, prices(4, 1)), (np.arange(4) * NS + 5, prices(4, 2))]
    block = block_of(rows)
    built = bars_from_block(["A", "B"], "1m", block)
    for bars, name, (ts, columns) in zip(built, ["A", "B"], rows, strict=True):
        assert bars.equals(Bars.from_arrays(name, "1m", ts, *columns))
        assert np.shares_memory(bars.ts, block)
        assert np.shares_memory(bars.volume, block)
        assert not bars.ts.flags.writeable
        assert not bars.repairs
    assert not block.flags.writeable  # the caller gave the block up


def test_a_row_out_of_order_or_with_duplicates_is_repaired_as_from_arrays_does():
    unsorted = np.array([2, 0, 1, 3]) * NS
    duplicated = np.array([0, 1, 1, 2]) * NS
    rows = [(unsorted, prices(4, 3)), (duplicated, prices(4, 4))]
    built = bars_from_block(["A", "B"], "1m", block_of(rows))
    assert built[0].equals(Bars.from_arrays("A", "1m", unsorted, *rows[0][1]))
    assert built[0].repairs.was_unsorted
    assert built[0].ts.tolist() == sorted(unsorted.tolist())
    assert built[1].repairs.duplicates_dropped == 1
    assert len(built[1]) == 3


def test_nan_and_negative_zero_keep_their_bits():
    columns = [np.array([np.nan, -0.0]), np.array([1.0, 2.0]), np.array([0.5, 1.5]),
               np.array([-0.0, np.inf]), np.array([0.0, 1.0])]
    bars = bars_from_block(["A"], "1m", block_of([(np.array([0, NS]), columns)]))[0]
    assert bars.open.view(np.int64).tolist() == columns[0].view(np.int64).tolist()
    assert bars.close.view(np.int64).tolist() == columns[3].view(np.int64).tolist()


@pytest.mark.parametrize(
    ("symbols", "block"),
    [
        (["A"], np.zeros((1, 5, 3), np.int64)),
        (["A"], np.zeros((1, 6, 3), np.float64)),
        (["A", "B"], np.zeros((1, 6, 3), np.int64)),
        (["A"], np.zeros((1, 6, 6), np.int64)[:, :, ::2]),
        (["A"], np.zeros((6, 3), np.int64)),
    ],
)
def test_a_block_of_another_shape_or_type_is_refused_with_its_shape(symbols, block):
    with pytest.raises(BarsError, match=r"C-contiguous int64 of shape .* got shape"):
        bars_from_block(symbols, "1m", block)


def test_an_empty_symbol_or_a_bad_interval_is_refused():
    block = block_of([(np.arange(2) * NS, prices(2, 5))])
    with pytest.raises(BarsError, match="symbol ''"):
        bars_from_block([""], "1m", block.copy())
    with pytest.raises(BarsError, match="7m"):
        bars_from_block(["A"], "7m", block.copy())


def test_rows_in_an_order_no_one_promised_are_sorted_without_a_repair():
    unsorted = np.array([2, 0, 1, 3]) * NS
    duplicated = np.array([1, 0, 1, 2]) * NS
    rows = [(unsorted, prices(4, 6)), (duplicated, prices(4, 7))]
    built = bars_from_block(["A", "B"], "1m", block_of(rows), sorted_by_store=False)
    assert built[0].equals(Bars.from_arrays("A", "1m", unsorted, *rows[0][1]))
    assert not built[0].repairs
    assert built[1].repairs.duplicates_dropped == 1
    assert not built[1].repairs.was_unsorted
