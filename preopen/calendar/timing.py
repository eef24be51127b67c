"""The timing rules: when to prefetch, and which phase an instant is in.

Pure functions of (instant, calendar, window). The scheduler uses these and
nothing else to decide timing. For a session ``s`` with open ``O(s)``, close
``C(s)`` and prefetch window ``w``, an instant ``t`` is:

- ``OPEN`` when ``O(s) <= t < C(s)`` for some session ``s``;
- otherwise ``PREFETCHING`` when ``O(n) - w <= t < O(n)`` for the next
  session ``n`` to open after ``t``;
- otherwise ``CLOSED`` from a session's close until the exchange-local
  midnight that ends that day;
- otherwise ``IDLE``.

Every phase is a half-open interval ``[start, end)`` whose ends are opens,
closes, prefetch starts or local midnights; :func:`next_phase_change`
returns the first such end after an instant at which the phase differs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from typing import TYPE_CHECKING

import pendulum

from preopen.errors import CalendarError, DateOutOfRangeError

if TYPE_CHECKING:
    from preopen.calendar._calendar import ExchangeCalendar

__all__ = ["Phase", "next_phase_change", "phase_at", "prefetch_start", "target_session"]

_ZERO = dt.timedelta(0)
# Sessions looked at by next_phase_change: the one on or before the
# instant's local date and the ones after it. Three following sessions cover
# every phase: a change is at most the next session's open, unless the
# window reaches back over several sessions.
_LOOKAHEAD = 3


class Phase(enum.StrEnum):
    """Where an instant stands relative to the sessions."""

    IDLE = "idle"
    """Nothing to do: before the prefetch window of the next session."""
    PREFETCHING = "prefetching"
    """Within the window before the next open: load its data."""
    OPEN = "open"
    """A session is in progress."""
    CLOSED = "closed"
    """After a session's close, until local midnight."""


def _check_window(window: dt.timedelta) -> dt.timedelta:
    if not isinstance(window, dt.timedelta) or window < _ZERO:
        msg = f"window={window!r} is not accepted: a datetime.timedelta >= 0"
        raise CalendarError(msg)
    return window


def prefetch_start(
    calendar: ExchangeCalendar, session: dt.date, window: dt.timedelta
) -> pendulum.DateTime:
    """The instant the prefetch for ``session`` starts: its open minus ``window``.

    Args:
        calendar: the exchange calendar.
        session: a session date.
        window: how long before the open to start, >= 0.

    Returns:
        The instant, in the exchange's zone (exact elapsed time: a window that
        spans a daylight-saving change is still ``window`` long).

    Raises:
        NotASessionError: ``session`` is not a session.
        CalendarError: ``window`` is negative.
    """
    window = _check_window(window)
    return _minus(calendar.open_at(session), window).in_tz(calendar.timezone)


def _minus(instant: pendulum.DateTime, window: dt.timedelta) -> pendulum.DateTime:
    # In UTC, so that the subtraction is elapsed time, not wall-clock time.
    return instant.in_tz("UTC") - window


def phase_at(instant: dt.datetime, calendar: ExchangeCalendar, window: dt.timedelta) -> Phase:
    """The phase ``instant`` is in (see the module's description).

    Args:
        instant: a time-zone aware instant, in any zone.
        calendar: the exchange calendar.
        window: the prefetch window, >= 0.

    Raises:
        CalendarError: a naive instant or a negative window.
        DateOutOfRangeError: the instant is outside the calendar's range.
    """
    window = _check_window(window)
    if calendar.session_at(instant) is not None:
        return Phase.OPEN
    try:
        opening = calendar.next_open(instant)
    except DateOutOfRangeError:
        opening = None
    if opening is not None and _minus(opening, window) <= instant:
        return Phase.PREFETCHING
    day = calendar.local_date(instant)
    if calendar.is_session(day) and instant >= calendar.close_at(day):
        return Phase.CLOSED
    return Phase.IDLE


def target_session(
    instant: dt.datetime, calendar: ExchangeCalendar, window: dt.timedelta
) -> dt.date:
    """The session in progress at ``instant``, else the next one to open.

    Raises:
        CalendarError: a naive instant or a negative window.
        DateOutOfRangeError: no such session within the calendar's range.
    """
    _check_window(window)
    current = calendar.session_at(instant)
    if current is not None:
        return current
    return calendar.local_date(calendar.next_open(instant))


def _boundaries(
    calendar: ExchangeCalendar, day: dt.date, window: dt.timedelta
) -> list[dt.datetime]:
    """Every instant at which a phase may start, around local date ``day``."""
    sessions: list[dt.date] = []
    with contextlib.suppress(DateOutOfRangeError):
        sessions.append(day if calendar.is_session(day) else calendar.previous_session(day))
    current = day
    for _ in range(_LOOKAHEAD):
        try:
            current = calendar.next_session(current)
        except DateOutOfRangeError:
            break
        sessions.append(current)
    tz = pendulum.timezone(calendar.timezone)
    found: list[dt.datetime] = []
    for session in sessions:
        after = session + dt.timedelta(days=1)
        found.extend(
            (
                prefetch_start(calendar, session, window),
                calendar.open_at(session),
                calendar.close_at(session),
                pendulum.datetime(after.year, after.month, after.day, tz=tz),
            )
        )
    return found


def next_phase_change(
    instant: dt.datetime, calendar: ExchangeCalendar, window: dt.timedelta
) -> pendulum.DateTime:
    """The first instant after ``instant`` whose phase differs from ``instant``'s.

    Args:
        instant: a time-zone aware instant, in any zone.
        calendar: the exchange calendar.
        window: the prefetch window, >= 0.

    Returns:
        The instant, in the exchange's zone.

    Raises:
        CalendarError: a naive instant or a negative window.
        DateOutOfRangeError: the phase does not change again within the range.
    """
    phase = phase_at(instant, calendar, window)
    day = calendar.local_date(instant)
    for boundary in sorted(b for b in _boundaries(calendar, day, window) if b > instant):
        try:
            changed = phase_at(boundary, calendar, window) is not phase
        except DateOutOfRangeError:
            break
        if changed:
            return pendulum.instance(boundary).in_tz(calendar.timezone)
    raise DateOutOfRangeError(
        day, calendar.first_session, calendar.last_session,
        what=f"the {phase.value} phase does not end within the calendar's range",
    )
