"""The SQLite store's read queries: their text, and how a batch's read is cut.

A load reads a batch of symbols (one JSON parameter through ``json_each``,
so the variable limit never applies) in one read transaction: one row of
the symbols' bar counts (:func:`counts_query`), then their bars' blobs
concatenated, symbol after symbol, a row for each run of symbols holding
about :data:`CHUNK_BYTES` (:func:`bars_query`; CROSS JOIN keeps
``json_each`` the outer loop, and the primary key gives each symbol's bars
in ts order). A few rows, not one a symbol: the sqlite3 module gives up and
takes back the interpreter at every row, and a busy Python thread in the
process (a host's, another loader's parsing) then holds each row up to the
switch interval (5 ms): a 10,000-symbol session took 57-60 s to load beside
one such thread against 3.1-4.4 s alone. A batch whose concatenation is
not its counted bars, or whose bars are not all stamped inside the range
asked for, is read again with :func:`per_symbol_query`, one row a symbol,
whose blobs are checked one by one: a bar that is not 48 bytes (only a
writer that bypassed the table's CHECK can store one) shifts the bars after
it, and two whose bytes add up to whole bars would otherwise shift bars
between symbols; their ts then read price bits, far outside any range.
(Counting such bars in the concatenating query instead cost 15-30% of it.)

Each function takes the table's quoted name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from preopen.store._sqlblob import BLOB_DTYPE

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "CHUNK_BYTES",
    "bars_query",
    "counts_query",
    "fingerprints_query",
    "per_symbol_query",
    "runs",
    "symbols_query",
]

#: Bytes of bars one load query concatenates, about: bounds what SQLite's
#: concatenation and its bytes object hold at once (a batch of 500 symbols
#: x 5 sessions of 1m bars is 47 MB) at a few rows a batch. Measured against
#: one row a symbol (10,000 symbols, two loaders): a one-session load the
#: same or faster (3.5-3.7 s against 3.7-4.2 s a prefetch), a five-session
#: one 5-10% slower (11.1-15.2 s against 12.1-13.1 s; the counts are a
#: second scan), and beside a busy Python thread 4-5 s against 57-60 s.
CHUNK_BYTES: Final = 4 << 20

_WHERE: Final = "b.symbol = j.value and b.interval = ?2 and b.ts >= ?3 and b.ts < ?4"


def counts_query(table: str) -> str:
    """One row: the JSON array of each symbol's bar count. Parameters: symbols, interval, lo, hi."""
    return (
        f"select json_group_array((select count(*) from {table} as b where {_WHERE})) "  # noqa: S608 - quoted identifier
        "from json_each(?1) as j"
    )


def bars_query(table: str) -> str:
    """One row: the symbols' bars' blobs concatenated, symbol after symbol, each in ts order."""
    return (
        "select cast(group_concat(b.bar, x'') as blob) "  # noqa: S608 - quoted identifier
        f"from json_each(?1) as j cross join {table} as b where {_WHERE}"
    )


def per_symbol_query(table: str) -> str:
    """A row a symbol: (symbol, its bars' blobs concatenated in ts order, or NULL)."""
    return (
        "select j.value, (select cast(group_concat(bar, x'') as blob) from ("  # noqa: S608 - quoted identifier
        f"select bar from {table} where symbol = j.value "
        "and interval = ?2 and ts >= ?3 and ts < ?4 order by ts)) from json_each(?1) j"
    )


def fingerprints_query(table: str) -> str:
    """A row a symbol and range: (symbol, range index, the blobs in ts order, or NULL).

    Parameters: symbols, interval, the ranges as a JSON array of [lo, hi].
    """
    return (
        "select j.value, r.key, (select cast(group_concat(bar, x'') as blob) from ("  # noqa: S608 - quoted identifier
        f"select bar from {table} where symbol = j.value and interval = ?2 "
        "and ts >= r.value ->> 0 and ts < r.value ->> 1 order by ts)) "
        "from json_each(?1) j, json_each(?3) r"
    )


def symbols_query(table: str) -> str:
    """Every symbol with bars, sorted (a skip scan of the primary key)."""
    return (
        "with recursive s(symbol) as ("  # noqa: S608 - quoted identifier
        f"select min(symbol) from {table} union all "
        f"select (select min(symbol) from {table} where symbol > s.symbol) "
        "from s where s.symbol is not null) select symbol from s where symbol is not null"
    )


def runs(counts: list[int]) -> Iterator[tuple[int, int]]:
    """[i, j) runs of symbols, each holding about :data:`CHUNK_BYTES` of bars (at least one)."""
    start, size = 0, 0
    for k, count in enumerate(counts):
        size += count * BLOB_DTYPE.itemsize
        if size >= CHUNK_BYTES:
            yield start, k + 1
            start, size = k + 1, 0
    if start < len(counts):
        yield start, len(counts)
