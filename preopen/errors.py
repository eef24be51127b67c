"""Every error preopen raises.

Each class subclasses :class:`PreopenError` and the builtin it refines, so a
host can catch either, and carries its context as attributes. Messages are
lowercase and carry the values (``window_minutes=-5 is not accepted: ...``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "BarsError",
    "CalendarError",
    "CalendarFileError",
    "ChecksumMismatchError",
    "DateOutOfRangeError",
    "EscalationError",
    "LiveGapError",
    "LiveJoinError",
    "LiveOverlapError",
    "MissingExtraError",
    "NoSnapshotError",
    "NotASessionError",
    "PreopenError",
    "PreopenTimeoutError",
    "PublishError",
    "RuntimeStoppedError",
    "SettingsError",
    "SnapshotFileError",
    "StaleSessionError",
    "StopTimeoutError",
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
    "UnknownExchangeError",
    "is_store_wide",
    "is_transient",
    "redact_url",
]


class PreopenError(Exception):
    """Base class of every error preopen raises."""


class SettingsError(PreopenError, ValueError):
    """A setting has a value that is not accepted.

    Attributes:
        key: the setting's name.
        value: the value that was refused.
        accepted: what would have been accepted, in words.
    """

    def __init__(self, key: str, value: Any, accepted: str, *, source: str = "") -> None:  # noqa: ANN401 - any value can be refused
        self.key = key
        self.value = value
        self.accepted = accepted
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"{key}={value!r}{where} is not accepted: {accepted}")


class CalendarError(PreopenError, ValueError):
    """A calendar question that cannot be answered."""


class UnknownExchangeError(CalendarError, LookupError):
    """No calendar is known under that name.

    Attributes:
        name: the name asked for.
        known: the names that are known.
    """

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"unknown exchange {name!r}: accepted are {', '.join(known)} "
            "or the path of a calendar TOML file"
        )


class CalendarFileError(CalendarError):
    """A calendar TOML file that cannot be read or is malformed.

    Attributes:
        path: the file.
        reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"calendar file {path!r}: {reason}")


class DateOutOfRangeError(CalendarError):
    """A date outside the range the calendar knows.

    Attributes:
        value: the date asked about.
        first: the first date supported.
        last: the last date supported (the calendar's horizon).
    """

    def __init__(
        self, value: dt.date, first: dt.date, last: dt.date, *, what: str = "", message: str = ""
    ) -> None:
        self.value = value
        self.first = first
        self.last = last
        detail = f" ({what})" if what else ""
        super().__init__(
            message
            or f"date {value.isoformat()} is outside the calendar's range "
            f"{first.isoformat()}..{last.isoformat()}{detail}"
        )


class NotASessionError(CalendarError):
    """A date that is not a trading session where one is required.

    Attributes:
        value: the date.
        exchange: the calendar's name.
    """

    def __init__(self, value: dt.date, exchange: str) -> None:
        self.value = value
        self.exchange = exchange
        super().__init__(f"{value.isoformat()} is not a {exchange} session")


class BarsError(PreopenError, ValueError):
    """Arrays that cannot make a Bars value (lengths, dtypes, interval)."""


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


class PreopenTimeoutError(PreopenError, TimeoutError):
    """A wait did not end in time.

    Attributes:
        what: what was waited for.
        seconds: how long.
    """

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what}: no answer after {seconds:.2f} sec")


class StopTimeoutError(PreopenTimeoutError):
    """Threads of the runtime were still running when its stop ran out of time.

    Typically a loader inside a store call that ignores cancellation: such a
    thread is a daemon, so it does not keep the process alive.

    Attributes:
        threads: the names of the threads still running.
    """

    def __init__(self, threads: tuple[str, ...], seconds: float) -> None:
        self.threads = threads
        super().__init__(f"stopping the runtime: threads still running: {', '.join(threads)}",
                         seconds)


class RuntimeStoppedError(PreopenError, RuntimeError):
    """The runtime is stopped (or stopping) and cannot answer."""


