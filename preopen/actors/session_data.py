"""The SessionDataActor: what the host is served.

It holds the current SessionSnapshot and the active symbol set in a
:class:`~preopen.actors._cells.SessionCell`. Activation is one reference
swap: the new snapshot replaces the old in one attribute assignment, so a
host thread reading ``runtime.snapshot()`` at that moment gets the old
snapshot or the new one, whole, and then reads its read-only arrays with no
lock and no message. Nothing is copied, whatever the number of symbols.

A snapshot is served only during its own session: an ``Activate`` for any
other date than the session in progress (by the runtime's clock and the
current calendar) is refused as stale, and the scheduler re-fetches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from preopen.actors._base import SupervisedActor
from preopen.actors.messages import (
    Activate,
    Activated,
    ActivationRefused,
    GetSnapshot,
    GetSymbols,
    OnActivated,
    Retire,
    SetSymbols,
    SymbolsChanged,
)

if TYPE_CHECKING:
    from preopen.actors._address import Address
    from preopen.actors._base import ChildContext
    from preopen.actors._cells import CalendarCell, SessionCell
    from preopen.clock import Clock
    from preopen.model import SessionSnapshot

__all__ = ["SessionDataActor"]

logger = logging.getLogger(__name__)


class SessionDataActor(SupervisedActor):
    """Serves the current snapshot; owns the active symbol set.

    Args:
        context: its place in the supervision tree.
        cell: where the snapshot and the symbols are kept (it outlives a
            crash of the actor; the host reads the snapshot from it).
        calendar: the CalendarActor's cell, read for the session in progress.
        clock: the runtime's clock.
        scheduler: where to report activations and symbol changes.
    """

    def __init__(
        self,
        context: ChildContext,
        *,
        cell: SessionCell,
        calendar: CalendarCell,
        clock: Clock,
        scheduler: Address,
    ) -> None:
        """Create the actor (runs in the supervisor's thread)."""
        super().__init__(context)
        self._cell = cell
        self._calendar = calendar
        self._clock = clock
        self._scheduler = scheduler

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401 - pykka's contract
        """Handle one message."""
        state = self._cell.state
        match message:
            case Activate(snapshot=snapshot, sent_at=sent_at, reply_to=reply_to):
                self._activate(snapshot, sent_at, reply_to)
            case Retire(session=session):
                if state.snapshot is not None and state.snapshot.session < session:
                    self._cell.state = replace(state, snapshot=None)
            case SetSymbols(symbols=symbols, ack=ack):
                self._cell.state = replace(state, symbols=symbols)
                self._scheduler.tell(SymbolsChanged(symbols, ack))
            case GetSnapshot():
                return state.snapshot
            case GetSymbols():
                return state.symbols
            case OnActivated(callback=callback):
                self._cell.state = replace(state, callbacks=(*state.callbacks, callback))
            case _:
                return super().on_receive(message)
        return None

    def _activate(
        self, snapshot: SessionSnapshot, sent_at: float, reply_to: Address | None
    ) -> None:
        state = self._cell.state
        in_progress = self._calendar.state.calendar.session_at(self._clock.now())
        if snapshot.session != in_progress:
            where = in_progress.isoformat() if in_progress else "no session"
            reason = (f"snapshot for {snapshot.session.isoformat()} is stale: "
                      f"the session in progress is {where}")
            if reply_to is not None:
                reply_to.tell(ActivationRefused(snapshot.session, in_progress, reason))
            return
        # The swap: one reference, read by the host without a lock.
        self._cell.state = replace(state, snapshot=snapshot)
        latency = time.perf_counter() - sent_at
        if reply_to is not None:
            reply_to.tell(Activated(snapshot.session, len(snapshot.symbols), latency))
        for callback in state.callbacks:
            try:
                callback(snapshot)
            except Exception:
                # A host callback's bug must not take the served data down with it.
                logger.exception("on_activated callback %r failed", callback)
