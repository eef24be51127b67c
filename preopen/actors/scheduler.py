"""The SchedulerActor: turns ticks and replies into loads and activations.

A thin actor around :class:`~preopen.actors._planner.Planner`: each message
is handed to the planner, then the planner's commands are sent (activation
first, so that the open tick's swap is not queued behind anything), the
clock's alarm is set to the planner's next wake-up, and the status is
published on the board. The scheduler never waits on another actor: loaders
and the SessionDataActor answer to its address.

Acknowledgements (a simulated clock's ticks, ``Settle``) are kept on the
board, not in the actor, so that a restarted scheduler still answers them;
they are set when nothing is in flight any more.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from preopen.actors._base import SupervisedActor
from preopen.actors._planner import Planner, SendActivate, SendBatch, SendList, SendRetire
from preopen.actors.messages import (
    Activate,
    Activated,
    ActivateNow,
    ActivationRefused,
    CalendarChanged,
    ChildRestarted,
    ListSymbols,
    LoadBatch,
    Loaded,
    LoadFailed,
    Ready,
    Retire,
    Settle,
    Subscribe,
    SymbolsChanged,
    SymbolsListed,
    Tick,
)
from preopen.errors import PreopenError, RuntimeStoppedError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pendulum
    import pykka

    from preopen.actors._address import Address
    from preopen.actors._base import ChildContext
    from preopen.actors._cells import SessionCell
    from preopen.actors._planner import Assembler, PlanConfig
    from preopen.actors._status import Board
    from preopen.clock import Alarm, Clock
    from preopen.model import Bars

__all__ = ["SchedulerActor"]


class SchedulerActor(SupervisedActor):
    """Plans each session, runs its prefetch, activates it at the open.

    Args:
        context: its place in the supervision tree.
        config: the planning settings.
        clock: the runtime's clock.
        alarm: the clock's alarm that delivers this actor's ticks.
        board: where the status is published (and acknowledgements kept).
        calendar: the CalendarActor.
        session_data: the SessionDataActor.
        session: the SessionDataActor's cell (initial symbols, served session).
        loaders: the loaders, by index.
        assemble: builds a snapshot from loaded bars.
        empty: makes an empty Bars.
    """

    def __init__(
        self,
        context: ChildContext,
        *,
        config: PlanConfig,
        clock: Clock,
        alarm: Alarm,
        board: Board,
        calendar: Address,
        session_data: Address,
        session: SessionCell,
        loaders: tuple[Address, ...],
        assemble: Assembler,
        empty: Callable[[str, str], Bars],
    ) -> None:
        """Create the actor (runs in the supervisor's thread)."""
        super().__init__(context)
        self._config = config
        self._clock = clock
        self._alarm = alarm
        self._board = board
        self._calendar = calendar
        self._session_data = session_data
        self._session = session
        self._loaders = loaders
        self._assemble = assemble
        self._empty = empty
        self._ready: list[pykka.ThreadingFuture[None]] = []
        # Answers held until the alarm is set and the status published, so that
        # whoever waited (the runtime's start, an amendment, a symbol change)
        # can move a simulated clock at once without missing the new wake-up.
        self._answers: list[tuple[pykka.ThreadingFuture[Any], object]] = []
        self._wake: pendulum.DateTime | None = None
        self._planner: Planner | None = None

    def started(self) -> None:
        """Build the planner (restoring the published counters) and subscribe to the calendar."""
        state = self._session.state
        previous = self._board.status
        self._planner = Planner(
            self._config,
            assemble=self._assemble,
            empty=self._empty,
            symbols=state.symbols,
            served=state.snapshot,
            restore=previous if previous.events else None,
        )
        self._calendar.tell(Subscribe(self.context.address, acknowledges=True))

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401, C901, PLR0912 - pykka's contract; one case per message
        """Handle one message."""
        perf = time.perf_counter()
        planner = self._planner
        assert planner is not None  # noqa: S101 - set in started()
        match message:
            case Tick(now=now, ack=ack):
                if ack is not None:
                    self._board.acks = (*self._board.acks, ack)
                planner.tick(now, perf)
            case Loaded(request_id=request_id, bars=bars, seconds=seconds):
                planner.loaded(request_id, bars, seconds)
            case LoadFailed(request_id=request_id, error=error, transient=transient):
                planner.load_failed(request_id, error, transient=transient)
            case SymbolsListed(request_id=request_id, symbols=symbols):
                planner.symbols_listed(request_id, symbols)
            case Activated(session=session, symbols=count, latency_s=latency):
                planner.activated(session, count, latency)
            case ActivationRefused(session=session, reason=reason):
                planner.activation_refused(session, reason)
                planner.tick(self._clock.now(), perf)
            case CalendarChanged(calendar=calendar, ack=ack):
                planner.set_calendar(calendar, self._clock.now())
                if ack is not None:
                    self._answers.append((ack, calendar))
            case SymbolsChanged(symbols=symbols, ack=ack):
                planner.symbols_changed(symbols, self._clock.now())
                if ack is not None:
                    self._answers.append((ack, None))
            case ChildRestarted(child=child, restarts=restarts, error=error):
                planner.child_restarted(child, restarts, error, self._clock.now())
            case Ready(ack=ack):
                self._ready.append(ack)  # answered by _flush once the calendar is known
            case Settle(ack=ack):
                self._board.acks = (*self._board.acks, ack)
            case ActivateNow(ack=ack):
                snapshot = planner.activate_now()
                if snapshot is None:
                    refusal = PreopenError("no snapshot to activate: the session is not open "
                                           "or its data is not loaded yet")
                    ack.set_exception((PreopenError, refusal, None))
                else:
                    ack.set(snapshot)
            case _:
                return super().on_receive(message)
        self._flush(planner)
        return None

    def _flush(self, planner: Planner) -> None:
        if self._send(planner):
            # Return at once and block on the inbox: that hands the interpreter
            # to the SessionDataActor, whose swap would otherwise wait for this
            # bookkeeping (or for the 5 ms switch interval). The bookkeeping is
            # done when its answer (Activated or ActivationRefused) arrives.
            return
        now = self._clock.now()
        if planner.calendar is not None:
            wake = planner.next_wake(now)
            if wake != self._wake:
                self._wake = wake
                self._alarm.wake_at(wake)
        self._board.publish(planner.status(now))
        if planner.collect:
            # A snapshot was frozen in the window: its allocations (thousands of
            # Bars and arrays) would otherwise trigger a full collection later,
            # possibly at the open, in the middle of the swap. Do it now.
            planner.collect = False
            gc.collect()
        if planner.calendar is not None and self._ready:
            self._answers.extend((ready, None) for ready in self._ready)
            self._ready.clear()
        answers, self._answers = self._answers, []
        for future, value in answers:
            future.set(value)
        if not planner.busy and self._board.acks:
            acks, self._board.acks = self._board.acks, ()
            for ack in acks:
                ack.set(None)

    def _send(self, planner: Planner) -> bool:
        """Send the planner's commands; whether one was an activation."""
        me = self.context.address
        activating = False
        for command in planner.outbox:
            match command:
                case SendActivate(snapshot=snapshot, sent_at=sent_at):
                    self._session_data.tell(Activate(snapshot, sent_at, me))
                    activating = True
                case SendBatch(loader=loader, batch=batch, start=start, end=end):
                    self._loaders[loader].tell(
                        LoadBatch(batch.request_id, batch.symbols, batch.interval, start, end, me)
                    )
                case SendList(loader=loader, request_id=request_id):
                    self._loaders[loader].tell(ListSymbols(request_id, me))
                case SendRetire(session=session):
                    self._session_data.tell(Retire(session))
        planner.outbox.clear()
        return activating

    def on_stop(self) -> None:
        """Fail the acknowledgements still waited on: nobody will set them now."""
        self._fail_waiters()

    def _fail_waiters(self) -> None:
        # After a crash (on_failure) the acknowledgements stay on the board
        # for the next incarnation; only a stop fails them.
        acks, self._board.acks = self._board.acks, ()
        error = RuntimeStoppedError("the runtime stopped before this was handled")
        for ack in (*acks, *self._ready, *(future for future, _ in self._answers)):
            ack.set_exception((RuntimeStoppedError, error, None))
        self._ready.clear()
        self._answers.clear()
