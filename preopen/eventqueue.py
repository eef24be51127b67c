"""A bounded queue of status events for one asyncio reader, with explicit gaps.

:class:`EventQueue` is what each ``AsyncRuntime.events()`` iterator reads;
:class:`EventOverflow` is what it yields where events are missing, saying
how many and which, so a reader never sees a silent gap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from preopen.status import Event

__all__ = ["EventOverflow", "EventQueue"]


@dataclass(frozen=True, slots=True)
class EventOverflow:
    """Events a consumer of :meth:`AsyncRuntime.events` did not get, in its stream.

    Attributes:
        missed: how many.
        first_seq: the ``seq`` of the first one missed.
        last_seq: the ``seq`` of the last one missed.
        reason: ``"consumer"`` (its queue was full: it fell behind) or
            ``"history"`` (they left the status's history before they
            could be handed over).
    """

    missed: int
    first_seq: int
    last_seq: int
    reason: str

    def __str__(self) -> str:
        """``missed N events (seq a..b): reason``."""
        why = ("the consumer fell behind" if self.reason == "consumer"
               else "they left the status history first")
        return f"missed {self.missed} events (seq {self.first_seq}..{self.last_seq}): {why}"


class EventQueue:
    """One reader of ``AsyncRuntime.events()``: a bounded queue and what it missed.

    Only the loop's thread touches it (asyncio's queue is not thread-safe).
    Once events are dropped, nothing more is queued until the overflow
    marker is, so the marker sits exactly where the gap is.
    """

    def __init__(self, maxsize: int) -> None:
        """An empty queue of ``maxsize`` items."""
        self.queue: asyncio.Queue[Event | EventOverflow | None] = asyncio.Queue(maxsize)
        self.missed = 0
        self.first = 0
        self.last = 0
        self.closed = False

    def offer(self, item: Event | EventOverflow) -> None:
        """Queue ``item``, or count it as missed when the queue is full."""
        if self.missed and not self.queue.full():
            self.queue.put_nowait(self._overflow())
        if self.missed or self.queue.full():
            first, last = ((item.seq, item.seq) if not isinstance(item, EventOverflow)
                           else (item.first_seq, item.last_seq))
            count = 1 if not isinstance(item, EventOverflow) else item.missed
            self.first = self.first if self.missed else first
            self.missed += count
            self.last = last
            return
        self.queue.put_nowait(item)

    def close(self) -> None:
        """No more items: the reader ends once it has read what is queued."""
        self.closed = True
        if not self.queue.full():
            self.queue.put_nowait(None)  # wakes a reader waiting on the empty queue

    def _overflow(self) -> EventOverflow:
        overflow = EventOverflow(self.missed, self.first, self.last, "consumer")
        self.missed = 0
        return overflow

    async def next(self) -> Event | EventOverflow | None:
        """The next item; ``None`` once closed and drained."""
        while True:
            if not self.queue.empty():
                item = self.queue.get_nowait()
            elif self.missed:
                return self._overflow()
            elif self.closed:
                return None
            else:
                item = await self.queue.get()
            if item is not None:
                return item
