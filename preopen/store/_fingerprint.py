"""Fingerprints of stored bars: what a store computes in place, and the same from Bars.

A fingerprint says whether the bars of one symbol in one ``[start, end)``
range are still those held in memory, without moving them: the row count and
the MD5 of the bars in ts order, each bar as 48 big-endian bytes: ts as int64
microseconds since 2000-01-01 UTC (PostgreSQL's ``timestamptz_send``), then
open, high, low, close, volume as float64 (``float8send``). Bit-exact: NaN,
-0.0 and the last ulp of a price count; a ts finer than a microsecond does
not (PostgreSQL does not hold one).

:func:`fingerprint` computes it from Bars (numpy, no Python work per bar);
``BarStore.fingerprints`` computes it in the store, so that an incremental
prefetch reloads only the sessions whose fingerprints differ.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np

from preopen.model import to_ns

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from preopen.model import Bars

__all__ = ["CANONICAL_DTYPE", "EMPTY_DIGEST", "Fingerprint", "fingerprint", "fingerprints_of"]

#: One bar as fingerprinted: PostgreSQL's binary send format of the columns.
CANONICAL_DTYPE: Final = np.dtype(
    [("ts", ">i8"), ("open", ">f8"), ("high", ">f8"), ("low", ">f8"), ("close", ">f8"),
     ("volume", ">f8")]
)
#: Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
_PG_EPOCH_US: Final = 946_684_800_000_000
#: The digest of no bars.
EMPTY_DIGEST: Final = hashlib.md5(b"", usedforsecurity=False).hexdigest()
_PRICES: Final = ("open", "high", "low", "close", "volume")


class Fingerprint(NamedTuple):
    """The bars of one symbol in one range, in two numbers.

    Attributes:
        rows: how many bars.
        digest: MD5 (hex) of the bars in ts order (see the module's docstring).
    """

    rows: int
    digest: str


#: The fingerprint of a range with no bars.
EMPTY: Final = Fingerprint(0, EMPTY_DIGEST)


def canonical_digest(
    ts_ns: NDArray[np.int64], columns: Sequence[NDArray[np.float64]]
) -> Fingerprint:
    """The fingerprint of bars given as ts (int64 ns, sorted) and the five price columns."""
    rows = np.empty(ts_ns.shape[0], CANONICAL_DTYPE)
    rows["ts"] = np.floor_divide(ts_ns, 1000) - _PG_EPOCH_US
    for name, column in zip(_PRICES, columns, strict=True):
        rows[name] = column
    digest = hashlib.md5(rows.tobytes(), usedforsecurity=False).hexdigest()
    return Fingerprint(int(rows.shape[0]), digest)


def fingerprint(bars: Bars, start: dt.datetime | int, end: dt.datetime | int) -> Fingerprint:
    """The fingerprint of the bars with ``start <= ts < end`` (datetimes or int ns)."""
    lo, hi = np.searchsorted(bars.ts, [to_ns(start), to_ns(end)], side="left")
    hi = max(lo, hi)
    if hi == lo:
        return EMPTY
    return canonical_digest(
        bars.ts[lo:hi], [getattr(bars, name)[lo:hi] for name in _PRICES]
    )


def fingerprints_of(
    bars: Bars, ranges: Sequence[tuple[dt.datetime | int, dt.datetime | int]]
) -> tuple[Fingerprint, ...]:
    """One :func:`fingerprint` per range, in order: what ``BarStore.fingerprints`` answers."""
    return tuple(fingerprint(bars, start, end) for start, end in ranges)
