"""The SQL preopen sends to PostgreSQL: the load queries and the bars table's check.

Symbols, the interval and the time range are always parameters; the table
name reaches SQL only as a :class:`psycopg.sql.Identifier`.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Final

from psycopg import sql

from preopen.errors import StoreSchemaError

if TYPE_CHECKING:
    import psycopg

__all__ = ["check_table", "column_types", "load_query"]

_COLUMN_TYPES: Final = {
    "symbol": ("text", "character varying"),
    "interval": ("text", "character varying"),
    "ts": ("timestamp with time zone",),
    **dict.fromkeys(("open", "high", "low", "close", "volume"), ("double precision",)),
}

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


def load_query(method: str, table: sql.Identifier) -> sql.Composed:
    """The binary COPY of one load, ``method`` ``"arrays"`` or ``"rows"``.

    Parameters: ``symbols`` (text[]), ``interval``, ``start``, ``end``.
    """
    bars = sql.SQL(_BARS).format(table=table)
    select = sql.SQL(_QUERIES[method]).format(bars=bars)
    return sql.SQL("copy ({}) to stdout (format binary)").format(select)


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
    create: bool,
    url: str,
    database: str,
) -> None:
    """Check (or, with ``create``, create) the bars table ``name``.

    Raises:
        StoreSchemaError: the table is missing, or a column has another type.
    """
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
