"""The errors of calendar questions that cannot be answered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from preopen.errors._base import PreopenError

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "CalendarError",
    "CalendarFileError",
    "DateOutOfRangeError",
    "NotASessionError",
    "UnknownExchangeError",
]


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
