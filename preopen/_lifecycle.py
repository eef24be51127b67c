"""A runtime's lifecycle: its tree built from the settings, and its stop.

:func:`launch_tree` fills in the defaults, opens the store the settings name
when none is given, and starts the tree; :class:`RuntimeStop` stops it,
closing the store only when it was opened here. :class:`~preopen.actors.Shutdown`
stops the tree; ``RuntimeStop`` is what ``Runtime.stop`` adds around it: the
first call begins it, a call from one of the runtime's own threads (a
callback) leaves the joining to a thread of its own, and every call raises
:class:`~preopen.errors.StopTimeoutError` while a thread is still running.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from preopen.actors import Shutdown, build_tree
from preopen.calendar import get_calendar
from preopen.clock import SystemClock
from preopen.errors import RuntimeStoppedError, StopTimeoutError
from preopen.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from preopen.actors import Tree
    from preopen.calendar import ExchangeCalendar
    from preopen.clock import Clock
    from preopen.model import SessionSnapshot
    from preopen.store import BarStore

__all__ = ["LaunchedTree", "RuntimeStop", "launch_tree"]


@dataclass(frozen=True, slots=True)
class LaunchedTree:
    """A started tree and what it runs with.

    Attributes:
        tree: the tree, started (not waited for).
        settings: its settings.
        store: the store its loaders call.
        owns_store: the store was opened from ``settings.store`` (the stop closes it).
    """

    tree: Tree
    settings: Settings
    store: BarStore
    owns_store: bool


def launch_tree(
    settings: Settings | None,
    *,
    clock: Clock | None,
    store: BarStore | None,
    calendar: ExchangeCalendar | None,
    on_frozen: Callable[[SessionSnapshot], object] | None,
) -> LaunchedTree:
    """Start a tree; see :meth:`preopen.runtime.Runtime.launch` for the defaults.

    A store opened here is closed again when the tree fails to start.
    """
    settings = settings if settings is not None else Settings()
    clock = clock if clock is not None else SystemClock()
    calendar = calendar if calendar is not None else get_calendar(settings.exchange)
    owns_store = store is None
    if store is None:
        from preopen.store import open_store  # noqa: PLC0415 - drivers load only when needed

        store = open_store(
            settings.store,
            pool_size=settings.loaders,
            table=settings.table_or_none,
            load_timeout=settings.load_timeout_s,
        )
    try:
        tree = build_tree(settings, clock, store, calendar, on_frozen)
    except BaseException:
        if owns_store:
            store.close()
        raise
    return LaunchedTree(tree, settings, store, owns_store)


class RuntimeStop:
    """The stop of one runtime's tree, and of the store it opened.

    Args:
        tree: the started tree.
        store: the store its loaders call.
        owns_store: close the store once the threads are joined.
    """

    def __init__(self, tree: Tree, store: BarStore, *, owns_store: bool) -> None:
        """Nothing stopped yet."""
        self._tree = tree
        self._store = store
        self._owns_store = owns_store
        self._shutdown: Shutdown | None = None

    @property
    def begun(self) -> bool:
        """Whether a stop was asked for (the runtime then takes no request)."""
        return self._shutdown is not None

    def check_running(self) -> None:
        """Refuse a request once the runtime is stopping or stopped.

        Raises:
            RuntimeStoppedError: a stop was asked for, or the tree stopped
                (the supervisor gave up), with the last error.
        """
        status = self._tree.board.status
        if self.begun or not status.running:
            raise RuntimeStoppedError(f"the runtime is stopped: {status.last_error or 'stopped'}")

    def stop(self, timeout: float, *, in_tree_thread: bool) -> None:
        """Stop, or say what is still running; see :meth:`preopen.runtime.Runtime.stop`.

        Args:
            timeout: seconds to wait for the threads (already checked).
            in_tree_thread: the caller is one of the tree's threads: begin
                the stop and return, the joining runs in ``preopen-stop``.

        Raises:
            StopTimeoutError: threads still running when ``timeout`` ran out.
        """
        deadline = time.monotonic() + timeout
        shutdown = self._shutdown
        if shutdown is None:
            shutdown = self._shutdown = Shutdown(self._tree, self._store,
                                                 owns_store=self._owns_store)
            shutdown.begin()
            if in_tree_thread:
                threading.Thread(target=shutdown.finish, args=(deadline,),
                                 name="preopen-stop", daemon=False).start()
                return
            shutdown.finish(deadline)
        elif in_tree_thread:
            return
        with contextlib.suppress(TimeoutError):
            shutdown.done.result(timeout=max(0.0, deadline - time.monotonic()))
        left = tuple(t.name for t in self._tree.ledger.alive())
        if left:
            raise StopTimeoutError(left, timeout)
