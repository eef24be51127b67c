"""ColumnReservation: a table's memory, reserved and faulted in while its bars are loading.

Writing a fresh gigabyte costs the kernel a page fault per 4 KiB page: about
220,000 faults for a 10,000-symbol 1m table, 0.5 s on a quiet machine and
2-3 s on a busy one, paid in the middle of the assembly, with the GIL held
(measured in ``bench/prefetch.py``'s incremental prefetch: 4.0 s of its 8.2
s). The prefetch knows roughly how many bars each interval's table will
hold as soon as it starts loading (the bars it reuses plus the calendar's
expected count for each symbol of each loaded session), so it reserves that
much then: one anonymous mapping, faulted in by a daemon thread with
``madvise(MADV_POPULATE_WRITE)`` called through ctypes, which releases the
GIL (``mmap``'s own ``MAP_POPULATE`` holds it for the whole fault-in). The
faults overlap the loads; the assembly then only copies.

Invariant: populating never changes the memory's content (it only faults
pages in, as a write would), so writing while the thread still runs would
be correct; but two threads faulting the same pages contend for the
process's memory map (measured: a 17.7 M-bar copy took 2.5 s racing the
fault-in against 0.3 s after it), so :meth:`ColumnReservation.take` waits
for the fault-in to end (at most :data:`FAULT_WAIT_S`). Where the kernel does
not know ``MADV_POPULATE_WRITE`` (before Linux 5.14) or ctypes cannot reach
libc, nothing is faulted ahead and the copy faults the pages as before. The
thread holds the mapping until it ends, so dropping a reservation early
never unmaps memory under it.

A day-over-day prefetch knows four fifths of its table before anything
loads: :meth:`ColumnReservation.prefill` copies the reused bars on a second
thread, each at the start of the row a table of complete symbols gives it;
the freeze keeps that copy only if the table is exactly the predicted one
(:meth:`ColumnReservation.take_prefilled`), else copies everything over it.
Nothing reads the memory while that thread may write it.

A planner also keeps the memory of the tables it built (:class:`TableMemory`):
faulting in is paid again every day otherwise (0.6-2.5 s measured for a
858 MB table on this machine's virtual memory, longer than a day-over-day
incremental load), and dropping the replaced snapshot after an open unmaps
it (0.25 s of a core, next to the host reading the new session). The table
of the snapshot before last is no longer viewed by anyone once the host has
let it go, so its memory takes the next session's table as it is.

Pure: numpy, mmap, weakref and ctypes; no actor, no store.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from preopen.model._bars import FIELDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from preopen.model._bars import Bars

__all__ = ["BAR_BYTES", "FAULT_WAIT_S", "ColumnReservation", "TableMemory"]

log = logging.getLogger("preopen")

#: Bytes a bar takes in a table: six 8-byte columns.
BAR_BYTES: Final = 8 * len(FIELDS)
_MADV_POPULATE_WRITE: Final = 23
#: The longest :meth:`ColumnReservation.take` waits for the fault-in (then the copy faults).
FAULT_WAIT_S: Final = 10.0
#: Bytes faulted in by one madvise call (about 10-60 ms here): how soon a close ends the thread.
_CHUNK: Final = 32 << 20


def _madvise() -> Any:  # noqa: ANN401 - a ctypes function, or None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):  # pragma: no cover - a libc without madvise
        return None
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    return madvise


_MADVISE: Final = _madvise()


def _map(size: int) -> mmap.mmap:
    """``size`` bytes of private anonymous memory.

    Private, not Python's default shared mapping: shared anonymous memory is
    a shmem file of a fixed size (growing the mapping would fault with
    SIGBUS past it), and unmapping a gigabyte of it took 0.27 s here against
    0.09 s private.
    """
    private = getattr(mmap, "MAP_PRIVATE", None)
    if private is None:  # pragma: no cover - Windows has no flags
        return mmap.mmap(-1, size)
    return mmap.mmap(-1, size, flags=private)


def _fault_in(
    buffer: mmap.mmap,  # noqa: ARG001 - held here so that it stays mapped until the end
    address: int,
    size: int,
    done: threading.Event,
    cancelled: threading.Event,
) -> None:
    """Fault ``size`` bytes in from ``address``, in ``buffer`` (the GIL released).

    In chunks of :data:`_CHUNK` bytes, so that :meth:`ColumnReservation.close`
    ends the thread within one chunk.
    """
    try:
        for offset in range(0, size, _CHUNK):
            if cancelled.is_set():
                return
            length = min(_CHUNK, size - offset)
            if _MADVISE(address + offset, length, _MADV_POPULATE_WRITE) != 0:
                log.debug("madvise(MADV_POPULATE_WRITE) failed (errno %d): pages fault on use",
                          ctypes.get_errno())
                return
    finally:
        done.set()


def _columns(anchor: NDArray[np.uint8], capacity: int, bars: int) -> list[NDArray[Any]]:
    """The six columns of ``bars`` bars in memory laid out for ``capacity``: one after another.

    Column ``k`` starts at byte ``8 * capacity * k``. Each is a view whose
    base is ``anchor`` (numpy collapses a view of a view).
    """
    stride = 8 * capacity
    return [
        anchor[stride * k : stride * k + 8 * bars].view(np.int64 if k == 0 else np.float64)
        for k in range(len(FIELDS))
    ]


def _copy_heads(  # noqa: PLR0917 - the memory, where its columns are, and what goes there
    buffer: mmap.mmap,
    capacity: int,
    heads: Sequence[Bars | None],
    row_bars: int,
    faulted: threading.Event,
    cancelled: threading.Event,
    done: threading.Event,
    copied: list[bool],
) -> None:
    """Copy ``heads[j]`` to bar ``j * row_bars`` of each column in ``buffer``.

    The copies release the GIL (numpy does for large ones); the thread looks
    at ``cancelled`` between rows. ``copied[0]`` tells the taker whether
    every head was copied.
    """
    try:
        faulted.wait(FAULT_WAIT_S)  # two threads faulting the same pages contend
        copied[0] = _write_heads(buffer, capacity, heads, row_bars, cancelled)
    finally:
        done.set()


def _write_heads(
    buffer: mmap.mmap, capacity: int, heads: Sequence[Bars | None], row_bars: int,
    cancelled: threading.Event,
) -> bool:
    # The columns as take() places them; these views (and the buffer's
    # export) end with this call.
    columns = _columns(np.frombuffer(buffer, np.uint8), capacity, capacity)
    for j, head in enumerate(heads):
        if cancelled.is_set():
            return False
        if head is not None:
            at = j * row_bars
            for column, values in zip(columns, head.columns, strict=True):
                column[at : at + values.shape[0]] = values
    return True


class ColumnReservation:
    """Memory for one table's six columns, up to ``capacity`` bars, faulted in ahead.

    Args:
        capacity: the most bars the table is expected to hold (>= 0).
        prefault: fault the pages in on a daemon thread (False: lazily, as
            a plain allocation).
        memory: the :class:`TableMemory` that keeps this memory once its
            table is taken (and gave it, when it is reused).
        reuse: memory kept from an earlier table (at least ``capacity``
            bars); only its bytes from ``faulted_from`` on are faulted in.
        faulted_from: how many bytes of ``reuse`` are faulted in already.

    Raises:
        ValueError: a negative capacity.
    """

    def __init__(
        self,
        capacity: int,
        *,
        prefault: bool = True,
        memory: TableMemory | None = None,
        reuse: mmap.mmap | None = None,
        faulted_from: int = 0,
    ) -> None:
        """Map the memory (or take ``reuse``) and start faulting it in."""
        if capacity < 0:
            raise ValueError(f"capacity {capacity} is not accepted: a number of bars >= 0")
        self._memory = memory
        if reuse is not None:
            self.capacity = len(reuse) // BAR_BYTES
            self._buffer: mmap.mmap | None = reuse
        else:
            self.capacity = capacity
            self._buffer = _map(BAR_BYTES * capacity) if capacity else None
            faulted_from = 0
        self.faulted = threading.Event()
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None
        # The prefill: its thread, what it copies, and whether it copied it all.
        self._prefill: threading.Thread | None = None
        self._prefilled = threading.Event()
        self._heads: tuple[tuple[str, ...], tuple[Bars | None, ...], int] | None = None
        self._copied = [False]
        buffer = self._buffer
        if buffer is None or not prefault or _MADVISE is None or faulted_from >= len(buffer):
            self.faulted.set()
            return
        view = ctypes.c_char.from_buffer(buffer)
        address = ctypes.addressof(view)
        del view  # the export ends here: the buffer is held by the thread, not pinned
        self._thread = threading.Thread(
            target=_fault_in,
            args=(buffer, address + faulted_from, len(buffer) - faulted_from, self.faulted,
                  self._cancelled),
            name="preopen-reserve", daemon=True,
        )
        self._thread.start()

    def close(self, timeout: float) -> bool:
        """Stop faulting in and wait (at most ``timeout`` s) for the thread to end; whether it did.

        For a reservation that will not be used (the runtime stops): no
        thread is left behind. The memory is freed with the reservation.
        """
        self._cancelled.set()
        ended = True
        for thread in (self._thread, self._prefill):
            if thread is not None:
                thread.join(timeout)
                ended = ended and not thread.is_alive()
        return ended

    def prefill(self, symbols: tuple[str, ...], heads: Sequence[Bars | None],
                row_bars: int) -> bool:
        """Start copying each row's known first bars into place; whether it started.

        Args:
            symbols: the table's rows as predicted, sorted.
            heads: per row, the bars known before the load (reused from the
                served snapshot), or None.
            row_bars: the bars every row is predicted to hold (the
                calendar's expected count): row ``j`` starts at bar
                ``j * row_bars``.

        Nothing is started when the rows would not fit, a head is longer
        than a row, or the memory is taken or already prefilled.
        """
        buffer = self._buffer
        heads = tuple(heads)
        if (
            buffer is None
            or self._prefill is not None
            or len(heads) != len(symbols)
            or row_bars <= 0
            or len(symbols) * row_bars > self.capacity
            or any(head is not None and len(head) > row_bars for head in heads)
        ):
            return False
        self._heads = (symbols, heads, row_bars)
        self._prefill = threading.Thread(
            target=_copy_heads,
            args=(buffer, self.capacity, heads, row_bars, self.faulted, self._cancelled,
                  self._prefilled, self._copied),
            name="preopen-prefill", daemon=True,
        )
        self._prefill.start()
        return True

    def take_prefilled(
        self, offsets: NDArray[np.int64], symbols: tuple[str, ...], heads: Sequence[Bars | None]
    ) -> list[NDArray[Any]] | None:
        """The columns (as :meth:`take`) if the prefill put ``heads`` where these rows start.

        That is: the prefill copied every head, the table's rows are the
        predicted ``symbols``, each ``row_bars`` long (``offsets``: where
        each row starts, and the end), and each row's head is the very Bars
        copied (or None where none was). Then each row's head is in place
        at its start and the caller writes the rest. None otherwise (the
        memory is still free for :meth:`take`, which writes everything).
        """
        planned = self._heads
        if planned is None or not self._wait_prefill():
            return None
        names, copied, row_bars = planned
        if (
            not self._copied[0]
            or symbols != names
            or len(heads) != len(copied)
            or not np.array_equal(offsets, np.arange(len(names) + 1) * row_bars)
            or any(a is not b for a, b in zip(heads, copied, strict=True))
        ):
            return None
        return self.take(int(offsets[-1]))

    def _wait_prefill(self) -> bool:
        """Wait for the prefill to end (cancelling it if slow); whether its thread is gone."""
        thread = self._prefill
        if thread is None:
            return True
        if not self._prefilled.wait(FAULT_WAIT_S):
            self._cancelled.set()
            self._prefilled.wait(FAULT_WAIT_S)
        thread.join(FAULT_WAIT_S)
        return not thread.is_alive()

    def take(self, total: int) -> list[NDArray[Any]] | None:
        """The six columns of a ``total``-bar table in this memory, once; None if it does not fit.

        The columns are writable until the caller marks them read-only; they
        are placed ``capacity`` bars apart, so a table smaller than reserved
        leaves the rest of each column's space unused. Every column (and
        every view of one) holds one anchor array over the whole memory, by
        which the :class:`TableMemory` knows when nothing views it any more.
        """
        buffer = self._buffer
        if buffer is None or not 0 < total <= self.capacity or not self._wait_prefill():
            return None  # (a prefill thread still writing: the memory stays with it)
        self._buffer = None  # taken: the columns own it now
        self.faulted.wait(FAULT_WAIT_S)  # then the copy only copies (see the module's note)
        anchor = np.frombuffer(buffer, np.uint8)
        if self._memory is not None:
            self._memory.keep(buffer, anchor)
        return _columns(anchor, self.capacity, total)

    def __repr__(self) -> str:
        """Capacity and state."""
        state = "taken" if self._buffer is None else "free"
        return f"ColumnReservation({self.capacity} bars, {state})"


class TableMemory:
    """The memory of the tables a planner built, kept to be reused by its next reservations.

    Invariant: a kept mapping is handed out again only once its anchor array
    is gone, that is when no column of its table and no view of one is left
    anywhere (a Bars, a pandas frame sharing it, an Arrow buffer or C stream
    export: each holds a numpy view, and so the anchor). Nothing can then
    see its bytes change. A host that keeps old snapshots keeps their
    anchors alive: their memory is not reused, and once more than ``keep``
    mappings are kept the oldest is let go (freed with its last view, as
    without this class).

    Args:
        keep: the most mappings kept (the served snapshot's tables and the
            one before: twice the intervals).
    """

    def __init__(self, keep: int) -> None:
        """Keep nothing yet."""
        self._keep = max(0, keep)
        # (mapping, its anchor), oldest first: used by the planner's thread only.
        self._kept: list[tuple[mmap.mmap, weakref.ref[NDArray[np.uint8]]]] = []

    def keep(self, buffer: mmap.mmap, anchor: NDArray[np.uint8]) -> None:
        """Keep ``buffer``, whose table's columns are views of ``anchor``."""
        self._kept.append((buffer, weakref.ref(anchor)))
        del self._kept[: max(0, len(self._kept) - self._keep)]

    @property
    def idle(self) -> int:
        """Kept mappings that nothing views (ready to be reused)."""
        return sum(1 for _, anchor in self._kept if anchor() is None)

    def reserve(self, capacity: int) -> ColumnReservation:
        """A reservation of ``capacity`` bars, in kept memory nothing views when there is some.

        The smallest idle mapping that holds the table (and is at most twice
        its size) is reused as it is; else the largest idle one smaller than
        that grows (``mremap``: only the added pages are faulted in); else
        fresh memory is mapped.
        """
        need = BAR_BYTES * capacity
        idle = [k for k, (_, anchor) in enumerate(self._kept) if anchor() is None]
        if need == 0 or not idle:
            return ColumnReservation(capacity, memory=self)
        sizes = {k: len(self._kept[k][0]) for k in idle}
        fits = [k for k in idle if need <= sizes[k] <= 2 * need]
        smaller = [k for k in idle if sizes[k] < need]
        if fits:
            buffer, _ = self._kept.pop(min(fits, key=sizes.__getitem__))
            return ColumnReservation(capacity, memory=self, reuse=buffer, faulted_from=len(buffer))
        if smaller:
            buffer, _ = self._kept.pop(max(smaller, key=sizes.__getitem__))
            had = len(buffer)
            try:
                buffer.resize(need)
            except (OSError, SystemError, ValueError, BufferError, TypeError):
                return ColumnReservation(capacity, memory=self)
            return ColumnReservation(capacity, memory=self, reuse=buffer, faulted_from=had)
        return ColumnReservation(capacity, memory=self)

    def __repr__(self) -> str:
        """How many mappings are kept, and how many are idle."""
        return f"TableMemory({len(self._kept)} kept, {self.idle} idle, keep={self._keep})"
