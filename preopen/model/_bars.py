"""Bars: one symbol's bars at one interval, as read-only numpy arrays.

The bars live in one packed structured array of :data:`RECORD_DTYPE` (48 bytes
a bar: ``ts`` int64 UTC nanoseconds and five float64). The columns (``ts``,
``open``, ...) are views of its fields, so :meth:`Bars.records` hands a host
the whole table without a copy, and a store that reads packed rows (SQLite's
``bar`` blobs) builds Bars without converting column by column. The price is
that columns are strided (48-byte steps), which numpy handles at full speed
for the sizes of a session's bars.

Invariants, checked or established by every constructor: ``ts`` is strictly
increasing (sorted, no duplicates) and the array is not writeable. Repairs
made on the way in are counted in :class:`BarRepairs`, never silent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from preopen.errors import BarsError
from preopen.model._intervals import parse_interval

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["FIELDS", "RECORD_DTYPE", "BarRepairs", "Bars", "to_ns"]

#: The columns of a bar, in storage order.
FIELDS: Final = ("ts", "open", "high", "low", "close", "volume")
#: One bar: little-endian, packed, 48 bytes.
RECORD_DTYPE: Final = np.dtype(
    [("ts", "<i8")] + [(name, "<f8") for name in FIELDS[1:]],
)
_PRICE_FIELDS: Final = FIELDS[1:]
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ns(instant: dt.datetime | int | np.integer[Any]) -> int:
    """Return an instant as integer nanoseconds since the Unix epoch (UTC).

    Args:
        instant: a tz-aware datetime, or an int already in nanoseconds.

    Returns:
        Nanoseconds since 1970-01-01 UTC.

    Raises:
        BarsError: a naive datetime, or something that is not an instant.
    """
    if isinstance(instant, (int, np.integer)) and not isinstance(instant, bool):
        return int(instant)
    if isinstance(instant, dt.datetime):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise BarsError(f"instant {instant.isoformat()} is naive: use a tz-aware datetime")
        delta = instant - _EPOCH
        # Integer arithmetic: float seconds would lose the microseconds.
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise BarsError(f"instant {instant!r} is not accepted: use a tz-aware datetime or int ns")


@dataclass(frozen=True, slots=True)
class BarRepairs:
    """What :meth:`Bars.from_arrays` had to repair on the way in.

    Attributes:
        duplicates_dropped: bars dropped because an earlier bar had the same ts
            (the first one in input order is kept).
        was_unsorted: the input was not in ascending ts order and was sorted.
    """

    duplicates_dropped: int = 0
    was_unsorted: bool = False

    def __bool__(self) -> bool:
        """True when anything was repaired."""
        return self.duplicates_dropped > 0 or self.was_unsorted


class Bars:
    """One symbol's bars at one interval: immutable, sorted, no duplicate ts.

    Build with :meth:`from_arrays`, :meth:`from_records` or :meth:`empty`.
    Every array attribute is read-only, so a Bars can be shared between
    threads without a lock.

    Attributes:
        symbol: the symbol.
        interval: the interval name (see :data:`preopen.model.INTERVALS`).
        repairs: what was repaired when the bars were built.
        ts: int64 UTC nanoseconds, strictly increasing; the bar's start
            (daily bars: the session's open).
        open: float64 opens. high, low, close, volume likewise.
    """

    __slots__ = (
        "_data",
        "close",
        "high",
        "interval",
        "low",
        "open",
        "repairs",
        "symbol",
        "ts",
        "volume",
    )

    symbol: str
    interval: str
    repairs: BarRepairs
    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    _data: NDArray[np.void]

    def __init__(
        self, symbol: str, interval: str, data: NDArray[np.void], repairs: BarRepairs
    ) -> None:
        """Wrap a sorted, de-duplicated, read-only record array (internal).

        Use :meth:`from_arrays` or :meth:`from_records` instead: they
        establish the invariants this constructor trusts.
        """
        setter = object.__setattr__
        setter(self, "symbol", symbol)
        setter(self, "interval", interval)
        setter(self, "repairs", repairs)
        setter(self, "_data", data)
        for name in FIELDS:
            setter(self, name, data[name])

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: Bars are immutable."""
        raise AttributeError(f"Bars is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        """Refuse: Bars are immutable."""
        raise AttributeError(f"Bars is immutable: cannot delete {name!r}")

    @classmethod
    def empty(cls, symbol: str, interval: str) -> Bars:
        """Return Bars with no bars for a symbol and interval."""
        return cls.from_records(symbol, interval, np.empty(0, RECORD_DTYPE))

    @classmethod
    def from_arrays(  # noqa: PLR0917 - the six columns, as docs/interfaces.md fixes them
        cls,
        symbol: str,
        interval: str,
        ts: ArrayLike,
        open: ArrayLike,  # noqa: A002 - the column is called open everywhere
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike,
    ) -> Bars:
        """Build Bars from six equal-length columns.

        ``ts`` may be integer nanoseconds or ``datetime64``. Unsorted input is
        sorted (stably) and duplicate ts dropped keeping the first; both are
        counted in :attr:`repairs`.

        Raises:
            BarsError: bad symbol or interval, columns of different lengths or
                of a type that is not numeric.
        """
        columns = (ts, open, high, low, close, volume)
        arrays = [np.asarray(column) for column in columns]
        lengths = {name: a.shape for name, a in zip(FIELDS, arrays, strict=True)}
        if any(len(shape) != 1 for shape in lengths.values()) or len(set(lengths.values())) != 1:
            raise BarsError(
                f"bars of {symbol!r}: columns must be one-dimensional and of equal length, "
                f"got shapes {lengths}"
            )
        records = np.empty(arrays[0].shape[0], RECORD_DTYPE)
        records["ts"] = _ts_column(symbol, arrays[0])
        for name, array in zip(_PRICE_FIELDS, arrays[1:], strict=True):
            if array.dtype.kind not in "biuf":
                raise BarsError(
                    f"bars of {symbol!r}: column {name} has dtype {array.dtype}, "
                    "use a real number type"
                )
            records[name] = array
        return cls._finish(symbol, interval, records)

    @classmethod
    def from_records(cls, symbol: str, interval: str, records: NDArray[Any]) -> Bars:
        """Build Bars from a structured array with the fields of :data:`FIELDS`.

        A packed, native array of :data:`RECORD_DTYPE` that is already sorted
        is used as is (made read-only, not copied); anything else is copied.

        Raises:
            BarsError: bad symbol or interval, or missing fields.
        """
        records = np.asarray(records)
        if records.dtype != RECORD_DTYPE or records.ndim != 1:
            names = records.dtype.names or ()
            if records.ndim != 1 or any(name not in names for name in FIELDS):
                raise BarsError(
                    f"bars of {symbol!r}: records need the fields {', '.join(FIELDS)} in a "
                    f"one-dimensional array, got dtype {records.dtype} shape {records.shape}"
                )
            converted = np.empty(records.shape[0], RECORD_DTYPE)
            converted["ts"] = _ts_column(symbol, records["ts"])
            for name in _PRICE_FIELDS:
                converted[name] = records[name]
            records = converted
        return cls._finish(symbol, interval, records)

    @classmethod
    def concat(cls, symbol: str, interval: str, parts: Sequence[Bars]) -> Bars:
        """Join Bars of one symbol and interval (for example one per session)."""
        if not parts:
            return cls.empty(symbol, interval)
        if len(parts) == 1 and parts[0].symbol == symbol and parts[0].interval == interval:
            return parts[0]
        return cls.from_records(symbol, interval, np.concatenate([p.records() for p in parts]))

    @classmethod
    def _finish(cls, symbol: str, interval: str, records: NDArray[np.void]) -> Bars:
        if not isinstance(symbol, str) or not symbol:
            raise BarsError(f"symbol {symbol!r} is not accepted: use a non-empty string")
        parse_interval(interval)
        ts = records["ts"]
        repairs = BarRepairs()
        if ts.shape[0] > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            was_unsorted = bool(np.any(ts[1:] < ts[:-1]))
            if was_unsorted:
                records = records[np.argsort(ts, kind="stable")]
                ts = records["ts"]
            keep = np.empty(ts.shape[0], dtype=bool)
            keep[0] = True
            np.not_equal(ts[1:], ts[:-1], out=keep[1:])
            dropped = int(keep.shape[0] - np.count_nonzero(keep))
            if dropped:
                records = records[keep]
            repairs = BarRepairs(duplicates_dropped=dropped, was_unsorted=was_unsorted)
        if records.flags.writeable:
            if records.base is not None or not records.flags.owndata:
                # Someone else may hold the base writeable: keep our own copy.
                records = records.copy()
            records.flags.writeable = False
        # Hand out views only, so no one can flip the owner back to writeable.
        return cls(symbol, interval, records.view(), repairs)

    def __len__(self) -> int:
        """The number of bars."""
        return int(self._data.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the bars' arrays (48 a bar)."""
        return int(self._data.nbytes)

    def records(self) -> NDArray[np.void]:
        """A read-only structured view of the bars (:data:`RECORD_DTYPE`), no copy."""
        return self._data.view()

    def between(self, start: dt.datetime | int, end: dt.datetime | int) -> Bars:
        """Bars with ``start <= ts < end``: a view, no copy.

        Args:
            start: tz-aware datetime or int ns (inclusive).
            end: tz-aware datetime or int ns (exclusive).
        """
        lo, hi = np.searchsorted(self.ts, [to_ns(start), to_ns(end)], side="left")
        return Bars(self.symbol, self.interval, self._data[lo : max(lo, hi)], self.repairs)

    def equals(self, other: object) -> bool:
        """True when both hold the same bars, bit for bit (any NaN equals any NaN)."""
        if not isinstance(other, Bars):
            return False
        if (self.symbol, self.interval, len(self)) != (other.symbol, other.interval, len(other)):
            return False
        if not np.array_equal(self.ts, other.ts):
            return False
        for name in _PRICE_FIELDS:
            mine, theirs = self._data[name], other.records()[name]
            same_bits = mine.view(np.int64) == theirs.view(np.int64)
            if not bool(np.all(same_bits | (np.isnan(mine) & np.isnan(theirs)))):
                return False
        return True

    def __eq__(self, other: object) -> bool:
        """Equality by contents, see :meth:`equals`."""
        if not isinstance(other, Bars):
            return NotImplemented
        return self.equals(other)

    def __hash__(self) -> int:
        """Hash of the identity and size (consistent with equality)."""
        first = int(self.ts[0]) if len(self) else 0
        return hash((self.symbol, self.interval, len(self), first))

    def __repr__(self) -> str:
        """Symbol, interval, count and time range."""
        if not len(self):
            return f"Bars({self.symbol!r}, {self.interval!r}, 0 bars)"
        first = np.datetime64(int(self.ts[0]), "ns")
        last = np.datetime64(int(self.ts[-1]), "ns")
        return f"Bars({self.symbol!r}, {self.interval!r}, {len(self)} bars, {first}..{last} UTC)"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support (the arrays are copied; the copy is read-only again)."""
        return (_unpickle, (self.symbol, self.interval, self._data.copy(), self.repairs))


def _unpickle(symbol: str, interval: str, data: NDArray[np.void], repairs: BarRepairs) -> Bars:
    data.flags.writeable = False
    return Bars(symbol, interval, data.view(), repairs)


def _ts_column(symbol: str, ts: NDArray[Any]) -> NDArray[np.int64]:
    if ts.dtype.kind == "M":
        return ts.astype("datetime64[ns]").view(np.int64)
    if ts.dtype.kind in "iu":
        return ts.astype(np.int64, copy=False)
    raise BarsError(
        f"bars of {symbol!r}: ts has dtype {ts.dtype}, use int64 nanoseconds or datetime64"
    )
