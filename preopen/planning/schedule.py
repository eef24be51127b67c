"""The planner's schedule: which session it prepares, what and when, and the calendar's horizon.

:class:`Schedule` asks the calendar every timing question the planner has,
through :mod:`preopen.calendar.timing` only: the *target* session at an
instant (the session in progress, else the next to open), the plan of a new
:class:`~preopen.planning.cycle.Cycle` for it (its
:class:`~preopen.planning.cycle.LoadSpec` and prefetch start), whether a
cycle's plan still holds under an amended calendar, and the next phase
change (cached: :func:`~preopen.calendar.timing.next_phase_change` costs
about 0.5 ms).

A calendar is sure of its sessions up to its horizon, and every question
about a later date raises :class:`~preopen.errors.DateOutOfRangeError`. A
session planned near the horizon gets one ``horizon-warning`` event and one
log warning (remembered here and looked up in the history, so re-planning it
after an amendment or a restart does not repeat it); past the horizon the
refusal, ``no session to plan: ...``, is recorded once as ``last_error`` and
an ``error`` event however many ticks meet it, and nothing is planned.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from preopen.calendar.timing import (
    horizon_warning,
    next_phase_change,
    prefetch_start,
    target_session,
)
from preopen.errors import DateOutOfRangeError
from preopen.planning.cycle import Cycle, load_spec
from preopen.status import EventKind

if TYPE_CHECKING:
    import datetime as dt

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.planning.journal import Journal
    from preopen.settings import Settings

__all__ = ["Schedule"]

log = logging.getLogger("preopen")


class Schedule:
    """The planner's timing questions to its calendar; its horizon warnings and refusals.

    Args:
        settings: the runtime's settings (``window``, ``trailing_days``,
            ``intervals``, ``horizon_warning_sessions``).
        journal: where the events go (the planner's).
    """

    def __init__(self, settings: Settings, journal: Journal) -> None:
        """Plan with ``settings``, recording in ``journal``."""
        self._window = settings.window
        self._trailing_days = settings.trailing_days
        self._intervals = settings.intervals
        self._warning_sessions = settings.horizon_warning_sessions
        self._journal = journal
        self._warned: set[dt.date] = set()
        # The last phase change looked up, as (calendar, from, change).
        # (calendar, computed at, next change, the one after it or None)
        self._change: tuple[ExchangeCalendar, pendulum.DateTime, pendulum.DateTime,
                            pendulum.DateTime | None] | None = None

    def target(self, now: pendulum.DateTime, calendar: ExchangeCalendar) -> dt.date | None:
        """The session in progress at ``now``, else the next to open; None: past the horizon."""
        try:
            return target_session(now, calendar, self._window)
        except DateOutOfRangeError as exc:
            self._refused(now, exc)
            return None

    def plan(self, calendar: ExchangeCalendar, session: dt.date,
             now: pendulum.DateTime) -> Cycle | None:
        """A new cycle for ``session``, recorded as planned; None: past the horizon."""
        try:
            spec = load_spec(calendar, session, self._trailing_days, self._intervals)
            starts = prefetch_start(calendar, session, self._window)
            warning = horizon_warning(calendar, session, self._warning_sessions)
        except DateOutOfRangeError as exc:
            self._refused(now, exc)
            return None
        self._journal.event(now, EventKind.PLANNED, session,
                            f"opens {spec.open.isoformat()}, prefetch from {starts.isoformat()}, "
                            f"{len(spec.trailing)} trailing sessions "
                            f"{spec.trailing[0].isoformat()}..{spec.trailing[-1].isoformat()}")
        if warning is not None:
            self._warn(session, warning, now)
        return Cycle(spec, starts)

    def holds(self, cycle: Cycle, calendar: ExchangeCalendar) -> bool:
        """Whether ``cycle``'s plan is still what ``calendar`` (amended, say) makes of it."""
        try:
            if not calendar.is_session(cycle.session):
                return False
            spec = load_spec(calendar, cycle.session, self._trailing_days, self._intervals)
        except DateOutOfRangeError:
            return False
        return spec == cycle.spec

    def next_change(self, now: pendulum.DateTime,
                    calendar: ExchangeCalendar) -> pendulum.DateTime | None:
        """The first instant after ``now`` whose phase differs (UTC); None: past the horizon.

        Two changes are computed at once and kept: the phase is constant from
        one change to the next, so a tick at the first change (the open) finds
        the second (the close) without computing (0.5-1 ms of calendar
        arithmetic kept off the open, where a host's read waits on the GIL).
        """
        cached = self._change
        if cached is not None and cached[0] is calendar:
            _, start, change, following = cached
            if start <= now < change:
                return change
            if following is not None and change <= now < following:
                return following
        try:
            change = next_phase_change(now, calendar, self._window).in_tz("UTC")
        except DateOutOfRangeError:
            return None
        try:
            following = next_phase_change(change, calendar, self._window).in_tz("UTC")
        except DateOutOfRangeError:
            following = None
        self._change = (calendar, now, change, following)
        return change

    def _warn(self, session: dt.date, warning: str, now: pendulum.DateTime) -> None:
        """One event and one log line per planned session near the calendar's horizon."""
        if session in self._warned or self._journal.happened(EventKind.HORIZON_WARNING, session):
            return
        self._warned.add(session)
        log.warning("horizon-warning: %s", warning)
        self._journal.event(now, EventKind.HORIZON_WARNING, session, warning)

    def _refused(self, now: pendulum.DateTime, exc: DateOutOfRangeError) -> None:
        """Planning is refused (past the calendar's horizon): say so once.

        The planner tries again on every later tick (an amended or replaced
        calendar may cover the date), but the same refusal is recorded only once.
        """
        detail = f"no session to plan: {exc}"
        if self._journal.status.last_error == detail:
            return
        log.error("%s", detail)
        self._journal.error(now, None, detail)
