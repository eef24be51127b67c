"""The supervision tree of one runtime: the state that outlives its actors, and the wiring.

State a child must not lose in a crash (the served snapshot, the active
symbols, the amended calendar, the published status) lives in a
:class:`Cell` the tree creates and hands to each incarnation. A cell has
exactly one writer, which replaces one immutable value with one attribute
assignment (atomic in CPython); anyone may read it at any time, with no lock
and no message, and sees the old value or the new one, never a mix. The
:class:`Board` is the status's cell, with a signal for the host to wait on.

:func:`build_tree` wires the children from the settings, each from a typed
:class:`~preopen.actors.supervisor.ChildSpec`, and starts the supervisor,
which starts them: CalendarActor, SessionDataActor, the LoaderActors, then
the SchedulerActor. :class:`Shutdown` is one stop of a tree against one
deadline (tell, interrupt, join, close, publish), the procedure
``Runtime.stop`` runs: :meth:`Shutdown.begin` waits for nothing, so that it
can run in a callback, in a thread of the tree; :meth:`Shutdown.finish`
waits, in the caller's thread or in a ``preopen-stop`` thread of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from preopen.actors.calendar_actor import CalendarActor, CalendarWiring
from preopen.actors.child import Address, ChildKey, Outstanding, Role, ThreadLedger
from preopen.actors.delivery import Alarms, Deliveries
from preopen.actors.loader import LoaderActor, LoaderWiring
from preopen.actors.scheduler import SchedulerActor, SchedulerWiring
from preopen.actors.session_data import SessionDataActor, SessionDataWiring
from preopen.actors.supervisor import ChildSpec, RestartPolicy, Supervisor
from preopen.clock import SystemClock
from preopen.errors import PreopenTimeoutError, RuntimeStoppedError
from preopen.status import Event, EventKind, RuntimeStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    import pendulum

    from preopen.calendar import ExchangeCalendar
    from preopen.clock import Alarm, Clock
    from preopen.model import SessionSnapshot
    from preopen.planning import Arm
    from preopen.settings import Settings
    from preopen.store import BarStore

__all__ = [
    "INTERRUPT_AGAIN_S",
    "Board",
    "CalendarState",
    "Cell",
    "SessionState",
    "Shutdown",
    "Tree",
    "build_tree",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)


class Cell(Generic[T]):
    """One immutable value, replaced by its single writer, read by anyone."""

    __slots__ = ("state",)

    def __init__(self, state: T) -> None:
        """Hold ``state``."""
        self.state = state


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the SessionDataActor holds.

    Attributes:
        snapshot: the snapshot served to the host, if any.
        symbols: the active symbol set (``None``: every symbol in the store).
        callbacks: called after each activation.
        armed: the next session's snapshot, served from its open on (see
            :class:`~preopen.planning.Arm`), until an activation swaps it in.
    """

    snapshot: SessionSnapshot | None = None
    symbols: frozenset[str] | None = None
    callbacks: tuple[Callable[[SessionSnapshot], object], ...] = ()
    armed: Arm | None = None

    def serves(self, now: pendulum.DateTime) -> bool:
        """Whether the snapshot served is of the session in progress at ``now``."""
        snapshot = self.snapshot
        return snapshot is not None and snapshot.open <= now < snapshot.close


@dataclass(frozen=True, slots=True)
class CalendarState:
    """What the CalendarActor holds: the calendar and who to tell of changes."""

    calendar: ExchangeCalendar
    subscribers: tuple[tuple[Address, bool], ...] = ()


class Board:
    """The status's cell, and where the host waits on it.

    Invariant (single writer, no lock): only one thread publishes at a time.
    :meth:`publish` stores the status *before* it swaps and sets the change
    signal, and a waiter takes the signal *before* it reads the status; so a
    waiter either sees the new status or is woken by its signal. Subscribers
    are called by the publishing thread, after the store: one publish at a
    time, so each sees the statuses in the order they were published.
    """

    def __init__(self, status: RuntimeStatus | None = None) -> None:
        """Create a board showing ``status`` (a blank one by default)."""
        self.status = status if status is not None else RuntimeStatus()
        self._changed: Future[None] = Future()
        self._ids = itertools.count(1)
        # Single-key set and pop, and copy, are atomic in CPython: no lock.
        self._subscribers: dict[int, Callable[[RuntimeStatus], object]] = {}

    def publish(self, status: RuntimeStatus) -> None:
        """Show ``status``, wake every waiter, call every subscriber (the single writer's call)."""
        self.status = status
        changed, self._changed = self._changed, Future()
        changed.set_result(None)
        for subscriber in self._subscribers.copy().values():
            try:
                subscriber(status)
            except Exception:
                logger.exception("status subscriber %r failed", subscriber)

    def subscribe(self, subscriber: Callable[[RuntimeStatus], object]) -> Callable[[], None]:
        """Call ``subscriber(status)`` with each status published from now on, in order.

        It runs in the publishing thread: it must return at once (hand the
        status over, e.g. with ``loop.call_soon_threadsafe``) and never
        publish; its exceptions are logged. A publish under way as it
        subscribes may or may not reach it: read :attr:`status` *after*
        subscribing for the current one (it may then come again). Returns
        the function that unsubscribes it.
        """
        key = next(self._ids)
        self._subscribers[key] = subscriber

        def unsubscribe() -> None:
            self._subscribers.pop(key, None)

        return unsubscribe

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
                changed.result(timeout=remaining)
            except TimeoutError:
                continue


