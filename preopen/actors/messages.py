"""The actors' protocol: every message is a frozen dataclass.

Everything a message carries is immutable (dates, tuples, frozensets,
read-only mappings, read-only arrays inside Bars and SessionSnapshot) with
two deliberate exceptions, both reply channels rather than data:

- ``reply``: a :class:`concurrent.futures.Future` set once by the receiver
  (or by whoever it forwards the message to) when the request is handled. A
  host waits on it with a timeout, or bridges it to asyncio
  (``asyncio.wrap_future``) without a thread per call;
- ``reply_to``: an :class:`~preopen.actors.child.Address`, the way to reach
  an actor's current incarnation across its restarts.

Between actors preopen ``tell``s; a request that someone waits on carries
its ``reply``. Messages told through an address travel wrapped in
:class:`~preopen.actors.child.Numbered`, so that one told to a child as it
dies is re-sent to the next incarnation (see :mod:`preopen.actors.child`).
That envelope is the one thing that is not frozen: its receiver takes the
message out of it, so that pykka's loop, which keeps the last envelope until
the next one arrives, does not keep the handled message alive.

The orders the planner leaves in its outbox (:class:`LoadBatch` with its
:class:`ReuseCheck` and :class:`ListSymbols` for a loader, :class:`Activate`,
:class:`Arm`, :class:`Disarm` and :class:`Retire` for the SessionDataActor)
are defined beside it, in :mod:`preopen.planning.orders` (the planner is
plain logic below the actors); they are part of this protocol and
importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from preopen.planning.orders import (
    Activate,
    Arm,
    Disarm,
    ListSymbols,
    LoadBatch,
    Retire,
    ReuseCheck,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping
    from concurrent.futures import Future

    import pendulum

    from preopen.actors.child import Address
    from preopen.calendar import ExchangeCalendar
    from preopen.model import Bars, SessionSnapshot
    from preopen.planning.orders import ChildKey
    from preopen.status import ErrorInfo

__all__ = [
    "OPEN_LEAD_S",
    "Activate",
    "ActivateNow",
    "Activated",
    "ActivationRefused",
    "Amend",
    "Arm",
    "CalendarChanged",
    "CallbackFailed",
    "ChildFailed",
    "ChildRestarted",
    "Children",
    "Disarm",
    "ListSymbols",
    "LoadBatch",
    "LoadFailed",
    "Loaded",
    "OnActivated",
    "OnFailure",
    "Open",
    "OpenSoon",
    "PublishFailed",
    "Published",
    "Release",
    "Retire",
    "ReuseCheck",
    "SetSymbols",
    "Subscribe",
    "SymbolsChanged",
    "SymbolsListed",
    "Tick",
]


# --- to the SchedulerActor -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock's wake-up: something may be due at ``now``.

    ``swapped``: the session in progress at ``now`` is served already (its
    armed snapshot was swapped in at the open): nothing a host reads waits
    for this tick (not urgent).
    """

    now: pendulum.DateTime
    swapped: bool = False


@dataclass(frozen=True, slots=True)
class Open:
    """The open tick of an armed session, to the SessionDataActor first.

    It swaps the armed snapshot in (if it is still due and the session is
    in progress), runs the host's callbacks, then tells the scheduler the
    :class:`Tick`. ``delivered_at``: ``time.perf_counter()`` when the clock
    delivered the tick (the activation's latency counts from it).
    """

    now: pendulum.DateTime
    delivered_at: float


@dataclass(frozen=True, slots=True)
class OpenSoon:
    """The armed open is :data:`OPEN_LEAD_S` away (a real-time clock's own alarm).

    The SessionDataActor, woken ahead of the open, spins until it and swaps
    the armed snapshot in at its instant, so neither an OS timer's lateness
    nor a thread's wake-up comes between the open and the host's callbacks.
    """

    now: pendulum.DateTime


#: How far ahead of an armed open a real-time clock wakes the SessionDataActor:
#: more than a thread's wake-up takes in its tail on a busy two-core machine
#: (1.8 ms in the worst of 40 here), and more than the timer's own spin
#: (``preopen.clock.SPIN_S``), so the open's tick is not spinning beside it.
OPEN_LEAD_S = 0.008


@dataclass(frozen=True, slots=True)
class CalendarChanged:
    """The CalendarActor's current calendar (on subscription and on amendment).

    ``reply`` (an amendment's) is set with the calendar once the scheduler has re-planned.
    """

    calendar: ExchangeCalendar
    reply: Future[ExchangeCalendar] | None = None


