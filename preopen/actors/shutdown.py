"""Stopping a tree against one deadline: tell, interrupt, join, close, publish.

:class:`Shutdown` is one stop of a :class:`~preopen.actors.tree.Tree`, the
procedure ``Runtime.stop`` runs (``docs/architecture.md``, "Stopping and
callbacks"). :meth:`Shutdown.begin` waits for nothing, so that it can run in
a callback, in a thread of the tree; :meth:`Shutdown.finish` waits, in the
caller's thread or in a ``preopen-stop`` thread of its own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

from preopen.errors import PreopenTimeoutError
from preopen.status import Event, EventKind

if TYPE_CHECKING:
    from preopen.actors.tree import Tree
    from preopen.store import BarStore

__all__ = ["INTERRUPT_AGAIN_S", "Shutdown"]

logger = logging.getLogger(__name__)

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
        with contextlib.suppress(PreopenTimeoutError):
            self._tree.alarm.cancel()  # its thread is joined in finish, with the others

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
