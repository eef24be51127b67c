"""BarStore, the protocol every store implements; open_store; the URL rules.

A store URL is checked here, once, for every store: a bad one raises
:class:`~preopen.errors.StoreUrlError` (bad input, a ``SettingsError`` too)
before any file is touched or any server is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from preopen.errors import StoreError, StoreUrlError, redact_url

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from preopen.model import Bars
    from preopen.store._fingerprint import Fingerprint

__all__ = [
    "ACCEPTED_SCHEMES",
    "DEFAULT_LOAD_TIMEOUT",
    "BarStore",
    "StoreUrl",
    "check_request",
    "open_store",
    "parse_store_url",
    "redact_url",
    "split_table",
]

#: The URL forms open_store accepts, in words (used in error messages).
ACCEPTED_SCHEMES: Final = (
    "sqlite:///path/to/file.db, postgresql://user@host:port/database, grpc://hub:port "
    "or a list of them"
)
#: Seconds a load may take, everything included, unless told otherwise.
DEFAULT_LOAD_TIMEOUT: Final = 60.0


@runtime_checkable
class BarStore(Protocol):
    """Where bars come from. Every method is safe to call from several threads at once.

    Attributes:
        url: the store's URL with any password removed.
    """

    url: str

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        """Load the bars of many symbols with ``start <= ts < end``, in one batch.

        Every requested symbol is a key of the result, with empty Bars where
        the store has none. A load past the store's deadline raises
        :class:`~preopen.errors.StoreTimeoutError`.
        """
        ...

    def fingerprints(
        self,
        symbols: Sequence[str],
        interval: str,
        ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    ) -> dict[str, tuple[Fingerprint, ...]]:
        """Per symbol, one :class:`Fingerprint` per ``[start, end)`` range, computed in the store.

        Equal to :func:`preopen.store.fingerprints_of` of the same bars.
        """
        ...

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Write bars (idempotent upsert: the same bars twice leave one copy); return rows."""
        ...

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with at least one bar, sorted."""
        ...

    def interrupt(self) -> None:
        """Cancel the calls in flight, from any thread; they raise StoreInterruptedError.

        Calls made afterwards run as usual.
        """
        ...

    def close(self) -> None:
        """Release connections; the store is not usable afterwards."""
        ...


_MAX_PARTS = 2  # schema.name
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TABLE_ACCEPTED: Final = (
    "name or schema.name, each a letter or underscore followed by letters, digits or "
    "underscores (at most 63)"
)


def split_table(table: str, *, url: str) -> tuple[str | None, str]:
    """Split ``schema.name`` or ``name`` into (schema or None, name).

    Raises:
        StoreUrlError: a name that is not one or two plain identifiers.
    """
    parts = table.split(".") if isinstance(table, str) else []
    if not 1 <= len(parts) <= _MAX_PARTS or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise StoreUrlError("table", str(table), _TABLE_ACCEPTED, url=url)
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A checked store URL.

    Attributes:
        scheme: ``"sqlite"`` or ``"postgresql"``.
        url: the URL as given (it may hold a password: never print it).
        redacted: the URL with any password removed.
        schema: the table's schema, or None.
        table: the table's name.
        path: SQLite: the database file as written in the URL; else empty.
    """

    scheme: str
    url: str
    redacted: str
    schema: str | None
    table: str
    path: str = ""

    @property
    def qualified(self) -> str:
        """``schema.table`` or ``table``."""
        return f"{self.schema}.{self.table}" if self.schema else self.table


