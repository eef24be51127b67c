"""The scheduler's decisions, as plain single-threaded objects: no actor, no I/O.

The SchedulerActor (:mod:`preopen.actors.scheduler`) feeds a :class:`Planner`
what happens (ticks, replies, changes) and tells the orders it leaves in its
outbox (:mod:`preopen.planning.orders`). The planner holds one
:class:`Cycle` per target session, whose :class:`Prefetch` keeps the
bookkeeping of its batches; its :class:`Journal` keeps the status counters
and the event history. Nothing here imports pykka or a database driver, and
nothing imports :mod:`preopen.actors`: the actors sit on this package.
"""

from __future__ import annotations

from preopen.planning.cycle import RETRY_BASE, Cycle, LoadSpec, load_spec
from preopen.planning.incremental import Reuse, Served, reuse_range
from preopen.planning.journal import HISTORY, Journal
from preopen.planning.orders import (
    Activate,
    ChildKey,
    ListSymbols,
    LoadBatch,
    Retire,
    ReuseCheck,
    Role,
)
from preopen.planning.planner import PER_LOADER, Planner
from preopen.planning.prefetch import Batch, Prefetch, SizedBars

__all__ = [
    "HISTORY",
    "PER_LOADER",
    "RETRY_BASE",
    "Activate",
    "Batch",
    "ChildKey",
    "Cycle",
    "Journal",
    "ListSymbols",
    "LoadBatch",
    "LoadSpec",
    "Planner",
    "Prefetch",
    "Retire",
    "Reuse",
    "ReuseCheck",
    "Role",
    "Served",
    "SizedBars",
    "load_spec",
    "reuse_range",
]
