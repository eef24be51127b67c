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
and :meth:`AsyncRuntime.events`. Starting the tree (threads to create, maybe
a store to connect to) and stopping it (threads to join) run once each in
the loop's default executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, Self, TypeVar

from preopen._checks import check_start_arguments, check_timeout
from preopen.calendar.timing import Phase
from preopen.errors import (
    ArgumentValueError,
    NoSnapshotError,
    PreopenTimeoutError,
    RuntimeStoppedError,
)
from preopen.eventqueue import EventOverflow, EventQueue
from preopen.runtime import Runtime

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
    from concurrent.futures import Future
    from types import TracebackType

    from preopen.calendar import ExchangeCalendar
    from preopen.clock import Clock
    from preopen.model import SessionSnapshot
    from preopen.settings import Settings
    from preopen.status import Event, RuntimeStatus
    from preopen.store import BarStore

__all__ = ["AsyncRuntime", "EventOverflow"]

T = TypeVar("T")

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
        self._waiters: list[tuple[Callable[[RuntimeStatus], bool], asyncio.Future[Any]]] = []
        self._consumers: set[EventQueue] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._stopping: asyncio.Future[None] | None = None
        self._unsubscribe = runtime.subscribe_status(self._hand_over)
        # Read after subscribing: every later status comes through the
        # subscription, in order (this one may come again: nothing is new in it).
        self._status = runtime.status()
        self._seq = self._status.events[-1].seq if self._status.events else 0

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
                await aio._reply(runtime.submit_ready(), timeout, "starting the actors")
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
            self._unsubscribe()
            self._on_status(self.runtime.status())  # the last one, if not handed over yet
            self._close(RuntimeStoppedError("the runtime is stopped"))
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
        await self._reply(self.runtime.submit_set_symbols(symbols), timeout,
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
        return await self._reply(future, timeout, "amending the calendar and re-planning")

    async def activate(self, *, timeout: float = _DEFAULT_TIMEOUT) -> SessionSnapshot:
        """Activate the prepared snapshot now; returns once it is served.

        Raises:
            PreopenError: the session is not open or its data is not loaded.
        """
        check_timeout(timeout)
        snapshot = await self._reply(self.runtime.submit_activate(), timeout, "activating")
        await self._until(lambda _: self._served() is snapshot, timeout,
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
        if isinstance(condition, Phase):
            phase = condition

            def in_phase(status: RuntimeStatus) -> bool:
                return status.phase is phase

            return await self._until(in_phase, timeout, f"phase {phase.value}")
        return await self._until(condition, timeout, getattr(condition, "__name__", "condition"))

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

        await self._reply(self.runtime.submit_on_activated(hand_over), timeout,
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
        consumer = EventQueue(maxsize)
        if replay:
            held = [e for e in self._status.events if e.seq <= self._seq]
            if held and held[0].seq > 1:
                consumer.offer(EventOverflow(held[0].seq - 1, 1, held[0].seq - 1, "history"))
            for event in held:
                consumer.offer(event)
        if self._status.running:
            self._consumers.add(consumer)
        else:
            consumer.close()
        return self._iterate(consumer)

    async def _iterate(self, consumer: EventQueue) -> AsyncIterator[Event | EventOverflow]:
        try:
            while (item := await consumer.next()) is not None:
                yield item
        finally:
            self._consumers.discard(consumer)

    # --- the bridge from preopen's threads -------------------------------------

    def _hand_over(self, status: RuntimeStatus) -> None:
        """The board's subscriber, in the publishing thread: pass the status to the loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._on_status, status)

    def _on_status(self, status: RuntimeStatus) -> None:
        """Each published status, on the loop, in order: events out, waiters woken."""
        self._status = status
        self._fan_out(status)
        waiters, self._waiters = self._waiters, []
        for predicate, future in waiters:
            if not future.done() and not self._wake(predicate, future, status):
                self._waiters.append((predicate, future))
        if not status.running:
            self._close(None)

    def _fan_out(self, status: RuntimeStatus) -> None:
        """Offer the events new in ``status`` to every consumer, a gap as an overflow."""
        fresh = [e for e in status.events if e.seq > self._seq]
        if not fresh:
            return
        items: list[Event | EventOverflow] = list(fresh)
        if self._seq and fresh[0].seq > self._seq + 1:
            items.insert(0, EventOverflow(fresh[0].seq - self._seq - 1, self._seq + 1,
                                          fresh[0].seq - 1, "history"))
        self._seq = fresh[-1].seq
        for consumer in self._consumers:
            for item in items:
                consumer.offer(item)

    @staticmethod
    def _wake(predicate: Callable[[RuntimeStatus], bool], future: asyncio.Future[Any],
              status: RuntimeStatus) -> bool:
        """Set ``future`` if ``status`` satisfies ``predicate`` or is stopped; whether it did."""
        try:
            if predicate(status) or not status.running:
                future.set_result(status)
                return True
        except Exception as error:  # noqa: BLE001 - the host's predicate: its error is the waiter's
            future.set_exception(error)
            return True
        return False

    def _close(self, error: BaseException | None) -> None:
        for consumer in self._consumers:
            consumer.close()
        self._consumers.clear()
        if error is not None:
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(error)
            self._waiters.clear()

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

    def _bridge(self, source: Future[T]) -> asyncio.Future[T]:
        """A loop future that follows ``source``, set with ``call_soon_threadsafe``.

        Unlike ``asyncio.wrap_future`` it never cancels ``source``: an actor
        sets its reply even after the host stopped waiting.
        """
        waiter: asyncio.Future[T] = self._loop.create_future()

        def copy(done: Future[T]) -> None:  # on the loop
            if waiter.done():
                return
            error = done.exception()
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(done.result())

        def done_callback(done: Future[T]) -> None:  # in the thread that set it
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(copy, done)

        source.add_done_callback(done_callback)
        return waiter

    async def _reply(self, source: Future[T], timeout: float, what: str) -> T:
        check_timeout(timeout)
        waiter = self._bridge(source)
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await waiter
        except TimeoutError:
            if deadline.expired():
                raise PreopenTimeoutError(what, timeout) from None
            raise  # the request's own error

    async def _until(self, predicate: Callable[[RuntimeStatus], bool], timeout: float,
                     what: str) -> RuntimeStatus:
        check_timeout(timeout)
        status = self._status
        if not (predicate(status) or not status.running):
            waiter: asyncio.Future[RuntimeStatus] = self._loop.create_future()
            self._waiters.append((predicate, waiter))
            try:
                async with asyncio.timeout(timeout):
                    status = await waiter
            except TimeoutError:
                raise PreopenTimeoutError(f"waiting for {what}", timeout) from None
        if not predicate(status):
            raise RuntimeStoppedError(f"the runtime stopped while waiting for {what}: "
                                      f"{status.last_error or 'stopped'}")
        return status

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
