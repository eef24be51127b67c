"""The clock's deliveries into the tree, and the tree's alarms.

An alarm calls a delivery function when it falls due; :class:`Deliveries`
holds the tree's two: the scheduler's tick (or, when a snapshot is armed
for the open it falls on, the :class:`~preopen.actors.messages.Open` to the
SessionDataActor first), and the SessionDataActor's wake-up ahead of an
armed open on a real-time clock. :class:`Alarms` are the alarms they are
given to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from preopen.actors.messages import Open, OpenSoon, Tick
from preopen.errors import RuntimeStoppedError

if TYPE_CHECKING:
    import threading
    from concurrent.futures import Future

    import pendulum

    from preopen.actors.child import Address, Outstanding
    from preopen.actors.tree import Cell, SessionState
    from preopen.clock import Alarm

__all__ = ["Alarms", "Deliveries"]


class Deliveries:
    """What the clock's alarms call: everything a tick starts goes through the addresses.

    A tick is handled, with all it caused, once nothing is outstanding. An
    armed open goes to the SessionDataActor first (it swaps, then tells the
    scheduler the tick): one thread woken before the host's read, not two.
    """

    def __init__(self, session: Cell[SessionState], session_data: Address,
                 scheduler: Address, outstanding: Outstanding) -> None:
        """Deliver to these addresses."""
        self._session = session
        self._session_data = session_data
        self._scheduler = scheduler
        self._outstanding = outstanding

    def tick(self, now: pendulum.DateTime, ack: Future[None] | None) -> None:
        """The scheduler's alarm: the tick, or the armed open."""
        state = self._session.state
        armed = state.armed
        if armed is not None and armed.opens_at <= now < armed.closes_at:
            told = self._session_data.tell(Open(now, time.perf_counter()))
        else:
            told = self._scheduler.tell(Tick(now, swapped=state.serves(now)))
        self._acknowledge(ack, told=told)

    def open_soon(self, now: pendulum.DateTime, ack: Future[None] | None) -> None:
        """The SessionDataActor's alarm ahead of an armed open."""
        self._acknowledge(ack, told=self._session_data.tell(OpenSoon(now)))

    def _acknowledge(self, ack: Future[None] | None, *, told: bool) -> None:
        if ack is None:
            return
        if told:
            self._outstanding.when_idle(ack)
        else:
            ack.set_exception(RuntimeStoppedError("the runtime is stopped"))


@dataclass(frozen=True, slots=True)
class Alarms:
    """The tree's alarms: the scheduler's, and the SessionDataActor's (real time only)."""

    tick: Alarm
    open_soon: Alarm | None

    def threads(self) -> list[threading.Thread]:
        """Their timer threads (a simulated clock's alarms have none)."""
        found = (getattr(a, "thread", None) for a in (self.tick, self.open_soon))
        return [t for t in found if t is not None]

    def cancel(self) -> None:
        """Stop both."""
        for alarm in (self.tick, self.open_soon):
            if alarm is not None:
                alarm.cancel()
