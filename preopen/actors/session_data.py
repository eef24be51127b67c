"""The SessionDataActor: what the host is served.

It holds the current SessionSnapshot and the active symbol set in a cell.
Activation is one reference swap: the new snapshot replaces the old in one
attribute assignment, so a host thread reading ``runtime.snapshot()`` at that
moment gets the old snapshot or the new one, whole, and then reads its
read-only arrays with no lock and no message. Nothing proportional to the
symbol count runs between the swap and the host's first read: the count
comes with the message (taken when the snapshot was frozen), and the
replaced snapshot, whose freeing costs milliseconds with the GIL held at
10,000 symbols, is kept until the scheduler has handled the activation and
acknowledged the clock, and let go of on :class:`Release`.

A snapshot is served only during its own session: an ``Activate`` for any
other date than the session in progress (by the runtime's clock and the
current calendar) is refused as stale, and the scheduler re-fetches.

The armed open: a snapshot frozen complete before its session opens is
armed here (:class:`~preopen.planning.Arm`). From its open on a host's read
finds it in the cell before any thread has run (the runtime compares the
clock with the armed open), and the open tick comes here first
(:class:`Open`): the swap, then the scheduler is told the tick, then the
host's callbacks run. On a real-time clock this actor is also woken
``OPEN_LEAD_S`` ahead (:class:`OpenSoon`) and spins to the open's instant
to swap then. The scheduler's :class:`Activate` of that same snapshot then
only confirms it (``Activated``, with the latency of the swap); callbacks
run once. Invariant: ``_opened`` is the snapshot an open swapped in that no
Activate has confirmed yet (with the one it replaced, and the latency), or
``None``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from preopen.actors.child import SupervisedActor, describe, resolve
from preopen.actors.messages import (
    OPEN_LEAD_S,
    Activate,
    Activated,
    ActivationRefused,
    Arm,
    CallbackFailed,
    Disarm,
    OnActivated,
    Open,
    OpenSoon,
    Release,
    Retire,
    SetSymbols,
    SymbolsChanged,
    Tick,
)
from preopen.clock import seconds_reader, spin_until
from preopen.status import ErrorInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    import pendulum

    from preopen.actors.child import Address
    from preopen.actors.tree import CalendarState, Cell, SessionState
    from preopen.clock import Alarm, Clock
    from preopen.model import SessionSnapshot

__all__ = ["SessionDataActor", "SessionDataWiring"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionDataWiring:
    """What the SessionDataActor is connected to.

    Attributes:
        cell: where the snapshot and the symbols are kept (it outlives a
            crash of the actor; the host reads the snapshot from it).
        calendar: the CalendarActor's cell, read for the session in progress.
        clock: the runtime's clock.
        scheduler: where activations and symbol changes are reported.
        open_alarm: on a real-time clock, its wake-up ahead of an armed open
            (:class:`OpenSoon`); ``None``: the open tick alone swaps.
    """

    cell: Cell[SessionState]
    calendar: Cell[CalendarState]
    clock: Clock
    scheduler: Address
    open_alarm: Alarm | None = None


class SessionDataActor(SupervisedActor[SessionDataWiring]):
    """Serves the current snapshot; owns the active symbol set."""

    def started(self) -> None:
        """Nothing replaced yet, nothing opened unconfirmed."""
        self._replaced: list[SessionSnapshot] = []
        self._opened: tuple[SessionSnapshot, SessionSnapshot | None, float] | None = None
        self._seconds = seconds_reader(self.wiring.clock)

    def on_stop(self) -> None:
        """A stopped runtime opens nothing: the armed snapshot is withdrawn."""
        cell = self.wiring.cell
        if cell.state.armed is not None:
            cell.state = replace(cell.state, armed=None)

    def handle(self, message: object) -> object:
        """Handle one message."""
        cell = self.wiring.cell
        state = cell.state
        match message:
            case Activate(snapshot=snapshot, sent_at=sent_at, symbols=symbols):
                self._activate(snapshot, sent_at, symbols)
            case Open() | OpenSoon() | Arm() | Disarm():
                self._armed_open(message, state)
            case Release():
                self._replaced.clear()
            case Retire(session=session):
                if state.snapshot is not None and state.snapshot.session < session:
                    cell.state = replace(state, snapshot=None)  # nothing new to read: freed now
            case SetSymbols(symbols=symbols, reply=reply):
                cell.state = replace(state, symbols=symbols)
                self.wiring.scheduler.tell(SymbolsChanged(symbols, reply))
            case OnActivated(callback=callback, reply=reply):
                cell.state = replace(state, callbacks=(*state.callbacks, callback))
                resolve(reply)
            case _:
                return super().handle(message)
        return None

    def _armed_open(self, message: Open | OpenSoon | Arm | Disarm, state: SessionState) -> None:
        """The messages of the armed open (see the module's docstring)."""
        match message:
            case Open(now=now, delivered_at=delivered_at):
                self._on_open(now, delivered_at, state.callbacks)
            case OpenSoon():
                self._open_on_time(state)
            case Arm() as armed:
                self.wiring.cell.state = replace(state, armed=armed)
                if self.wiring.open_alarm is not None:
                    self.wiring.open_alarm.wake_at(
                        armed.opens_at - dt.timedelta(seconds=OPEN_LEAD_S))
            case Disarm(session=session):
                self._disarm(session)

    def _open_on_time(self, state: SessionState) -> None:
        """Woken ahead of the armed open: spin until its instant, then swap.

        Blocks this actor for at most ``2 * OPEN_LEAD_S``; the open tick that
        the scheduler's alarm delivers meanwhile finds the snapshot swapped.
        """
        armed = state.armed
        if armed is None or state.snapshot is armed.snapshot:
            return  # withdrawn since, or swapped already
        if spin_until(self._seconds, armed.opens_s, at_most_s=2 * OPEN_LEAD_S):
            self._on_open(armed.opens_at, time.perf_counter(), state.callbacks)

    def _on_open(self, now: pendulum.DateTime, delivered_at: float,
                 callbacks: tuple[Callable[[SessionSnapshot], object], ...]) -> None:
        opened = None
        try:
            opened = self._open(now, delivered_at)
        finally:  # the scheduler gets its tick whatever happened here
            self.wiring.scheduler.tell(Tick(now, swapped=self.wiring.cell.state.serves(now)))
        if opened is not None:  # after the tick: a callback finds the session open
            self._call_back(callbacks, opened)

    def _open(self, now: pendulum.DateTime, delivered_at: float) -> SessionSnapshot | None:
        """Swap the armed snapshot in, if it is due and its session is in progress; return it."""
        wiring = self.wiring
        state = wiring.cell.state
        armed = state.armed
        if armed is None or not armed.opens_at <= now < armed.closes_at:
            return None  # withdrawn or replaced since the clock looked: the scheduler decides
        if not armed.in_progress(wiring.calendar.state.calendar, lambda: now):
            wiring.cell.state = replace(state, armed=None)  # the calendar changed: stale
            return None
        snapshot = armed.snapshot
        wiring.cell.state = replace(state, snapshot=snapshot, armed=None)
        self._opened = (snapshot, state.snapshot, time.perf_counter() - delivered_at)
        if self._current is not None:  # the hosts' reads need not wait for the rest
            self.context.address.outstanding.settled(self._current)
        if state.snapshot is not None:
            self._replaced.append(state.snapshot)
        return snapshot

    def _disarm(self, session: dt.date | None) -> None:
        cell = self.wiring.cell
        state = cell.state
        if state.armed is not None and session in (None, state.armed.snapshot.session):
            cell.state = state = replace(state, armed=None)
        opened = self._opened
        if opened is not None and session is not None and opened[0].session == session:
            # Opened, but the plan that armed it is gone: what was served comes back.
            self._opened = None
            if state.snapshot is opened[0]:
                cell.state = replace(state, snapshot=opened[1])

    def _activate(self, snapshot: SessionSnapshot, sent_at: float, symbols: int) -> None:
        wiring = self.wiring
        state = wiring.cell.state
        opened, self._opened = self._opened, None
        if opened is not None and opened[0] is snapshot and state.snapshot is snapshot:
            # The open swapped it in already (callbacks run): confirm it.
            wiring.scheduler.tell(Activated(snapshot.session, symbols, opened[2]))
            return
        in_progress = wiring.calendar.state.calendar.session_at(wiring.clock.now())
        if snapshot.session != in_progress:
            where = in_progress.isoformat() if in_progress else "no session"
            reason = (f"snapshot for {snapshot.session.isoformat()} is stale: "
                      f"the session in progress is {where}")
            wiring.scheduler.tell(ActivationRefused(snapshot.session, in_progress, reason))
            return
        # The swap: one reference, read by the host without a lock.
        wiring.cell.state = replace(state, snapshot=snapshot, armed=None)
        latency = time.perf_counter() - sent_at
        if self._current is not None:  # the hosts' reads need not wait for the rest
            self.context.address.outstanding.settled(self._current)
        if state.snapshot is not None:
            self._replaced.append(state.snapshot)  # let go of on Release, off the critical path
        # Answered before the callbacks: the status showing the activation (which
        # AsyncRuntime.activate waits for) must not wait for a host's callback.
        # An open that must be fast is armed, and its answer comes after them.
        wiring.scheduler.tell(Activated(snapshot.session, symbols, latency))
        self._call_back(state.callbacks, snapshot)

    def _call_back(self, callbacks: tuple[Callable[[SessionSnapshot], object], ...],
                   snapshot: SessionSnapshot) -> None:
        wiring = self.wiring
        for callback in callbacks:
            try:
                callback(snapshot)
            except Exception as exc:
                # A host callback's bug must not take the served data down with it;
                # it is logged here and recorded in the status by the scheduler.
                logger.exception("on_activated callback %r failed", callback)
                name = getattr(callback, "__qualname__", repr(callback))
                wiring.scheduler.tell(CallbackFailed(f"on_activated {name}", describe(exc),
                                                     ErrorInfo.of(exc, "on_activated")))
