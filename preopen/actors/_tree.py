"""The supervision tree of one runtime: its cells, addresses, alarm and supervisor.

:func:`build_tree` wires the children from the settings and starts the
supervisor, which starts them (CalendarActor, SessionDataActor, the
LoaderActors, then the SchedulerActor). The :class:`Tree` it returns holds
what the host's handle (:class:`preopen.runtime.Runtime`) needs: the cells it
reads without messages, the addresses it sends to, and the threads to join.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preopen.actors._address import Address, ThreadLedger
from preopen.actors._assemble import assemble, empty_bars
from preopen.actors._cells import CalendarCell, CalendarState, SessionCell, SessionState
from preopen.actors._planner import PlanConfig
from preopen.actors._restart import RestartPolicy
from preopen.actors._status import Board, RuntimeStatus
from preopen.actors.calendar_actor import CalendarActor
from preopen.actors.loader import LoaderActor
from preopen.actors.messages import Tick
from preopen.actors.scheduler import SchedulerActor
from preopen.actors.session_data import SessionDataActor
from preopen.actors.supervisor import ChildSpec, Supervisor
from preopen.errors import RuntimeStoppedError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pendulum
    import pykka

    from preopen.actors._plan import Assembler
    from preopen.calendar import ExchangeCalendar
    from preopen.clock import Ack, Alarm, Clock
    from preopen.model import SessionSnapshot
    from preopen.settings import Settings
    from preopen.store import BarStore

__all__ = ["Tree", "build_tree"]


@dataclass(frozen=True, slots=True)
class Tree:
    """A started supervision tree.

    Attributes:
        clock: the clock it runs on.
        alarm: the scheduler's wake-up on that clock.
        supervisor: the root actor.
        addresses: each child's address, by name.
        session: the SessionDataActor's cell (served snapshot, symbols).
        calendar: the CalendarActor's cell (the amended calendar).
        board: the published status.
        ledger: every thread the tree started.
    """

    clock: Clock
    alarm: Alarm
    supervisor: pykka.ActorRef[Any]
    addresses: Mapping[str, Address]
    session: SessionCell
    calendar: CalendarCell
    board: Board
    ledger: ThreadLedger


def build_tree(settings: Settings, clock: Clock, store: BarStore,
               calendar: ExchangeCalendar,
               on_frozen: Callable[[SessionSnapshot], object] | None = None) -> Tree:
    """Wire the children from ``settings`` and start the supervisor.

    ``on_frozen`` is called (in the scheduler's thread) with every snapshot
    the scheduler freezes, before the open too (a hub serves it from then).
    """
    ledger = ThreadLedger()
    board = Board(RuntimeStatus())
    calendar_cell = CalendarCell(CalendarState(calendar))
    symbols = frozenset(settings.symbols) if settings.symbols else None
    session_cell = SessionCell(SessionState(symbols=symbols))
    calendar_address = Address("calendar")
    session_address = Address("session_data")
    scheduler_address = Address("scheduler")
    loaders = tuple(Address(f"loader-{i}") for i in range(settings.loaders))

    def deliver(now: pendulum.DateTime, ack: Ack[None] | None) -> None:
        if not scheduler_address.tell(Tick(now, ack)) and ack is not None:
            error = RuntimeStoppedError("the runtime is stopped")
            ack.set_exception((RuntimeStoppedError, error, None))

    alarm = clock.alarm(deliver, name="preopen-tick")
    thread = getattr(alarm, "thread", None)
    if thread is not None:
        ledger.record(thread)
    config = PlanConfig(
        window=settings.window,
        check_interval=settings.check_interval,
        intervals=tuple(settings.intervals),
        trailing_days=settings.trailing_days,
        loaders=settings.loaders,
        batch_size=settings.batch_size,
        max_attempts=settings.max_attempts,
        enabled=settings.enabled,
        auto_activate=settings.auto_activate,
        keep=shard.keeps if (shard := settings.shard_or_none) is not None else None,
    )
    specs = (
        ChildSpec(calendar_address, CalendarActor, {"cell": calendar_cell}),
        ChildSpec(session_address, SessionDataActor, {
            "cell": session_cell, "calendar": calendar_cell, "clock": clock,
            "scheduler": scheduler_address,
        }),
        *(ChildSpec(address, LoaderActor, {"store": store}) for address in loaders),
        ChildSpec(scheduler_address, SchedulerActor, {
            "config": config, "clock": clock, "alarm": alarm, "board": board,
            "calendar": calendar_address, "session_data": session_address,
            "session": session_cell, "loaders": loaders,
            "assemble": assemble if on_frozen is None else _then(assemble, on_frozen),
            "empty": empty_bars,
        }),
    )
    supervisor = Supervisor.start(
        specs,
        policy=RestartPolicy(settings.restart_intensity, settings.restart_period_s),
        ledger=ledger,
        board=board,
        clock=clock,
        notify=scheduler_address,
        on_escalate=alarm.cancel,
    )
    addresses = {a.name: a for a in (calendar_address, session_address, scheduler_address,
                                     *loaders)}
    return Tree(clock=clock, alarm=alarm, supervisor=supervisor, addresses=addresses,
                session=session_cell, calendar=calendar_cell, board=board, ledger=ledger)


def _then(assemble: Assembler, on_frozen: Callable[[SessionSnapshot], object]) -> Assembler:
    """``assemble``, then ``on_frozen(snapshot)``; a failing callback is logged, not raised."""

    def assemble_then(*args: Any) -> SessionSnapshot:  # noqa: ANN401 - the Assembler's arguments
        snapshot = assemble(*args)
        try:
            on_frozen(snapshot)
        except Exception:
            logging.getLogger("preopen").exception("the on_frozen callback failed")
        return snapshot

    return assemble_then
