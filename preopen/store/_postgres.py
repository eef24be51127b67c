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
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from preopen.errors import StoreConnectionError, StoreError, StoreSchemaError
from preopen.model import Bars, parse_interval, to_ns
from preopen.store._base import redact_url, split_table
from preopen.store._pgcopy import ArrayTupleReader, encode_bars, rows_to_records

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator, Mapping, Sequence

    from numpy.typing import NDArray

__all__ = ["LoadMethod", "PostgresStore"]

LoadMethod = Literal["arrays", "rows"]
_COLUMN_TYPES: Final = {
    "symbol": ("text", "character varying"),
    "interval": ("text", "character varying"),
    "ts": ("timestamp with time zone",),
    **dict.fromkeys(("open", "high", "low", "close", "volume"), ("double precision",)),
}
# Below this many symbols a batch is not split over connections.
_MIN_SPLIT: Final = 64
# Bytes of rows-shaped tuples parsed at once: bounds the raw buffer in memory.
_BLOCK: Final = 8 << 20

# Per symbol: an index scan of the primary key in ts order. coalesce keeps a
# host table's NULLs from breaking the fixed-width parse (NULL reads as NaN).
_BARS: Final = """
  select b.ts, coalesce(b.open, 'NaN') as open, coalesce(b.high, 'NaN') as high,
         coalesce(b.low, 'NaN') as low, coalesce(b.close, 'NaN') as close,
         coalesce(b.volume, 'NaN') as volume
  from {table} as b
  where b.symbol = u.symbol and b.interval = %(interval)s
    and b.ts >= %(start)s and b.ts < %(end)s
  order by b.ts
"""
_QUERIES: Final = {
    "rows": "select u.i::int4, x.ts, x.open, x.high, x.low, x.close, x.volume "
    "from unnest(%(symbols)s::text[]) with ordinality as u(symbol, i) "
    "cross join lateral ({bars}) as x",
    "arrays": "select u.i::int4, x.* "
    "from unnest(%(symbols)s::text[]) with ordinality as u(symbol, i) "
    "cross join lateral (select array_agg(y.ts), array_agg(y.open), array_agg(y.high), "
    "array_agg(y.low), array_agg(y.close), array_agg(y.volume) from ({bars}) as y) as x",
}


