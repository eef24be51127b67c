"""The SQLite store: the embedded default, stdlib sqlite3, nothing to install.

Layout: one row per bar in a WITHOUT ROWID table clustered on
``(symbol, interval, ts)``, WAL mode. Beside the readable columns each row
carries ``bar``, its 48 bytes (little-endian int64 ns ts, then five float64:
:data:`BLOB_DTYPE`), written by the same statement. The load path reads only
``bar``: one query per batch returns one row per symbol, the
``group_concat`` of its bars' blobs in ts order, which ``numpy.frombuffer``
turns into Bars without a Python object per bar. The blob also keeps what
SQLite's REAL columns cannot: NaN (bound as NULL) and -0.0 (stored as integer
0), so the round trip is bit-exact. A row must be written through
:meth:`SQLiteStore.write` (or with a ``bar`` that matches its columns) for
loads to see it.

Opened for loading (``create=False``), the file is opened read-only (URI
``mode=ro``): nothing is created, the journal mode is left as it is, and a
file in a read-only directory can be read. ``create=True`` (seed, the demo)
creates the file and the table and switches the file to WAL.

Deadlines: each load sets the busy timeout to what is left of its deadline
and a progress handler that aborts the statement past it (or when
:meth:`SQLiteStore.interrupt` was called): :class:`StoreTimeoutError`,
:class:`StoreInterruptedError`. Store-wide failures (locked, read-only,
full, cannot open, not a database) are told apart from the rest; see
:func:`classify`.

Threads: each thread gets its own connection (sqlite3 connections must not
be used by two threads at once); :meth:`close` closes them all.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import numpy as np

from preopen.errors import (
    StoreDataError,
    StoreError,
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreWideError,
)
from preopen.model import Bars, parse_interval, to_ns
from preopen.store._base import DEFAULT_LOAD_TIMEOUT, parse_store_url
from preopen.store._fingerprint import EMPTY, canonical_digest

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator, Mapping, Sequence

    from numpy.typing import NDArray

    from preopen.store._fingerprint import Fingerprint

__all__ = ["BLOB_DTYPE", "SQLiteStore", "classify"]

_COLUMNS: Final = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "bar")
_PRICES: Final = ("open", "high", "low", "close", "volume")
#: The stored ``bar`` blob: what one row holds, bit for bit.
BLOB_DTYPE: Final = np.dtype(
    [("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
     ("volume", "<f8")]
)
# Symbols per load query: bounds the JSON parameter and the rows of one result.
_BATCH: Final = 2000
# Rows per executemany in write: bounds the Python lists built at once.
_WRITE_CHUNK: Final = 100_000
# SQLite VM instructions between two looks at the deadline.
_PROGRESS_STEPS: Final = 10_000
# Primary result codes (sqlite3.h) that are the whole database's state.
_BUSY, _LOCKED = 5, 6
_STORE_WIDE_CODES: Final = {
    3: "permission denied",  # SQLITE_PERM
    8: "read-only",  # SQLITE_READONLY
    10: "disk i/o error",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "full",  # SQLITE_FULL
    14: "cannot open",  # SQLITE_CANTOPEN
    26: "not a database",  # SQLITE_NOTADB
}
_STORE_WIDE_WORDS: Final = (
    ("readonly", "read-only"),
    ("read-only", "read-only"),
    ("disk is full", "full"),
    ("database or disk is full", "full"),
    ("unable to open", "cannot open"),
    ("disk i/o error", "disk i/o error"),
    ("not a database", "not a database"),
    ("malformed", "corrupt"),
)


@dataclass(slots=True)
class _Call:
    """One call in flight on one connection: what its progress handler checks."""

    deadline: float
    generation: int
    interrupted: bool = False
    timed_out: bool = False


class SQLiteStore:
    """Bars in a SQLite file (``sqlite:///path/to/file.db``).

    Attributes:
        url: the URL it was opened with.
        path: the database file.
        table: the bars table's name.
        read_only: opened for loading (the file is never changed).
        load_timeout: the deadline of each load, in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        timeout: float = 10.0,
        load_timeout: float = DEFAULT_LOAD_TIMEOUT,
        create: bool = False,
    ) -> None:
        """Open the file (read-only unless ``create``) and check its table.

        Raises:
            StoreUrlError: a URL without a file, or a bad table name.
            StoreSchemaError: the file (opened for loading) or the table is
                missing, or the table lacks the expected columns.
            StoreWideError: the file cannot be opened or prepared.
        """
        parsed = parse_store_url(url, table)
        self.url = parsed.redacted
        self.path = Path(parsed.path)
        self.table = parsed.table
        self.read_only = not create
        self.load_timeout = float(load_timeout)
        self._quoted = f'"{parsed.table}"'
        self._timeout = timeout
        self._local = threading.local()
        # Every connection opened, so close() and interrupt() reach the other
        # threads' ones. list.append and dict item assignment are atomic under
        # the GIL; no lock is needed.
        self._connections: list[sqlite3.Connection] = []
        self._calls: dict[int, tuple[sqlite3.Connection, _Call]] = {}
        self._generation = 0
        self._closed = False
        # Read-only in a directory where SQLite cannot create the -shm file of
        # a WAL database: then no writer can be at work either, and the file
        # is opened immutable (see _check_table's caller).
        self.immutable = False
        if self.read_only and not self.path.is_file():
            raise StoreSchemaError(
                f"sqlite database {str(self.path)!r} does not exist: seed it first "
                "(python run.py seed --store ...) or open it with create=True",
                url=self.url,
            )
        try:
            self._check_table(self._connection(), create=create)
        except StoreWideError as exc:
            if not self.read_only or "cannot open" not in str(exc):
                raise
            self.close()
            self._closed, self.immutable = False, True
            self._local = threading.local()
            self._check_table(self._connection(), create=False)

    # -- connections ------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreWideError(f"sqlite store {self.url} was closed", url=self.url)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.read_only:
                    uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
                    if self.immutable:
                        uri += "&immutable=1"
                    conn = sqlite3.connect(
                        uri, uri=True, timeout=self._timeout, check_same_thread=False,
                        isolation_level=None,
                    )
                else:
                    conn = sqlite3.connect(
                        self.path, timeout=self._timeout, check_same_thread=False,
                        isolation_level=None,
                    )
                    conn.execute("pragma synchronous = normal")
            except sqlite3.Error as exc:
                raise classify(exc, f"cannot open sqlite database {str(self.path)!r}",
                               url=self.url) from exc
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    def _check_table(self, conn: sqlite3.Connection, *, create: bool) -> None:
        try:
            if create:
                conn.execute("pragma journal_mode = wal")
                # ANY in a STRICT table keeps values exactly as bound (REAL
                # affinity would not); NULL stands for NaN in the readable columns.
                conn.execute(
                    f"create table if not exists {self._quoted} ("
                    "symbol text not null, interval text not null, ts integer not null, "
                    "open any, high any, low any, close any, volume any, "
                    "bar blob not null check (length(bar) = 48), "
                    "primary key (symbol, interval, ts)) strict, without rowid"
                )
            columns = {row[1] for row in conn.execute(f"pragma table_info({self._quoted})")}
        except sqlite3.Error as exc:
            raise classify(
                exc, f"sqlite database {str(self.path)!r}: cannot prepare table {self.table!r}",
                url=self.url,
            ) from exc
        if not columns:
            raise StoreSchemaError(
                f"sqlite table {self.table!r} does not exist in {str(self.path)!r}: seed the "
                "file first (python run.py seed --store ...) or open it with create=True",
                url=self.url,
            )
        missing = [column for column in _COLUMNS if column not in columns]
        if missing:
            raise StoreSchemaError(
                f"sqlite table {self.table!r} in {str(self.path)!r} lacks the columns "
                f"{', '.join(missing)} (expected {', '.join(_COLUMNS)})",
                url=self.url,
            )

    @contextlib.contextmanager
    def _call(self, operation: str, *, deadline: bool = True) -> Iterator[sqlite3.Connection]:
        """Run one call under interrupt() and (reads) the deadline; map sqlite3 errors."""
        conn = self._connection()
        seconds = self.load_timeout if deadline else self._timeout
        call = _Call(time.monotonic() + (seconds if deadline else float("inf")), self._generation)

        def progress() -> int:
            if self._generation != call.generation:
                call.interrupted = True
                return 1
            if time.monotonic() > call.deadline:
                call.timed_out = True
                return 1
            return 0

        key = threading.get_ident()
        conn.set_progress_handler(progress, _PROGRESS_STEPS)
        conn.execute(f"pragma busy_timeout = {max(1, int(seconds * 1000))}")
        self._calls[key] = (conn, call)
        try:
            if self._generation != call.generation:
                raise StoreInterruptedError(operation=operation, url=self.url)
            yield conn
        except sqlite3.Error as exc:
            if call.interrupted or self._generation != call.generation:
                raise StoreInterruptedError(operation=operation, url=self.url) from exc
            if call.timed_out:
                raise StoreTimeoutError(
                    operation=operation, seconds=seconds, reason=str(exc), url=self.url
                ) from exc
            if _code(exc) in {_BUSY, _LOCKED} or "locked" in str(exc).lower():
                raise StoreTimeoutError(
                    operation=operation, seconds=seconds,
                    reason=f"{exc} (sqlite database {str(self.path)!r})", url=self.url,
                ) from exc
            raise classify(exc, f"sqlite {operation} on {str(self.path)!r} failed",
                           url=self.url) from exc
        finally:
            self._calls.pop(key, None)
            conn.set_progress_handler(None, _PROGRESS_STEPS)

    def interrupt(self) -> None:
        """Cancel the calls in flight (from any thread): they raise StoreInterruptedError."""
        self._generation += 1
        for conn, _call in list(self._calls.values()):
            with contextlib.suppress(sqlite3.Error):
                conn.interrupt()

    # -- reads --------------------------------------------------------------------

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        """Load bars with ``start <= ts < end`` for many symbols, one query per batch.

        Raises:
            BarsError: a bad interval or a naive instant.
            StoreTimeoutError: past the deadline (a writer holding the lock).
            StoreInterruptedError: :meth:`interrupt` was called.
            StoreWideError: the database is unreadable, locked out or closed.
            StoreDataError: a stored ``bar`` blob is malformed.
        """
        parse_interval(interval)
        lo, hi = to_ns(start), to_ns(end)
        wanted = list(dict.fromkeys(_check_symbols(symbols, self.url)))
        found: dict[str, Bars] = {}
        # One query per batch; per symbol a correlated subquery walks the
        # primary key in ts order (a GROUP BY over the batch would sort every
        # row's blob in a temporary b-tree instead: 2.5x slower).
        sql = (
            "select j.value, (select cast(group_concat(bar, x'') as blob) from ("  # noqa: S608 - quoted identifier
            f"select bar from {self._quoted} where symbol = j.value "
            "and interval = ?2 and ts >= ?3 and ts < ?4 order by ts)) from json_each(?1) j"
        )
        with self._call("load") as conn:
            for offset in range(0, len(wanted), _BATCH):
                batch = json.dumps(wanted[offset : offset + _BATCH])
                for symbol, blob in conn.execute(sql, (batch, interval, lo, hi)):
                    if blob is not None:
                        found[symbol] = _bars(blob, symbol, interval, self.table)
        return {symbol: found.get(symbol) or Bars.empty(symbol, interval) for symbol in wanted}

    def fingerprints(
        self,
        symbols: Sequence[str],
        interval: str,
        ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    ) -> dict[str, tuple[Fingerprint, ...]]:
        """Per symbol, one fingerprint per ``[start, end)`` range (see preopen.store.fingerprint).

        SQLite has no MD5: the blobs of each symbol-range are read in ts
        order and hashed here, which costs about what loading them does.
        """
        parse_interval(interval)
        bounds = [(to_ns(start), to_ns(end)) for start, end in ranges]
        wanted = list(dict.fromkeys(_check_symbols(symbols, self.url)))
        out: dict[str, list[Fingerprint]] = {s: [EMPTY] * len(bounds) for s in wanted}
        sql = (
            "select j.value, r.key, (select cast(group_concat(bar, x'') as blob) from ("  # noqa: S608 - quoted identifier
            f"select bar from {self._quoted} where symbol = j.value and interval = ?2 "
            "and ts >= r.value ->> 0 and ts < r.value ->> 1 order by ts)) "
            "from json_each(?1) j, json_each(?3) r"
        )
        with self._call("fingerprints") as conn:
            for offset in range(0, len(wanted), _BATCH):
                batch = json.dumps(wanted[offset : offset + _BATCH])
                rows = conn.execute(sql, (batch, interval, json.dumps(bounds)))
                for symbol, k, blob in rows:
                    if blob is not None:
                        records = _records(blob, symbol, self.table)
                        out[symbol][k] = canonical_digest(
                            records["ts"], [records[name] for name in _PRICES]
                        )
        return {symbol: tuple(found) for symbol, found in out.items()}

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with bars, sorted (a skip scan of the primary key)."""
        sql = (
            "with recursive s(symbol) as ("  # noqa: S608 - quoted identifier
            f"select min(symbol) from {self._quoted} union all "
            f"select (select min(symbol) from {self._quoted} where symbol > s.symbol) "
            "from s where s.symbol is not null) select symbol from s where symbol is not null"
        )
        with self._call("symbols") as conn:
            return tuple(row[0] for row in conn.execute(sql))

    # -- write, close ---------------------------------------------------------------

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Upsert bars (the same bars twice leave one copy); return the rows written.

        Raises:
            BarsError: a bad interval.
            StoreWideError: the store was opened for loading (read-only), or
                the database is read-only or full.
            StoreError: a Bars of another interval or symbol, or the database failed.
        """
        parse_interval(interval)
        if self.read_only:
            raise StoreWideError(
                f"sqlite store {self.url} was opened for loading (read-only): "
                "open it with create=True to write",
                url=self.url,
            )
        sql = (
            f"insert into {self._quoted} ({', '.join(_COLUMNS)}) "  # noqa: S608 - quoted identifier
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (symbol, interval, ts) do update set "
            + ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS[3:])
        )
        total = 0
        with self._call("write", deadline=False) as conn:
            conn.execute("begin immediate")
            try:
                for rows in _chunks(_rows(interval, bars_by_symbol, self.url)):
                    conn.executemany(sql, rows)
                    total += len(rows)
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")
        return total

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        while self._connections:
            self._connections.pop().close()

    def __repr__(self) -> str:
        """The URL."""
        return f"SQLiteStore({self.url!r})"


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def classify(exc: sqlite3.Error, what: str, *, url: str) -> StoreError:
    """The StoreError for a sqlite3 error: store-wide (file, lock, space) or not."""
    text = str(exc)
    lowered = text.lower()
    state = _STORE_WIDE_CODES.get(_code(exc)) or next(
        (name for word, name in _STORE_WIDE_WORDS if word in lowered), None
    )
    if state is not None:
        return StoreWideError(f"{what}: the database is {state}: {text}", url=url, reason=text)
    if "no such table" in lowered or "no such column" in lowered:
        return StoreSchemaError(f"{what}: {text}", url=url)
    return StoreError(f"{what}: {text}", url=url)


def _check_symbols(symbols: Sequence[str], url: str) -> Sequence[str]:
    if isinstance(symbols, str) or not all(isinstance(s, str) and s for s in symbols):
        raise StoreError(
            f"symbols {symbols!r} are not accepted: use a sequence of non-empty strings", url=url
        )
    return symbols


def _records(blob: bytes | None, symbol: str, table: str) -> NDArray[np.void]:
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


def _bars(blob: bytes, symbol: str, interval: str, table: str) -> Bars:
    records = _records(blob, symbol, table)
    return Bars.from_arrays(symbol, interval, records["ts"], *(records[n] for n in _PRICES))


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
        records = np.empty(len(bars), BLOB_DTYPE)
        records["ts"] = bars.ts
        for name in _PRICES:
            records[name] = getattr(bars, name)
        blob = records.tobytes()
        size = BLOB_DTYPE.itemsize
        blobs = [blob[i : i + size] for i in range(0, len(blob), size)]
        columns = [records[name].tolist() for name in ("ts", *_PRICES)]
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
