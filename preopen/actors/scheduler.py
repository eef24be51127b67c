"""The SchedulerActor: turns ticks and replies into loads and activations.

A thin actor around :class:`~preopen.planning.planner.Planner`: each message is
handed to the planner, then the messages it leaves are told to their
children (an activation first, so that the open tick's swap is not queued
behind anything), the clock's alarm is set to the planner's next wake-up,
the status is published and the replies are set. The scheduler never waits
on another actor: loaders and the SessionDataActor answer to its address.

When a tick has been handled, with everything it caused, is not the
scheduler's business: the tree's ledger of outstanding messages tells (see
:mod:`preopen.actors.child`).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from preopen.actors.child import ChildKey, Role, SupervisedActor, describe, resolve
from preopen.actors.messages import (
    Activate,
    Activated,
    ActivateNow,
    ActivationRefused,
    CalendarChanged,
    CallbackFailed,
    ChildRestarted,
    Disarm,
    Loaded,
    LoadFailed,
    Published,
    PublishFailed,
    Release,
    Subscribe,
    SymbolsChanged,
    SymbolsListed,
    Tick,
)
from preopen.errors import PreopenError, RuntimeStoppedError
from preopen.planning import Planner

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future
    from types import TracebackType

    import pendulum

    from preopen.actors.child import Address
    from preopen.actors.tree import Board, Cell, SessionState
    from preopen.clock import Alarm, Clock
    from preopen.model import Publication, SessionSnapshot, Staged
    from preopen.settings import Settings
    from preopen.status import ErrorInfo

__all__ = ["Publisher", "SchedulerActor", "SchedulerWiring"]

log = logging.getLogger("preopen")

#: How long a stopping scheduler waits for a table's fault-in thread to end
#: (it stops within one 32 MiB chunk, tens of milliseconds).
FAULT_IN_STOP_S = 1.0


# --- the publisher -------------------------------------------------------------
#
# The publisher: writes frozen snapshots to ``publish_dir`` off the scheduler's thread.
#
# Publishing a gigabyte takes seconds (write, fsync, checksums); the scheduler
# must never wait for it, least of all at the open. :class:`Publisher` owns one
# daemon thread. A frozen snapshot is staged (:func:`preopen.model.stage_snapshot`:
# the files in place, ``next.json`` naming them) as soon as the thread is free;
# one not started yet is replaced by a newer one (readers want the newest). It
# is made current (:func:`preopen.model.make_current`: one rename) once its
# session is served in-process: at the open, or at once for a follow-up
# snapshot of the session being served. So other processes switch sessions at
# the open, with the in-process host, and their followers have mapped the
# staged files ahead. Each staging and each flip is reported with ``report``
# (the scheduler's ``tell``) as :class:`Published` (``current`` tells which),
# each failure as :class:`PublishFailed`; a failure never reaches the activation.
#
# The thread is a daemon: a publication stuck on a dead file system cannot keep
# the host's process alive; :meth:`close` asks it to end and waits a little.


def _stage(snapshot: SessionSnapshot, directory: str) -> Staged:
    from preopen.model import stage_snapshot  # noqa: PLC0415 - pyarrow only when publishing

    return stage_snapshot(snapshot, directory)


def _make_current(staged: Staged, keep: int) -> Publication:
    from preopen.model import make_current  # noqa: PLC0415 - pyarrow only when publishing

    return make_current(staged, keep)


class Publisher:
    """One thread staging the newest submitted snapshot and flipping it when it is served.

    Args:
        directory: the publish directory (``settings.publish_dir``).
        keep: publications kept (``settings.publish_keep``).
        report: called (in the publisher's thread) with :class:`Published`
            after each staging and flip or :class:`PublishFailed` after each failure.
        serving: the session served in-process when the thread starts.
        stage: writes a staged publication (default
            :func:`preopen.model.stage_snapshot`; tests inject failures).
        make_current: flips it (default :func:`preopen.model.make_current`).
    """

    def __init__(
        self,
        directory: str,
        keep: int,
        report: Callable[[object], object],
        *,
        serving: dt.date | None = None,
        stage: Callable[[SessionSnapshot, str], Staged] = _stage,
        make_current: Callable[[Staged, int], Publication] = _make_current,
    ) -> None:
        """Start the thread."""
        self._directory = directory
        self._keep = keep
        self._report = report
        self._stage = stage
        self._make_current = make_current
        # Owned by the thread: the session served and the publication staged.
        self._serving = serving
        self._staged: Staged | None = None
        # Snapshots to stage and sessions now served, in order; None asks the thread to end.
        self._inbox: queue.SimpleQueue[SessionSnapshot | dt.date | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="preopen-publisher", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The publisher's thread."""
        return self._thread

    def submit(self, snapshot: SessionSnapshot) -> None:
        """Stage ``snapshot`` as soon as the thread is free (replacing one not started)."""
        self._inbox.put(snapshot)

    def serving(self, session: dt.date) -> None:
        """``session`` is served in-process now: make its staged publication current."""
        self._inbox.put(session)

    def close(self, timeout: float = 1.0) -> bool:
        """Ask the thread to end after its current publication; whether it ended in ``timeout``."""
        self._inbox.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _next(self) -> tuple[SessionSnapshot | None, bool]:
        """Wait for work; the newest snapshot submitted (or None) and whether to go on."""
        while True:
            try:
                item = self._inbox.get(timeout=60.0)
            except queue.Empty:
                continue
            snapshot = None
            while True:
                if item is None:
                    return snapshot, False
                if isinstance(item, dt.date):
                    self._serving = item if self._serving is None else max(self._serving, item)
                else:
                    snapshot = item  # a newer one replaces one not started
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    return snapshot, True

    def _run(self) -> None:
        going = True
        while going:
            snapshot, going = self._next()
            if snapshot is not None:
                self._attempt(snapshot.session, partial(self._do_stage, snapshot))
            staged = self._staged
            if staged is not None and self._serving is not None and staged.session <= self._serving:
                self._staged = None
                self._attempt(staged.session, partial(self._flip, staged))

    def _do_stage(self, snapshot: SessionSnapshot) -> None:
        self._staged = None
        staged = self._staged = self._stage(snapshot, self._directory)
        self._tell(Published(staged.session, staged.name, staged.nbytes, staged.seconds,
                             current=False))

    def _flip(self, staged: Staged) -> None:
        done = self._make_current(staged, self._keep)
        self._tell(Published(staged.session, done.name, done.nbytes, done.seconds, current=True))

    def _attempt(self, session: dt.date, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            log.warning("publishing the snapshot of %s failed", session, exc_info=True)
            self._tell(PublishFailed(session, describe(exc)))

    def _tell(self, outcome: object) -> None:
        try:
            self._report(outcome)
        except Exception:
            log.exception("reporting a publication failed: %s", outcome)


@dataclass(frozen=True, slots=True)
class SchedulerWiring:
    """What the SchedulerActor is connected to.

    Attributes:
        settings: the runtime's settings.
        clock: the runtime's clock.
        alarm: the clock's alarm that delivers this actor's ticks.
        board: where the status is published.
        calendar: the CalendarActor.
        session_data: the SessionDataActor.
        session: the SessionDataActor's cell (initial symbols, served snapshot).
        loaders: the loaders, by index.
        on_frozen: called with each snapshot as soon as it is frozen (a hub
            offers it from then on); None: nobody.
    """

    settings: Settings
    clock: Clock
    alarm: Alarm
    board: Board
    calendar: Address
    session_data: Address
    session: Cell[SessionState]
    loaders: tuple[Address, ...]
    on_frozen: Callable[[SessionSnapshot], object] | None = None


class SchedulerActor(SupervisedActor[SchedulerWiring]):
    """Plans each session, runs its prefetch, activates it at the open."""

    def started(self) -> None:
        """Build the planner (restoring the published counters) and subscribe to the calendar."""
        wiring = self.wiring
        state = wiring.session.state
        previous = wiring.board.status
        self._planner = Planner(
            wiring.settings,
            symbols=state.symbols,
            served=state.snapshot,
            restore=previous if previous.events else None,
            on_frozen=wiring.on_frozen,
        )
        # Replies held until the alarm is set and the status published, so that
        # whoever waited (an amendment, a symbol change) can move a simulated
        # clock at once without missing the new wake-up.
        self._replies: list[tuple[Future[Any], object]] = []
        self._wake: pendulum.DateTime | None = None
        self._publisher = self._start_publisher()
        # The last exception met (status.last_failure), carried over a restart.
        self._failure: ErrorInfo | None = previous.last_failure
        if state.armed is not None:  # armed by an earlier incarnation: this one plans afresh
            wiring.session_data.tell(Disarm(None))
        wiring.calendar.tell(Subscribe(self.context.address, acknowledges=True))

    def _start_publisher(self) -> Publisher | None:
        """The publisher's thread, when ``publish_dir`` is set (its reports come back here)."""
        settings = self.wiring.settings
        if not settings.publish_dir:
            return None
        address = self.context.address
        served = self.wiring.session.state.snapshot
        publisher = Publisher(settings.publish_dir, settings.publish_keep, address.tell,
                              serving=None if served is None else served.session)
        self.context.ledger.record(publisher.thread)
        return publisher

    def handle(self, message: object) -> object:  # noqa: C901, PLR0912 - one case per message
        """Handle one message."""
        perf = time.perf_counter()
        planner = self._planner
        clock = self.wiring.clock
        if not isinstance(message, Tick) and planner.now is not None:
            # A reply is handled when it comes, not at the last tick: what it
            # causes (prefetch-done, an activation) is dated by the clock now.
            now = clock.now()
            planner.now = max(planner.now, now)
        failure = getattr(message, "failure", None)
        if failure is not None:
            self._failure = failure
        match message:
            case Tick(now=now):
                planner.tick(now, perf)
            case Loaded(request_id=request_id, bars=bars, reloaded=reloaded):
                planner.loaded(request_id, bars, reloaded=reloaded)
            case LoadFailed(request_id=request_id, error=error, transient=transient,
                            store_wide=store_wide):
                planner.load_failed(request_id, error, transient=transient,
                                    store_wide=store_wide)
            case Published(session=session, name=name, nbytes=nbytes, seconds=seconds,
                           current=current):
                planner.published(session, name, nbytes, seconds, current=current)
            case PublishFailed(session=session, error=error):
                planner.publish_failed(session, error)
            case SymbolsListed(request_id=request_id, symbols=symbols):
                planner.symbols_listed(request_id, symbols)
            case Activated(session=session, symbols=count, latency_s=latency):
                planner.activated(session, count, latency)
                if self._publisher is not None:
                    self._publisher.serving(session)
            case ActivationRefused(session=session, reason=reason):
                planner.activation_refused(session, reason)
                planner.tick(clock.now(), perf)
            case CalendarChanged(calendar=calendar, reply=reply):
                planner.set_calendar(calendar, clock.now())
                if reply is not None:
                    self._replies.append((reply, calendar))
            case SymbolsChanged(symbols=symbols, reply=reply):
                planner.symbols_changed(symbols, clock.now())
                if reply is not None:
                    self._replies.append((reply, None))
            case CallbackFailed(callback=callback, error=error):
                planner.callback_failed(callback, error, clock.now())
            case ChildRestarted(child=child, restarts=restarts, error=error):
                planner.child_restarted(child, restarts, error, clock.now())
            case ActivateNow(reply=reply):
                snapshot = planner.activate_now()
                if snapshot is None:
                    resolve(reply, error=PreopenError(
                        "no snapshot to activate: the session is not open "
                        "or its data is not loaded yet"))
                else:
                    reply.set_result(snapshot)
            case _:
                return super().handle(message)
        self._flush(planner, released=isinstance(message, Activated))
        return None

    def _flush(self, planner: Planner, *, released: bool) -> None:
        if self._send(planner):
            # Return at once and block on the inbox: that hands the interpreter
            # to the SessionDataActor, whose swap would otherwise wait for this
            # bookkeeping (or for the 5 ms switch interval). The bookkeeping is
            # done when its answer (Activated or ActivationRefused) arrives.
            return
        wiring = self.wiring
        now = wiring.clock.now()
        if planner.calendar is not None:
            wake = planner.next_wake(now)
            if wake != self._wake:
                self._wake = wake
                wiring.alarm.wake_at(wake)
        status = planner.status(now)
        if self._failure is not None and status.last_failure is not self._failure:
            status = replace(status, last_failure=self._failure)
        wiring.board.publish(status)
        self._hand_to_publisher(planner)
        replies, self._replies = self._replies, []
        for future, value in replies:
            resolve(future, value)
        if released:
            # The activation is answered: the snapshot it replaced may go now.
            wiring.session_data.tell(Release())

    def _hand_to_publisher(self, planner: Planner) -> None:
        """Pass frozen snapshots to the publisher's thread (after any activation was answered)."""
        if planner.to_publish and self._publisher is not None:
            for snapshot in planner.to_publish:
                self._publisher.submit(snapshot)
        planner.to_publish.clear()

    def _send(self, planner: Planner) -> bool:
        """Tell the planner's messages; whether one was an activation."""
        activating = False
        wiring = self.wiring
        planner.review_arm()
        for key, message in planner.outbox:
            if isinstance(message, Activate):
                activating = True
            self._address_of(key, wiring).tell(message)
        planner.outbox.clear()
        return activating

    @staticmethod
    def _address_of(key: ChildKey, wiring: SchedulerWiring) -> Address:
        if key.role == Role.LOADER and key.index is not None:
            return wiring.loaders[key.index]
        if key.role == Role.SESSION_DATA:
            return wiring.session_data
        msg = f"the planner has no message for {key}"
        raise ValueError(msg)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End the publisher and the fault-in (the next incarnation starts its own); report."""
        publisher = getattr(self, "_publisher", None)
        if publisher is not None:
            publisher.close(timeout=0.0)
        planner = getattr(self, "_planner", None)
        if planner is not None:
            planner.close(timeout=0.0)  # told to end: it does within one chunk
        super().on_failure(exception_type, exception_value, traceback)

    def on_stop(self) -> None:
        """End the publisher and the fault-in; fail the replies still waited on."""
        if self._publisher is not None:
            self._publisher.close(timeout=0.5)
        self._planner.close(timeout=FAULT_IN_STOP_S)
        error = RuntimeStoppedError("the runtime stopped before this was handled")
        replies, self._replies = self._replies, []
        for future, _ in replies:
            resolve(future, error=error)