def parse_store_url(url: object, table: str | None = None) -> StoreUrl:
    """Check a store URL (and the table, given or from ``?table=``) without opening it.

    Raises:
        StoreUrlError: not a string, an unknown scheme, a SQLite URL with no
            file (``sqlite:///``, ``sqlite:///:memory:``) or with a host, a
            schema-qualified table on SQLite, a bad table name.
    """
    redacted = redact_url(url)
    if not isinstance(url, str):
        raise StoreUrlError("store", redacted, f"a URL: {ACCEPTED_SCHEMES}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if table is not None and not isinstance(table, str):
        raise StoreUrlError("table", repr(table), _TABLE_ACCEPTED, url=redacted)
    schema, name = split_table(table or query.get("table") or "bars", url=redacted)
    if scheme in {"postgresql", "postgres"}:
        return StoreUrl("postgresql", url, redacted, schema, name)
    if scheme in {"grpc", "grpc+tcp"}:
        return StoreUrl("grpc", url, redacted, schema, name)
    if scheme != "sqlite":
        raise StoreUrlError(
            "store", redacted, f"unknown scheme {scheme!r}: use {ACCEPTED_SCHEMES}", url=redacted
        )
    raw_path = url.split("://", 1)[1].split("?", 1)[0]
    if not raw_path.startswith("/") or raw_path.rstrip("/") == "" or raw_path == "/:memory:":
        raise StoreUrlError(
            "store",
            redacted,
            "sqlite:///relative/file.db or sqlite:////absolute/file.db (a file; no host, "
            "not :memory:)",
            url=redacted,
        )
    if schema is not None:
        raise StoreUrlError(
            "table",
            f"{schema}.{name}",
            "a plain table name on SQLite (a SQLite file has no schemas)",
            url=redacted,
        )
    return StoreUrl("sqlite", url, redacted, None, name, path=raw_path[1:])


def check_request(
    symbols: Sequence[str],
    interval: str,
    start: dt.datetime | int,
    end: dt.datetime | int,
    *,
    url: str,
) -> list[str]:
    """Check a load's arguments; return the symbols once each, in order.

    Raises:
        BarsError: a bad interval or a naive instant.
        StoreError: symbols that are not a sequence of non-empty strings.
    """
    from preopen.model import parse_interval, to_ns  # noqa: PLC0415 - numpy: only with a store

    parse_interval(interval)
    to_ns(start)
    to_ns(end)
    if isinstance(symbols, str) or not all(isinstance(s, str) and s for s in symbols):
        raise StoreError(
            f"symbols {symbols!r} are not accepted: use a sequence of non-empty strings", url=url
        )
    return list(dict.fromkeys(symbols))


def open_store(
    url: str | Sequence[str],
    *,
    pool_size: int = 2,
    table: str | None = None,
    create: bool = False,
    connect_timeout: float = 10.0,
    retry_for: float | None = None,
    load_timeout: float = DEFAULT_LOAD_TIMEOUT,
) -> BarStore:
    """Open the store named by a URL.

    Opened for loading (``create`` false), a store never changes the
    database or the file: a SQLite file is opened read-only, nothing is
    created, no journal mode is switched.

    Args:
        url: ``sqlite:///path/to/file.db`` (a relative path after the third
            slash, an absolute one after a fourth) or ``postgresql://...``
            (libpq URL; ``?table=schema.name`` picks the table).
        pool_size: connections in the PostgreSQL pool (loaders share them).
        table: the bars table (``name`` or ``schema.name``); overrides the
            URL's ``table`` parameter; default ``bars``.
        create: open for writing, creating what is missing: the schema and
            the table (PostgreSQL), the file and its table (SQLite). For
            ``seed``, the demo and tests; never for loading a host's data.
        connect_timeout: seconds to wait for a connection.
        retry_for: PostgreSQL: how long a call retries a dropped connection
            before it raises ``StoreUnavailableError`` (default: the URL's
            ``?retry_for=``, else 3 s; 0 turns retrying off). SQLite: unused.
        load_timeout: the deadline of each load, in seconds, everything
            included (waiting for a connection or a lock, the query, the
            retries); past it the load raises ``StoreTimeoutError``.

    Returns:
        The store.

    Raises:
        StoreUrlError: a bad URL, table or parameter (bad input).
        StoreConnectionError: the server does not answer.
        StoreSchemaError: the table (or the SQLite file) is missing or has
            the wrong columns.
    """
    if isinstance(url, list | tuple) and len(url) != 1:
        from preopen.store._fallback import FallbackStore  # noqa: PLC0415

        def opener(one: str) -> BarStore:
            return open_store(one, pool_size=pool_size, table=table, create=create,
                              connect_timeout=connect_timeout, retry_for=retry_for,
                              load_timeout=load_timeout)

        return FallbackStore(url, opener)
    if isinstance(url, list | tuple):
        url = url[0]
    parsed = parse_store_url(url, table)
    assert isinstance(url, str)  # noqa: S101 - parse_store_url refuses anything else
    if parsed.scheme == "grpc":
        from preopen.store._flight import FlightStore  # noqa: PLC0415 - pyarrow loads on use

        return FlightStore(url, connect_timeout=connect_timeout)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise StoreUrlError(
            "pool_size", str(pool_size), "an integer >= 1", url=parsed.redacted
        )
    if (
        isinstance(load_timeout, bool)
        or not isinstance(load_timeout, int | float)
        or not 0 < load_timeout < float("inf")
    ):
        raise StoreUrlError(
            "load_timeout", str(load_timeout), "a number of seconds > 0", url=parsed.redacted
        )
    if parsed.scheme == "sqlite":
        from preopen.store._sqlite import SQLiteStore  # noqa: PLC0415 - load the driver on use

        return SQLiteStore(
            url, table=table, timeout=connect_timeout, load_timeout=load_timeout, create=create
        )
    from preopen.store._postgres import PostgresStore  # noqa: PLC0415 - load the driver on use

    return PostgresStore(
        url,
        pool_size=pool_size,
        table=table,
        create=create,
        connect_timeout=connect_timeout,
        retry_for=retry_for,
        load_timeout=load_timeout,
    )
