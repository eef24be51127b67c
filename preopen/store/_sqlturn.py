"""ReadTurn: the read queries of one SQLite store step one at a time.

Two threads stepping queries of one SQLite file at once were slower together
than one after the other here (two loaders, 10,000 symbols x one session of
1m bars in batches of 500: 3.1-3.3 s at once against 2.6-2.8 s in turns; the
library's own locks and the interpreter's hand-overs contend), so a store's
loads take turns: while one loader's query runs, the other turns its rows
into Bars.

The turn is a pool of one read slot, as a connection pool is: a
``queue.Queue`` holding one token, taken for the turn and put back after
it. Nothing else is shared. A caller waits for the token no longer than its
deadline; a cancelled caller (the store's ``interrupt``) gives it back at
once. A waiter is not woken by the cancellation itself: the holder is
interrupted too (its connection's query ends), so the token comes back
promptly and the waiter, taking it, finds itself cancelled. Invariant: one
token, so at most one holder; a holder always puts it back, even when its
query raises.
"""

from __future__ import annotations

import contextlib
import queue
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ReadTurn"]


class ReadTurn:
    """One store's read turn.

    Args:
        slot: the queue that holds the token (a new one by default; it must
            be empty and unbounded or of size 1).
    """

    def __init__(self, slot: queue.Queue[str] | None = None) -> None:
        """Nobody holds the turn yet: the token is in its slot."""
        self._slot: queue.Queue[str] = slot if slot is not None else queue.Queue(maxsize=1)
        self._slot.put_nowait("the read turn")

    @contextlib.contextmanager
    def held(self, deadline: float, cancelled: Callable[[], bool]) -> Iterator[None]:
        """Hold the turn for the ``with`` block; wait for it until ``deadline`` (monotonic).

        Raises:
            InterruptedError: ``cancelled()`` was true once the turn came.
            TimeoutError: the deadline passed while waiting.
        """
        try:
            token = self._slot.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(
                "timed out waiting for another query of this store to end") from None
        try:
            if cancelled():
                raise InterruptedError("interrupted while waiting for the read turn")
            yield
        finally:
            self._slot.put_nowait(token)
