"""What the host sees of the runtime: :class:`RuntimeStatus`, and the board it is read from.

The status is an immutable value rebuilt by its single writer (the
SchedulerActor while the tree runs; the supervisor or the runtime once the
scheduler is stopped) and published on a :class:`Board` by replacing one
reference. The host reads it with no message and no lock.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pykka

from preopen.actors._prefetch import Progress
from preopen.calendar.timing import Phase
from preopen.errors import PreopenTimeoutError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    import pendulum

__all__ = ["Board", "Event", "EventKind", "RuntimeStatus"]


class EventKind(enum.StrEnum):
    """What happened, in the status's event history."""

    STARTED = "started"
    PLANNED = "planned"
    PREFETCH_STARTED = "prefetch-started"
    PREFETCH_DONE = "prefetch-done"
    PREFETCH_FAILED = "prefetch-failed"
    RETRY = "retry"
    FALLBACK = "fallback"
    SYMBOLS = "symbols"
    ACTIVATED = "activated"
    REFUSED = "refused"
    RETIRED = "retired"
    SESSION_ENDED = "session-ended"
    CALENDAR = "calendar"
    RESTART = "restart"
    ERROR = "error"
    ESCALATED = "escalated"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the runtime's history.

    Attributes:
        seq: its rank in the history (increasing).
        at: market time (the runtime's clock) when it happened.
        kind: what happened.
        session: the session it concerns, if any.
        detail: the specifics, in words.
    """

    seq: int
    at: pendulum.DateTime
    kind: EventKind
    session: dt.date | None
    detail: str

    def __str__(self) -> str:
        """``at kind [session]: detail``."""
        session = f" [{self.session.isoformat()}]" if self.session else ""
        return f"{self.at.isoformat()} {self.kind}{session}: {self.detail}"


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """The runtime at a glance; immutable.

    Attributes:
        running: the tree is up (False once stopped or escalated).
        phase: the calendar phase at ``now``.
        now: market time of the last update.
        session: the session in progress, else the next one to open.
        session_open: its open.
        prefetch_start: when its prefetch starts (open minus the window).
        serving: the session of the snapshot served to the host, if any.
        serving_symbols: how many symbols that snapshot holds.
        progress: the current load, in ``(symbol, interval)`` keys.
        failed_symbols: symbols given up on in the current load.
        bars_loaded: bars received since the start.
        bytes_loaded: bytes of those bars.
        prefetch_seconds: how long the last load took, first batch to last reply.
        fallback_seconds: for the last session that opened without a complete
            prefetch: from its open to the activation.
        activation_latency_s: the last activation, from the scheduler's
            handling of its trigger to the new reference being served.
        activations: snapshots activated since the start (follow-ups included).
        fallbacks: sessions that opened without a complete prefetch.
        restarts: children restarted by the supervisor.
        last_error: the last error, in words.
        events: the recent history, oldest first.
        shard: the host's shard (``"i/N"``), empty when it keeps every symbol.
        store_served: the store that answered the last load (of a list of
            stores), empty for a single store.
        store_fallbacks: loads a list of stores answered from a store after
            the first, since the start.
    """

    running: bool = True
    phase: Phase = Phase.IDLE
    now: pendulum.DateTime | None = None
    session: dt.date | None = None
    session_open: pendulum.DateTime | None = None
    prefetch_start: pendulum.DateTime | None = None
    serving: dt.date | None = None
    serving_symbols: int = 0
    progress: Progress = field(default_factory=Progress)
    failed_symbols: tuple[str, ...] = ()
    bars_loaded: int = 0
    bytes_loaded: int = 0
    prefetch_seconds: float | None = None
    fallback_seconds: float | None = None
    activation_latency_s: float | None = None
    activations: int = 0
    fallbacks: int = 0
    restarts: int = 0
    last_error: str | None = None
    events: tuple[Event, ...] = ()
    shard: str = ""
    store_served: str = ""
    store_fallbacks: int = 0


class Board:
    """Where the status is published, and where the host waits on it.

    Invariant (single writer, no lock): only one thread publishes at a time.
    :meth:`publish` stores the status *before* it swaps and sets the change
    signal, and a waiter takes the signal *before* it reads the status; so a
    waiter either sees the new status or is woken by its signal.
    """

    def __init__(self, status: RuntimeStatus | None = None) -> None:
        """Create a board showing ``status`` (a blank one by default)."""
        self.status = status if status is not None else RuntimeStatus()
        # Acknowledgements waiting for the scheduler to settle; written by the
        # scheduler only, kept here so that they outlive its crash.
        self.acks: tuple[pykka.ThreadingFuture[None], ...] = ()
        self._changed: pykka.ThreadingFuture[None] = pykka.ThreadingFuture()

    def publish(self, status: RuntimeStatus) -> None:
        """Show ``status`` and wake every waiter (the single writer's call)."""
        self.status = status
        changed, self._changed = self._changed, pykka.ThreadingFuture()
        changed.set(None)

    def wait_for(self, predicate: Callable[[RuntimeStatus], bool], timeout: float,
                 what: str = "condition") -> RuntimeStatus:
        """Wait until ``predicate(status)`` holds; return that status.

        Raises:
            PreopenTimeoutError: it did not hold within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            changed = self._changed
            status = self.status
            if predicate(status):
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PreopenTimeoutError(f"waiting for {what}", timeout)
            try:
                changed.get(timeout=remaining)
            except pykka.Timeout:
                continue
