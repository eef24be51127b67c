"""The SQLite store: the embedded default, stdlib sqlite3, nothing to install.

Layout: one row per bar in a WITHOUT ROWID table clustered on
``(symbol, interval, ts)``, WAL mode. Beside the readable columns each row
carries ``bar``, its 48 bytes in :data:`preopen.model.RECORD_DTYPE` layout,
written by the same statement. The load path reads only ``bar``: one query per
batch returns one row per symbol, the ``group_concat`` of its bars' blobs in
ts order, which ``numpy.frombuffer`` turns into Bars without a Python object
per bar (a tuple per row costs more than 2x the whole load). The blob also
keeps what SQLite's REAL columns cannot: NaN (bound as NULL) and -0.0 (stored
as integer 0), so the round trip is bit-exact. The price: rows are about 1.75x
the size, and a row must be written through :meth:`SQLiteStore.write` (or
with a ``bar`` that matches its columns) for loads to see it.

Threads: each thread gets its own connection (sqlite3 connections must not
be used by two threads at once); :meth:`close` closes them all.
"""

from __future__ import annotations

import sqlite3
import threading
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from preopen.errors import StoreConnectionError, StoreError, StoreSchemaError
from preopen.model import RECORD_DTYPE, Bars, parse_interval, to_ns
from preopen.store._base import ACCEPTED_SCHEMES, split_table

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator, Mapping, Sequence

    from numpy.typing import NDArray

__all__ = ["SQLiteStore"]

_COLUMNS: Final = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "bar")
# Symbols per load query: bounds the JSON parameter and the rows of one result.
_BATCH: Final = 2000
# Rows per executemany in write: bounds the Python lists built at once.
_WRITE_CHUNK: Final = 100_000


