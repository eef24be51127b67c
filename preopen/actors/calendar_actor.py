"""The CalendarActor: owns the exchange calendar and its amendments.

The calendar itself is an immutable value; the actor owns *which* value is
current. Subscribers (the scheduler) receive the current calendar when they
subscribe and again after each amendment, so they compute with it locally,
with no round trip per question. An amendment's reply is forwarded to the
subscriber that acknowledges (the scheduler), so the host's
``amend_calendar`` returns once the schedule is re-planned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from preopen.actors.child import SupervisedActor, resolve
from preopen.actors.messages import Amend, CalendarChanged, Subscribe

if TYPE_CHECKING:
    from preopen.actors.tree import CalendarState, Cell

__all__ = ["CalendarActor", "CalendarWiring"]


@dataclass(frozen=True, slots=True)
class CalendarWiring:
    """What the CalendarActor is connected to.

    Attributes:
        cell: where the current calendar and the subscribers are kept (it
            outlives a crash of the actor).
    """

    cell: Cell[CalendarState]


class CalendarActor(SupervisedActor[CalendarWiring]):
    """Owns the current calendar; amends it; tells subscribers."""

    def handle(self, message: object) -> object:
        """Handle one message."""
        cell = self.wiring.cell
        state = cell.state
        match message:
            case Subscribe(reply_to=reply_to, acknowledges=acknowledges):
                others = tuple(s for s in state.subscribers if s[0].key != reply_to.key)
                cell.state = replace(state, subscribers=(*others, (reply_to, acknowledges)))
                reply_to.tell(CalendarChanged(state.calendar))
            case Amend(closures=closures, early_closes=early_closes, reply=reply):
                try:
                    amended = state.calendar.amended(closures=closures, early_closes=early_closes)
                except Exception as exc:  # noqa: BLE001 - the host learns why, the actor lives on
                    resolve(reply, error=exc)
                    return None
                cell.state = replace(state, calendar=amended)
                acknowledged = False
                for address, acknowledges in state.subscribers:
                    forward = reply if acknowledges and not acknowledged else None
                    acknowledged = acknowledged or forward is not None
                    address.tell(CalendarChanged(amended, forward))
                if not acknowledged:
                    resolve(reply, amended)
            case _:
                return super().handle(message)
        return None
