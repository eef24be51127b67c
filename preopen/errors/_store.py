"""The errors of bar stores, what a failed store call means, and URLs without passwords.

A store error says whether it is the whole store's (``store_wide``) and
whether the same call may succeed later (``transient``);
:func:`is_store_wide` and :func:`is_transient` read both, for a host's own
store's builtin errors too.
"""

from __future__ import annotations

import re
from typing import Final

from preopen.errors._base import PreopenError, SettingsError

__all__ = [
    "StaleSessionError",
    "StoreConnectionError",
    "StoreDataError",
    "StoreError",
    "StoreInterruptedError",
    "StoreLacksError",
    "StoreSchemaError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "StoreUrlError",
    "StoreWideError",
    "is_store_wide",
    "is_transient",
    "redact_url",
]


class StoreError(PreopenError, RuntimeError):
    """A bar store failed or was given something it cannot handle.

    Two class attributes tell a caller what to do with a failed load (see
    :func:`is_store_wide` and :func:`is_transient`):

    Attributes:
        url: the store's URL with any password removed.
        store_wide: True when the failure is the store's, not one symbol's
            (connection, authentication, missing table, locked, read-only,
            timed out): every batch would fail alike, so a batch is never
            split to find a culprit.
        transient: True when the same call may succeed later (retry it on
            the backoff); False when only a change of configuration or data
            helps.
    """

    store_wide: bool = False
    transient: bool = False

    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class StoreUrlError(StoreError, SettingsError):
    """A store URL or table name that is not accepted: bad input (the CLI exits 2).

    A :class:`SettingsError` as well (key ``store`` or ``table``), so whoever
    handles bad settings handles it; never retried.

    Attributes:
        key: ``"store"`` or ``"table"``.
        value: the refused value, any password removed.
        accepted: what would have been accepted, in words.
    """

    store_wide = True

    def __init__(self, key: str, value: str, accepted: str, *, url: str = "") -> None:
        self.key = key
        self.value = value
        self.accepted = accepted
        self.source = ""
        self.url = url
        PreopenError.__init__(self, f"{key}={value!r} is not accepted: {accepted}")


class StoreWideError(StoreError):
    """A failure of the whole store, whatever the symbols asked for.

    Raised for a database that is locked, read-only, full or closed, a
    permission denied, a store opened read-only asked to write. ``transient``
    is set per instance (locked: True; read-only: False).

    Attributes:
        reason: the driver's message, any password removed.
    """

    store_wide = True

    def __init__(
        self, message: str, *, url: str = "", reason: str = "", transient: bool = False
    ) -> None:
        self.reason = reason
        self.transient = transient
        super().__init__(message, url=url)


class StoreTimeoutError(StoreError, TimeoutError):
    """A store call passed its deadline (``load_timeout_s``): transient, retry it later.

    On PostgreSQL the statement or lock timeout fired (a lock held by
    another session, a server too slow); on SQLite the busy timeout or the
    load's deadline. Store-wide: splitting the batch would only wait again.

    Attributes:
        operation: what timed out (``"load"``, ``"fingerprints"``, ...).
        seconds: the deadline that passed, in seconds.
        reason: the driver's message.
    """

    store_wide = True
    transient = True

    def __init__(self, *, operation: str, seconds: float, reason: str = "", url: str = "") -> None:
        self.operation = operation
        self.seconds = seconds
        self.reason = reason
        tail = f": {reason}" if reason else ""
        super().__init__(
            f"{operation} did not finish within its deadline of {seconds:.2f} sec{tail}", url=url
        )


class StoreInterruptedError(StoreError):
    """A store call cancelled by ``BarStore.interrupt()`` (the runtime stopping).

    Attributes:
        operation: what was cancelled.
    """

    store_wide = True

    def __init__(self, *, operation: str, url: str = "") -> None:
        self.operation = operation
        super().__init__(f"{operation} was interrupted", url=url)


class StoreConnectionError(StoreError, ConnectionError):
    """The store's server cannot be reached (store-wide, transient).

    Attributes:
        host: the host tried.
        port: the port tried.
        database: the database asked for.
    """

    store_wide = True
    transient = True

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        host: str = "",
        port: int | None = None,
        database: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self.database = database
        super().__init__(message, url=url)


