"""Requests to the runtime's actors, and the wait for their replies.

A request is a message carrying a :class:`concurrent.futures.Future` that
the actor sets with its reply. :class:`TreeRequests` sends them to the
actors of one tree for :class:`~preopen.runtime.Runtime`; :func:`wait_reply`
waits for a reply in the caller's thread (an asyncio loop awaits it through
:class:`preopen._loopbridge.LoopReplies`). A wait past its timeout raises
:class:`~preopen.errors.PreopenTimeoutError` naming what was asked; the
request itself is not withdrawn: the actor still sets its future.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any, TypeVar

from preopen.actors.messages import Children
from preopen.clock import SimulatedClock
from preopen.errors import PreopenTimeoutError, RuntimeStoppedError

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.actors import Address, Tree
    from preopen.status import RuntimeStatus

__all__ = ["URGENT_WAIT_S", "TreeRequests", "wait_reply"]

T = TypeVar("T")

#: The longest a host's read waits while a tick or an activation is handled:
#: CPython's default switch interval, what a reader spinning with the
#: interpreter would make each hand-over on the way to the swap wait anyway.
#: The wait ends as soon as nothing urgent is left (the swap done, the tick
#: handled), so it is that long only when the handling is.
URGENT_WAIT_S = 0.005


def wait_reply(reply: Future[T], timeout: float, what: str) -> T:
    """Wait for ``reply``; a :class:`PreopenTimeoutError` naming ``what`` past ``timeout``.

    Raises:
        PreopenTimeoutError: no reply within ``timeout`` seconds.
        Exception: the request's own error, as the actor set it.
    """
    try:
        return reply.result(timeout=timeout)
    except TimeoutError:
        if reply.done():
            raise  # the request's own error
        raise PreopenTimeoutError(what, timeout) from None


class TreeRequests:
    """Messages to the actors of one tree, each with a future for the reply."""

    def __init__(self, tree: Tree) -> None:
        """Send to ``tree``'s actors."""
        self._tree = tree

    def in_tree_thread(self) -> bool:
        """Whether the caller runs in one of the tree's threads (a callback)."""
        return threading.current_thread() in self._tree.ledger

    def open_in_flight(self) -> bool:
        """Whether a tick (the open, perhaps) or an activation is being handled.

        Every read asks: the set's truth (no lock), and never in the tree's
        own threads (a callback must not wait for its own thread).
        """
        return self._tree.outstanding.urgent and not self.in_tree_thread()

    def let_the_open_through(self) -> None:
        """Wait until nothing urgent is left (see :meth:`open_in_flight`).

        The wait is without the interpreter and ends once nothing urgent is
        left (an open's swap is done, or a tick that was not the open is
        handled), or after :data:`URGENT_WAIT_S`. A host polling
        ``snapshot()`` in a tight loop would otherwise hold the interpreter,
        and each hand-over on the way to the swap would wait for a forced
        switch (5 ms).
        """
        with contextlib.suppress(TimeoutError):
            self._tree.outstanding.calm.result(timeout=URGENT_WAIT_S)

    @staticmethod
    def submit(address: Address, message: Callable[[Future[T]], object],
               what: str) -> Future[T]:
        """Tell ``address`` the message built around a reply future; return the future.

        The future fails with :class:`RuntimeStoppedError` when the actor is stopped.
        """
        reply: Future[T] = Future()
        if not address.tell(message(reply)):
            reply.set_exception(RuntimeStoppedError(f"{what}: the runtime is stopped"))
        return reply

    @staticmethod
    def tell(address: Address, message: object, what: str) -> None:
        """Tell ``address`` without waiting (from inside a callback).

        Raises:
            RuntimeStoppedError: the actor is stopped.
        """
        if not address.tell(message):
            raise RuntimeStoppedError(f"{what}: the runtime is stopped")

    def request(self, address: Address, message: Callable[[Future[T]], object],
                timeout: float, what: str) -> T:
        """Tell ``address`` the message built around a reply future; wait for the reply."""
        return wait_reply(self.submit(address, message, what), timeout, what)

    def idle(self, timeout: float, what: str) -> None:
        """Wait until every message told in the tree, and all it caused, is handled."""
        done: Future[None] = Future()
        self._tree.outstanding.when_idle(done)
        wait_reply(done, timeout, what)

    def ready(self) -> Future[None]:
        """A future set once the actors are up and the scheduler has planned once.

        See :meth:`preopen.runtime.Runtime.submit_ready`.
        """
        tree = self._tree
        ready: Future[None] = Future()
        # The scheduler subscribes to the calendar from its own thread once it
        # runs, possibly after the supervisor answered: wait for its first
        # plan (a status with a time) rather than for an idle ledger alone,
        # which may be idle before the subscription is even told.
        planned_once: Future[None] = Future()

        def planned(status: RuntimeStatus) -> None:
            if (status.now is not None or not status.running) and not planned_once.done():
                with contextlib.suppress(InvalidStateError):  # two publishes may race here
                    planned_once.set_result(None)

        def after_plan(_: Future[None]) -> None:
            if isinstance(tree.clock, SimulatedClock):
                tree.outstanding.when_idle(ready)  # and all the first plan caused
            elif not ready.done():
                with contextlib.suppress(InvalidStateError):
                    ready.set_result(None)

        def children_up(children: Future[Any]) -> None:
            error = children.exception()
            if error is not None:
                ready.set_exception(error)
                return
            unsubscribe = tree.board.subscribe(planned)
            planned_once.add_done_callback(lambda _: unsubscribe())
            planned_once.add_done_callback(after_plan)
            planned(tree.board.status)

        self.submit(tree.supervisor, Children, "starting the actors").add_done_callback(
            children_up)
        return ready
