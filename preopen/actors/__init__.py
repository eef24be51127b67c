"""The actors of preopen's runtime, under one supervisor.

::

              Supervisor (one-for-one restarts, intensity / period)
        ┌───────────┬───────────────┬─────────────┬──────────────────┐
    CalendarActor  SchedulerActor  LoaderActor xN  SessionDataActor
                     ▲ Tick(now) from the clock

Each actor is thin: its decisions live in plain objects tested on their own
(:class:`RestartPolicy` here; the scheduler's :class:`Planner`, with its
:class:`Prefetch`, in :mod:`preopen.planning`, the plain layer the actors sit
on; its names are exported here too). Messages are frozen dataclasses
(:mod:`preopen.actors.messages`). :func:`build_tree` wires
one tree; :class:`preopen.runtime.Runtime` is the host's handle on it.
"""

from __future__ import annotations

import logging

from preopen.actors.calendar_actor import CalendarActor, CalendarWiring
from preopen.actors.child import (
    Address,
    ChildContext,
    ChildKey,
    Outstanding,
    Role,
    SupervisedActor,
    ThreadLedger,
)
from preopen.actors.loader import LoaderActor, LoaderWiring
from preopen.actors.scheduler import SchedulerActor, SchedulerWiring
from preopen.actors.session_data import SessionDataActor, SessionDataWiring
from preopen.actors.supervisor import ChildSpec, RestartPolicy, Supervisor
from preopen.actors.tree import Board, CalendarState, Cell, SessionState, Shutdown, Tree, build_tree
from preopen.planning import Batch, Cycle, LoadSpec, Planner, Prefetch, load_spec

__all__ = [
    "Address",
    "Batch",
    "Board",
    "CalendarActor",
    "CalendarState",
    "CalendarWiring",
    "Cell",
    "ChildContext",
    "ChildKey",
    "ChildSpec",
    "Cycle",
    "LoadSpec",
    "LoaderActor",
    "LoaderWiring",
    "Outstanding",
    "Planner",
    "Prefetch",
    "RestartPolicy",
    "Role",
    "SchedulerActor",
    "SchedulerWiring",
    "SessionDataActor",
    "SessionDataWiring",
    "SessionState",
    "Shutdown",
    "SupervisedActor",
    "Supervisor",
    "ThreadLedger",
    "Tree",
    "build_tree",
    "load_spec",
]

# A library logs, the host decides where to: without this, Python's last-resort
# handler would print preopen's warnings (a restarted loader) on stderr.
logging.getLogger("preopen").addHandler(logging.NullHandler())
