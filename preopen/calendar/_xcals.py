"""The exchange_calendars adapter (the optional ``exchange-calendars`` extra).

``get_calendar("xcals:XTKS")`` answers through exchange_calendars: the
sessions, opens, closes and breaks it gives over its own default range are
turned into an explicit-date :class:`~preopen.calendar.CalendarSpec` (see
:mod:`preopen.calendar._explicit`), so the calendar has preopen's interface,
breaks included, and its horizon is the last date exchange_calendars was
asked for. ``preopen calendar export`` writes the same description as TOML,
so that a host can run without exchange_calendars installed.

exchange_calendars (and pandas with it) is imported only here, on the first
call that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from preopen.calendar._explicit import SessionRow, spec_from_sessions
from preopen.errors import CalendarError, UnknownExchangeError

if TYPE_CHECKING:
    import datetime as dt

    from preopen.calendar._spec import CalendarSpec

__all__ = ["PREFIX", "xcals_spec"]

PREFIX = "xcals:"
_EXTRA = "pip install 'preopen[exchange-calendars]'"


def _module() -> Any:  # noqa: ANN401 - an optional module without our stubs
    try:
        import exchange_calendars  # type: ignore[import-untyped]  # noqa: PLC0415 - the optional extra
    except ImportError:
        msg = f"exchange_calendars is not installed: {_EXTRA}"
        raise CalendarError(msg) from None
    return exchange_calendars


def _local_times(column: Any, tz: str) -> list[dt.time | None]:  # noqa: ANN401 - a pandas Series
    local = column.dt.tz_convert(tz)
    return [None if value is None or value != value else value.time() for value in local]  # noqa: PLR0124 - NaT is not equal to itself


def xcals_spec(code: str, start: dt.date | None = None, end: dt.date | None = None) -> CalendarSpec:
    """The explicit-date description of an exchange_calendars calendar.

    Args:
        code: the exchange_calendars name ("XTKS"), with or without the ``xcals:`` prefix.
        start: the first date (default: exchange_calendars' own default start).
        end: the last date, the horizon (default: exchange_calendars' own default end).

    Returns:
        The description, named by ``code``.

    Raises:
        CalendarError: exchange_calendars is not installed, or it refuses the
            range, or a session's hours cannot be described.
        UnknownExchangeError: exchange_calendars has no such calendar.
    """
    xcals = _module()
    name = code.removeprefix(PREFIX).strip().upper()
    if start is not None and end is not None and end < start:
        msg = f"end={end.isoformat()} is not accepted: a date on or after start={start.isoformat()}"
        raise CalendarError(msg)
    names = xcals.get_calendar_names(include_aliases=True)
    if name not in names:
        raise UnknownExchangeError(f"{PREFIX}{name}", tuple(sorted(names)))
    kwargs = {
        key: value.isoformat() for key, value in (("start", start), ("end", end)) if value
    }
    try:
        calendar = xcals.get_calendar(name, **kwargs)
    except Exception as exc:  # exchange_calendars raises several kinds for a bad range
        msg = f"exchange_calendars refuses {name} over {kwargs or 'its default range'}: {exc}"
        raise CalendarError(msg) from exc
    tz = str(calendar.tz)
    schedule = calendar.schedule
    columns = [
        _local_times(schedule[key], tz) for key in ("open", "break_start", "break_end", "close")
    ]
    rows: list[SessionRow] = []
    for day, opening, break_start, break_end, closing in zip(
        schedule.index, *columns, strict=True
    ):
        assert opening is not None  # noqa: S101 - a session has an open
        assert closing is not None  # noqa: S101 - and a close
        rows.append((day.date(), opening, break_start, break_end, closing))
    weekend = frozenset(i for i, flag in enumerate(str(calendar.weekmask)) if flag == "0")
    return spec_from_sessions(
        name=name,
        timezone=tz,
        weekend=weekend,
        start=start or calendar.first_session.date(),
        end=end or calendar.last_session.date(),
        rows=rows,
    )