@dataclass(frozen=True, slots=True)
class Tree:
    """A started supervision tree.

    Attributes:
        clock: the clock it runs on.
        alarm: the scheduler's wake-up on that clock.
        open_alarm: the SessionDataActor's wake-up ahead of an armed open
            (a real-time clock only).
        supervisor: the root actor's address.
        scheduler: the SchedulerActor's address.
        session_data: the SessionDataActor's address.
        calendar_actor: the CalendarActor's address.
        loaders: the LoaderActors' addresses.
        session: the SessionDataActor's cell (served snapshot, symbols).
        calendar: the CalendarActor's cell (the amended calendar).
        board: the published status.
        outstanding: the messages told and not yet handled.
        ledger: every thread the tree started.
    """

    clock: Clock
    alarm: Alarm
    open_alarm: Alarm | None
    supervisor: Address
    scheduler: Address
    session_data: Address
    calendar_actor: Address
    loaders: tuple[Address, ...]
    session: Cell[SessionState]
    calendar: Cell[CalendarState]
    board: Board
    outstanding: Outstanding
    ledger: ThreadLedger

    def address(self, key: ChildKey) -> Address:
        """The address of ``key``'s child.

        Raises:
            KeyError: no such child.
        """
        for address in (self.supervisor, self.scheduler, self.session_data,
                        self.calendar_actor, *self.loaders):
            if address.key == key:
                return address
        raise KeyError(key)

    def stop(self, timeout: float) -> tuple[threading.Thread, ...]:
        """Stop every actor at once and join every thread of the tree within ``timeout``.

        The ledger is closed first (a loader then starts no new store call),
        then every actor, supervisor included, is told to stop: in parallel,
        so that one stuck in foreign code does not hold the others. Never
        waits on the calling thread (a host callback may call this).

        Returns:
            The threads still running after ``timeout`` (not the caller's).
        """
        deadline = time.monotonic() + timeout
        self.tell_stop()
        return self.join(deadline)

    def tell_stop(self) -> None:
        """Close the ledger and tell every actor to stop; wait for nothing."""
        self.outstanding.close(RuntimeStoppedError("the runtime is stopped"))
        for address in (self.supervisor, self.scheduler, *self.loaders, self.session_data,
                        self.calendar_actor):
            ref = address.ref
            if ref is not None and ref.is_alive():
                ref.stop(block=False)

    def join(self, deadline: float) -> tuple[threading.Thread, ...]:
        """Join the tree's threads until ``deadline`` (monotonic); return those still running.

        Threads started meanwhile (a child the supervisor was restarting) are
        joined too; the calling thread is skipped.
        """
        current = threading.current_thread()
        while True:
            left = tuple(t for t in self.ledger.alive() if t is not current)
            remaining = deadline - time.monotonic()
            if not left or remaining <= 0:
                return left
            left[0].join(remaining)