class SQLiteStore:
    """Bars in a SQLite file (``sqlite:///path/to/file.db``).

    Attributes:
        url: the URL it was opened with.
        path: the database file.
        table: the bars table's name.
    """

    def __init__(self, url: str, *, table: str | None = None, timeout: float = 10.0) -> None:
        """Open (and if needed create) the file and its table.

        Raises:
            StoreError: a URL without a path, or a bad table name.
            StoreConnectionError: the file cannot be opened.
            StoreSchemaError: the table exists without the expected columns.
        """
        self.url = url
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        raw_path = url.split("://", 1)[1].split("?", 1)[0]
        if not raw_path.startswith("/") or raw_path in {"/", "/:memory:"}:
            raise StoreError(
                f"store URL {url!r} names no database file: use {ACCEPTED_SCHEMES}", url=url
            )
        self.path = Path(raw_path[1:])
        schema, name = split_table(table or query.get("table") or "bars", url=url)
        if schema is not None:
            raise StoreError(
                f"table {table!r} is not accepted for SQLite: use a plain name", url=url
            )
        self.table = name
        self._quoted = f'"{name}"'
        self._timeout = timeout
        self._local = threading.local()
        # Every connection opened, so close() can reach the other threads' ones.
        # list.append is atomic under the GIL; no lock is needed.
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._ensure_table(self._connection())

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"store {self.url!r} is closed", url=self.url)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self._timeout, check_same_thread=False, isolation_level=None
                )
                conn.execute("pragma synchronous = normal")
            except sqlite3.Error as exc:
                raise StoreConnectionError(
                    f"cannot open sqlite database {str(self.path)!r}: {exc}",
                    url=self.url,
                    database=str(self.path),
                ) from exc
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    def _ensure_table(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("pragma journal_mode = wal")
            # ANY in a STRICT table keeps values exactly as bound (REAL affinity
            # would not); NULL stands for NaN in the readable columns.
            conn.execute(
                f"create table if not exists {self._quoted} ("
                "symbol text not null, interval text not null, ts integer not null, "
                "open any, high any, low any, close any, volume any, "
                "bar blob not null check (length(bar) = 48), "
                "primary key (symbol, interval, ts)) strict, without rowid"
            )
            columns = {row[1] for row in conn.execute(f"pragma table_info({self._quoted})")}
        except sqlite3.Error as exc:
            raise StoreError(
                f"sqlite database {str(self.path)!r}: cannot prepare table {self.table!r}: {exc}",
                url=self.url,
            ) from exc
        missing = [column for column in _COLUMNS if column not in columns]
        if missing:
            raise StoreSchemaError(
                f"sqlite table {self.table!r} in {str(self.path)!r} lacks the columns "
                f"{', '.join(missing)} (expected {', '.join(_COLUMNS)})",
                url=self.url,
            )

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        """Load bars with ``start <= ts < end`` for many symbols, one query per batch.

        Raises:
            BarsError: a bad interval or a naive instant.
            StoreError: the database failed.
            StoreSchemaError: a stored ``bar`` blob is malformed.
        """
        parse_interval(interval)
        lo, hi = to_ns(start), to_ns(end)
        wanted = list(dict.fromkeys(_check_symbols(symbols, self.url)))
        found: dict[str, Bars] = {}
        conn = self._connection()
        # One query per batch; per symbol a correlated subquery walks the
        # primary key in ts order (a GROUP BY over the batch would sort every
        # row's blob in a temporary b-tree instead: 2.5x slower).
        sql = (
            "select j.value, (select cast(group_concat(bar, x'') as blob) from ("  # noqa: S608 - quoted identifier
            f"select bar from {self._quoted} where symbol = j.value "
            "and interval = ?2 and ts >= ?3 and ts < ?4 order by ts)) from json_each(?1) j"
        )
        try:
            for offset in range(0, len(wanted), _BATCH):
                batch = json_dumps(wanted[offset : offset + _BATCH])
                for symbol, blob in conn.execute(sql, (batch, interval, lo, hi)):
                    if blob is not None:
                        found[symbol] = Bars.from_records(
                            symbol, interval, _records(blob, symbol, self.table)
                        )
        except sqlite3.Error as exc:
            raise StoreError(
                f"sqlite load from {str(self.path)!r} failed: {exc}", url=self.url
            ) from exc
        return {symbol: found.get(symbol) or Bars.empty(symbol, interval) for symbol in wanted}

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Upsert bars (the same bars twice leave one copy); return the rows written.

        Raises:
            BarsError: a bad interval.
            StoreError: a Bars of another interval or symbol, or the database failed.
        """
        parse_interval(interval)
        conn = self._connection()
        sql = (
            f"insert into {self._quoted} ({', '.join(_COLUMNS)}) "  # noqa: S608 - quoted identifier
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (symbol, interval, ts) do update set "
            + ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS[3:])
        )
        total = 0
        try:
            conn.execute("begin immediate")
            try:
                for rows in _chunks(_rows(interval, bars_by_symbol, self.url)):
                    conn.executemany(sql, rows)
                    total += len(rows)
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")
        except sqlite3.Error as exc:
            raise StoreError(
                f"sqlite write to {str(self.path)!r} failed: {exc}", url=self.url
            ) from exc
        return total

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with bars, sorted (a skip scan of the primary key)."""
        sql = (
            "with recursive s(symbol) as ("  # noqa: S608 - quoted identifier
            f"select min(symbol) from {self._quoted} union all "
            f"select (select min(symbol) from {self._quoted} where symbol > s.symbol) "
            "from s where s.symbol is not null) select symbol from s where symbol is not null"
        )
        try:
            return tuple(row[0] for row in self._connection().execute(sql))
        except sqlite3.Error as exc:
            raise StoreError(
                f"sqlite symbols of {str(self.path)!r} failed: {exc}", url=self.url
            ) from exc

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        while self._connections:
            self._connections.pop().close()

    def __repr__(self) -> str:
        """The URL."""
        return f"SQLiteStore({self.url!r})"


def json_dumps(symbols: list[str]) -> str:
    """JSON array of the symbols: one bound parameter however many there are."""
    import json  # noqa: PLC0415 - only the load path needs it

    return json.dumps(symbols)


def _check_symbols(symbols: Sequence[str], url: str) -> Sequence[str]:
    if isinstance(symbols, str) or not all(isinstance(s, str) and s for s in symbols):
        raise StoreError(
            f"symbols {symbols!r} are not accepted: use a sequence of non-empty strings", url=url
        )
    return symbols


def _records(blob: bytes | None, symbol: str, table: str) -> NDArray[np.void]:
    data = blob or b""
    if len(data) % RECORD_DTYPE.itemsize:
        raise StoreSchemaError(
            f"sqlite table {table!r}: the bar blobs of {symbol!r} are malformed "
            f"({len(data)} bytes is not a whole number of 48-byte bars)"
        )
    records = np.frombuffer(data, dtype=RECORD_DTYPE)
    ts = records["ts"]
    if records.shape[0] > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        # group_concat does not promise the subquery's order: restore it. The
        # primary key rules out duplicates, so this is no repair of the data.
        records = records[np.argsort(ts, kind="stable")]
    return records


def _rows(
    interval: str, bars_by_symbol: Mapping[str, Bars], url: str
) -> Iterator[tuple[object, ...]]:
    for symbol, bars in bars_by_symbol.items():
        if (bars.symbol, bars.interval) != (symbol, interval):
            raise StoreError(
                f"cannot write {bars!r} as symbol {symbol!r} at interval {interval!r}", url=url
            )
        if not len(bars):
            continue
        records = bars.records()
        blob = np.ascontiguousarray(records).tobytes()
        size = RECORD_DTYPE.itemsize
        blobs = [blob[i : i + size] for i in range(0, len(blob), size)]
        columns = [
            records[name].tolist() for name in ("ts", "open", "high", "low", "close", "volume")
        ]
        yield from zip(repeat(symbol), repeat(interval), *columns, blobs, strict=False)


def _chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _WRITE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
