"""The actors' protocol: every message is a frozen dataclass.

Everything a message carries is immutable (dates, tuples, frozensets,
read-only mappings, read-only arrays inside Bars and SessionSnapshot) with
two deliberate exceptions, both reply channels rather than data:

- ``ack``: a :class:`pykka.ThreadingFuture` set once by the receiver (or by
  whoever it forwards the message to) when the request is handled;
- ``reply_to``: an :class:`~preopen.actors.Address`, the supervisor-kept
  indirection to an actor, so that a reply reaches the actor's current
  incarnation even across a restart.

Between actors preopen ``tell``s with a reply address; ``ask`` is kept for the
host's queries, always with a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

    import pendulum
    import pykka

    from preopen.actors._address import Address
    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot

__all__ = [
    "Activate",
    "ActivateNow",
    "Activated",
    "ActivationRefused",
    "Amend",
    "CalendarChanged",
    "ChildFailed",
    "ChildRestarted",
    "Children",
    "GetCalendar",
    "GetSnapshot",
    "GetSymbols",
    "ListSymbols",
    "LoadBatch",
    "LoadFailed",
    "Loaded",
    "OnActivated",
    "OnFailure",
    "Ready",
    "Retire",
    "SetSymbols",
    "Settle",
    "Subscribe",
    "SymbolsChanged",
    "SymbolsListed",
    "Tick",
    "Undelivered",
]

# --- to the SchedulerActor -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock's wake-up: something may be due at ``now``.

    ``ack`` (simulated clocks only) is set once the scheduler has handled the
    tick and every load it started has been answered.
    """

    now: pendulum.DateTime
    ack: pykka.ThreadingFuture[None] | None = None


@dataclass(frozen=True, slots=True)
class Ready:
    """Set ``ack`` once the scheduler knows the calendar and has planned."""

    ack: pykka.ThreadingFuture[None]


@dataclass(frozen=True, slots=True)
class Settle:
    """Set ``ack`` once no load is in flight and no activation is unanswered."""

    ack: pykka.ThreadingFuture[None]


@dataclass(frozen=True, slots=True)
class CalendarChanged:
    """The CalendarActor's current calendar (on subscription and on amendment)."""

    calendar: ExchangeCalendar
    ack: pykka.ThreadingFuture[ExchangeCalendar] | None = None


@dataclass(frozen=True, slots=True)
class SymbolsChanged:
    """The active symbol set changed (``None``: every symbol in the store)."""

    symbols: frozenset[str] | None
    ack: pykka.ThreadingFuture[None] | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loader's answer to :class:`LoadBatch`: the bars of every symbol asked."""

    request_id: int
    bars: Mapping[str, Bars]
    seconds: float


@dataclass(frozen=True, slots=True)
class LoadFailed:
    """A loader's answer when the store raised.

    ``transient`` marks connection-level failures (retry the batch as is);
    anything else may be one poisoned symbol (split the batch and retry).
    """

    request_id: int
    error: str
    transient: bool


@dataclass(frozen=True, slots=True)
class SymbolsListed:
    """A loader's answer to :class:`ListSymbols`."""

    request_id: int
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Activated:
    """The SessionDataActor now serves the snapshot of ``session``.

    ``latency_s``: from the scheduler sending :class:`Activate` (stamped with
    ``time.perf_counter``) to the reference being swapped.
    """

    session: dt.date
    symbols: int
    latency_s: float


@dataclass(frozen=True, slots=True)
class ActivationRefused:
    """The SessionDataActor refused a snapshot (for another session date)."""

    session: dt.date
    in_progress: dt.date | None
    reason: str


@dataclass(frozen=True, slots=True)
class ActivateNow:
    """The host activates the prepared snapshot (when ``auto_activate`` is off)."""

    ack: pykka.ThreadingFuture[SessionSnapshot]


@dataclass(frozen=True, slots=True)
class ChildRestarted:
    """The supervisor restarted ``child`` (``restarts`` counted so far, in all)."""

    child: str
    restarts: int
    error: str


# --- to a LoaderActor ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadBatch:
    """Load ``symbols`` at ``interval`` over ``[start, end)``; reply to ``reply_to``."""

    request_id: int
    symbols: tuple[str, ...]
    interval: str
    start: pendulum.DateTime
    end: pendulum.DateTime
    reply_to: Address


@dataclass(frozen=True, slots=True)
class ListSymbols:
    """List the store's symbols; reply :class:`SymbolsListed` to ``reply_to``."""

    request_id: int
    reply_to: Address


# --- to the SessionDataActor -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Activate:
    """Serve ``snapshot`` from now on (refused if it is not today's session).

    ``sent_at`` is the scheduler's ``time.perf_counter()`` when it started
    handling the event that led to the activation.
    """

    snapshot: SessionSnapshot
    sent_at: float
    reply_to: Address | None = None


@dataclass(frozen=True, slots=True)
class Retire:
    """Stop serving a snapshot older than ``session`` (which opened without data)."""

    session: dt.date


@dataclass(frozen=True, slots=True)
class SetSymbols:
    """Replace the active symbol set (``None``: every symbol in the store)."""

    symbols: frozenset[str] | None
    ack: pykka.ThreadingFuture[None] | None = None


@dataclass(frozen=True, slots=True)
class GetSnapshot:
    """Ask for the current snapshot (``None`` if none is served)."""


@dataclass(frozen=True, slots=True)
class GetSymbols:
    """Ask for the active symbol set."""


@dataclass(frozen=True, slots=True)
class OnActivated:
    """Call ``callback(snapshot)`` after each activation (in the actor's thread)."""

    callback: Callable[[SessionSnapshot], object]


# --- to the CalendarActor --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Send :class:`CalendarChanged` to ``reply_to`` now and after each amendment.

    The subscriber that ``acknowledges`` receives the amendment's ``ack``.
    """

    reply_to: Address
    acknowledges: bool = False


@dataclass(frozen=True, slots=True)
class Amend:
    """Amend the calendar: ad-hoc closures and early closes announced late.

    ``ack`` is forwarded to the subscribers, so that it is set once the
    scheduler has re-planned.
    """

    closures: frozenset[dt.date]
    early_closes: Mapping[dt.date, dt.time]
    ack: pykka.ThreadingFuture[ExchangeCalendar] | None = None


@dataclass(frozen=True, slots=True)
class GetCalendar:
    """Ask for the current (possibly amended) calendar."""


# --- to the Supervisor -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildFailed:
    """A child died (``generation`` tells stale reports from current ones)."""

    child: str
    generation: int
    error: str


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A message that met a dead child; delivered to its next incarnation."""

    child: str
    message: object


@dataclass(frozen=True, slots=True)
class OnFailure:
    """Call ``callback(error)`` when the supervisor gives up (escalation)."""

    callback: Callable[[BaseException], object]


@dataclass(frozen=True, slots=True)
class Children:
    """Ask the supervisor for each child's generation (answered once all have started)."""
