"""The scheduler's decisions, as plain single-threaded objects: no actor, no I/O.

The SchedulerActor (:mod:`preopen.actors.scheduler`) feeds a :class:`Planner`
what happens (ticks, replies, changes) and tells the orders it leaves in its
outbox (:mod:`preopen.planning.orders`). The planner holds one :class:`Cycle`
per target session and delegates to objects of its own, each tested on its
own: its :class:`Schedule` (the calendar's answers and its horizon), its
:class:`Loading` (each cycle's load across the loaders: the
:class:`Prefetch` bookkeeping of its batches, the :class:`IncrementalPrefetch`
and the :class:`LoadWatch`), its :class:`Publishing` (where a frozen
snapshot goes besides the swap) and its :class:`Journal` (the status
counters and the event history). Nothing here imports pykka or a database
driver, and nothing imports :mod:`preopen.actors`: the actors sit on this
package.
"""

from __future__ import annotations

from preopen.planning.cycle import RETRY_BASE, Cycle, LoadSpec, load_spec
from preopen.planning.incremental import IncrementalPrefetch, Reuse, Served, reuse_range
from preopen.planning.journal import HISTORY, Journal
from preopen.planning.loading import PER_LOADER, Loading
from preopen.planning.orders import (
    Activate,
    Arm,
    ChildKey,
    Disarm,
    ListSymbols,
    LoadBatch,
    Retire,
    ReuseCheck,
    Role,
)
from preopen.planning.planner import Planner
from preopen.planning.prefetch import Batch, Prefetch, SizedBars
from preopen.planning.publishing import Publishing
from preopen.planning.schedule import Schedule
from preopen.planning.watch import LoadWatch

__all__ = [
    "HISTORY",
    "PER_LOADER",
    "RETRY_BASE",
    "Activate",
    "Arm",
    "Batch",
    "ChildKey",
    "Cycle",
    "Disarm",
    "IncrementalPrefetch",
    "Journal",
    "ListSymbols",
    "LoadBatch",
    "LoadSpec",
    "LoadWatch",
    "Loading",
    "Planner",
    "Prefetch",
    "Publishing",
    "Retire",
    "Reuse",
    "ReuseCheck",
    "Role",
    "Schedule",
    "Served",
    "SizedBars",
    "load_spec",
    "reuse_range",
]
