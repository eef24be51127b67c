"""The planner's schedule, on its own: the target, a cycle's plan, the next change, the horizon.

Expected instants are the published NYSE schedule (see support/week.py):
Wednesday 2024-11-27 opens 09:30 New York time, its five trailing sessions are
11-20, 11-21, 11-22, 11-25, 11-26; Thanksgiving (11-28) is closed.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from support.calendars import ENDS_SOON
from support.week import TRAILING_5, XNYS, at

from preopen.calendar import get_calendar
from preopen.planning import Cycle, Journal, Schedule, load_spec
from preopen.settings import Settings
from preopen.status import EventKind, RuntimeStatus

DAY = dt.date(2024, 11, 27)


def settings(**overrides):
    values = {"window_minutes": 60, "intervals": ("1m", "1d"), "trailing_days": 5}
    return Settings(**{**values, **overrides})


def events(journal, kind=None):
    seen = journal.view(None, None, dt.timedelta(hours=1), None).events
    return [e for e in seen if kind is None or e.kind is kind]


def paris(day, hour, minute=0):
    return pendulum.datetime(day.year, day.month, day.day, hour, minute, tz="Europe/Paris")


def soon_calendar(tmp_path):
    path = tmp_path / "soon.toml"
    path.write_text(ENDS_SOON)
    return get_calendar(str(path))


def test_the_target_is_the_session_in_progress_else_the_next_to_open():
    schedule = Schedule(settings(), Journal(RuntimeStatus()))
    assert schedule.target(at(DAY, "08:00"), XNYS) == DAY
    assert schedule.target(at(DAY, "12:00"), XNYS) == DAY
    assert schedule.target(at(DAY, "16:30"), XNYS) == dt.date(2024, 11, 29)  # not Thanksgiving


def test_a_planned_cycle_loads_the_trailing_sessions_from_the_window_and_says_so():
    journal = Journal(RuntimeStatus())
    schedule = Schedule(settings(), journal)
    cycle = schedule.plan(XNYS, DAY, at(DAY, "08:00"))
    assert isinstance(cycle, Cycle)
    assert cycle.spec == load_spec(XNYS, DAY, 5, ("1m", "1d"))
    assert cycle.spec.trailing == TRAILING_5[DAY]
    assert cycle.prefetch_start == at(DAY, "08:30")
    [planned] = events(journal)
    assert planned.kind is EventKind.PLANNED
    assert (planned.session, planned.at) == (DAY, at(DAY, "08:00"))
    assert planned.detail == (f"opens {at(DAY, '09:30').isoformat()}, prefetch from "
                              f"{at(DAY, '08:30').isoformat()}, 5 trailing sessions "
                              "2024-11-20..2024-11-26")


def test_a_plan_holds_until_an_amendment_changes_its_load_or_closes_its_session():
    schedule = Schedule(settings(), Journal(RuntimeStatus()))
    cycle = schedule.plan(XNYS, DAY, at(DAY, "08:00"))
    assert schedule.holds(cycle, XNYS)
    assert schedule.holds(cycle, XNYS.amended(closures=[dt.date(2024, 12, 2)]))  # after it
    assert not schedule.holds(cycle, XNYS.amended(closures=[dt.date(2024, 11, 21)]))
    assert not schedule.holds(cycle, XNYS.amended(closures=[DAY]))


def test_the_next_phase_change_is_looked_up_once_per_phase():
    schedule = Schedule(settings(), Journal(RuntimeStatus()))
    first = schedule.next_change(at(DAY, "07:00"), XNYS)
    assert first == at(DAY, "08:30")
    assert first.timezone_name == "UTC"
    cached = schedule.next_change(at(DAY, "08:00"), XNYS)
    assert cached is first  # the same phase: the cached answer
    assert schedule.next_change(at(DAY, "08:30"), XNYS) == at(DAY, "09:30")
    other = XNYS.amended(closures=[dt.date(2024, 12, 2)])
    assert schedule.next_change(at(DAY, "08:45"), other) == at(DAY, "09:30")


def test_a_session_near_the_horizon_is_warned_of_once(tmp_path, caplog):
    soon = soon_calendar(tmp_path)
    journal = Journal(RuntimeStatus())
    schedule = Schedule(settings(horizon_warning_sessions=20, trailing_days=2), journal)
    caplog.set_level(logging.WARNING, logger="preopen")
    schedule.plan(soon, dt.date(2027, 1, 1), paris(dt.date(2027, 1, 1), 7))
    assert events(journal, EventKind.HORIZON_WARNING) == []  # 20 sessions left: not fewer
    jan4 = dt.date(2027, 1, 4)
    schedule.plan(soon, jan4, paris(jan4, 7))
    schedule.plan(soon, jan4, paris(jan4, 8))  # re-planned (an amendment): not again
    [warned] = events(journal, EventKind.HORIZON_WARNING)
    assert (warned.session, warned.at) == (jan4, paris(jan4, 7))
    assert warned.detail == (
        "calendar SOON ends at its horizon 2027-01-29: 19 session(s) left after 2027-01-04 "
        "(warning at 20); update the calendar before it runs out")
    assert [r.getMessage() for r in caplog.records] == [f"horizon-warning: {warned.detail}"]
    # A restarted planner's schedule finds the warning in the history it carries over.
    again = Schedule(settings(horizon_warning_sessions=20, trailing_days=2), journal)
    again.plan(soon, jan4, paris(jan4, 9))
    assert len(events(journal, EventKind.HORIZON_WARNING)) == 1


def test_past_the_horizon_planning_is_refused_once(tmp_path, caplog):
    soon = soon_calendar(tmp_path)
    journal = Journal(RuntimeStatus())
    schedule = Schedule(settings(trailing_days=2), journal)
    last = dt.date(2027, 1, 29)
    caplog.set_level(logging.ERROR, logger="preopen")
    assert schedule.target(paris(last, 18), soon) is None
    assert schedule.target(paris(last, 19), soon) is None
    [refused] = events(journal, EventKind.ERROR)
    assert refused.detail.startswith("no session to plan: ")
    assert journal.status.last_error == refused.detail
    assert [r.getMessage() for r in caplog.records] == [refused.detail]
    assert schedule.next_change(paris(last, 18), soon) is None
    # A plan whose trailing sessions or window cross the horizon is refused the same way.
    assert schedule.plan(soon, dt.date(2030, 1, 2), paris(last, 20)) is None
    assert len(events(journal, EventKind.ERROR)) == 2