def build_tree(settings: Settings, clock: Clock, store: BarStore,
               calendar: ExchangeCalendar,
               on_frozen: Callable[[SessionSnapshot], object] | None = None) -> Tree:
    """Wire the children from ``settings`` and start the supervisor.

    ``on_frozen`` is called (in the scheduler's thread) with every snapshot
    the scheduler freezes, before the open too (a hub serves it from then).
    """
    ledger = ThreadLedger()
    outstanding = Outstanding()
    board = Board(RuntimeStatus())
    calendar_cell = Cell(CalendarState(calendar))
    symbols = frozenset(settings.symbols) if settings.symbols else None
    session_cell = Cell(SessionState(symbols=symbols))
    supervisor = Address(ChildKey(Role.SUPERVISOR), outstanding)
    calendar_address = Address(ChildKey(Role.CALENDAR), outstanding)
    session_address = Address(ChildKey(Role.SESSION_DATA), outstanding)
    scheduler = Address(ChildKey(Role.SCHEDULER), outstanding)
    loaders = tuple(Address(ChildKey(Role.LOADER, i), outstanding)
                    for i in range(settings.loaders))

    deliveries = Deliveries(session_cell, session_address, scheduler, outstanding)
    alarm = clock.alarm(deliveries.tick, name="preopen-tick")
    # Only a real-time clock wakes the SessionDataActor ahead of an armed open:
    # its spin waits for the clock to move, which a simulated one does not.
    open_alarm = (clock.alarm(deliveries.open_soon, name="preopen-open")
                  if isinstance(clock, SystemClock) else None)
    alarms = Alarms(alarm, open_alarm)
    for thread in alarms.threads():
        ledger.record(thread)
    calendar_spec = ChildSpec(calendar_address, CalendarActor, CalendarWiring(calendar_cell))
    session_spec = ChildSpec(session_address, SessionDataActor,
                             SessionDataWiring(session_cell, calendar_cell, clock, scheduler,
                                               open_alarm))
    loader_specs = tuple(ChildSpec(address, LoaderActor, LoaderWiring(store, scheduler))
                         for address in loaders)
    scheduler_spec = ChildSpec(scheduler, SchedulerActor, SchedulerWiring(
        settings=settings, clock=clock, alarm=alarm, board=board, calendar=calendar_address,
        session_data=session_address, session=session_cell, loaders=loaders,
        on_frozen=on_frozen,
    ))
    specs = (calendar_spec, session_spec, *loader_specs, scheduler_spec)
    Supervisor.start(
        supervisor,
        specs,
        policy=RestartPolicy(settings.restart_intensity, settings.restart_period_s),
        ledger=ledger,
        board=board,
        clock=clock,
        notify=scheduler,
        on_escalate=alarms.cancel,
    )
    return Tree(clock=clock, alarm=alarm, open_alarm=open_alarm, supervisor=supervisor,
                scheduler=scheduler, session_data=session_address, calendar_actor=calendar_address,
                loaders=loaders, session=session_cell, calendar=calendar_cell, board=board,
                outstanding=outstanding, ledger=ledger)


#: The store's calls are interrupted again after this long if threads are left.
INTERRUPT_AGAIN_S = 0.25


class Shutdown:
    """One stop of ``tree``.

    Args:
        tree: the started tree.
        store: the store its loaders call (``interrupt()`` is used when it has one).
        owns_store: close the store once the threads are joined.

    Attributes:
        done: set by :meth:`finish` to the names of the threads still running.
    """

    def __init__(self, tree: Tree, store: BarStore, *, owns_store: bool) -> None:
        """Prepare the stop (nothing is stopped yet)."""
        self._tree = tree
        self._store = store
        self._owns_store = owns_store
        self.done: Future[tuple[str, ...]] = Future()

    def begin(self) -> None:
        """What a stop cannot wait for: tell every actor to stop, interrupt the store.

        The ledger is closed first (in ``tell_stop``), so that a loader starts
        no store call after the interrupt; one that checked just before may
        still start one: :meth:`finish` interrupts again.
        """
        self._tree.tell_stop()
        self.interrupt_store()
        for alarm in (self._tree.alarm, self._tree.open_alarm):
            if alarm is not None:
                with contextlib.suppress(PreopenTimeoutError):
                    alarm.cancel()  # its thread is joined in finish, with the others

    def finish(self, deadline: float) -> None:
        """Join the threads until ``deadline`` (monotonic), close an owned store, publish."""
        tree = self._tree
        try:
            left = tree.join(min(deadline, time.monotonic() + INTERRUPT_AGAIN_S))
            if left:
                self.interrupt_store()  # a call begun between the ledger's close and the interrupt
                left = tree.join(deadline)
            if left:
                logger.error("stopping the runtime: threads still running: %s",
                             ", ".join(t.name for t in left))
            if self._owns_store:
                try:
                    self._store.close()
                except Exception:
                    logger.exception("closing the store failed")
            status = tree.board.status
            if status.running:
                seq = status.events[-1].seq + 1 if status.events else 1
                event = Event(seq, tree.clock.now(), EventKind.STOPPED, None, "stopped by the host")
                # The scheduler is gone: the stop is now the board's single writer.
                tree.board.publish(replace(status, running=False,
                                           events=(*status.events, event)))
        finally:
            self.done.set_result(tuple(t.name for t in tree.ledger.alive()))

    def interrupt_store(self) -> None:
        """Cancel the store's calls in flight (a host's own store may lack ``interrupt``)."""
        interrupt = getattr(self._store, "interrupt", None)
        if callable(interrupt):
            try:
                interrupt()
            except Exception:
                logger.exception("interrupting the store's calls failed")
