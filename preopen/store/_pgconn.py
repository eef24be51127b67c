"""A PostgresStore's connection: its conninfo, where it goes, what its failures mean.

Every psycopg error a PostgresStore call meets goes through :func:`classify`
once: store-wide or one batch's, transient or not (the classes and their
``store_wide`` and ``transient`` attributes are listed in
``docs/architecture.md``, "Errors are classified once").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from preopen.errors import (
    StoreConnectionError,
    StoreError,
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreWideError,
)
from preopen.store._retry import RetryExhaustedError, is_connection_failure, is_wait_timeout

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "OWN_PARAMETERS",
    "classify",
    "connection_error",
    "conninfo",
    "redact",
    "unavailable",
    "where",
]

# URL parameters that are preopen's, not libpq's: taken out of the conninfo.
OWN_PARAMETERS: Final = frozenset({"table", "retry_for"})


def conninfo(url: str) -> tuple[str, str | None]:
    """(the libpq URL without preopen's parameters, the URL's ``retry_for`` or None).

    The query is re-encoded with ``quote``, not ``quote_plus``: libpq decodes
    ``%20`` but not ``+`` (``options=-c jit=off`` must reach it with its space).
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = urlencode([(k, v) for k, v in query if k not in OWN_PARAMETERS], quote_via=quote)
    return parts._replace(query=kept).geturl(), dict(query).get("retry_for")


def redact(exc: BaseException, info: str) -> str:
    """The error's message on one line, the conninfo's password (if any) replaced."""
    reason = " ".join(str(exc).split())
    password = conninfo_to_dict(info).get("password")
    return reason.replace(str(password), "***") if password else reason

# SQLSTATEs that are the whole store's state, not one symbol's: permissions,
# a read-only server or transaction, resources; with their words and whether
# trying again later may help. Class 28 (authorization) is refused, for good.
_STORE_WIDE_STATES: Final = {
    "42501": ("permission denied", False),
    "25006": ("read-only", False),
    "53100": ("full", False),
    "53200": ("out of memory", True),
    "53000": ("out of resources", True),
    "3D000": ("missing database", False),
    "40P01": ("deadlocked", True),
    "40001": ("in a serialization failure", True),
}
_SCHEMA_ERRORS: Final = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.UndefinedFunction,
)


def classify(  # noqa: PLR0911 - one answer per kind of failure
    exc: psycopg.Error,
    what: str,
    *,
    table: str,
    url: str,
    seconds: float,
    reason: str,
    connection_error: Callable[[BaseException], StoreError],
) -> StoreError:
    """The StoreError for a psycopg error met by ``what`` (``"load"``, ...).

    Args:
        exc: the error.
        what: the operation.
        table: the table's name, for the message.
        url: the store's URL, password removed.
        seconds: the call's deadline, for a timeout.
        reason: the error's message, password removed.
        connection_error: builds the store's connection error.
    """
    where_ = f"postgresql {what} on {table!r}"
    if isinstance(exc, psycopg.errors.QueryCanceled):
        if "statement timeout" in reason:
            return StoreTimeoutError(operation=what, seconds=seconds, reason=reason, url=url)
        return StoreInterruptedError(operation=what, url=url)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return StoreTimeoutError(
            operation=what,
            seconds=seconds,
            reason=f"{reason} (another session holds a lock on {table})",
            url=url,
        )
    if isinstance(exc, psycopg.OperationalError) and is_connection_failure(exc):
        return connection_error(exc)
    if isinstance(exc, _SCHEMA_ERRORS):
        return StoreSchemaError(f"{where_}: {reason}", url=url)
    if isinstance(exc, psycopg.errors.InvalidColumnReference):
        return StoreSchemaError(
            f"{where_} needs a primary key or unique index on (symbol, interval, ts): {reason}",
            url=url,
        )
    state = exc.sqlstate or ""
    if state in _STORE_WIDE_STATES or state.startswith("28"):
        words, transient = _STORE_WIDE_STATES.get(state, ("refused (authorization)", False))
        return StoreWideError(
            f"{where_} failed, the database is {words}: {reason}",
            url=url,
            reason=reason,
            transient=transient,
        )
    return StoreError(f"{where_} failed: {reason}", url=url)


def where(conninfo: str) -> tuple[str, int, str]:
    """(host, port, database) of a conninfo, for messages."""
    params = conninfo_to_dict(conninfo)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    try:
        port = int(str(params.get("port") or 5432).split(",")[0])
    except ValueError:
        port = 5432
    database = str(params.get("dbname") or params.get("user") or "")
    return host, port, database


def connection_error(reason: str, *, where: tuple[str, int, str], url: str) -> StoreConnectionError:
    """The server cannot be reached: where, and why (``reason``, password removed)."""
    host, port, database = where
    return StoreConnectionError(
        f"cannot reach postgresql at host {host} port {port} database {database}: {reason}",
        url=url,
        host=host,
        port=port,
        database=database,
    )


def unavailable(
    operation: str,
    exc: RetryExhaustedError,
    *,
    redact: Callable[[BaseException], str],
    last_loss: tuple[float, str] | None,
    where: tuple[str, int, str],
    url: str,
) -> StoreUnavailableError:
    """The retry budget ran out: the last error, and the connection error behind a pool timeout."""
    reason = redact(exc.error)
    if exc.reason is not exc.error:
        reason = f"{reason}; last connection error: {redact(exc.reason)}"
    elif is_wait_timeout(exc.error) and last_loss is not None:
        at, lost = last_loss
        reason = f"{reason}; last connection error {time.monotonic() - at:.2f} sec ago: {lost}"
    host, port, database = where
    return StoreUnavailableError(
        operation=operation,
        attempts=exc.attempts,
        elapsed=exc.elapsed,
        reason=reason,
        url=url,
        host=host,
        port=port,
        database=database,
    )
