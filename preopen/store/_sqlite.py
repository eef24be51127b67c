"""The SQLite store: the embedded default, stdlib sqlite3, nothing to install.

Layout: one row per bar in a WITHOUT ROWID table clustered on
``(symbol, interval, ts)``, WAL mode. Beside the readable columns each row
carries ``bar``, its 48 bytes (little-endian int64 ns ts, then five float64:
:data:`BLOB_DTYPE`), written by the same statement. The load path reads only
``bar``: per batch of symbols, in one read transaction, one row of their
bar counts, then their bars' blobs concatenated (symbol after symbol, each
in ts order) in rows of about 4 MB, which
``numpy.frombuffer`` turns into Bars without a Python object per bar. The blob also keeps what
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
be used by two threads at once); :meth:`close` closes them all. The read
queries of one store take turns (:class:`~preopen.store._sqlturn.ReadTurn`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from preopen.errors import (
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreWideError,
)
from preopen.model import Bars, parse_interval, to_ns
from preopen.store._base import DEFAULT_LOAD_TIMEOUT, check_request
from preopen.store._fingerprint import EMPTY, canonical_digest
from preopen.store._sqlblob import (
    BLOB_DTYPE,
    PRICES,
    bars_from_blob,
    bars_from_concatenated,
    chunks,
    records_from_blob,
    rows,
    stamped_within,
)
from preopen.store._sqlerrors import BUSY, LOCKED, classify, result_code
from preopen.store._sqlitesql import (
    bars_query,
    counts_query,
    fingerprints_query,
    per_symbol_query,
    runs,
    symbols_query,
)
from preopen.store._sqlturn import ReadTurn
from preopen.storeurl import parse_store_url

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from preopen.store._fingerprint import Fingerprint

__all__ = ["SQLiteStore"]

_COLUMNS: Final = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "bar")
# Symbols per load query: bounds the JSON parameter and the rows one read
# turn fetches (500 symbols x 5 sessions of 1m bars: 47 MB of blobs), and
# lets two loaders' queries take turns at that grain.
_BATCH: Final = 500
# SQLite VM instructions between two looks at the deadline: about 0.1 s of a
# load here. Each look takes the interpreter, which a busy Python thread
# holds up to the switch interval (5 ms): every 10,000 instructions, a
# 10,000-symbol session took 17-20 s to load beside one such thread against
# 3.7-5.2 s at this spacing. interrupt() does not wait for a look (it
# interrupts the connection itself).
_PROGRESS_STEPS: Final = 1_000_000
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
        # At most one load or fingerprints query of this store steps at a time.
        self._turn = ReadTurn()
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
            if result_code(exc) in {BUSY, LOCKED} or "locked" in str(exc).lower():
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

    @contextlib.contextmanager
    def _reading(self, conn: sqlite3.Connection) -> Iterator[Callable[..., list[Any]]]:
        """Run read queries (``fetch(sql, params)``: every row) in one transaction and the turn.

        One transaction: the queries see the same state of the file (a
        writer between them would otherwise make their answers disagree).
        The wait for the turn (:class:`ReadTurn`) ends at the call's
        deadline or at :meth:`interrupt`, as the query itself would.
        """
        call = self._calls[threading.get_ident()][1]

        def fetch(sql: str, params: tuple[object, ...]) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        try:
            with self._turn.held(call.deadline,
                                 lambda: self._generation != call.generation):
                conn.execute("begin")
                try:
                    yield fetch
                finally:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("commit")
        except InterruptedError as exc:
            call.interrupted = True
            raise sqlite3.OperationalError(str(exc)) from exc
        except TimeoutError as exc:
            call.timed_out = True
            raise sqlite3.OperationalError(str(exc)) from exc

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
        wanted = check_request(symbols, interval, start, end, url=self.url)
        lo, hi = to_ns(start), to_ns(end)
        found: dict[str, Bars] = {}
        # In a few rows a batch, in one read transaction (see _sqlitesql.py).
        counts_sql, bars_sql = counts_query(self._quoted), bars_query(self._quoted)
        size = BLOB_DTYPE.itemsize
        with self._call("load") as conn:
            for offset in range(0, len(wanted), _BATCH):
                names = wanted[offset : offset + _BATCH]
                with self._reading(conn) as fetch:
                    (row,) = fetch(counts_sql, (json.dumps(names), interval, lo, hi))
                    counts = [int(count) for count in json.loads(row[0])]
                    blobs = [fetch(bars_sql, (json.dumps(names[i:j]), interval, lo, hi))[0][0]
                             for i, j in runs(counts)]
                data = b"".join(blob for blob in blobs if blob)
                if len(data) != sum(counts) * size or not stamped_within(data, lo, hi):
                    # A malformed bar: the per-symbol read names its symbol.
                    found.update(self._load_each(conn, names, interval, lo, hi))
                    continue
                found.update(bars_from_concatenated(names, counts, data, interval))
        return {symbol: found.get(symbol) or Bars.empty(symbol, interval) for symbol in wanted}

    def _load_each(
        self, conn: sqlite3.Connection, names: list[str], interval: str, lo: int, hi: int
    ) -> dict[str, Bars]:
        """Bars of ``names`` read one row a symbol, each blob checked on its own."""
        with self._reading(conn) as fetch:
            rows = fetch(per_symbol_query(self._quoted), (json.dumps(names), interval, lo, hi))
        return {symbol: bars_from_blob(blob, symbol, interval, self.table)
                for symbol, blob in rows if blob is not None}

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
        bounds = [(to_ns(start), to_ns(end)) for start, end in ranges]
        wanted = check_request(symbols, interval, 0, 0, url=self.url)
        out: dict[str, list[Fingerprint]] = {s: [EMPTY] * len(bounds) for s in wanted}
        sql = fingerprints_query(self._quoted)
        with self._call("fingerprints") as conn:
            for offset in range(0, len(wanted), _BATCH):
                batch = json.dumps(wanted[offset : offset + _BATCH])
                with self._reading(conn) as fetch:
                    rows = fetch(sql, (batch, interval, json.dumps(bounds)))
                for symbol, k, blob in rows:
                    if blob is not None:
                        records = records_from_blob(blob, symbol, self.table)
                        out[symbol][k] = canonical_digest(
                            records["ts"], [records[name] for name in PRICES]
                        )
        return {symbol: tuple(found) for symbol, found in out.items()}

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with bars, sorted (a skip scan of the primary key)."""
        sql = symbols_query(self._quoted)
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
                for batch in chunks(rows(interval, bars_by_symbol, self.url)):
                    conn.executemany(sql, batch)
                    total += len(batch)
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
