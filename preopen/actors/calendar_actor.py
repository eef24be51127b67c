"""The CalendarActor: owns the exchange calendar and its amendments.

The calendar itself is an immutable value; the actor owns *which* value is
current. Subscribers (the scheduler, the session data) receive the current
calendar when they subscribe and again after each amendment, so they can
compute with it locally, with no round trip per question. An amendment's
acknowledgement is forwarded to the subscriber that asked to acknowledge
(the scheduler), so the host's ``amend_calendar`` returns once the schedule
is re-planned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from preopen.actors._base import SupervisedActor
from preopen.actors.messages import Amend, CalendarChanged, GetCalendar, Subscribe

if TYPE_CHECKING:
    import datetime as dt

    from preopen.actors._base import ChildContext
    from preopen.actors._cells import CalendarCell

__all__ = ["CalendarActor", "NextSession", "SessionBounds", "TrailingSessions"]


@dataclass(frozen=True, slots=True)
class NextSession:
    """Ask for the first session strictly after ``after``."""

    after: dt.date


@dataclass(frozen=True, slots=True)
class TrailingSessions:
    """Ask for the ``count`` sessions strictly before ``session``, oldest first."""

    session: dt.date
    count: int


@dataclass(frozen=True, slots=True)
class SessionBounds:
    """Ask for ``(open, close)`` of ``session``."""

    session: dt.date


class CalendarActor(SupervisedActor):
    """Owns the current calendar; amends it; tells subscribers.

    Args:
        context: its place in the supervision tree.
        cell: where the current calendar and the subscribers are kept (it
            outlives a crash of the actor).
    """

    def __init__(self, context: ChildContext, *, cell: CalendarCell) -> None:
        """Create the actor (runs in the supervisor's thread)."""
        super().__init__(context)
        self._cell = cell

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401, PLR0911 - pykka's contract; one answer per question
        """Handle one message."""
        state = self._cell.state
        calendar = state.calendar
        match message:
            case Subscribe(reply_to=reply_to, acknowledges=acknowledges):
                others = tuple(s for s in state.subscribers if s[0].name != reply_to.name)
                self._cell.state = replace(state, subscribers=(*others, (reply_to, acknowledges)))
                reply_to.tell(CalendarChanged(calendar))
            case Amend(closures=closures, early_closes=early_closes, ack=ack):
                amended = calendar.amended(closures=closures, early_closes=early_closes)
                self._cell.state = replace(state, calendar=amended)
                acknowledged = False
                for address, acknowledges in state.subscribers:
                    forward = ack if acknowledges and not acknowledged else None
                    acknowledged = acknowledged or forward is not None
                    address.tell(CalendarChanged(amended, forward))
                if ack is not None and not acknowledged:
                    ack.set(amended)
                return amended
            case GetCalendar():
                return calendar
            case NextSession(after=after):
                return calendar.next_session(after)
            case TrailingSessions(session=session, count=count):
                return calendar.trailing_sessions(session, count)
            case SessionBounds(session=session):
                return (calendar.open_at(session), calendar.close_at(session))
            case _:
                return super().on_receive(message)
        return None
