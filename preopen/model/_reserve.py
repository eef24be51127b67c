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

Pure: numpy, mmap and ctypes; no actor, no store.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import threading
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from preopen.model._bars import FIELDS

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["BAR_BYTES", "FAULT_WAIT_S", "ColumnReservation"]

log = logging.getLogger("preopen")

#: Bytes a bar takes in a table: six 8-byte columns.
BAR_BYTES: Final = 8 * len(FIELDS)
_MADV_POPULATE_WRITE: Final = 23
#: The longest :meth:`ColumnReservation.take` waits for the fault-in (then the copy faults).
FAULT_WAIT_S: Final = 10.0


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


def _fault_in(buffer: mmap.mmap, address: int, done: threading.Event) -> None:
    """Fault every page of ``buffer`` in (the GIL released); ``buffer`` is held until then."""
    try:
        if _MADVISE is not None and _MADVISE(address, len(buffer), _MADV_POPULATE_WRITE) != 0:
            log.debug("madvise(MADV_POPULATE_WRITE) failed (errno %d): pages fault on use",
                      ctypes.get_errno())
    finally:
        done.set()


class ColumnReservation:
    """Memory for one table's six columns, up to ``capacity`` bars, faulted in ahead.

    Args:
        capacity: the most bars the table is expected to hold (>= 0).
        prefault: fault the pages in on a daemon thread (False: lazily, as
            a plain allocation).

    Raises:
        ValueError: a negative capacity.
    """

    def __init__(self, capacity: int, *, prefault: bool = True) -> None:
        """Map the memory and start faulting it in."""
        if capacity < 0:
            raise ValueError(f"capacity {capacity} is not accepted: a number of bars >= 0")
        self.capacity = capacity
        self._buffer: mmap.mmap | None = mmap.mmap(-1, BAR_BYTES * capacity) if capacity else None
        self.faulted = threading.Event()
        if self._buffer is None or not prefault or _MADVISE is None:
            self.faulted.set()
            return
        view = ctypes.c_char.from_buffer(self._buffer)
        address = ctypes.addressof(view)
        del view  # the export ends here: the buffer is held by the thread, not pinned
        threading.Thread(
            target=_fault_in, args=(self._buffer, address, self.faulted),
            name="preopen-reserve", daemon=True,
        ).start()

    def take(self, total: int) -> list[NDArray[Any]] | None:
        """The six columns of a ``total``-bar table in this memory, once; None if it does not fit.

        The columns are writable until the caller marks them read-only; they
        are placed ``capacity`` bars apart, so a table smaller than reserved
        leaves the rest of each column's space unused.
        """
        buffer = self._buffer
        if buffer is None or not 0 < total <= self.capacity:
            return None
        self._buffer = None  # taken: the columns own it now
        self.faulted.wait(FAULT_WAIT_S)  # then the copy only copies (see the module's note)
        stride = 8 * self.capacity
        return [
            np.frombuffer(buffer, np.int64 if k == 0 else np.float64, total, stride * k)
            for k in range(len(FIELDS))
        ]

    def __repr__(self) -> str:
        """Capacity and state."""
        state = "taken" if self._buffer is None else "free"
        return f"ColumnReservation({self.capacity} bars, {state})"
