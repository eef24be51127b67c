"""The SQLite store's rows: the 48-byte ``bar`` blob beside the readable columns.

Each row carries its bar as :data:`BLOB_DTYPE` (little-endian int64 ns ts,
then five float64), written by the same statement as the columns, so a load
reads one blob per symbol (``group_concat``) and numpy turns it into Bars
with no Python object per bar, bit-exact (NaN and -0.0 included).
"""

from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING, Final

import numpy as np

from preopen.errors import StoreDataError, StoreError
from preopen.model import Bars, bars_from_block

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from numpy.typing import NDArray

__all__ = [
    "BLOB_DTYPE",
    "PRICES",
    "bars_from_blob",
    "bars_from_concatenated",
    "chunks",
    "records_from_blob",
    "rows",
    "stamped_within",
]

PRICES: Final = ("open", "high", "low", "close", "volume")
#: The stored ``bar`` blob: what one row holds, bit for bit.
BLOB_DTYPE: Final = np.dtype(
    [("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
     ("volume", "<f8")]
)
# Rows per executemany in write: bounds the Python lists built at once.
_WRITE_CHUNK: Final = 100_000

def records_from_blob(blob: bytes | None, symbol: str, table: str) -> NDArray[np.void]:
    """One symbol's stored blobs as records in ts order.

    Raises:
        StoreDataError: the blob is not a whole number of bars.
    """
    data = blob or b""
    if len(data) % BLOB_DTYPE.itemsize:
        raise StoreDataError(
            f"sqlite table {table!r}: the bar blobs of {symbol!r} are malformed "
            f"({len(data)} bytes is not a whole number of 48-byte bars)",
            symbol=symbol,
        )
    records = np.frombuffer(data, dtype=BLOB_DTYPE)
    ts = records["ts"]
    if records.shape[0] > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        # group_concat does not promise the subquery's order: restore it. The
        # primary key rules out duplicates, so this is no repair of the data.
        records = records[np.argsort(ts, kind="stable")]
    return records


def bars_from_blob(blob: bytes, symbol: str, interval: str, table: str) -> Bars:
    """One symbol's stored blobs as Bars."""
    # One copy for the six columns (a transpose of the packed rows).
    return Bars.from_records(symbol, interval, records_from_blob(blob, symbol, table))


def bars_from_concatenated(
    names: Sequence[str], counts: Sequence[int], data: bytes | None, interval: str
) -> dict[str, Bars]:
    """Bars of many symbols from their blobs concatenated: ``counts[i]`` bars of ``names[i]``.

    The symbols of one count (a batch's symbols mostly have the session's
    full count of bars) are one native (symbols, 6, n) block, made with one
    transposing copy; :func:`~preopen.model.bars_from_block` wraps its rows.
    A symbol with no bars is left out. The caller has checked that ``data``
    holds ``sum(counts)`` whole bars.
    """
    words = np.frombuffer(data or b"", "<i8").reshape(-1, len(PRICES) + 1)
    ends = np.cumsum(np.asarray(counts, np.int64))
    starts = ends - np.asarray(counts, np.int64)
    by_count: dict[int, list[int]] = {}
    for i, count in enumerate(counts):
        if count:
            by_count.setdefault(count, []).append(i)
    out: dict[str, Bars] = {}
    for n, rows in by_count.items():
        if len(rows) == len(names):
            group = words.reshape(len(rows), n, len(PRICES) + 1)  # every symbol: no gather
        else:
            group = np.concatenate(
                [words[starts[i] : ends[i]] for i in rows]).reshape(len(rows), n, -1)
        # One copy: (symbols, bars, 6) little-endian words -> (symbols, 6, bars) native.
        block = np.ascontiguousarray(group.transpose(0, 2, 1), dtype=np.int64)
        picked = [names[i] for i in rows]
        # Nothing in SQL promises the concatenation's order within a symbol:
        # bars_from_block restores it (the primary key rules out duplicates).
        built = bars_from_block(picked, interval, block, sorted_by_store=False)
        out.update(zip(picked, built, strict=True))
    return out


def stamped_within(data: bytes, lo: int, hi: int) -> bool:
    """Whether every bar of whole bars ``data`` has ``lo <= ts < hi`` (one strided pass)."""
    ts = np.frombuffer(data, "<i8")[:: len(PRICES) + 1]
    return not ts.shape[0] or (int(ts.min()) >= lo and int(ts.max()) < hi)


def rows(
    interval: str, bars_by_symbol: Mapping[str, Bars], url: str
) -> Iterator[tuple[object, ...]]:
    for symbol, bars in bars_by_symbol.items():
        if (bars.symbol, bars.interval) != (symbol, interval):
            raise StoreError(
                f"cannot write {bars!r} as symbol {symbol!r} at interval {interval!r}", url=url
            )
        if not len(bars):
            continue
        records = np.empty(len(bars), BLOB_DTYPE)
        records["ts"] = bars.ts
        for name in PRICES:
            records[name] = getattr(bars, name)
        blob = records.tobytes()
        size = BLOB_DTYPE.itemsize
        blobs = [blob[i : i + size] for i in range(0, len(blob), size)]
        columns = [records[name].tolist() for name in ("ts", *PRICES)]
        yield from zip(repeat(symbol), repeat(interval), *columns, blobs, strict=False)


def chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _WRITE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
