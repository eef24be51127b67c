"""The scheduler's record: status counters and event history, as a plain object.

:class:`Journal` is what the :class:`~preopen.planning.planner.Planner` knows
of the past: the counters of the last published status (carried over a
restart of the scheduler), the bars of loads already closed, and the last
events. It builds the :class:`~preopen.status.RuntimeStatus` the
scheduler publishes; it decides nothing.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from preopen.calendar.timing import Phase, phase_at
from preopen.errors import DateOutOfRangeError
from preopen.status import Event, EventKind, Progress, RuntimeStatus

if TYPE_CHECKING:
    import datetime as dt

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.planning.cycle import Cycle

__all__ = ["HISTORY", "Journal"]

#: How many events the status keeps.
HISTORY = 64


class Journal:
    """Status counters and the recent history of one scheduler incarnation.

    Args:
        base: the status to continue from (the last one published, after a
            restart; else a fresh one).
    """

    def __init__(self, base: RuntimeStatus) -> None:
        """Continue from ``base``."""
        self.status = replace(base, running=True)
        self._events: deque[Event] = deque(base.events, maxlen=HISTORY)
        self._seq = itertools.count(base.events[-1].seq + 1 if base.events else 1)
        self._bars_base = base.bars_loaded
        self._bytes_base = base.bytes_loaded
        self._retried_base = base.loads_retried
        self._stalled_base = base.loads_stalled
        # Bars, bytes, batches retried and batches stalled of closed cycles' loads.
        self._closed = (0, 0, 0, 0)

    def update(self, **changes: Any) -> None:  # noqa: ANN401 - RuntimeStatus fields
        """Change status fields (``replace`` on the immutable status)."""
        self.status = replace(self.status, **changes)

    def event(self, at: pendulum.DateTime | None, kind: EventKind, session: dt.date | None,
              detail: str) -> None:
        """Record an event (dropped when nothing dates it yet)."""
        if at is None:
            return
        self._events.append(Event(next(self._seq), at, kind, session, detail))

    def error(self, at: pendulum.DateTime | None, session: dt.date | None, detail: str,
              *, kind: EventKind = EventKind.ERROR) -> None:
        """Record an error: the status's ``last_error`` and an event."""
        self.update(last_error=detail)
        self.event(at, kind, session, detail)

    def happened(self, kind: EventKind, session: dt.date) -> bool:
        """Whether a ``kind`` event about ``session`` is in the history."""
        return any(e.kind is kind and e.session == session for e in self._events)

    def close(self, cycle: Cycle) -> None:
        """Count the bars of a cycle that ends."""
        if cycle.load is not None:
            bars, nbytes, retried, stalled = self._closed
            load = cycle.load
            self._closed = (bars + load.bars_loaded, nbytes + load.bytes_loaded,
                            retried + load.batches_retried, stalled + load.batches_stalled)

    def activated(self, at: pendulum.DateTime | None, session: dt.date, symbols: int,
                  latency_s: float, fallback_s: float | None) -> None:
        """Count an activation of ``session`` (``fallback_s``: since an open without data)."""
        status = self.status
        first = status.serving != session
        self.update(
            serving=session,
            serving_symbols=symbols,
            activations=status.activations + 1,
            activation_latency_s=latency_s,
            activation_latencies=status.activation_latencies.observe(latency_s),
            served_at=at if first else status.served_at,
            fallback_seconds=(fallback_s if fallback_s is not None and first
                              else status.fallback_seconds),
        )
        what = "activated" if first else "follow-up activated"
        self.event(at, EventKind.ACTIVATED, session,
                   f"{what}: {symbols} symbols, {latency_s * 1e6:.0f} us")

    def view(self, now: pendulum.DateTime | None, calendar: ExchangeCalendar | None,
             window: dt.timedelta, cycle: Cycle | None) -> RuntimeStatus:
        """The status to publish: the phase, the counters, ``cycle``'s progress, the history."""
        phase = None
        if now is not None and calendar is not None:
            try:
                phase = phase_at(now, calendar, window)
            except DateOutOfRangeError:
                phase = Phase.IDLE
        load = cycle.load if cycle is not None else None
        bars, nbytes, retried, stalled = self._closed
        if load is not None:
            bars += load.bars_loaded
            nbytes += load.bytes_loaded
            retried += load.batches_retried
            stalled += load.batches_stalled
        return replace(
            self.status,
            phase=phase if phase is not None else self.status.phase,
            now=now,
            session=cycle.session if cycle else None,
            session_open=cycle.spec.open if cycle else None,
            prefetch_start=cycle.prefetch_start if cycle else None,
            progress=load.progress if load is not None else Progress(),
            failed_symbols=load.failed_symbols() if load is not None else (),
            bars_loaded=self._bars_base + bars,
            bytes_loaded=self._bytes_base + nbytes,
            loads_retried=self._retried_base + retried,
            loads_stalled=self._stalled_base + stalled,
            events=tuple(self._events),
        )