class PostgresStore:
    """Bars in a PostgreSQL table (``postgresql://user@host:port/database``).

    Attributes:
        url: the URL with any password removed.
        table: the qualified table name as given (``bars``, ``schema.bars``).
        method: the load query shape, ``"arrays"`` or ``"rows"``.
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
    ) -> None:
        """Connect, check (or create) the table and open the pool.

        Raises:
            StoreError: a bad table name or method.
            StoreConnectionError: the server does not answer.
            StoreSchemaError: the table is missing (and ``create`` is false)
                or its columns have other types.
        """
        self.url = redact_url(url)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        table_name = table or dict(query).get("table") or "bars"
        self._conninfo = parts._replace(
            query=urlencode([(k, v) for k, v in query if k != "table"])
        ).geturl()
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
        self._pool = ConnectionPool(
            self._conninfo,
            min_size=pool_size,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            timeout=load_timeout,
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
        reason = str(exc).strip().replace("\n", " ")
        password = conninfo_to_dict(self._conninfo).get("password")
        if password:
            reason = reason.replace(str(password), "***")
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
                types = self._column_types(conn)
                if not types and create:
                    schema_sql = resources.files("preopen.store").joinpath("schema.sql")
                    text = schema_sql.read_text(encoding="utf-8")
                    conn.execute(sql.SQL(text).format(table=self._table))
                    types = self._column_types(conn)
        except psycopg.OperationalError as exc:
            raise self._connection_error(exc) from exc
        except psycopg.Error as exc:
            raise StoreError(f"postgresql {self.table!r}: {exc}", url=self.url) from exc
        if not types:
            raise StoreSchemaError(
                f"postgresql table {self.table!r} does not exist in database {self._where[2]}: "
                "create it with preopen/store/schema.sql or open_store(..., create=True)",
                url=self.url,
            )
        wrong = [
            f"{column} is {types.get(column, 'missing')} (expected {' or '.join(accepted)})"
            for column, accepted in _COLUMN_TYPES.items()
            if not types.get(column, "missing").startswith(accepted)
        ]
        if wrong:
            raise StoreSchemaError(
                f"postgresql table {self.table!r} has the wrong columns: {'; '.join(wrong)}",
                url=self.url,
            )

    def _column_types(self, conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, str]:
        regclass = self._table.as_string(conn)
        rows = conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped",
            (regclass,),
        ).fetchall()
        return {str(name): str(kind) for name, kind in rows}

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn psycopg errors into StoreErrors; anything else passes untouched."""
        try:
            yield
        except PoolTimeout as exc:
            raise self._connection_error(exc) from exc
        except psycopg.OperationalError as exc:
            raise self._connection_error(exc) from exc
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
            StoreConnectionError: the server went away or the pool had no connection.
            StoreSchemaError: the table went away or changed.
            StoreError: any other database failure.
        """
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
        bars = sql.SQL(_BARS).format(table=self._table)
        select = sql.SQL(_QUERIES[self.method]).format(bars=bars)
        query = sql.SQL("copy ({}) to stdout (format binary)").format(select)
        params = {"symbols": symbols, "interval": interval, "start": start, "end": end}
        with self._errors("load"), self._pool.connection(timeout=self._load_timeout) as conn:
            cursor = conn.cursor()
            with cursor.copy(query, params) as copy:
                if self.method == "arrays":
                    return _read_arrays(copy, symbols, interval)
                return _read_rows(copy, symbols, interval)

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
        with self._errors("write"), self._pool.connection(timeout=self._load_timeout) as conn:
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
                with conn.cursor().copy("copy preopen_upsert from stdin (format binary)") as copy:
                    for chunk in chunks:
                        copy.write(chunk)
                conn.execute(upsert)
        return sum(len(bars) for bars in bars_by_symbol.values())

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with bars, sorted (a skip scan of the primary key)."""
        query = sql.SQL(
            "with recursive s(symbol) as (select min(symbol) from {table} union all "
            "select (select min(b.symbol) from {table} b where b.symbol > s.symbol) from s "
            "where s.symbol is not null) select symbol from s where symbol is not null"
        ).format(table=self._table)
        with self._errors("symbols"), self._pool.connection(timeout=self._load_timeout) as conn:
            rows = conn.execute(query).fetchall()
        return tuple(sorted(str(row[0]) for row in rows))

    def close(self) -> None:
        """Close the pool and the loader threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._pool.close(timeout=5.0)

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


def _read_arrays(copy: psycopg.Copy, symbols: list[str], interval: str) -> dict[str, Bars]:
    reader = ArrayTupleReader()
    out: dict[str, Bars] = {}
    for chunk in copy:
        for index, records in reader.feed(chunk):
            if records.shape[0]:
                symbol = symbols[index - 1]
                out[symbol] = Bars.from_records(symbol, interval, records)
    return out


def _read_rows(copy: psycopg.Copy, symbols: list[str], interval: str) -> dict[str, Bars]:
    header_left = 19
    pending: list[bytes] = []
    size = 0
    pieces: dict[int, list[NDArray[np.void]]] = {}
    for chunk in copy:
        data = bytes(chunk)
        if header_left:
            # The header (no extension area is ever sent) precedes the first tuple.
            data = data[header_left:]
            header_left = 0
        pending.append(data)
        size += len(data)
        if size >= _BLOCK:
            _take_block(pending, pieces)
            size = sum(len(p) for p in pending)
    if pending and pending[-1].endswith(b"\xff\xff"):
        pending[-1] = pending[-1][:-2]
    _take_block(pending, pieces, final=True)
    out: dict[str, Bars] = {}
    for index, parts in pieces.items():
        symbol = symbols[index - 1]
        records = parts[0] if len(parts) == 1 else np.concatenate(parts)
        out[symbol] = Bars.from_records(symbol, interval, records)
    return out


def _take_block(
    pending: list[bytes], pieces: dict[int, list[NDArray[np.void]]], *, final: bool = False
) -> None:
    """Parse the whole tuples in ``pending``; leave a partial one behind."""
    block = b"".join(pending)
    pending.clear()
    usable = len(block) if final else len(block) - len(block) % 82
    if usable < len(block):
        pending.append(block[usable:])
    if not usable:
        return
    indexes, records = rows_to_records(memoryview(block)[:usable])
    records.flags.writeable = False
    if indexes.shape[0] > 1 and not bool(np.all(indexes[1:] >= indexes[:-1])):
        order = np.argsort(indexes, kind="stable")
        indexes, records = indexes[order], records[order]
        records.flags.writeable = False
    cuts = np.flatnonzero(indexes[1:] != indexes[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [indexes.shape[0]]))
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        pieces.setdefault(int(indexes[lo]), []).append(records[lo:hi])
