"""The bridge from preopen's threads to an asyncio loop: replies and statuses.

Everything crosses with ``loop.call_soon_threadsafe`` (one hop, no thread
per call, no polling). :class:`LoopReplies` awaits the future an actor sets
with its reply; :class:`LoopStatuses` takes each status the runtime
publishes to the loop, where it feeds the event streams and wakes the
waiters. :class:`~preopen.aio.AsyncRuntime` is built on both.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

from preopen._checks import check_timeout
from preopen.errors import PreopenTimeoutError, RuntimeStoppedError
from preopen.eventqueue import EventOverflow, EventQueue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from concurrent.futures import Future

    from preopen.runtime import Runtime
    from preopen.status import Event, RuntimeStatus

__all__ = ["LoopReplies", "LoopStatuses"]

T = TypeVar("T")


class LoopReplies:
    """Replies awaited on one asyncio loop, handed over with ``call_soon_threadsafe``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Await on ``loop``."""
        self._loop = loop

    def follow(self, source: Future[T]) -> asyncio.Future[T]:
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

    async def wait(self, source: Future[T], timeout: float, what: str) -> T:
        """Await ``source``'s reply.

        Raises:
            PreopenTimeoutError: no reply within ``timeout`` seconds, naming ``what``.
            ArgumentValueError: a negative, NaN or infinite timeout.
        """
        check_timeout(timeout)
        waiter = self.follow(source)
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await waiter
        except TimeoutError:
            if deadline.expired():
                raise PreopenTimeoutError(what, timeout) from None
            raise  # the request's own error


class LoopStatuses:
    """A runtime's statuses on one loop: its event streams and the waits for a status.

    Subscribed on the runtime's status board, it hands each status to the
    loop; there the events new in it go to every stream (a jump in ``seq``
    as an :class:`EventOverflow`) and every waiter whose predicate it
    satisfies, or that it ends (``running`` false), is woken. Only the
    loop's thread touches its state.

    Attributes:
        status: the last status handled on the loop.
    """

    def __init__(self, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to ``runtime``'s statuses, handed over to ``loop``."""
        self._loop = loop
        self._waiters: list[tuple[Callable[[RuntimeStatus], bool], asyncio.Future[Any]]] = []
        self._consumers: set[EventQueue] = set()
        self._unsubscribe = runtime.subscribe_status(self._hand_over)
        # Read after subscribing: every later status comes through the
        # subscription, in order (this one may come again: nothing is new in it).
        self.status = runtime.status()
        self._seq = self.status.events[-1].seq if self.status.events else 0

    def end(self, last: RuntimeStatus) -> None:
        """Unsubscribe, handle ``last``, end every stream and fail every wait still pending."""
        self._unsubscribe()
        self._on_status(last)  # the last one, if not handed over yet
        self._close(RuntimeStoppedError("the runtime is stopped"))

    def stream(self, maxsize: int, *, replay: bool) -> AsyncIterator[Event | EventOverflow]:
        """Every event from now on, in order; see :meth:`preopen.aio.AsyncRuntime.events`.

        The consumer is registered at this call, not at the first ``anext``.
        """
        consumer = EventQueue(maxsize)
        if replay:
            held = [e for e in self.status.events if e.seq <= self._seq]
            if held and held[0].seq > 1:
                consumer.offer(EventOverflow(held[0].seq - 1, 1, held[0].seq - 1, "history"))
            for event in held:
                consumer.offer(event)
        if self.status.running:
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

    async def until(self, predicate: Callable[[RuntimeStatus], bool], timeout: float,
                    what: str) -> RuntimeStatus:
        """The first status from now on that satisfies ``predicate`` (checked on the loop).

        Raises:
            PreopenTimeoutError: not within ``timeout`` seconds.
            RuntimeStoppedError: the runtime stopped meanwhile.
            ArgumentValueError: a negative, NaN or infinite timeout.
        """
        check_timeout(timeout)
        status = self.status
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

    def _hand_over(self, status: RuntimeStatus) -> None:
        """The board's subscriber, in the publishing thread: pass the status to the loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._on_status, status)

    def _on_status(self, status: RuntimeStatus) -> None:
        """Each published status, on the loop, in order: events out, waiters woken."""
        self.status = status
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
