"""Every error preopen raises.

Each class subclasses :class:`PreopenError` and the builtin it refines, so a
host can catch either, and carries its context as attributes. Messages are
lowercase and carry the values (``window_minutes=-5 is not accepted: ...``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "BarsError",
    "CalendarError",
    "CalendarFileError",
    "DateOutOfRangeError",
    "EscalationError",
    "MissingExtraError",
    "NoSnapshotError",
    "NotASessionError",
    "PreopenError",
    "PreopenTimeoutError",
    "RuntimeStoppedError",
    "SettingsError",
    "StaleSessionError",
    "StoreConnectionError",
    "StoreError",
    "StoreLacksError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "UnknownExchangeError",
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
        last: the last date supported.
    """

    def __init__(self, value: dt.date, first: dt.date, last: dt.date, *, what: str = "") -> None:
        self.value = value
        self.first = first
        self.last = last
        detail = f" ({what})" if what else ""
        super().__init__(
            f"date {value.isoformat()} is outside the calendar's range "
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

    Attributes:
        url: the store's URL with any password removed.
    """

    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class StoreConnectionError(StoreError, ConnectionError):
    """The store's server cannot be reached.

    Attributes:
        host: the host tried.
        port: the port tried.
        database: the database asked for.
    """

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
    """The bars table is missing or its columns are not the expected ones."""


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


class MissingExtraError(PreopenError, ImportError):
    """A call needs an optional dependency that is not installed.

    Attributes:
        extra: the preopen extra that installs it (``arrow``).
        module: the module that is missing.
        what: what needed it.
    """

    def __init__(self, *, extra: str, module: str, what: str) -> None:
        self.extra = extra
        self.module = module
        self.what = what
        super().__init__(
            f"{what} needs {module}, which is not installed: pip install 'preopen[{extra}]'",
            name=module,
        )
