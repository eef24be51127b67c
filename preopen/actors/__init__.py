"""The actors of preopen's runtime, under one supervisor.

::

              Supervisor (one-for-one restarts, intensity / period)
        ┌───────────┬───────────────┬─────────────┬──────────────────┐
    CalendarActor  SchedulerActor  LoaderActor xN  SessionDataActor
                     ▲ Tick(now) from the clock

Each actor is thin: its decisions live in plain objects tested on their own
(:class:`Planner`, :class:`Prefetch`, :class:`RestartPolicy`). Messages are
frozen dataclasses (:mod:`preopen.actors.messages`).
"""

from __future__ import annotations

import logging

from preopen.actors._address import Address, ThreadLedger
from preopen.actors._base import ChildContext, SupervisedActor
from preopen.actors._cells import CalendarCell, CalendarState, SessionCell, SessionState
from preopen.actors._planner import PlanConfig, Planner, load_spec
from preopen.actors._prefetch import Batch, LoadSpec, Prefetch, Progress
from preopen.actors._restart import RestartPolicy
from preopen.actors._status import Board, Event, EventKind, RuntimeStatus
from preopen.actors.calendar_actor import CalendarActor
from preopen.actors.loader import LoaderActor
from preopen.actors.scheduler import SchedulerActor
from preopen.actors.session_data import SessionDataActor
from preopen.actors.supervisor import ChildSpec, Supervisor

__all__ = [
    "Address",
    "Batch",
    "Board",
    "CalendarActor",
    "CalendarCell",
    "CalendarState",
    "ChildContext",
    "ChildSpec",
    "Event",
    "EventKind",
    "LoadSpec",
    "LoaderActor",
    "PlanConfig",
    "Planner",
    "Prefetch",
    "Progress",
    "RestartPolicy",
    "RuntimeStatus",
    "SchedulerActor",
    "SessionCell",
    "SessionDataActor",
    "SessionState",
    "SupervisedActor",
    "Supervisor",
    "ThreadLedger",
    "load_spec",
]

# A library logs, the host decides where to: without this, Python's last-resort
# handler would print preopen's warnings (a restarted loader) on stderr.
logging.getLogger("preopen").addHandler(logging.NullHandler())
