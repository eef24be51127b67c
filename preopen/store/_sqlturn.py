"""ReadTurn: the read queries of one SQLite store step one at a time.

Two threads stepping queries of one SQLite file at once were slower together
than one after the other here (two loaders, 10,000 symbols x one session of
1m bars in batches of 500: 3.1-3.3 s at once against 2.6-2.8 s in turns; the
library's own locks and the interpreter's hand-overs contend), so a store's
loads take turns: while one loader's query runs, the other turns its rows
into Bars.

A caller waits for its turn no longer than its deadline and not past a
cancellation; :meth:`ReadTurn.wake_all` wakes every waiter to look again (a
store's ``interrupt``). Invariant: at most one holder at a time; a holder
always gives the turn back (even when its query raises).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ReadTurn"]


class ReadTurn:
    """One store's read turn.

    Args:
        condition: the condition variable to wait on (a new one by default).
    """

    def __init__(self, condition: threading.Condition | None = None) -> None:
        """Nobody holds the turn yet."""
        self._condition = condition if condition is not None else threading.Condition()
        self._held = False

    @contextlib.contextmanager
    def held(self, deadline: float, cancelled: Callable[[], bool]) -> Iterator[None]:
        """Hold the turn for the ``with`` block; wait for it until ``deadline`` (monotonic).

        Raises:
            InterruptedError: ``cancelled()`` turned true while waiting.
            TimeoutError: the deadline passed while waiting.
        """
        with self._condition:
            while self._held:
                if cancelled():
                    raise InterruptedError("interrupted while waiting for the read turn")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out waiting for another query of this store to end")
                self._condition.wait(left)
            self._held = True
        try:
            yield
        finally:
            with self._condition:
                self._held = False
                self._condition.notify()

    def wake_all(self) -> None:
        """Wake every waiter to look at its deadline and cancellation again."""
        with self._condition:
            self._condition.notify_all()
