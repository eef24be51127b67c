"""The asyncio face of the runtime: :class:`AsyncRuntime`.

::

    async with AsyncRuntime.start(settings) as runtime:
        await runtime.on_activated(trade)          # a function or a coroutine function
        async for event in runtime.events():       # every status event, in order
            ...

The actors run on their own threads as with :class:`~preopen.runtime.Runtime`;
nothing here blocks the host's loop. A request is told to its actor with a
:class:`concurrent.futures.Future` for the reply, and the reply is handed to
the loop with ``call_soon_threadsafe`` (no thread per call, no polling). Each
status the runtime publishes is handed to the loop the same way, by a
subscription on the status board, and feeds :meth:`AsyncRuntime.wait_for`
and :meth:`AsyncRuntime.events` (both hand-overs are
:mod:`preopen._loopbridge`). Starting the tree (threads to create, maybe
a store to connect to) and stopping it (threads to join) run once each in
the loop's default executor.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, Self

from preopen._checks import check_start_arguments, check_timeout, wait_condition
from preopen._loopbridge import LoopReplies, LoopStatuses
from preopen.errors import ArgumentValueError, NoSnapshotError
from preopen.eventqueue import EventOverflow
from preopen.runtime import Runtime

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
    from types import TracebackType

    from preopen.calendar import ExchangeCalendar
    from preopen.calendar.timing import Phase
    from preopen.clock import Clock
    from preopen.model import SessionSnapshot
    from preopen.settings import Settings
    from preopen.status import Event, RuntimeStatus
    from preopen.store import BarStore

__all__ = ["AsyncRuntime", "EventOverflow"]

logger = logging.getLogger(__name__)

_DEFAULT_TIMEOUT = 10.0
#: How many events a consumer of :meth:`AsyncRuntime.events` may have unread.
DEFAULT_EVENTS_QUEUE = 256


class _Starting:
    """What :meth:`AsyncRuntime.start` returns: awaitable, and an async context manager."""

    def __init__(self, start: Callable[[], Awaitable[AsyncRuntime]]) -> None:
        self._start = start
        self._runtime: AsyncRuntime | None = None

    def __await__(self) -> Generator[Any, None, AsyncRuntime]:
        return self._start().__await__()

    async def __aenter__(self) -> AsyncRuntime:
        self._runtime = await self._start()
        return self._runtime

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._runtime is not None:
            await self._runtime.stop()


class AsyncRuntime:
    """A running preopen, for a host on an asyncio loop (default or uvloop).

    Build it with :meth:`start`, from a coroutine on the loop it is to use;
    every method is called from that loop's thread. Every await takes a
    ``timeout`` in seconds and raises
    :class:`~preopen.errors.PreopenTimeoutError` when it runs out; the
    request itself is not withdrawn (as with :class:`~preopen.runtime.Runtime`).
    """

    def __init__(self, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
        """Wrap a launched ``runtime`` on ``loop`` (use :meth:`start`)."""
        self.runtime = runtime
        self._loop = loop
        self._replies = LoopReplies(loop)
        self._statuses = LoopStatuses(runtime, loop)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._stopping: asyncio.Future[None] | None = None

    # --- start and stop --------------------------------------------------------

    @classmethod
    def start(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: BarStore | None = None,
        calendar: ExchangeCalendar | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
    ) -> _Starting:
        """Start the runtime: ``async with AsyncRuntime.start(...) as runtime`` (or ``await``).

        The arguments are those of :meth:`preopen.runtime.Runtime.start`.
        The tree is built in the loop's default executor; the wait for it
        to be up is a future on the loop. Used with ``async with``, the
        runtime is stopped on exit; awaited, :meth:`stop` is the caller's.

        Raises:
            ArgumentTypeError: an argument of the wrong type (at the call).
            PreopenTimeoutError: the tree did not come up in time (when awaited).
        """
        check_start_arguments(locals())
        launch = functools.partial(Runtime.launch, settings, clock=clock, store=store,
                                   calendar=calendar)

        async def started() -> AsyncRuntime:
            loop = asyncio.get_running_loop()
            launching = loop.run_in_executor(None, launch)
            try:
                runtime = await asyncio.shield(launching)
            except asyncio.CancelledError:
                # The launch goes on in its thread: stop what it builds.
                launching.add_done_callback(functools.partial(_stop_launched, loop))
                raise
            aio = cls(runtime, loop)
            try:
                await aio._replies.wait(runtime.submit_ready(), timeout, "starting the actors")
            except BaseException:
                await aio.stop(timeout)
                raise
            return aio

        return _Starting(started)

    async def stop(self, timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Stop every actor and thread (joined in the loop's default executor); idempotent.

        The event streams end after the last event; callbacks still running
        get ``timeout`` seconds to finish, then are cancelled.

        Raises:
            PreopenTimeoutError: a thread did not end within ``timeout`` seconds.
        """
        check_timeout(timeout)
        if self._stopping is None:
            # A callback's own task may be the one stopping: it is not waited for.
            caller = asyncio.current_task()
            self._stopping = asyncio.ensure_future(self._stop(timeout, caller))
        await asyncio.shield(self._stopping)

    async def _stop(self, timeout: float, caller: asyncio.Future[Any] | None) -> None:
        try:
            await self._loop.run_in_executor(None, self.runtime.stop, timeout)
        finally:
            self._statuses.end(self.runtime.status())
            running = self._tasks - {caller}
            if running:
                _, late = await asyncio.wait(running, timeout=timeout)
                for task in late:
                    task.cancel()

    async def __aenter__(self) -> Self:
        """The runtime itself."""
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Stop the runtime."""
        await self.stop()

    # --- the host's reads (no message, no lock, no await) ----------------------

    def snapshot(self) -> SessionSnapshot:
        """The snapshot served now (see :meth:`preopen.runtime.Runtime.snapshot`).

        Raises:
            NoSnapshotError: none is served.
        """
        return self.runtime.snapshot()

    def status(self) -> RuntimeStatus:
        """The runtime at a glance: the last status published."""
        return self.runtime.status()

    @property
    def calendar(self) -> ExchangeCalendar:
        """The current calendar, amendments included."""
        return self.runtime.calendar

    @property
    def symbols(self) -> frozenset[str] | None:
        """The active symbol set (``None``: every symbol in the store)."""
        return self.runtime.symbols

    # --- the host's requests ---------------------------------------------------

    async def set_symbols(self, symbols: Iterable[str] | None, *,
                          timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Replace the active symbol set (see :meth:`preopen.runtime.Runtime.set_symbols`)."""
        check_timeout(timeout)
        await self._replies.wait(self.runtime.submit_set_symbols(symbols), timeout,
                                 "changing the symbols")

    async def amend_calendar(
        self,
        *,
        closures: Iterable[dt.date] = (),
        early_closes: Mapping[dt.date, dt.time] | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
    ) -> ExchangeCalendar:
        """Amend the running calendar (see :meth:`preopen.runtime.Runtime.amend_calendar`)."""
        check_timeout(timeout)
        future = self.runtime.submit_amend_calendar(closures=closures, early_closes=early_closes)
        return await self._replies.wait(future, timeout, "amending the calendar and re-planning")

    async def activate(self, *, timeout: float = _DEFAULT_TIMEOUT) -> SessionSnapshot:
        """Activate the prepared snapshot now; returns once it is served.

        Raises:
            PreopenError: the session is not open or its data is not loaded.
        """
        check_timeout(timeout)
        snapshot = await self._replies.wait(self.runtime.submit_activate(), timeout, "activating")
        await self._statuses.until(lambda _: self._served() is snapshot, timeout,
                                   f"serving the snapshot of {snapshot.session.isoformat()}")
        return snapshot

    async def wait_for(self, condition: Phase | Callable[[RuntimeStatus], bool], *,
                       timeout: float) -> RuntimeStatus:
        """Wait until the status is in ``condition``'s phase, or satisfies it.

        ``condition`` is checked on the loop's thread against every status
        published from now on, in order.

        Raises:
            PreopenTimeoutError: not within ``timeout`` seconds.
            RuntimeStoppedError: the runtime stopped meanwhile.
            ArgumentValueError: a negative, NaN or infinite timeout.
        """
        predicate, what = wait_condition(condition)
        return await self._statuses.until(predicate, timeout, what)

    async def on_activated(self, callback: Callable[[SessionSnapshot], object], *,
                           timeout: float = _DEFAULT_TIMEOUT) -> None:
        """Call ``callback(snapshot)`` on this loop after each activation.

        ``callback`` is a function or a coroutine function (its coroutine
        runs as a task). It runs on the loop's thread, after the swap: the
        preopen thread that swapped only hands it over. Its exceptions are
        logged with their traceback on the ``preopen.aio`` logger.
        """
        check_timeout(timeout)
        loop = self._loop

        def hand_over(snapshot: SessionSnapshot) -> None:  # in the SessionDataActor's thread
            try:
                loop.call_soon_threadsafe(self._call_back, callback, snapshot)
            except RuntimeError:  # the loop is closed
                logger.warning("on_activated callback %r not called: its loop is closed",
                               callback)

        await self._replies.wait(self.runtime.submit_on_activated(hand_over), timeout,
                                 "registering the callback")

    def events(self, *, maxsize: int = DEFAULT_EVENTS_QUEUE,
               replay: bool = True) -> AsyncIterator[Event | EventOverflow]:
        """Every status event from now on, in order, as an async iterator.

        The consumer is registered at this call (not at the first ``anext``).
        Its queue holds ``maxsize`` items: a consumer that falls behind gets
        an :class:`EventOverflow` saying how many it missed, where they
        would have been. The stream ends after the runtime stops.

        Args:
            maxsize: the queue's bound (1 or more).
            replay: first the events the status still holds (its recent
                history); an :class:`EventOverflow` stands for any older one.
        """
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ArgumentValueError("maxsize", maxsize, "a whole number of events, 1 or more")
        return self._statuses.stream(maxsize, replay=replay)

    # --- callbacks on the loop -------------------------------------------------

    def _call_back(self, callback: Callable[[SessionSnapshot], object],
                   snapshot: SessionSnapshot) -> None:
        """Run an ``on_activated`` callback on the loop; log what it raises."""
        try:
            result = callback(snapshot)
        except Exception:
            logger.exception("on_activated callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._called_back, callback))

    def _called_back(self, callback: object, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("on_activated callback %r failed", callback, exc_info=task.exception())

    def _served(self) -> SessionSnapshot | None:
        try:
            return self.runtime.snapshot()
        except NoSnapshotError:
            return None

    def __repr__(self) -> str:
        """Show the phase and what is served."""
        return "<Async" + repr(self.runtime)[1:]


def _stop_launched(loop: asyncio.AbstractEventLoop, launching: asyncio.Future[Runtime]) -> None:
    """Stop a runtime whose start was cancelled while it was being built."""
    if not launching.cancelled() and launching.exception() is None:
        loop.run_in_executor(None, launching.result().stop)
