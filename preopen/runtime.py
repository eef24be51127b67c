"""The Runtime: builds the supervision tree and is the host's handle on it.

::

    from preopen import Runtime, Settings

    with Runtime.start(Settings.load("preopen.toml")) as runtime:
        snapshot = runtime.snapshot()            # the current session's data
        closes = snapshot.bars("AAPL", "1m").close

The host's reads (:meth:`Runtime.snapshot`, :meth:`Runtime.status`) send no
message and take no lock: they read a reference that its single owner
replaces atomically (the SessionDataActor for the snapshot, the scheduler
for the status); only while the open is being handled does ``snapshot()``
wait for the swap, at most half a millisecond. Everything else goes to the
actors, with a timeout.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Self

from preopen._checks import check_start_arguments, check_symbols, check_timeout, wait_condition
from preopen._lifecycle import RuntimeStop, launch_tree
from preopen._requests import TreeRequests, wait_reply
from preopen.actors.messages import ActivateNow, Amend, OnActivated, OnFailure, SetSymbols
from preopen.clock import seconds_reader
from preopen.errors import (
    NoSnapshotError,
    PreopenTimeoutError,
    RuntimeStoppedError,
    StopTimeoutError,
)
from preopen.status import RuntimeStatus

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType

    from preopen.actors import Tree
    from preopen.calendar import ExchangeCalendar
    from preopen.calendar.timing import Phase
    from preopen.clock import Clock
    from preopen.model import SessionSnapshot
    from preopen.settings import Settings
    from preopen.store import BarStore

__all__ = ["Runtime", "RuntimeStatus"]

logger = logging.getLogger(__name__)

_DEFAULT_TIMEOUT = 10.0


class Runtime:
    """A running preopen: the host's handle on the actor tree.

    Build it with :meth:`start`; it is a context manager that stops the tree
    on exit. Every method that waits takes a ``timeout`` in seconds and raises
    :class:`~preopen.errors.PreopenTimeoutError` when it runs out.
    """

    def __init__(self, tree: Tree, *, settings: Settings, store: BarStore,
                 owns_store: bool) -> None:
        """Wrap a started tree (use :meth:`start`)."""
        self.settings = settings
        self.clock = tree.clock
        self.store = store
        self._tree = tree
        self._alarm = tree.alarm
        self._session = tree.session
        self._seconds = seconds_reader(tree.clock)
        self._calendar = tree.calendar
        self._board = tree.board
        self._ledger = tree.ledger
        self._requests = TreeRequests(tree)
        self._stop = RuntimeStop(tree, store, owns_store=owns_store)

    # --- start -----------------------------------------------------------------

    @classmethod
    def start(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: BarStore | None = None,
        calendar: ExchangeCalendar | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
        on_frozen: Callable[[SessionSnapshot], object] | None = None,
    ) -> Runtime:
        """Build and start the actors; return the handle.

        Args:
            settings: the settings (default: :class:`Settings` defaults).
            clock: market time (default: the system clock). With a
                :class:`~preopen.clock.SimulatedClock` nothing happens until
                the clock is advanced; ``advance(timedelta(0))`` delivers
                what is due at the start.
            store: the bar store (default: opened from ``settings.store``
                and closed by :meth:`stop`; a store passed in is left open).
            calendar: the exchange calendar (default: ``settings.exchange``).
            timeout: how long to wait for the tree to be up.
            on_frozen: called with each snapshot as soon as it is frozen (in
                the window, before the open; follow-ups after it), in the
                scheduler's thread: keep it short (a hub's ``offer``).

        Raises:
            ArgumentTypeError: an argument of the wrong type (named, with its value).
            PreopenTimeoutError: the tree did not come up in time.
        """
        check_start_arguments(locals())
        runtime = cls.launch(settings, clock=clock, store=store, calendar=calendar,
                             on_frozen=on_frozen)
        try:
            wait_reply(runtime.submit_ready(), timeout, "starting the actors")
        except BaseException:
            try:
                runtime.stop(timeout)
            except StopTimeoutError:
                # The start's own error is the one to raise; the stuck thread is logged.
                logger.exception("stopping the runtime that failed to start")
            raise
        return runtime

    @classmethod
    def launch(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: BarStore | None = None,
        calendar: ExchangeCalendar | None = None,
        on_frozen: Callable[[SessionSnapshot], object] | None = None,
    ) -> Runtime:
        """Build and start the actors without waiting for them (see :meth:`start`).

        The future of :meth:`submit_ready` says when they are up; the
        caller stops the runtime if it fails. Opening a store from
        ``settings.store`` connects to it here.

        Raises:
            ArgumentTypeError: an argument of the wrong type (named, with its value).
        """
        check_start_arguments(locals())
        launched = launch_tree(settings, clock=clock, store=store, calendar=calendar,
                               on_frozen=on_frozen)
        return cls(launched.tree, settings=launched.settings, store=launched.store,
                   owns_store=launched.owns_store)

    def submit_ready(self) -> Future[None]:
        """A future set once the actors are up and the scheduler has planned once.

        On a simulated clock the future also waits for all the first plan
        caused (loads included), so that a simulated run is deterministic from
        its start; on a real clock a load may take as long as the store does,
        and start does not wait for it.
        """
        return self._requests.ready()

    # --- the host's reads (no message, no lock) --------------------------------

    def snapshot(self, *, timeout: float = 0.0) -> SessionSnapshot:
        """The snapshot served now: the session in progress, or the last one.

        From the open of a session whose snapshot was ready before it, that
        snapshot is answered at once (the clock is compared with the open),
        even while the runtime's threads are still handling the open tick.

        Args:
            timeout: how long to wait for one when none is served yet (not
                from inside a callback: there it answers at once).

        Raises:
            NoSnapshotError: none is served (none activated yet, or the
                session opened without data and its load is not done).
        """
        early = self._armed_and_due()
        if early is not None:
            return early  # its open has come: served before any thread runs
        requests = self._requests
        if requests.open_in_flight():
            # An Open is told after the clock reached it: the armed snapshot is due now.
            early = self._armed_and_due()
            if early is not None:
                return early
            requests.let_the_open_through()
        snapshot = self._session.state.snapshot
        if snapshot is not None:
            return snapshot
        if timeout > 0 and not self._requests.in_tree_thread():  # a callback waits on nothing
            with contextlib.suppress(PreopenTimeoutError):
                self._board.wait_for(lambda _: self._session.state.snapshot is not None,
                                     timeout, "a snapshot")
            snapshot = self._session.state.snapshot
            if snapshot is not None:
                return snapshot
        status = self._board.status
        detail = ""
        if status.session_open is not None:
            detail = (f"the next activation is at the open {status.session_open.isoformat()}"
                      if status.serving != status.session else "")
        raise NoSnapshotError(status.phase.value, status.session, detail)

    def _armed_and_due(self) -> SessionSnapshot | None:
        """The armed snapshot, if its open has come and its session is in progress.

        A read between an armed open and its swap serves what the
        SessionDataActor is about to swap in, by the same test.
        """
        armed = self._session.state.armed
        if armed is None or not armed.due(self._seconds()):
            return None
        if not armed.in_progress(self._calendar.state.calendar, self.clock.now):
            return None
        return armed.snapshot

    def status(self) -> RuntimeStatus:
        """The runtime at a glance (an immutable value)."""
        status = self._board.status
        report = getattr(self.store, "report", None)  # a list of stores says which answered
        if not self.settings.shard and report is None:
            return status
        return replace(status, shard=self.settings.shard,
                       store_served=getattr(report, "served", ""),
                       store_fallbacks=getattr(report, "fallbacks", 0))

    def subscribe_status(self, subscriber: Callable[[RuntimeStatus], object]) -> Callable[[], None]:
        """Call ``subscriber(status)`` with each status published from now on, in order.

        It runs in the publishing preopen thread and must return at once
        (e.g. hand the status to a loop with ``call_soon_threadsafe``).
        Read :meth:`status` after subscribing for the current one (it may
        then come again). Returns the function that unsubscribes.
        """
        return self._board.subscribe(subscriber)

    @property
    def calendar(self) -> ExchangeCalendar:
        """The current calendar, amendments included."""
        return self._calendar.state.calendar

    @property
    def symbols(self) -> frozenset[str] | None:
        """The active symbol set (``None``: every symbol in the store)."""
        return self._session.state.symbols

    # --- the host's requests ---------------------------------------------------

    def set_symbols(self, symbols: Iterable[str] | None, *,
                    timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Replace the active symbol set; returns once the scheduler has re-planned.

        Symbols added after the prefetch started are loaded into the same
        session: before the open they join its snapshot, after it they make a
        follow-up snapshot of the same session. From inside a callback it
        returns once the change is queued (waiting there would wait on the
        callback's own thread).

        Args:
            symbols: the symbols, or ``None`` for every symbol in the store.
            timeout: how long to wait.

        Raises:
            TypeError: a bare string instead of an iterable of symbols.
            ValueError: an empty or non-string symbol.
        """
        reply = self.submit_set_symbols(symbols)
        if not self._requests.in_tree_thread():  # waiting there would wait on the callback's thread
            wait_reply(reply, timeout, "changing the symbols")

    def submit_set_symbols(self, symbols: Iterable[str] | None) -> Future[None]:
        """:meth:`set_symbols` without waiting: a future set once the scheduler has re-planned.

        Raises:
            TypeError: a bare string instead of an iterable of symbols.
            ValueError: an empty or non-string symbol.
            RuntimeStoppedError: the runtime is stopped.
        """
        wanted = check_symbols(symbols)
        self._stop.check_running()
        return self._requests.submit(self._tree.session_data,
                                     lambda reply: SetSymbols(wanted, reply),
                                     "changing the symbols")

    def amend_calendar(
        self,
        *,
        closures: Iterable[dt.date] = (),
        early_closes: Mapping[dt.date, dt.time] | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
    ) -> ExchangeCalendar:
        """Amend the running calendar (an ad-hoc closure or early close announced late).

        Returns once the scheduler has re-planned with it. From inside a
        callback it returns once the amendment is queued, with the current
        calendar amended (checked there, so a refusal is still raised).

        Raises:
            CalendarError: the calendar refuses the amendment (its message
                names the date and why).
        """
        if not isinstance(closures, str):  # a str is one date to the calendar
            closures = tuple(closures)  # read once: it may be a generator
        if self._requests.in_tree_thread():
            # Checked here, so a refusal is still raised; the actor applies it later.
            amended = self.calendar.amended(closures=closures, early_closes=early_closes or {})
            self.submit_amend_calendar(closures=closures, early_closes=early_closes)
            return amended
        return wait_reply(self.submit_amend_calendar(closures=closures,
                                                     early_closes=early_closes),
                          timeout, "amending the calendar and re-planning")

    def submit_amend_calendar(
        self,
        *,
        closures: Iterable[dt.date] = (),
        early_closes: Mapping[dt.date, dt.time] | None = None,
    ) -> Future[ExchangeCalendar]:
        """:meth:`amend_calendar` without waiting: a future of the amended calendar.

        It fails with :class:`~preopen.errors.CalendarError` when the calendar
        refuses the amendment.
        """
        self._stop.check_running()
        dates = frozenset(closures)
        times = MappingProxyType(dict(early_closes or {}))
        return self._requests.submit(self._tree.calendar_actor,
                                     lambda reply: Amend(dates, times, reply),
                                     "amending the calendar and re-planning")

    def activate(self, *, timeout: float = _DEFAULT_TIMEOUT) -> SessionSnapshot:
        """Activate the prepared snapshot now (when ``auto_activate`` is off).

        From inside a callback it waits for the scheduler's answer only, not
        for the swap (which may wait on the callback's own thread).

        Raises:
            PreopenError: the session is not open or its data is not loaded.
        """
        self._stop.check_running()
        reply = self.submit_activate()
        if self._requests.in_tree_thread():
            # The swap may wait on this very thread: wait for the scheduler only.
            return wait_reply(reply, timeout, "activating")
        snapshot = wait_reply(reply, timeout, "activating")
        self._board.wait_for(lambda _: self._session.state.snapshot is snapshot, timeout,
                             f"serving the snapshot of {snapshot.session.isoformat()}")
        return snapshot

    def submit_activate(self) -> Future[SessionSnapshot]:
        """Ask for the activation without waiting: a future of the snapshot sent to be served.

        It is set when the scheduler has sent the snapshot; the snapshot is
        served (``snapshot()`` returns it) a moment later, before the next
        status is published.
        """
        self._stop.check_running()
        return self._requests.submit(self._tree.scheduler, ActivateNow, "activating")

    def wait_for(self, condition: Phase | Callable[[RuntimeStatus], bool], *,
                 timeout: float) -> RuntimeStatus:
        """Wait until the status is in ``condition``'s phase, or satisfies it.

        Raises:
            PreopenTimeoutError: not within ``timeout`` seconds.
            RuntimeStoppedError: the runtime stopped meanwhile.
            ArgumentValueError: a negative, NaN or infinite timeout.
        """
        check_timeout(timeout)
        predicate, what = wait_condition(condition)
        status = self._board.wait_for(lambda s: predicate(s) or not s.running, timeout, what)
        if not predicate(status):
            raise RuntimeStoppedError(f"the runtime stopped while waiting for {what}: "
                                      f"{status.last_error or 'stopped'}")
        return status

    def settle(self, *, timeout: float = _DEFAULT_TIMEOUT) -> RuntimeStatus:
        """Wait until no load is in flight and no activation is unanswered.

        From inside a callback it returns the status at once: the message the
        callback runs in is part of what would be waited for.
        """
        self._stop.check_running()
        if self._requests.in_tree_thread():
            return self._board.status
        self._requests.idle(timeout, "the runtime to settle")
        return self._board.status

    def on_activated(self, callback: Callable[[SessionSnapshot], object], *,
                     timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Call ``callback(snapshot)`` after each activation.

        It runs in the SessionDataActor's thread, right after the swap: keep it
        short. An exception it raises is logged with its traceback and
        recorded in the status (``last_error`` and an ``error`` event).
        Registering from inside a callback returns once queued.
        """
        reply = self.submit_on_activated(callback)
        if not self._requests.in_tree_thread():
            wait_reply(reply, timeout, "registering the callback")

    def submit_on_activated(self, callback: Callable[[SessionSnapshot], object]) -> Future[None]:
        """:meth:`on_activated` without waiting: a future set once it is registered."""
        self._stop.check_running()
        return self._requests.submit(self._tree.session_data,
                                     lambda reply: OnActivated(callback, reply),
                                     "registering the callback")

    def on_failure(self, callback: Callable[[BaseException], object], *,
                   timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Call ``callback(error)`` if the supervisor gives up (restarts past the intensity).

        It runs in the supervisor's thread once every child is stopped; it
        may call :meth:`stop`. An exception it raises is logged with its
        traceback and recorded as an ``error`` event (``last_error`` keeps the
        escalation's reason). Registering from inside a callback returns once
        queued.
        """
        self._stop.check_running()
        if self._requests.in_tree_thread():
            self._requests.tell(self._tree.supervisor, OnFailure(callback, Future()),
                                "registering the callback")
            return
        self._requests.request(self._tree.supervisor,
                               lambda reply: OnFailure(callback, reply), timeout,
                               "registering the callback")

    # --- stop ------------------------------------------------------------------

    def stop(self, timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Stop every actor and thread of the runtime, within ``timeout`` seconds.

        In order: the store's calls in flight are interrupted (``interrupt()``,
        when the store has it), every actor is told to stop at once, and every
        thread of the runtime is joined against one deadline; then a store the
        runtime opened is closed. A loader stuck in a store call that ignores
        the interruption runs on a daemon thread: it is named in the error
        and does not keep the process alive.

        Called from inside a callback (``on_activated``, ``on_failure``,
        ``on_frozen``: a thread of the runtime), it starts the stop and
        returns at once; the joining and the store's closing finish in a
        thread of their own (``preopen-stop``).

        A later call says what is still running: it raises
        :class:`~preopen.errors.StopTimeoutError` again while a thread of the
        runtime is alive, and returns ``None`` once none is.

        Raises:
            StopTimeoutError: threads still running when ``timeout`` ran out
                (``threads``: their names).
            ArgumentValueError: a negative, NaN or infinite timeout.
        """
        check_timeout(timeout)
        self._stop.stop(timeout, in_tree_thread=self._requests.in_tree_thread())

    def __enter__(self) -> Self:
        """The runtime itself."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop the runtime."""
        self.stop()

    def __repr__(self) -> str:
        """Show the phase and what is served."""
        status = self._board.status
        serving = status.serving.isoformat() if status.serving else "nothing"
        state = "running" if status.running and not self._stop.begun else "stopped"
        return f"<Runtime {state} phase={status.phase.value} serving={serving}>"
