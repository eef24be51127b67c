"""Many symbols' Bars from one block: a loader's batch built with a few numpy calls.

A store that reads a batch of symbols whose bars come in equal counts (a
binary COPY of one array tuple per symbol, a run of SQLite blobs of one
length) can lay them out as one native ``(symbols, 6, n)`` int64 block: row
``i`` is symbol ``i``'s six columns, ts in int64 nanoseconds and the five
prices as the bits of float64. :func:`bars_from_block` checks the order of
every row in one pass over the block and wraps each ordered row's columns
as they are (views of the block, no copy, no check per symbol beyond its
name); a row that is not strictly increasing goes through
:meth:`Bars.from_arrays`, which sorts and drops duplicates and counts both
as repairs.

Measured on a load of one session of 1m bars for 10,000 symbols (390 bars
a symbol, PostgreSQL, two connections, batches of 500): the process's CPU
fell from 1.7-1.8 s (parsing and building one symbol at a time) to
1.0-1.15 s; the server's share (3.7-4.2 s of CPU) is unchanged.

Pure: numpy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from preopen.errors import BarsError
from preopen.model._bars import FIELDS, Bars
from preopen.model._intervals import parse_interval

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

__all__ = ["bars_from_block"]


def bars_from_block(
    symbols: Sequence[str], interval: str, block: NDArray[np.int64], *,
    sorted_by_store: bool = True,
) -> list[Bars]:
    """One Bars per row of ``block``, for ``symbols[i]``.

    Args:
        symbols: one non-empty name a row.
        interval: the interval of every row.
        block: C-contiguous int64, shape ``(len(symbols), 6, n)``: per row
            the columns of :data:`FIELDS`, ts as int64 nanoseconds and each
            price as the bits of a float64. It is made read-only and viewed
            by the Bars of its ordered rows: the caller gives it up.
        sorted_by_store: False when nothing promised the rows' order (a
            set-oriented aggregate, a concatenation): a row out of ts order
            is then put in order here, in the block, and that is no repair;
            True: it is a repair (:attr:`BarRepairs.was_unsorted`).

    Raises:
        BarsError: a block of another shape or type, a count of symbols
            other than its rows, an empty symbol name or a bad interval.
    """
    shape = getattr(block, "shape", None)
    if (
        not isinstance(block, np.ndarray)
        or block.dtype != np.int64
        or block.ndim != 3  # noqa: PLR2004 - rows, columns, bars
        or block.shape[1] != len(FIELDS)
        or block.shape[0] != len(symbols)
        or not block.flags.c_contiguous
    ):
        raise BarsError(
            f"a block of bars must be C-contiguous int64 of shape ({len(symbols)}, "
            f"{len(FIELDS)}, n) for {len(symbols)} symbols, got shape {shape}"
        )
    parse_interval(interval)
    ts = block[:, 0]
    if not sorted_by_store and block.shape[2] > 1:
        for i in np.flatnonzero(~np.all(ts[:, 1:] >= ts[:, :-1], axis=1)).tolist():
            block[i] = block[i][:, np.argsort(block[i, 0], kind="stable")]
    block.flags.writeable = False
    ordered = np.all(ts[:, 1:] > ts[:, :-1], axis=1).tolist()
    out: list[Bars] = []
    for symbol, row, in_order in zip(symbols, block, ordered, strict=True):
        if not isinstance(symbol, str) or not symbol:
            raise BarsError(f"symbol {symbol!r} is not accepted: use a non-empty string")
        prices = [row[k].view(np.float64) for k in range(1, len(FIELDS))]
        if in_order:
            out.append(Bars(symbol, interval, (row[0], *prices)))
        else:
            out.append(Bars.from_arrays(symbol, interval, row[0], *prices))
    return out