@dataclass(frozen=True, slots=True)
class SymbolsChanged:
    """The active symbol set changed (``None``: every symbol in the store)."""

    symbols: frozenset[str] | None
    reply: Future[None] | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loader's answer to :class:`LoadBatch`: the bars of every symbol asked."""

    request_id: int
    bars: Mapping[str, Bars]
    seconds: float
    #: Symbols whose reused bars differed from the store's (the ``check`` of
    #: the request): loaded over the whole range, reused bars not to be kept.
    reloaded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LoadFailed:
    """A loader's answer when the store raised.

    The exception itself does not cross the actor boundary (it is mutable
    and holds its frames); its classification does, made once by the loader
    with :func:`preopen.errors.is_transient` and
    :func:`preopen.errors.is_store_wide`:

    - ``transient``: the same call may succeed later;
    - ``store_wide``: the store failed, not one symbol (never split the
      batch; see :class:`~preopen.planning.prefetch.Prefetch`); a failure that
      is neither may be one poisoned symbol (split the batch and retry);
    - ``error``: ``"Type: message"``; ``error_type``: the exception's class name;
    - ``seconds``: wall-clock time the call took before it failed.
    """

    request_id: int
    error: str
    transient: bool
    store_wide: bool = False
    error_type: str = ""
    seconds: float = 0.0
    failure: ErrorInfo | None = None


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

    reply: Future[SessionSnapshot]


@dataclass(frozen=True, slots=True)
class CallbackFailed:
    """A host callback raised (logged with its traceback where it ran): record it."""

    callback: str
    error: str
    failure: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class ChildRestarted:
    """The supervisor restarted ``child`` (``restarts`` counted so far, in all)."""

    child: ChildKey
    restarts: int
    error: str
    failure: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class Published:
    """The publisher staged ``session``'s snapshot in ``publish_dir`` (``name``) or made it current.

    ``current`` is False when the files are staged (``next.json``), True
    when the flip made them the current publication.
    """

    session: dt.date
    name: str
    nbytes: int
    seconds: float
    current: bool = True


@dataclass(frozen=True, slots=True)
class PublishFailed:
    """Publishing ``session``'s snapshot failed; ``error`` is ``"Type: message"``."""

    session: dt.date
    error: str


# --- to a LoaderActor ------------------------------------------------------
# LoadBatch (with its ReuseCheck) and ListSymbols: see preopen.planning.orders.


# --- to the SessionDataActor -----------------------------------------------
# Activate, Arm, Disarm and Retire: see preopen.planning.orders.


@dataclass(frozen=True, slots=True)
class Release:
    """Let go of the snapshots replaced by the last activations (after it was answered)."""


@dataclass(frozen=True, slots=True)
class SetSymbols:
    """Replace the active symbol set (``None``: every symbol in the store)."""

    symbols: frozenset[str] | None
    reply: Future[None] | None = None


@dataclass(frozen=True, slots=True)
class OnActivated:
    """Call ``callback(snapshot)`` after each activation (in the actor's thread)."""

    callback: Callable[[SessionSnapshot], object]
    reply: Future[None]


# --- to the CalendarActor --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Send :class:`CalendarChanged` to ``reply_to`` now and after each amendment.

    The subscriber that ``acknowledges`` receives the amendment's ``reply``.
    """

    reply_to: Address
    acknowledges: bool = False


@dataclass(frozen=True, slots=True)
class Amend:
    """Amend the calendar: ad-hoc closures and early closes announced late.

    ``reply`` is forwarded to the subscriber that acknowledges (the
    scheduler), so that it is set once the schedule is re-planned; a refused
    amendment sets it with the calendar's error.
    """

    closures: frozenset[dt.date]
    early_closes: Mapping[dt.date, dt.time]
    reply: Future[ExchangeCalendar]


# --- to the Supervisor -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildFailed:
    """A child died (``generation`` tells stale reports from current ones)."""

    child: ChildKey
    generation: int
    error: str
    failure: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class OnFailure:
    """Call ``callback(error)`` when the supervisor gives up (escalation)."""

    callback: Callable[[BaseException], object]
    reply: Future[None]


@dataclass(frozen=True, slots=True)
class Children:
    """Ask for each child's generation, by name (answered once all have started)."""

    reply: Future[dict[str, int]]
