"""BarStore, the protocol every store implements; open_store.

A store URL is checked once, for every store, by
:func:`preopen.storeurl.parse_store_url` (exported by ``preopen.store``), before any
file is touched or any server is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from preopen.errors import StoreError, StoreUrlError
from preopen.storeurl import parse_store_url

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from preopen.model import Bars
    from preopen.store._fingerprint import Fingerprint

__all__ = ["DEFAULT_LOAD_TIMEOUT", "BarStore", "check_request", "open_store"]

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