class EscalationError(PreopenError, RuntimeError):
    """Too many restarts in the restart period: the runtime gave up.

    Attributes:
        child: the child that crashed last.
        restarts: restarts counted within the period.
        period_s: the period in seconds.
    """

    def __init__(self, child: str, restarts: int, period_s: float, cause: str = "") -> None:
        self.child = child
        self.restarts = restarts
        self.period_s = period_s
        self.cause = cause
        tail = f": {cause}" if cause else ""
        super().__init__(
            f"{child} crashed {restarts} times within {period_s:.2f} sec, "
            f"past the restart intensity{tail}"
        )


class NoSnapshotError(PreopenError, LookupError):
    """The runtime serves no snapshot (yet, or not any more).

    Attributes:
        phase: the calendar phase at the time.
        session: the session in progress or next, if known.
    """

    def __init__(self, phase: str, session: dt.date | None, detail: str = "") -> None:
        self.phase = phase
        self.session = session
        which = f"; session {session.isoformat()}" if session else ""
        tail = f": {detail}" if detail else ""
        super().__init__(f"no snapshot is served (phase {phase}{which}){tail}")


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


class _RefusedArgumentError(PreopenError):
    """An argument a preopen call does not take: its name, value and what is accepted."""

    def __init__(self, name: str, value: Any, accepted: str) -> None:  # noqa: ANN401 - any value can be refused
        self.name = name
        self.value = value
        self.accepted = accepted
        super().__init__(f"{name}={value!r} is not accepted: {accepted}")


class ArgumentTypeError(_RefusedArgumentError, TypeError):
    """An argument of a type a preopen call does not take (``calendar="XNYS"``).

    Attributes:
        name: the argument.
        value: the value given.
        accepted: what is accepted, in words.
    """


class ArgumentValueError(_RefusedArgumentError, ValueError):
    """An argument of the right type with a value a preopen call does not take.

    Attributes:
        name: the argument.
        value: the value given.
        accepted: what is accepted, in words.
    """


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


class MissingExtraError(PreopenError, ImportError):
    """A call needs an optional package that is not installed.

    Attributes:
        module: the module that could not be imported (``pyarrow``).
        extra: the preopen extra that installs it (``arrow``).
    """

    def __init__(self, module: str, extra: str, what: str = "") -> None:
        self.module = module
        self.extra = extra
        needs = f"{what} needs " if what else ""
        super().__init__(
            f"{needs}{module}, which is not installed: pip install 'preopen[{extra}]'",
            name=module,
        )


class PublishError(PreopenError, OSError):
    """A snapshot could not be published; what was published before is untouched.

    Attributes:
        path: the file or directory that failed.
        reason: what went wrong.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"couldn't publish the snapshot to {path}: {reason}")


class SnapshotFileError(PreopenError, OSError):
    """A published snapshot cannot be attached: a file missing, truncated or corrupt.

    Attributes:
        path: the file at fault.
        reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"published snapshot file {path}: {reason}")


class ChecksumMismatchError(SnapshotFileError):
    """A published file's SHA-256 differs from the one its manifest records.

    Attributes:
        path: the file at fault.
        expected: the manifest's digest.
        actual: the file's digest.
    """

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(path, f"sha256 {actual} does not match the manifest's {expected}")
class LiveJoinError(PreopenError, ValueError):
    """Live bars do not continue the history on the calendar's grid.

    Raised as is when live bars are off the grid (outside a session, inside a
    break, misaligned); its subclasses name a gap or an overlap.

    Attributes:
        where: the symbol and interval.
        check: the :class:`~preopen.model.JoinCheck` with every finding.
    """

    # ``check`` is a preopen.model.JoinCheck; typed Any because errors sits below model.
    def __init__(self, where: str, check: Any) -> None:  # noqa: ANN401 - see above
        self.where = where
        self.check: Any = check
        super().__init__(f"live bars of {where} do not join the history: {check}")


class LiveGapError(LiveJoinError):
    """Stamps are missing between the history and the live bars, or between live bars."""


class LiveOverlapError(LiveJoinError):
    """A live bar repeats a bar the history (or an earlier live bar) already holds."""




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


