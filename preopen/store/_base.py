"""BarStore, the protocol every store implements, and open_store."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from preopen.errors import StoreError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from preopen.model import Bars

__all__ = ["ACCEPTED_SCHEMES", "BarStore", "open_store", "redact_url", "split_table"]

#: The URL forms open_store accepts, in words (used in error messages).
ACCEPTED_SCHEMES = (
    "sqlite:///path/to/file.db, postgresql://user@host:port/database, grpc://hub:port "
    "or a list of them"
)


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
        the store has none.
        """
        ...

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Write bars (idempotent upsert: the same bars twice leave one copy); return rows."""
        ...

    def symbols(self) -> tuple[str, ...]:
        """Every symbol with at least one bar, sorted."""
        ...

    def close(self) -> None:
        """Release connections; the store is not usable afterwards."""
        ...


def redact_url(url: str) -> str:
    """Return ``url`` with any password (in the netloc or the query) removed."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}"
    query = "&".join(
        f"{key}={value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() != "password"
    )
    return parts._replace(netloc=netloc, query=query).geturl()


def open_store(
    url: str | Sequence[str],
    *,
    pool_size: int = 2,
    table: str | None = None,
    create: bool = False,
    connect_timeout: float = 10.0,
    retry_for: float | None = None,
) -> BarStore:
    """Open the store named by a URL.

    Args:
        url: ``sqlite:///path/to/file.db`` (a relative path after the third
            slash, an absolute one after a fourth) or ``postgresql://...``
            (libpq URL; ``?table=schema.name`` picks the table).
        pool_size: connections in the PostgreSQL pool (loaders share them).
        table: the bars table (``name`` or ``schema.name``); overrides the
            URL's ``table`` parameter; default ``bars``.
        create: create the table if it does not exist (PostgreSQL; a SQLite
            file is preopen's own and always gets its table).
        connect_timeout: seconds to wait for a connection.
        retry_for: PostgreSQL: how long a call retries a dropped connection
            before it raises ``StoreUnavailableError`` (default: the URL's
            ``?retry_for=``, else 3 s; 0 turns retrying off). SQLite: unused.

    Returns:
        The store.

    Raises:
        StoreError: an unknown scheme or a bad parameter.
        StoreConnectionError: the server does not answer.
        StoreSchemaError: the table is missing or has the wrong columns.
    """
    if isinstance(url, list | tuple) and len(url) != 1:
        from preopen.store._fallback import FallbackStore  # noqa: PLC0415

        def opener(one: str) -> BarStore:
            return open_store(one, pool_size=pool_size, table=table, create=create,
                              connect_timeout=connect_timeout, retry_for=retry_for)

        return FallbackStore(url, opener)
    if isinstance(url, list | tuple):
        url = url[0]
    if not isinstance(url, str):
        raise StoreError(f"store URL {url!r} is not accepted: use {ACCEPTED_SCHEMES}")
    scheme = urlsplit(url).scheme.lower()
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise StoreError(
            f"pool_size={pool_size!r} is not accepted: use an integer >= 1", url=redact_url(url)
        )
    if scheme == "sqlite":
        from preopen.store._sqlite import SQLiteStore  # noqa: PLC0415 - load the driver on use

        return SQLiteStore(url, table=table, timeout=connect_timeout)
    if scheme in {"postgresql", "postgres"}:
        from preopen.store._postgres import PostgresStore  # noqa: PLC0415 - load the driver on use

        return PostgresStore(
            url,
            pool_size=pool_size,
            table=table,
            create=create,
            connect_timeout=connect_timeout,
            retry_for=retry_for,
        )
    if scheme in {"grpc", "grpc+tcp"}:
        from preopen.store._flight import FlightStore  # noqa: PLC0415 - pyarrow loads on use

        return FlightStore(url, connect_timeout=connect_timeout)
    raise StoreError(
        f"store URL {redact_url(url)!r} has an unknown scheme {scheme!r}: use {ACCEPTED_SCHEMES}",
        url=redact_url(url),
    )


_MAX_PARTS = 2  # schema.name
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def split_table(table: str, *, url: str) -> tuple[str | None, str]:
    """Split ``schema.name`` or ``name`` into (schema or None, name).

    Raises:
        StoreError: a name that is not one or two plain identifiers.
    """
    parts = table.split(".") if isinstance(table, str) else []
    if not 1 <= len(parts) <= _MAX_PARTS or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise StoreError(
            f"table {table!r} is not accepted: use name or schema.name, each a letter or "
            "underscore followed by letters, digits or underscores (at most 63)",
            url=url,
        )
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]
