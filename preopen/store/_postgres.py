"""The PostgreSQL store: psycopg 3, one shared ConnectionPool, binary COPY into numpy.

A load is one COPY on one connection, whatever the batch's size: ``COPY
(SELECT ...) TO STDOUT (FORMAT BINARY)`` with the batch's symbols as one
``text[]`` parameter (symbols never reach SQL as text), parsed by numpy (see
:mod:`preopen.store._pgcopy`). Concurrency comes from the loaders, each
calling ``load`` with its own batch; a load never splits its batch again.
The query's shape (per symbol, or set-oriented) is chosen once per store
from the table's statistics and indexes (see :mod:`preopen.store._pgsql`).

Each load runs in a transaction of its own whose ``SET LOCAL`` settings turn
JIT off, size ``work_mem`` to the batch, and bound it by what is left of its
deadline (``statement_timeout`` and ``lock_timeout``): past it the load
raises :class:`StoreTimeoutError`. :meth:`PostgresStore.interrupt` cancels the
queries in flight from another thread (``Connection.cancel_safe``; the calls
in flight are kept by :class:`~preopen.store._pgcalls.CallsInFlight`).
``ts`` is ``timestamptz``: the type a host's bars table has, readable in SQL,
and in binary an int64 of microseconds that numpy converts in one pass.

Connection failures (a backend terminated, the server restarted or gone, the
pool with no connection to give) are retried through the pool for at most
``retry_for`` seconds (see :mod:`preopen.store._retry`), within the call's
deadline. After a failure the pool is drained: its idle connections, dead as likely as not
after a restart, are closed without any I/O and replaced, so the next attempt
does not pick up another dead one. Then :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import threading
import time
from typing import TYPE_CHECKING, Final, Literal, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from preopen.errors import (
    StoreConnectionError,
    StoreError,
    StoreUrlError,
    StoreWideError,
)
from preopen.model import Bars, parse_interval, to_ns
from preopen.store._base import DEFAULT_LOAD_TIMEOUT, check_request
from preopen.store._fingerprint import EMPTY, Fingerprint
from preopen.store._pgcalls import CallsInFlight
from preopen.store._pgconn import (
    classify,
    connection_error,
    conninfo,
    redact,
    unavailable,
    where,
)
from preopen.store._pgcopy import encode_bars, read_arrays, read_rows
from preopen.store._pgsql import (
    SMALL_BATCH,
    UPSERT_COPY,
    UPSERT_TABLE,
    TableFacts,
    check_table,
    choose_shape,
    fingerprint_query,
    load_query,
    symbols_query,
    table_facts,
    upsert_query,
)
from preopen.store._retry import (
    Retry,
    RetryExhaustedError,
    is_connection_failure,
    is_wait_timeout,
    retry_budget,
)
from preopen.storeurl import parse_store_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence


__all__ = ["LoadMethod", "PostgresStore"]

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

LoadMethod = Literal["arrays", "set", "rows"]
T = TypeVar("T")


class PostgresStore:
    """Bars in a PostgreSQL table (``postgresql://user@host:port/database``).

    Attributes:
        url: the URL with any password removed.
        table: the qualified table name as given (``bars``, ``schema.bars``).
        method: the load query's shape for batches of SMALL_BATCH symbols
            or more: ``"arrays"`` (per symbol), ``"set"`` (set-oriented) or
            ``"rows"``; chosen from the table when not given.
        facts: what the catalog said about the table when the shape was chosen.
        retry_for: seconds a call keeps retrying after a connection failure.
        load_timeout: the deadline of each load, in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 2,
        table: str | None = None,
        create: bool = False,
        connect_timeout: float = 10.0,
        load_timeout: float = DEFAULT_LOAD_TIMEOUT,
        method: LoadMethod | None = None,
        retry_for: float | None = None,
    ) -> None:
        """Connect, check (or create) the table, choose the load shape, open the pool.

        Opening does not retry: a server that does not answer fails it within
        ``connect_timeout``. ``retry_for`` (default: the URL's ``retry_for``
        parameter, else 3 s) bounds how long a later call retries a dropped
        connection; 0 turns retrying off. Opened without ``create``, nothing
        in the database is changed.

        Raises:
            StoreUrlError: a bad table name, method or retry_for.
            StoreConnectionError: the server does not answer.
            StoreSchemaError: the schema or table is missing (and ``create``
                is false) or its columns have other types.
        """
        parsed = parse_store_url(url, table)
        self.url = parsed.redacted
        self._conninfo, from_url = conninfo(url)
        try:
            self.retry_for = retry_budget(retry_for, from_url, url=self.url)
        except StoreError as exc:
            raise StoreUrlError(
                "retry_for", str(retry_for if retry_for is not None else from_url),
                "seconds, a number >= 0 (0: no retry)", url=self.url,
            ) from exc
        # Set by close(): wakes a retry's pause so that close() never waits a budget out.
        self._closing = threading.Event()
        self._last_loss: tuple[float, str] | None = None
        self._retry = Retry(self.retry_for, sleep=self._pause)
        self.table = parsed.qualified
        schema, name = parsed.schema, parsed.table
        self._table = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        if method not in {None, "arrays", "set", "rows"}:
            raise StoreUrlError("method", str(method), "'arrays', 'set', 'rows' or None")
        self._pool_size = pool_size
        self.load_timeout = float(load_timeout)
        self._calls = CallsInFlight(url=self.url, load_timeout=self.load_timeout)
        self._where = where(self._conninfo)
        self.facts = self._check_schema(schema=schema, create=create, timeout=connect_timeout)
        self.method: LoadMethod = method or choose_shape(self.facts)
        # No check on getconn: the retry covers a dead connection wherever it
        # shows (the check cost a round trip a call, and slept a second after
        # a second dead connection in a row). The pool stops reconnecting in
        # the background after the budget, so that a call made once the server
        # is back connects at once instead of waiting out a grown backoff.
        self._pool = ConnectionPool(
            self._conninfo,
            min_size=pool_size,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": max(2, math.ceil(connect_timeout))},
            timeout=self.load_timeout,
            reconnect_timeout=max(self.retry_for, 1.0),
            name=f"preopen {self.url}",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close(timeout=1.0)
            raise self._connection_error(exc) from exc

    # -- connection and schema ------------------------------------------------

    def _connection_error(self, exc: BaseException) -> StoreConnectionError:
        return connection_error(self._redact(exc), where=self._where, url=self.url)

    def _check_schema(self, *, schema: str | None, create: bool, timeout: float) -> TableFacts:
        try:
            with psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=max(1, math.ceil(timeout))
            ) as conn:
                check_table(conn, self._table, self.table, schema=schema, create=create,
                            url=self.url, database=self._where[2])
                return table_facts(conn, self._table.as_string(conn))
        except psycopg.OperationalError as exc:
            raise self._connection_error(exc) from exc
        except psycopg.Error as exc:
            raise self._classify(exc, "open") from exc

    def _pause(self, seconds: float) -> None:
        if self._closing.wait(seconds):
            raise StoreError(f"postgresql store {self.url} was closed", url=self.url)

    def _discard(self, error: Exception) -> None:
        # A pool timeout left no connection behind; any other connection
        # failure may have left dead idle ones (a restart kills them all).
        if not is_wait_timeout(error):
            # A hint for later calls that only see pool timeouts: one rebinding
            # of an immutable pair, so readers in other threads see old or new.
            self._last_loss = (time.monotonic(), self._redact(error))
            self._pool.drain()

    def _retried(self, operation: str, attempt: Callable[[float], T]) -> T:
        """Run ``attempt(wait)`` through connection failures for up to retry_for seconds.

        Raises:
            StoreUnavailableError: still failing when the budget ran out.
        """
        try:
            with self._errors(operation):
                return self._retry.run(
                    attempt,
                    retryable=is_connection_failure,
                    waited=is_wait_timeout,
                    on_failure=self._discard,
                )
        except RetryExhaustedError as exc:
            raise unavailable(
                operation, exc, redact=self._redact, last_loss=self._last_loss,
                where=self._where, url=self.url,
            ) from exc.error

    def _redact(self, exc: BaseException) -> str:
        return redact(exc, self._conninfo)

    def _classify(self, exc: psycopg.Error, what: str) -> StoreError:
        return classify(
            exc,
            what,
            table=self.table,
            url=self.url,
            seconds=self.load_timeout,
            reason=self._redact(exc),
            connection_error=self._connection_error,
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn psycopg errors into StoreErrors; anything else passes untouched."""
        try:
            yield
        except PoolClosed as exc:
            raise StoreWideError(f"postgresql store {self.url} was closed", url=self.url) from exc
        except psycopg.Error as exc:
            raise self._classify(exc, what) from exc

    def interrupt(self) -> None:
        """Cancel the queries in flight, from any thread: they raise StoreInterruptedError.

        Waits at most about 2 s for the server to take each cancel request.
        Calls started afterwards run as usual.
        """
        self._calls.interrupt()

    # -- load -----------------------------------------------------------------

    def _check_request(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> list[str]:
        if self._closing.is_set():
            raise StoreWideError(f"postgresql store {self.url} was closed", url=self.url)
        return check_request(symbols, interval, start, end, url=self.url)

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        """Load bars with ``start <= ts < end`` for many symbols: one COPY on one connection.

        Raises:
            BarsError: a bad interval or a naive instant.
            StoreTimeoutError: the load passed its deadline (load_timeout).
            StoreInterruptedError: interrupt() cancelled it.
            StoreUnavailableError: the connection kept failing for retry_for seconds.
            StoreSchemaError: the table went away or changed.
            StoreWideError: the store is closed, or the database refused (permissions...).
            StoreError: any other database failure.
        """
        wanted = self._check_request(symbols, interval, start, end)
        if not wanted:
            return {}
        deadline = time.monotonic() + self.load_timeout
        generation = self._calls.generation
        shape = self.method
        if shape == "set" and len(wanted) < SMALL_BATCH:
            shape = "arrays"
        query = load_query(shape, self._table, nullable=self.facts.nullable)
        params = {"symbols": wanted, "interval": interval, "start": start, "end": end}
        read = read_rows if shape == "rows" else read_arrays
        step = parse_interval(interval)
        bars = max(1, (to_ns(end) - to_ns(start)) // step)

        # Read-only: an attempt that fails half-way leaves nothing behind (its
        # partial result is dropped), so a retry cannot duplicate a bar.
        def attempt(wait: float) -> dict[str, Bars]:
            with (
                self._calls.session(
                    self._pool, "load", deadline, wait, generation=generation,
                    symbols=len(wanted), bars=bars,
                ) as conn,
                conn.cursor().copy(query, params) as copy,
            ):
                return read(copy, wanted, interval)

        found = self._retried("load", attempt)
        return {symbol: found.get(symbol) or Bars.empty(symbol, interval) for symbol in wanted}

    def fingerprints(
        self,
        symbols: Sequence[str],
        interval: str,
        ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    ) -> dict[str, tuple[Fingerprint, ...]]:
        """Per symbol, one fingerprint per ``[start, end)`` range, computed by the server.

        One aggregate query (count and MD5 per symbol and range); equal to
        :func:`preopen.store.fingerprints_of` of the same bars. Bounded by
        the load deadline.

        Raises:
            StoreTimeoutError: past the deadline.
            StoreError: as :meth:`load`.
        """
        starts = [start for start, _ in ranges]
        ends = [end for _, end in ranges]
        wanted = self._check_request(symbols, interval, min(starts, default=_EPOCH),
                                     max(ends, default=_EPOCH))
        for start, end in ranges:
            to_ns(start)
            to_ns(end)
        out: dict[str, list[Fingerprint]] = {s: [EMPTY] * len(ranges) for s in wanted}
        if not wanted or not ranges:
            return {symbol: tuple(found) for symbol, found in out.items()}
        deadline = time.monotonic() + self.load_timeout
        generation = self._calls.generation
        query = fingerprint_query(self._table)
        params = {"symbols": wanted, "interval": interval, "starts": starts, "ends": ends}

        def attempt(wait: float) -> list[tuple[object, ...]]:
            with self._calls.session(
                self._pool, "fingerprints", deadline, wait, generation=generation,
                symbols=len(wanted),
            ) as conn:
                return conn.execute(query, params).fetchall()

        for index, k, count, digest in self._retried("fingerprints", attempt):
            out[wanted[int(index) - 1]][int(k) - 1] = Fingerprint(int(count), str(digest))  # type: ignore[call-overload]
        return {symbol: tuple(found) for symbol, found in out.items()}

    # -- write, symbols, close ------------------------------------------------

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Upsert bars via COPY into a temporary table (the same bars twice leave one copy).

        Returns:
            The rows written.

        Raises:
            BarsError: a bad interval.
            StoreError: a Bars of another symbol or interval, ts that are not
                whole microseconds, or a database failure.
        """
        parse_interval(interval)
        for symbol, bars in bars_by_symbol.items():
            if (bars.symbol, bars.interval) != (symbol, interval):
                raise StoreError(
                    f"cannot write {bars!r} as symbol {symbol!r} at interval {interval!r}",
                    url=self.url,
                )
        upsert = upsert_query(self._table)

        # One transaction: the temp table, the COPY and the upsert commit
        # together or not at all. A connection lost before the commit rolls
        # everything back on the server; lost during the commit, the retry
        # runs the upsert again, and ON CONFLICT (symbol, interval, ts) DO
        # UPDATE with the same values leaves one copy. Either way, a retried
        # write leaves each bar exactly once.
        def attempt(wait: float) -> None:
            with self._pool.connection(timeout=min(wait, self.load_timeout)) as conn:
                try:
                    chunks = encode_bars(interval, bars_by_symbol, conn.info.encoding)
                except ValueError as exc:
                    raise StoreError(
                        f"postgresql stores timestamptz in microseconds: {exc}", url=self.url
                    ) from exc
                with conn.transaction():
                    conn.execute(UPSERT_TABLE)
                    with conn.cursor().copy(UPSERT_COPY) as copy:
                        for chunk in chunks:
                            copy.write(chunk)
                    conn.execute(upsert)

        self._retried("write", attempt)
        return sum(len(bars) for bars in bars_by_symbol.values())

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with bars, sorted (a skip scan of the primary key)."""
        query = symbols_query(self._table)
        deadline = time.monotonic() + self.load_timeout
        generation = self._calls.generation

        def attempt(wait: float) -> list[tuple[object, ...]]:
            with self._calls.session(
                self._pool, "symbols", deadline, wait, generation=generation
            ) as conn:
                return conn.execute(query).fetchall()

        rows = self._retried("symbols", attempt)
        return tuple(sorted(str(row[0]) for row in rows))

    def close(self) -> None:
        """Close the pool and the loader threads.

        Calls retrying at that moment stop at their next pause or wait for a
        connection (with StoreError); a statement already running finishes.
        """
        self._closing.set()
        self._pool.close(timeout=5.0)

    def __repr__(self) -> str:
        """The URL and table."""
        return f"PostgresStore({self.url!r}, table={self.table!r})"
