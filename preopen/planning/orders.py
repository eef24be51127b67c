"""The planner's orders: the messages it leaves in its outbox, and whom each is for.

The :class:`~preopen.planning.planner.Planner` writes ``(ChildKey, order)``
pairs; the SchedulerActor tells each order to that child. The orders are
frozen dataclasses of the actors' protocol (:mod:`preopen.actors.messages`
lists them with the others), defined here because the planner is plain
logic below the actors and must not import them. :class:`ChildKey` and
:class:`Role` name the children of the supervision tree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    import pendulum

    from preopen.model import Bars, SessionSnapshot
    from preopen.planning.prefetch import Batch

__all__ = ["Activate", "ChildKey", "ListSymbols", "LoadBatch", "Retire", "ReuseCheck", "Role"]


class Role(enum.StrEnum):
    """The roles of preopen's children."""

    SUPERVISOR = "supervisor"
    CALENDAR = "calendar"
    SESSION_DATA = "session_data"
    LOADER = "loader"
    SCHEDULER = "scheduler"


@dataclass(frozen=True, slots=True)
class ChildKey:
    """Which child: a role, and an index for the roles with several children (loaders)."""

    role: str
    index: int | None = None

    @property
    def name(self) -> str:
        """``role``, or ``role-index`` ("loader-0")."""
        return self.role if self.index is None else f"{self.role}-{self.index}"

    def __str__(self) -> str:
        """The name."""
        return self.name


# --- to a LoaderActor ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadBatch:
    """Load ``batch`` over ``[start, end)``; the answer goes to the scheduler."""

    batch: Batch
    start: pendulum.DateTime
    end: pendulum.DateTime
    check: ReuseCheck | None = None


@dataclass(frozen=True, slots=True)
class ReuseCheck:
    """With a :class:`LoadBatch` of reused keys: first check the reused bars against the store.

    The loader compares the store's fingerprints of ``[full_start, start)``
    with those of ``reused`` (the served bars, read-only views) and loads the
    symbols that differ from ``full_start`` (``Loaded.reloaded`` names them).
    """

    full_start: pendulum.DateTime
    reused: Mapping[str, Bars]


@dataclass(frozen=True, slots=True)
class ListSymbols:
    """List the store's symbols; the answer (``SymbolsListed``) goes to the scheduler."""

    request_id: int


# --- to the SessionDataActor -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Activate:
    """Serve ``snapshot`` from now on (refused if it is not today's session).

    ``sent_at`` is the scheduler's ``time.perf_counter()`` when it started
    handling the event that led to the activation; ``symbols`` is how many
    symbols the snapshot holds, counted when it was frozen (so that nothing
    proportional to the symbol count runs after the swap).
    """

    snapshot: SessionSnapshot
    sent_at: float
    symbols: int


@dataclass(frozen=True, slots=True)
class Retire:
    """Stop serving a snapshot older than ``session`` (which opened without data)."""

    session: dt.date
