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

A midday break is inside its session: an instant in the break is ``OPEN``
(the session is in progress, trading pauses), so a break starts no phase.

Every phase is a half-open interval ``[start, end)`` whose ends are opens,
closes, prefetch starts or local midnights; :func:`next_phase_change`
returns the first such end after an instant at which the phase differs.
Boundaries are compared as UTC instants, so an instant given in the
exchange's zone and the same instant given in UTC have the same answer,
also inside a repeated daylight-saving hour.

The horizon: :func:`sessions_before_horizon` counts the sessions a calendar
still knows after a session, and :func:`horizon_warning` says when that is
few enough to warn; planning a session past the horizon raises.
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

__all__ = [
    "Phase",
    "horizon_warning",
    "next_phase_change",
    "phase_at",
    "prefetch_start",
    "sessions_before_horizon",
    "target_session",
]

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
    calendar.local_date(instant)  # refuses a naive instant
    instant = instant.astimezone(dt.UTC)  # compared as instants, not wall-clock times
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
    # In UTC: two datetimes of the same zone compare by wall-clock time,
    # which is wrong inside a repeated daylight-saving hour.
    now = instant.astimezone(dt.UTC)
    utc = (b.astimezone(dt.UTC) for b in _boundaries(calendar, day, window))
    for boundary in sorted(b for b in utc if b > now):
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


def sessions_before_horizon(
    calendar: ExchangeCalendar, session: dt.date, *, at_most: int | None = None
) -> int:
    """How many sessions the calendar still knows after ``session``, up to its horizon.

    Args:
        calendar: the exchange calendar.
        session: the session being planned.
        at_most: stop counting there (the answer is then ``min(count, at_most)``).

    Returns:
        The number of sessions strictly after ``session`` and on or before
        ``calendar.horizon``; 0 when ``session`` is the last one it knows.

    Raises:
        DateOutOfRangeError: ``session`` is past the horizon (or before the
            calendar's first date): planning it is refused rather than
            treating unknown days as sessions.
        NotASessionError: ``session`` is not a session.
    """
    if isinstance(session, dt.date) and session > calendar.horizon:
        msg = (
            f"session {session.isoformat()} is past the horizon of calendar {calendar.name} "
            f"({calendar.horizon.isoformat()}, the last date it is sure of): "
            "refusing to plan it; update the calendar"
        )
        raise DateOutOfRangeError(
            session, calendar.first_session, calendar.last_session, message=msg
        )
    calendar.open_at(session)  # refuses a date that is not a session
    count = 0
    day = session
    while (at_most is None or count < at_most) and day < calendar.last_session:
        day = calendar.next_session(day)
        count += 1
    return count


def horizon_warning(
    calendar: ExchangeCalendar, session: dt.date, warning_sessions: int
) -> str | None:
    """The warning to give when planning ``session`` close to the calendar's horizon.

    Args:
        calendar: the exchange calendar.
        session: the session being planned.
        warning_sessions: warn when fewer sessions than this remain after it
            (the ``horizon_warning_sessions`` setting; 0 never warns).

    Returns:
        A one-line message naming the calendar, the horizon and the sessions
        left, or None when there are enough.

    Raises:
        CalendarError: ``warning_sessions`` is not an int >= 0.
        DateOutOfRangeError: ``session`` is past the horizon (see
            :func:`sessions_before_horizon`).
    """
    if isinstance(warning_sessions, bool) or not isinstance(warning_sessions, int) or (
        warning_sessions < 0
    ):
        msg = f"warning_sessions={warning_sessions!r} is not accepted: an int >= 0"
        raise CalendarError(msg)
    left = sessions_before_horizon(calendar, session, at_most=warning_sessions)
    if left >= warning_sessions:
        return None
    return (
        f"calendar {calendar.name} ends at its horizon {calendar.horizon.isoformat()}: "
        f"{left} session(s) left after {session.isoformat()} (warning at "
        f"{warning_sessions}); update the calendar before it runs out"
    )