class StoreUnavailableError(StoreConnectionError):
    """The store's server stayed unreachable for the whole retry budget.

    Raised after the store retried a dropped or refused connection for as
    long as it was allowed (``retry_for``). The message, psycopg-style, names
    where, how many attempts in how long, and the last connection error:
    ``couldn't load from 127.0.0.1:5433/test after 4 attempts in 3.02 sec: ...``.

    Attributes:
        operation: what was attempted (``"load"``, ``"write"``, ``"symbols"``).
        attempts: how many attempts were made.
        elapsed: seconds from the first attempt to giving up.
        reason: the last connection error, any password already removed.
    """

    def __init__(
        self,
        *,
        operation: str,
        attempts: int,
        elapsed: float,
        reason: str,
        url: str = "",
        host: str = "",
        port: int | None = None,
        database: str = "",
    ) -> None:
        self.operation = operation
        self.attempts = attempts
        self.elapsed = elapsed
        self.reason = reason
        action = {"write": "write to", "symbols": "list symbols from"}.get(
            operation, f"{operation} from"
        )
        plural = "" if attempts == 1 else "s"
        super().__init__(
            f"couldn't {action} {host}:{port}/{database} after {attempts} attempt{plural} "
            f"in {elapsed:.2f} sec: {reason}",
            url=url,
            host=host,
            port=port,
            database=database,
        )


class StoreSchemaError(StoreError):
    """The bars table (or its schema) is missing or its columns are not the expected ones.

    Store-wide, not transient. Bad data of one symbol is a
    :class:`StoreDataError`, which is neither.
    """

    store_wide = True


class StoreDataError(StoreSchemaError):
    """Stored bars that cannot be read (one symbol's malformed rows): not store-wide.

    Attributes:
        symbol: the symbol whose bars are malformed, when known.
    """

    store_wide = False

    def __init__(self, message: str, *, url: str = "", symbol: str = "") -> None:
        self.symbol = symbol
        super().__init__(message, url=url)


class StoreLacksError(StoreError, LookupError):
    """The store holds no answer for what was asked (a hub without the range).

    A list of stores then asks the next one.

    Attributes:
        what: what was asked, in words (interval, range, symbols).
    """

    def __init__(self, message: str, *, what: str = "", url: str = "") -> None:
        self.what = what
        super().__init__(message, url=url)


class StaleSessionError(StoreLacksError):
    """A hub answered with the bars of another session than the one asked for.

    Attributes:
        session: the session the hub's snapshot is for.
        served_end: the end of the bars it holds (UTC nanoseconds).
        wanted_end: the end of the range asked for (UTC nanoseconds).
    """

    def __init__(self, *, session: str, served_end: int, wanted_end: int, url: str = "") -> None:
        import datetime as dt  # noqa: PLC0415 - only to word the message

        def when(ns: int) -> str:
            return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat()

        self.session = session
        self.served_end = served_end
        self.wanted_end = wanted_end
        super().__init__(
            f"hub served session {session} whose bars end at {when(served_end)}, "
            f"not the range asked ending at {when(wanted_end)}: refused as stale",
            what=f"bars up to {when(wanted_end)}",
            url=url,
        )


def is_store_wide(error: BaseException) -> bool:
    """Whether a failed store call is the store's fault rather than one symbol's.

    True for a :class:`StoreError` whose ``store_wide`` is set (connection,
    authentication, missing table or columns, locked, read-only, full, timed
    out, interrupted, closed), and for the builtin ``ConnectionError`` and
    ``TimeoutError`` a host's own store may raise. A planner never splits a
    batch that failed so; it retries the batch on the backoff (when
    :func:`is_transient`) or fails the round at once.
    """
    if isinstance(error, StoreError):
        return bool(error.store_wide)
    return isinstance(error, (ConnectionError, TimeoutError))


def is_transient(error: BaseException) -> bool:
    """Whether a failed store call may succeed if made again later, unchanged."""
    if isinstance(error, StoreError):
        return bool(error.transient)
    return isinstance(error, (ConnectionError, TimeoutError))


# A query parameter whose name ends so holds a secret (password, sslpassword).
_QUERY_SECRET: Final = re.compile(r"(?i)(\b[a-z_]*password\s*=\s*)('[^']*'|[^&\s]*)")


def redact_url(url: object) -> str:
    """Return ``url`` with any password removed, whatever its scheme or shape.

    The userinfo ends at the last ``@`` (a password may hold ``@``, ``/``,
    ``?`` or ``#`` when not percent-encoded), and becomes ``user:***``;
    ``password=`` parameters (URL query or ``key=value`` DSN) become ``***``.
    """
    text = url if isinstance(url, str) else repr(url)
    text = _QUERY_SECRET.sub(r"\1***", text)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    at = rest.rfind("@")
    if at < 0:
        return text
    userinfo, hostpart = rest[:at], rest[at + 1 :]
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{hostpart}"
