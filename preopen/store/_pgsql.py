"""The SQL preopen sends to PostgreSQL: the load queries, their settings, the table's check.

Symbols, the interval and the time range are always parameters; the table
name reaches SQL only as a :class:`psycopg.sql.Identifier`.

Three load shapes, all one binary COPY (see :mod:`preopen.store._pgcopy`):

- ``arrays`` (per symbol): ``unnest(symbols) WITH ORDINALITY`` and per
  symbol an index scan of the primary key in ts order, aggregated into six
  arrays. Best when a symbol's rows sit together (a table written symbol by
  symbol, or a covering index read by index-only scans), and for small
  batches.
- ``set`` (set-oriented): one scan of the rows of every symbol of the batch
  (``symbol = any(...)``, a bitmap or sequential scan that reads each page
  once, in physical order), grouped by symbol into the same six arrays by a
  hash aggregate. Best when rows are written one minute at a time for all
  symbols (each symbol's rows on as many pages as it has bars). The arrays
  come in scan order: the client sorts a symbol's bars when they are not in
  ts order.
- ``rows``: one tuple a bar, per symbol in ts order (kept for comparison).

:func:`choose_shape` picks ``arrays`` or ``set`` once per store from
``pg_stats`` and the indexes (never running ANALYZE on a host's table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Final, Literal

from psycopg import sql

from preopen.errors import StoreSchemaError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "SMALL_BATCH",
    "UPSERT_COPY",
    "UPSERT_TABLE",
    "LoadShape",
    "TableFacts",
    "check_table",
    "choose_shape",
    "column_types",
    "fingerprint_query",
    "load_query",
    "load_settings",
    "symbols_query",
    "table_facts",
    "upsert_query",
]

LoadShape = Literal["arrays", "set", "rows"]

_COLUMN_TYPES: Final = {
    "symbol": ("text", "character varying"),
    "interval": ("text", "character varying"),
    "ts": ("timestamp with time zone",),
    **dict.fromkeys(("open", "high", "low", "close", "volume"), ("double precision",)),
}
_PRICES: Final = ("open", "high", "low", "close", "volume")

#: Below this many symbols a batch is loaded per symbol whatever the table:
#: a handful of index scans read the same pages a bitmap scan would, and
#: need no hash table.
SMALL_BATCH: Final = 16
#: |correlation| of ``symbol`` in pg_stats from which a table counts as
#: clustered by symbol (written symbol by symbol, or CLUSTERed).
CLUSTERED: Final = 0.5
#: Share of all-visible pages from which index-only scans pay (a covering
#: index read without visiting the heap).
ALL_VISIBLE: Final = 0.5

# coalesce keeps a host table's NULLs from breaking the fixed-width parse
# (NULL reads as NaN).
_VALUES: Final = (
    "{p}ts, coalesce({p}open, 'NaN'), coalesce({p}high, 'NaN'), coalesce({p}low, 'NaN'), "
    "coalesce({p}close, 'NaN'), coalesce({p}volume, 'NaN')"
)
_PER_SYMBOL: Final = (
    "select {values} from {table} as b where b.symbol = u.symbol "
    "and b.interval = %(interval)s and b.ts >= %(start)s and b.ts < %(end)s order by b.ts"
)
_WHERE: Final = "b.interval = %(interval)s and b.ts >= %(start)s and b.ts < %(end)s"
_QUERIES: Final = {
    "rows": "select u.i::int4, x.* "
    "from unnest(%(symbols)s::text[]) with ordinality as u(symbol, i) "
    "cross join lateral ({per_symbol}) as x",
    # The aggregates read the index scan directly (no ordered subquery: 10-30%
    # less server time); the client puts bars in ts order if they are not.
    "arrays": "select u.i::int4, x.* "
    "from unnest(%(symbols)s::text[]) with ordinality as u(symbol, i) "
    "cross join lateral (select {aggregates} from {table} as b "
    "where b.symbol = u.symbol and {where}) as x",
    "set": "select array_position(%(symbols)s::text[], b.symbol)::int4, {aggregates} "
    "from {table} as b where b.symbol = any(%(symbols)s::text[]) and {where} "
    "group by b.symbol",
}


def select_query(shape: str, table: sql.Identifier, *, nullable: bool = True) -> sql.Composed:
    """The select of one load, ``shape`` ``"arrays"``, ``"set"`` or ``"rows"``.

    Parameters: ``symbols`` (text[]), ``interval``, ``start``, ``end``.
    ``nullable``: a price column may hold NULL, read as NaN (a coalesce per
    value; not needed on preopen's own NOT NULL columns).
    """
    per_symbol = sql.SQL(_PER_SYMBOL).format(
        values=sql.SQL(_VALUES.format(p="b.")), table=table
    )
    prices = [f"coalesce(b.{name}, 'NaN')" if nullable else f"b.{name}" for name in _PRICES]
    aggregates = sql.SQL(", ".join(f"array_agg({value})" for value in ("b.ts", *prices)))
    return sql.SQL(_QUERIES[shape]).format(
        per_symbol=per_symbol, table=table, aggregates=aggregates, where=sql.SQL(_WHERE)
    )


def load_query(shape: str, table: sql.Identifier, *, nullable: bool = True) -> sql.Composed:
    """The binary COPY of one load: :func:`select_query` streamed in binary."""
    select = select_query(shape, table, nullable=nullable)
    return sql.SQL("copy ({}) to stdout (format binary)").format(select)


# Bytes of hash-aggregate state per bar (measured: about 100 with PostgreSQL
# 15); hash_mem_multiplier (2 by default) doubles work_mem for hash tables.
_BYTES_PER_BAR: Final = 64
_MIN_WORK_MEM_KB: Final = 4 * 1024
_MAX_WORK_MEM_KB: Final = 256 * 1024


def load_settings(
    *, statement_ms: int, lock_ms: int, symbols: int, bars_per_symbol: int
) -> sql.Composed:
    """``SET LOCAL`` statements for one load's transaction (one round trip).

    JIT off (compiling a load query costs more than it saves: 80-130 ms for
    a batch of 80 symbols or more), the deadline as statement and lock
    timeouts, ``synchronize_seqscans`` off (a sequential scan starts at the
    table's first page, so a time-ordered table comes out in ts order), and
    ``work_mem`` sized to the batch so that the set shape's hash aggregate
    stays in memory (a cap, not an allocation).
    """
    work_kb = symbols * bars_per_symbol * _BYTES_PER_BAR // 1024
    work_kb = min(max(work_kb, _MIN_WORK_MEM_KB), _MAX_WORK_MEM_KB)
    statements = [
        "set local jit = off",
        "set local synchronize_seqscans = off",
        # One process per query: an aggregate keeps its input's order.
        "set local max_parallel_workers_per_gather = 0",
        f"set local work_mem = '{int(work_kb)}kB'",
        f"set local statement_timeout = {max(1, int(statement_ms))}",
        f"set local lock_timeout = {max(1, int(lock_ms))}",
        # A load never waits on an idle transaction of its own.
        "set local idle_in_transaction_session_timeout = 0",
    ]
    return sql.SQL("; ".join(statements)).format()


#: write: the temporary table a write copies into, dropped at its commit.
UPSERT_TABLE: Final = (
    "create temp table preopen_upsert (symbol text, interval text, ts timestamptz, "
    "open float8, high float8, low float8, close float8, volume float8) on commit drop"
)
UPSERT_COPY: Final = "copy preopen_upsert from stdin (format binary)"


def upsert_query(table: sql.Identifier) -> sql.Composed:
    """write: move the copied rows into the table (the same bars twice leave one copy)."""
    columns = sql.SQL("symbol, interval, ts, open, high, low, close, volume")
    return sql.SQL(
        "insert into {table} ({columns}) select {columns} from preopen_upsert "
        "on conflict (symbol, interval, ts) do update set open = excluded.open, "
        "high = excluded.high, low = excluded.low, close = excluded.close, "
        "volume = excluded.volume"
    ).format(table=table, columns=columns)


def symbols_query(table: sql.Identifier) -> sql.Composed:
    """Every symbol with bars, by a skip scan of the primary key."""
    return sql.SQL(
        "with recursive s(symbol) as (select min(symbol) from {table} union all "
        "select (select min(b.symbol) from {table} b where b.symbol > s.symbol) from s "
        "where s.symbol is not null) select symbol from s where symbol is not null"
    ).format(table=table)


def fingerprint_query(table: sql.Identifier) -> sql.Composed:
    """Per symbol and range: (symbol index, range index, count, md5 of the bars in ts order).

    Parameters: ``symbols`` (text[]), ``interval``, ``starts`` and ``ends``
    (timestamptz[]). Symbol-ranges without bars give no row. Per symbol and
    range an index scan in ts order feeds ``string_agg`` (measured 2.3-2.8x
    faster than one ``group by`` with ``string_agg(... order by ts)``, on
    either row order). The aggregate keeps its input's order (no parallel
    plan: see :func:`load_settings`); were it ever not to, the digest would
    differ and the range would be reloaded, never wrongly kept.
    """
    row = sql.SQL(" || ").join(
        [sql.SQL("timestamptz_send(b.ts)")]
        + [sql.SQL("float8send({})").format(sql.Identifier("b", name)) for name in _PRICES]
    )
    return sql.SQL(
        "select u.i::int4, r.k::int4, x.n, x.digest "
        "from unnest(%(symbols)s::text[]) with ordinality as u(symbol, i) "
        "cross join unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) "
        "with ordinality as r(lo, hi, k) "
        "cross join lateral (select count(*) as n, md5(string_agg(y.v, ''::bytea)) as digest "
        "from (select {row} as v from {table} as b where b.symbol = u.symbol "
        "and b.interval = %(interval)s and b.ts >= r.lo and b.ts < r.hi order by b.ts) as y"
        ") as x where x.n > 0"
    ).format(row=row, table=table)


@dataclass(frozen=True, slots=True)
class TableFacts:
    """What the catalog says about a bars table, for choosing the load shape.

    Attributes:
        correlation: pg_stats' correlation of ``symbol`` (None: never analyzed).
        symbol_index: an index leads with ``symbol`` (per-symbol scans are possible).
        covering: an index on (symbol, interval, ts) holds every price column.
        all_visible: the share of the table's pages marked all-visible.
        nullable: a price column may hold NULL.
    """

    correlation: float | None
    symbol_index: bool
    covering: bool
    all_visible: float
    nullable: bool = True


def table_facts(conn: psycopg.Connection[tuple[object, ...]], regclass: str) -> TableFacts:
    """Read the facts from pg_stats, pg_index and pg_class (no ANALYZE, no lock taken)."""
    params = {"t": regclass}
    stats = conn.execute(
        "select s.correlation from pg_stats s join pg_class c on c.relname = s.tablename "
        "join pg_namespace n on n.oid = c.relnamespace and n.nspname = s.schemaname "
        "where c.oid = to_regclass(%(t)s) and s.attname = 'symbol'",
        params,
    ).fetchone()
    indexes = conn.execute(
        "select array(select a.attname::text from unnest(i.indkey::int2[]) "
        "with ordinality as k(attnum, n) join pg_attribute a on a.attrelid = i.indrelid "
        "and a.attnum = k.attnum order by k.n) from pg_index i "
        "where i.indrelid = to_regclass(%(t)s) and i.indisvalid",
        params,
    ).fetchall()
    pages = conn.execute(
        "select relpages, relallvisible from pg_class where oid = to_regclass(%(t)s)", params
    ).fetchone()
    nullable = conn.execute(
        "select count(*) from pg_attribute where attrelid = to_regclass(%(t)s) "
        "and attname = any(%(prices)s) and not attnotnull",
        {**params, "prices": list(_PRICES)},
    ).fetchone()
    columns = [list(row[0]) for row in indexes]  # type: ignore[call-overload]
    correlation = None if stats is None or stats[0] is None else float(stats[0])  # type: ignore[arg-type]
    relpages, visible = (int(pages[0]), int(pages[1])) if pages else (0, 0)  # type: ignore[call-overload]
    return TableFacts(
        correlation=None if correlation is None or math.isnan(correlation) else correlation,
        symbol_index=any(cols[:1] == ["symbol"] for cols in columns),
        covering=any(
            cols[:3] == ["symbol", "interval", "ts"] and set(_PRICES) <= set(cols)
            for cols in columns
        ),
        all_visible=visible / relpages if relpages > 0 else 0.0,
        nullable=nullable is None or bool(nullable[0]),
    )


def choose_shape(facts: TableFacts) -> Literal["arrays", "set"]:
    """The load shape for a table (batches of :data:`SMALL_BATCH` or more symbols).

    Per symbol (``arrays``) when an index leads with ``symbol`` and either
    the table is clustered by symbol (|correlation| >= :data:`CLUSTERED`) or
    a covering index is mostly all-visible (index-only scans); otherwise,
    and when pg_stats knows nothing, set-oriented: it reads every page once
    whatever the row order, where per-symbol scans on a time-ordered table
    read a page per bar.
    """
    if not facts.symbol_index:
        return "set"
    if facts.covering and facts.all_visible >= ALL_VISIBLE:
        return "arrays"
    if facts.correlation is not None and abs(facts.correlation) >= CLUSTERED:
        return "arrays"
    return "set"


def column_types(
    conn: psycopg.Connection[tuple[object, ...]], table: sql.Identifier
) -> dict[str, str]:
    """The table's columns and their types; empty when the table does not exist."""
    regclass = table.as_string(conn)
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped",
        (regclass,),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def check_table(
    conn: psycopg.Connection[tuple[object, ...]],
    table: sql.Identifier,
    name: str,
    *,
    schema: str | None,
    create: bool,
    url: str,
    database: str,
) -> None:
    """Check (or, with ``create``, create) the bars table ``name`` and its schema.

    Raises:
        StoreSchemaError: the schema or the table is missing, or a column
            has another type.
    """
    if schema is not None:
        exists = conn.execute(
            "select 1 from pg_namespace where nspname = %s", (schema,)
        ).fetchone()
        if exists is None and create:
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        elif exists is None:
            raise StoreSchemaError(
                f"postgresql schema {schema!r} does not exist in database {database}: create "
                f"it (create schema {schema}) or open the store with create=True",
                url=url,
            )
    types = column_types(conn, table)
    if not types and create:
        schema_sql = resources.files("preopen.store").joinpath("schema.sql")
        conn.execute(sql.SQL(schema_sql.read_text(encoding="utf-8")).format(table=table))
        types = column_types(conn, table)
    if not types:
        raise StoreSchemaError(
            f"postgresql table {name!r} does not exist in database {database}: "
            "create it with preopen/store/schema.sql or open_store(..., create=True)",
            url=url,
        )
    wrong = [
        f"{column} is {types.get(column, 'missing')} (expected {' or '.join(accepted)})"
        for column, accepted in _COLUMN_TYPES.items()
        if not types.get(column, "missing").startswith(accepted)
    ]
    if wrong:
        raise StoreSchemaError(
            f"postgresql table {name!r} has the wrong columns: {'; '.join(wrong)}", url=url
        )
