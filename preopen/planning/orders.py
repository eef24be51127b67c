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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot
    from preopen.planning.prefetch import Batch

__all__ = ["Activate", "Arm", "ChildKey", "Disarm", "ListSymbols", "LoadBatch", "Retire",
           "ReuseCheck", "Role"]


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
    proportional to the symbol count runs after the swap). ``armed``: the
    snapshot armed for this open (:class:`Arm`): the SessionDataActor swapped
    it in at the open already, so this confirms it, and no read waits for it.
    """

    snapshot: SessionSnapshot
    sent_at: float
    symbols: int
    armed: bool = False


@dataclass(frozen=True, slots=True)
class Arm:
    """Serve ``snapshot`` from ``opens_at`` without waiting for the open's activation.

    Sent when a snapshot is frozen complete before its session opens (with
    ``auto_activate``). From the open on, until :class:`Activate` swaps it
    in, a host's read finds it here (:meth:`due`), and the open tick goes to
    the SessionDataActor first, which swaps it in before the scheduler
    handles the tick: the host's first read waits for no thread. A later
    ``Arm`` replaces it; :class:`Disarm` withdraws it.

    Attributes:
        snapshot: the session's complete, validated snapshot.
        opens_at: its session's open; ``closes_at``: its close.
        symbols: how many symbols it holds (counted at freeze time).
        calendar: the calendar the hours are from: while it is still the
            current one, a read in those hours needs no calendar lookup
            (about 0.3 ms for a new instant); after an amendment it does.
        opens_s: ``opens_at`` as POSIX seconds; ``closes_s``: ``closes_at``.
    """

    snapshot: SessionSnapshot
    opens_at: pendulum.DateTime
    closes_at: pendulum.DateTime
    symbols: int
    calendar: ExchangeCalendar
    opens_s: float = field(init=False)
    closes_s: float = field(init=False)

    def __post_init__(self) -> None:
        """Take the bounds as seconds once: a read compares a float, not a datetime."""
        object.__setattr__(self, "opens_s", self.opens_at.timestamp())
        object.__setattr__(self, "closes_s", self.closes_at.timestamp())

    def due(self, seconds: float) -> bool:
        """Whether ``seconds`` (POSIX) falls in the armed session's hours."""
        return self.opens_s <= seconds < self.closes_s

    def in_progress(self, calendar: ExchangeCalendar, now: Callable[[], pendulum.DateTime]) -> bool:
        """Whether the armed session is in progress at ``now()`` by ``calendar`` (the current).

        Asked once :meth:`due` holds: by the calendar it was armed with, it is.
        """
        return calendar is self.calendar or calendar.session_at(now()) == self.snapshot.session


@dataclass(frozen=True, slots=True)
class Disarm:
    """Withdraw the armed snapshot of ``session`` (``None``: whatever is armed).

    If the open already swapped ``session``'s in and no :class:`Activate`
    confirmed it, the snapshot served before comes back: the plan that armed
    it is gone. ``None`` (a scheduler starting afresh) only withdraws.
    """

    session: dt.date | None


@dataclass(frozen=True, slots=True)
class Retire:
    """Stop serving a snapshot older than ``session`` (which opened without data)."""

    session: dt.date
