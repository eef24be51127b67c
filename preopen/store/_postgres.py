"""The PostgreSQL store: psycopg 3, one shared ConnectionPool, binary COPY into numpy.

A load is one round trip per batch: ``COPY (SELECT ...) TO STDOUT (FORMAT
BINARY)`` with the batch's symbols as one ``text[]`` parameter (symbols never
reach SQL as text), parsed by numpy (see :mod:`preopen.store._pgcopy`).

Two query shapes, both per symbol an index scan of the primary key in ts
order, driven by ``unnest(symbols) WITH ORDINALITY`` so that each tuple
carries its symbol's position in the batch (an int4, fixed width):
- ``arrays`` (the default): one tuple a symbol, its bars as six ``array_agg``
  arrays. The server sends 1,000 tuples instead of 1.95 M, so the client does
  no Python work per bar and the row-shaped protocol limit goes away. It
  needs no extra table, so nothing has to be kept in step.
- ``rows``: one tuple a bar, fixed-width, parsed in blocks of whole tuples.

A big batch is split into ``pool_size`` contiguous parts loaded in threads,
one connection each; a part holds one connection and waits for nothing else
while holding it, so parts of concurrent loads cannot deadlock on the pool.
``ts`` is ``timestamptz``: the type a host's bars table has, readable in SQL,
and in binary an int64 of microseconds that numpy converts in one pass.

Connection failures (a backend terminated, the server restarted or gone, the
pool with no connection to give) are retried through the pool for at most
``retry_for`` seconds (see :mod:`preopen.store._retry`); each load part
retries on its own, so the parts that succeeded are not loaded again. After a
failure the pool is drained: its idle connections, dead as likely as not
after a restart, are closed without any I/O and replaced, so the next attempt
does not pick up another dead one. Then :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from preopen.errors import (
    StoreConnectionError,
    StoreError,
    StoreSchemaError,
    StoreUnavailableError,
)
from preopen.model import Bars, parse_interval, to_ns
from preopen.store._base import redact_url, split_table
from preopen.store._pgcopy import encode_bars, read_arrays, read_rows
from preopen.store._pgsql import check_table, load_query
from preopen.store._retry import (
    Retry,
    RetryExhaustedError,
    is_connection_failure,
    is_wait_timeout,
    retry_budget,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator, Mapping, Sequence


__all__ = ["LoadMethod", "PostgresStore"]

LoadMethod = Literal["arrays", "rows"]
T = TypeVar("T")
# URL parameters that are preopen's, not libpq's: taken out of the conninfo.
_OWN_PARAMETERS: Final = frozenset({"table", "retry_for"})
# Below this many symbols a batch is not split over connections.
_MIN_SPLIT: Final = 64
class PostgresStore:
    """Bars in a PostgreSQL table (``postgresql://user@host:port/database``).

    Attributes:
        url: the URL with any password removed.
        table: the qualified table name as given (``bars``, ``schema.bars``).
        method: the load query shape, ``"arrays"`` or ``"rows"``.
        retry_for: seconds a call keeps retrying after a connection failure.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 2,
        table: str | None = None,
        create: bool = False,
        connect_timeout: float = 10.0,
        load_timeout: float = 300.0,
        method: LoadMethod = "arrays",
        retry_for: float | None = None,
    ) -> None:
        """Connect, check (or create) the table and open the pool.

        Opening does not retry: a server that does not answer fails it within
        ``connect_timeout``. ``retry_for`` (default: the URL's ``retry_for``
        parameter, else 3 s) bounds how long a later call retries a dropped
        connection; 0 turns retrying off.

        Raises:
            StoreError: a bad table name, method or retry_for.
            StoreConnectionError: the server does not answer.
            StoreSchemaError: the table is missing (and ``create`` is false)
                or its columns have other types.
        """
        self.url = redact_url(url)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        table_name = table or dict(query).get("table") or "bars"
        self._conninfo = parts._replace(
            query=urlencode([(k, v) for k, v in query if k not in _OWN_PARAMETERS])
        ).geturl()
        self.retry_for = retry_budget(retry_for, dict(query).get("retry_for"), url=self.url)
        # Set by close(): wakes a retry's pause so that close() never waits a budget out.
        self._closing = threading.Event()
        self._last_loss: tuple[float, str] | None = None
        self._retry = Retry(self.retry_for, sleep=self._pause)
        self.table = table_name
        schema, name = split_table(table_name, url=self.url)
        self._table = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        if method not in {"arrays", "rows"}:
            raise StoreError(f"method={method!r} is not accepted: use 'arrays' or 'rows'")
        self.method: LoadMethod = method
        self._pool_size = pool_size
        self._load_timeout = load_timeout
        self._where = _where(self._conninfo)
        self._check_schema(create=create, timeout=connect_timeout)
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
            timeout=load_timeout,
            reconnect_timeout=max(self.retry_for, 1.0),
            name=f"preopen {self.url}",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close(timeout=1.0)
            raise self._connection_error(exc) from exc
        self._executor: ThreadPoolExecutor | None = None
        if pool_size > 1:
            self._executor = ThreadPoolExecutor(pool_size - 1, thread_name_prefix="preopen-pg")

    # -- connection and schema ------------------------------------------------

    def _connection_error(self, exc: BaseException) -> StoreConnectionError:
        host, port, database = self._where
        reason = self._redact(exc)
        return StoreConnectionError(
            f"cannot reach postgresql at host {host} port {port} database {database}: {reason}",
            url=self.url,
            host=host,
            port=port,
            database=database,
        )

    def _check_schema(self, *, create: bool, timeout: float) -> None:
        try:
            with psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=max(1, math.ceil(timeout))
            ) as conn:
                check_table(conn, self._table, self.table, create=create, url=self.url,
                            database=self._where[2])
        except psycopg.OperationalError as exc:
            raise self._connection_error(exc) from exc
        except psycopg.Error as exc:
            raise StoreError(f"postgresql {self.table!r}: {exc}", url=self.url) from exc

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
            # A pool timeout says little: add the connection error behind it.
            reason = self._redact(exc.error)
            if exc.reason is not exc.error:
                reason = f"{reason}; last connection error: {self._redact(exc.reason)}"
            elif is_wait_timeout(exc.error) and self._last_loss is not None:
                at, lost = self._last_loss
                ago = time.monotonic() - at
                reason = f"{reason}; last connection error {ago:.2f} sec ago: {lost}"
            host, port, database = self._where
            raise StoreUnavailableError(
                operation=operation,
                attempts=exc.attempts,
                elapsed=exc.elapsed,
                reason=reason,
                url=self.url,
                host=host,
                port=port,
                database=database,
            ) from exc.error

    def _redact(self, exc: BaseException) -> str:
        reason = " ".join(str(exc).split())
        password = conninfo_to_dict(self._conninfo).get("password")
        return reason.replace(str(password), "***") if password else reason

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn psycopg errors into StoreErrors; anything else passes untouched."""
        try:
            yield
        except PoolClosed as exc:
            raise StoreError(f"postgresql store {self.url} was closed", url=self.url) from exc
        except psycopg.OperationalError as exc:
            if is_connection_failure(exc):
                raise self._connection_error(exc) from exc
            raise StoreError(
                f"postgresql {what} on {self.table!r} failed: {exc}", url=self.url
            ) from exc
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            raise StoreSchemaError(
                f"postgresql {what} on {self.table!r}: {exc}", url=self.url
            ) from exc
        except psycopg.errors.InvalidColumnReference as exc:
            raise StoreSchemaError(
                f"postgresql {what} on {self.table!r} needs a primary key or unique index on "
                f"(symbol, interval, ts): {exc}",
                url=self.url,
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"postgresql {what} on {self.table!r} failed: {exc}", url=self.url
            ) from exc

    # -- load -----------------------------------------------------------------

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        """Load bars with ``start <= ts < end`` for many symbols, one round trip a part.

        Raises:
            BarsError: a bad interval or a naive instant.
            StoreUnavailableError: the connection kept failing for retry_for seconds.
            StoreSchemaError: the table went away or changed.
            StoreError: the store is closed, or any other database failure.
        """
        if self._closing.is_set():
            raise StoreError(f"postgresql store {self.url} was closed", url=self.url)
        parse_interval(interval)
        to_ns(start)
        to_ns(end)
        if isinstance(symbols, str) or not all(isinstance(s, str) and s for s in symbols):
            raise StoreError(
                f"symbols {symbols!r} are not accepted: use a sequence of non-empty strings",
                url=self.url,
            )
        wanted = list(dict.fromkeys(symbols))
        parts = _split(wanted, self._pool_size if self._executor else 1)
        found: dict[str, Bars] = {}
        futures = [
            self._executor.submit(self._load_part, part, interval, start, end)
            for part in parts[1:]
            if self._executor is not None
        ]
        try:
            if parts:
                found.update(self._load_part(parts[0], interval, start, end))
            for future in futures:
                found.update(future.result(timeout=self._load_timeout))
        finally:
            for future in futures:
                future.cancel()
        return {symbol: found.get(symbol) or Bars.empty(symbol, interval) for symbol in wanted}

    def _load_part(
        self, symbols: list[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        query = load_query(self.method, self._table)
        params = {"symbols": symbols, "interval": interval, "start": start, "end": end}
        read = read_arrays if self.method == "arrays" else read_rows

        # Read-only: an attempt that fails half-way leaves nothing behind (its
        # partial result is dropped), so a retry cannot duplicate a bar.
        def attempt(wait: float) -> dict[str, Bars]:
            with (
                self._pool.connection(timeout=min(wait, self._load_timeout)) as conn,
                conn.cursor().copy(query, params) as copy,
            ):
                return read(copy, symbols, interval)

        return self._retried("load", attempt)

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
        columns = sql.SQL("symbol, interval, ts, open, high, low, close, volume")
        upsert = sql.SQL(
            "insert into {table} ({columns}) select {columns} from preopen_upsert "
            "on conflict (symbol, interval, ts) do update set open = excluded.open, "
            "high = excluded.high, low = excluded.low, close = excluded.close, "
            "volume = excluded.volume"
        ).format(table=self._table, columns=columns)

        # One transaction: the temp table, the COPY and the upsert commit
        # together or not at all. A connection lost before the commit rolls
        # everything back on the server; lost during the commit, the retry
        # runs the upsert again, and ON CONFLICT (symbol, interval, ts) DO
        # UPDATE with the same values leaves one copy. Either way, a retried
        # write leaves each bar exactly once.
        def attempt(wait: float) -> None:
            with self._pool.connection(timeout=min(wait, self._load_timeout)) as conn:
                try:
                    chunks = encode_bars(interval, bars_by_symbol, conn.info.encoding)
                except ValueError as exc:
                    raise StoreError(
                        f"postgresql stores timestamptz in microseconds: {exc}", url=self.url
                    ) from exc
                with conn.transaction():
                    conn.execute(
                        "create temp table preopen_upsert (symbol text, interval text, "
                        "ts timestamptz, open float8, high float8, low float8, close float8, "
                        "volume float8) on commit drop"
                    )
                    copy_in = "copy preopen_upsert from stdin (format binary)"
                    with conn.cursor().copy(copy_in) as copy:
                        for chunk in chunks:
                            copy.write(chunk)
                    conn.execute(upsert)

        self._retried("write", attempt)
        return sum(len(bars) for bars in bars_by_symbol.values())

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with bars, sorted (a skip scan of the primary key)."""
        query = sql.SQL(
            "with recursive s(symbol) as (select min(symbol) from {table} union all "
            "select (select min(b.symbol) from {table} b where b.symbol > s.symbol) from s "
            "where s.symbol is not null) select symbol from s where symbol is not null"
        ).format(table=self._table)

        def attempt(wait: float) -> list[tuple[object, ...]]:
            with self._pool.connection(timeout=min(wait, self._load_timeout)) as conn:
                return conn.execute(query).fetchall()

        rows = self._retried("symbols", attempt)
        return tuple(sorted(str(row[0]) for row in rows))

    def close(self) -> None:
        """Close the pool and the loader threads.

        Calls retrying at that moment stop at their next pause or wait for a
        connection (with StoreError); a statement already running finishes.
        """
        self._closing.set()
        # The pool first: it fails the calls waiting for a connection, which
        # the executor's shutdown would otherwise wait for.
        self._pool.close(timeout=5.0)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        """The URL and table."""
        return f"PostgresStore({self.url!r}, table={self.table!r})"


def _where(conninfo: str) -> tuple[str, int, str]:
    params = conninfo_to_dict(conninfo)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    try:
        port = int(str(params.get("port") or 5432).split(",")[0])
    except ValueError:
        port = 5432
    database = str(params.get("dbname") or params.get("user") or "")
    return host, port, database


def _split(symbols: list[str], parts: int) -> list[list[str]]:
    if not symbols:
        return []
    if parts <= 1 or len(symbols) < _MIN_SPLIT:
        return [symbols]
    size = -(-len(symbols) // parts)
    return [symbols[i : i + size] for i in range(0, len(symbols), size)]
