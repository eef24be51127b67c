"""Calendars of explicit dates: built from a list of sessions, written as TOML.

A calendar whose holidays follow no rule preopen can state (lunar new year,
one-off closures) is described by its dates: every weekday that is not a
session is a closure, every shorter session an early close, and a change of
regular hours an ``[[hours]]`` entry from its date. :func:`spec_from_sessions`
builds that description from the sessions another source gives (the
exchange_calendars adapter), and :func:`spec_to_toml` writes it in the format
:mod:`preopen.calendar._toml` reads.
"""

from __future__ import annotations

import collections
import datetime as dt
from typing import TYPE_CHECKING, TypeAlias

from preopen.calendar._hours import DayHours, Hours
from preopen.calendar._rules import WEEKDAY_NAMES
from preopen.calendar._spec import CalendarSpec
from preopen.errors import CalendarError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SessionRow", "spec_from_sessions", "spec_to_toml"]

# A session: its date, then local open, break start, break end, close.
SessionRow: TypeAlias = tuple[dt.date, dt.time, dt.time | None, dt.time | None, dt.time]

# A change of regular hours is told from a one-off day by this many sessions
# in a row (the day itself included) having the new hours.
_ERA_RUN = 4
_ONE_DAY = dt.timedelta(days=1)


def _day(row: SessionRow) -> DayHours:
    return DayHours(row[1], row[4], row[2], row[3])


def _as_hours(row: SessionRow, since: dt.date | None) -> Hours:
    try:
        return Hours(row[1], row[4], row[2], row[3], since=since)
    except ValueError as exc:
        msg = f"session {row[0].isoformat()} is not accepted: {exc}"
        raise CalendarError(msg) from None


def _starts_era(rows: Sequence[SessionRow], i: int) -> bool:
    wanted = _day(rows[i])
    following = rows[i : i + _ERA_RUN]
    return len(following) == _ERA_RUN and all(_day(row) == wanted for row in following)


def _starts_tail_era(rows: Sequence[SessionRow], i: int) -> bool:
    wanted = _day(rows[i])
    return len(rows) - i < _ERA_RUN and all(_day(row) == wanted for row in rows[i:])


def _eras(
    name: str,
    weekend: frozenset[int],
    rows: Sequence[SessionRow],
    current: Hours,
) -> tuple[list[Hours], dict[dt.date, dt.time]]:
    """The changes of regular hours and the early closes among ``rows``."""
    changes: list[Hours] = []
    early: dict[dt.date, dt.time] = {}
    for i, row in enumerate(rows):
        day = row[0]
        if day.weekday() in weekend:
            msg = (
                f"session {day.isoformat()} of {name} is on a weekend day, "
                "which a calendar of this format cannot say"
            )
            raise CalendarError(msg)
        if _day(row) == current.on_day(None):
            continue
        if _starts_era(rows, i):
            current = _as_hours(row, day)
            changes.append(current)
            continue
        if row[4] < current.close and _day(row) == current.on_day(row[4]):
            early[day] = row[4]
            continue
        if _starts_tail_era(rows, i):
            # New hours too close to the range's end to show a full run: the
            # range ends inside the new era, not on a one-off day.
            current = _as_hours(row, day)
            changes.append(current)
            continue
        msg = (
            f"session {day.isoformat()} of {name} has hours {_day(row)!r} that are neither "
            f"regular ({current!r}) nor an early close of them"
        )
        raise CalendarError(msg)
    return changes, early


def spec_from_sessions(
    *,
    name: str,
    timezone: str,
    weekend: frozenset[int],
    start: dt.date,
    end: dt.date,
    rows: Sequence[SessionRow],
) -> CalendarSpec:
    """The explicit-date description of the sessions ``rows`` from ``start`` to ``end``.

    Args:
        name: the exchange's code.
        timezone: its IANA zone.
        weekend: the weekdays that are never sessions (0 = Monday).
        start: the first date described.
        end: the last date described: the calendar's horizon.
        rows: every session in ``start..end``, in date order, with local times.

    Returns:
        The description: regular hours (and their changes), closures, early closes.

    Raises:
        CalendarError: a session on a weekend day, or one whose hours are
            neither regular, an early close of the regular hours, nor the start
            of new regular hours (a late open, say).
    """
    if not rows:
        msg = f"calendar {name} has no session in {start.isoformat()}..{end.isoformat()}"
        raise CalendarError(msg)
    # The first regular hours: the first session's, unless it is a one-off
    # (an early close), then the most common among the first few.
    counts = collections.Counter(_day(row) for row in rows[: _ERA_RUN * 5])
    first = rows[0]
    if not _starts_era(rows, 0):
        first = next(row for row in rows if _day(row) == counts.most_common(1)[0][0])
    changes, early = _eras(name, weekend, rows, _as_hours(first, None))
    sessions = {row[0] for row in rows}
    closures = []
    day = start
    while day <= end:
        if day.weekday() not in weekend and day not in sessions:
            closures.append(day)
        day += _ONE_DAY
    base = _as_hours(first, None)
    return CalendarSpec(
        name=name, timezone=timezone, open=base.open, close=base.close,
        break_start=base.break_start, break_end=base.break_end, weekend=weekend,
        first_year=start.year, last_year=end.year, first_date=start, horizon=end,
        closures=closures, early_closes=early, hours_changes=changes,
    )


def _time(value: dt.time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _hours_lines(hours: Hours) -> list[str]:
    lines = [f'open = "{_time(hours.open)}"', f'close = "{_time(hours.close)}"']
    if hours.break_start is not None and hours.break_end is not None:
        lines += [
            f'break_start = "{_time(hours.break_start)}"',
            f'break_end = "{_time(hours.break_end)}"',
        ]
    return lines


def spec_to_toml(spec: CalendarSpec, header: str = "") -> str:
    """The TOML text of an explicit-date description (see :func:`spec_from_sessions`).

    Args:
        spec: a description without holiday or early-close rules.
        header: comment lines put at the top (each prefixed with ``# ``).

    Returns:
        The text; :func:`preopen.calendar._toml.load_spec` reads it back as ``spec``.

    Raises:
        CalendarError: the spec has rules (they are not written as dates).
    """
    if spec.holidays or spec.early_close_rules or spec.premarket_open or spec.afterhours_close:
        msg = f"calendar {spec.name} has rules or extended hours: only explicit dates are written"
        raise CalendarError(msg)
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    lines += [
        f'name = "{spec.name}"',
        f'timezone = "{spec.timezone}"',
        *_hours_lines(spec.base_hours),
        "weekend = [" + ", ".join(f'"{WEEKDAY_NAMES[w]}"' for w in sorted(spec.weekend)) + "]",
        f"first_year = {spec.first_year}",
        f"last_year = {spec.last_year}",
        f'first_date = "{spec.range_start.isoformat()}"',
        f'horizon = "{spec.range_end.isoformat()}"',
        "closures = [",
        *(f'    "{d.isoformat()}",  # {d.strftime("%A")}' for d in sorted(spec.closures)),
        "]",
        "",
        "[early_closes]",
        *(f'"{d.isoformat()}" = "{_time(t)}"' for d, t in sorted(spec.early_closes.items())),
    ]
    for change in spec.hours_changes:
        assert change.since is not None  # noqa: S101 - a change always has its date
        lines += ["", "[[hours]]", f'since = "{change.since.isoformat()}"', *_hours_lines(change)]
    return "\n".join(lines) + "\n"
