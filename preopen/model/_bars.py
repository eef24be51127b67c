"""Bars: one symbol's bars at one interval, as six contiguous read-only columns.

``ts`` (int64 UTC nanoseconds) and ``open``, ``high``, ``low``, ``close``,
``volume`` (float64) are separate contiguous arrays. Inside a snapshot they are
slices of the interval's :class:`~preopen.model.BarTable` columns (views, no
copy), so pandas, polars and pyarrow read them without copying and a host can
work on one symbol or, through the table, on all of them at once.

:data:`RECORD_DTYPE` is no longer how bars are held: it stays as the packed
48-byte row the stores read and write (SQLite's ``bar`` blobs, the COPY
parser), accepted by :meth:`Bars.from_records` and produced, as a copy, by
:meth:`Bars.records`.

Invariants, checked or established by every constructor: ``ts`` is strictly
increasing (sorted, no duplicates) and no array is writeable. Repairs made on
the way in are counted in :class:`BarRepairs`, never silent.
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

__all__ = ["FIELDS", "RECORD_DTYPE", "BarRepairs", "Bars", "Columns", "to_ns"]

#: The columns of a bar, in storage order.
FIELDS: Final = ("ts", "open", "high", "low", "close", "volume")
#: One bar as a packed row (little-endian, 48 bytes): the stores' wire layout.
RECORD_DTYPE: Final = np.dtype(
    [("ts", "<i8")] + [(name, "<f8") for name in FIELDS[1:]],
)
_PRICE_FIELDS: Final = FIELDS[1:]
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: The six columns, in :data:`FIELDS` order.
Columns = tuple[
    "NDArray[np.int64]",
    "NDArray[np.float64]",
    "NDArray[np.float64]",
    "NDArray[np.float64]",
    "NDArray[np.float64]",
    "NDArray[np.float64]",
]


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


_NO_REPAIRS: Final = BarRepairs()


class Bars:
    """One symbol's bars at one interval: immutable, sorted, no duplicate ts.

    Build with :meth:`from_arrays`, :meth:`from_records` or :meth:`empty`;
    a snapshot hands out Bars that are views of its tables. Every array
    attribute is contiguous and read-only, so a Bars can be shared between
    threads without a lock.

    Attributes:
        symbol: the symbol.
        interval: the interval name (see :data:`preopen.model.INTERVALS`).
        repairs: what was repaired when the bars were built.
        ts: int64 UTC nanoseconds, strictly increasing; the bar's start
            (daily bars: the session's open).
        open: float64 opens. high, low, close, volume likewise.
    """

    __slots__ = ("close", "high", "interval", "low", "open", "repairs", "symbol", "ts", "volume")

    symbol: str
    interval: str
    repairs: BarRepairs
    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]

    def __init__(
        self, symbol: str, interval: str, columns: Columns, repairs: BarRepairs = _NO_REPAIRS
    ) -> None:
        """Wrap six sorted, de-duplicated, read-only columns (internal).

        Use :meth:`from_arrays` or :meth:`from_records` instead: they
        establish the invariants this constructor trusts.
        """
        setter = object.__setattr__
        setter(self, "symbol", symbol)
        setter(self, "interval", interval)
        setter(self, "repairs", repairs)
        ts, open_, high, low, close, volume = columns
        setter(self, "ts", ts)
        setter(self, "open", open_)
        setter(self, "high", high)
        setter(self, "low", low)
        setter(self, "close", close)
        setter(self, "volume", volume)

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: Bars are immutable."""
        raise AttributeError(f"Bars is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        """Refuse: Bars are immutable."""
        raise AttributeError(f"Bars is immutable: cannot delete {name!r}")

    @classmethod
    def empty(cls, symbol: str, interval: str) -> Bars:
        """Return Bars with no bars for a symbol and interval."""
        _check_names(symbol, interval)
        ts = _frozen(np.empty(0, np.int64))
        price = _frozen(np.empty(0, np.float64))
        return cls(symbol, interval, (ts, price, price, price, price, price))

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

        The fast path (no copy at all): native contiguous ``int64`` ts and
        ``float64`` prices, already sorted, with ``flags.writeable = False``.
        A writeable column is copied, since its owner could still change it.

        Raises:
            BarsError: bad symbol or interval, columns of different lengths or
                of a type that is not numeric.
        """
        _check_names(symbol, interval)
        arrays = [np.asarray(column) for column in (ts, open, high, low, close, volume)]
        shapes = {name: a.shape for name, a in zip(FIELDS, arrays, strict=True)}
        if any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) != 1:
            raise BarsError(
                f"bars of {symbol!r}: columns must be one-dimensional and of equal length, "
                f"got shapes {shapes}"
            )
        columns: list[NDArray[Any]] = [_own(_ts_column(symbol, arrays[0]), np.int64)]
        for name, array in zip(_PRICE_FIELDS, arrays[1:], strict=True):
            if array.dtype.kind not in "biuf":
                raise BarsError(
                    f"bars of {symbol!r}: column {name} has dtype {array.dtype}, "
                    "use a real number type"
                )
            columns.append(_own(array, np.float64))
        return cls._finish(symbol, interval, columns)

    @classmethod
    def from_records(cls, symbol: str, interval: str, records: NDArray[Any]) -> Bars:
        """Build Bars from a structured array with the fields of :data:`FIELDS`.

        The fields are copied into six contiguous columns: packed native rows
        of :data:`RECORD_DTYPE` in one copy (a transpose), anything else
        field by field.

        Raises:
            BarsError: bad symbol or interval, or missing fields.
        """
        records = np.asarray(records)
        names = records.dtype.names or ()
        if records.ndim != 1 or any(name not in names for name in FIELDS):
            raise BarsError(
                f"bars of {symbol!r}: records need the fields {', '.join(FIELDS)} in a "
                f"one-dimensional array, got dtype {records.dtype} shape {records.shape}"
            )
        _check_names(symbol, interval)
        if records.dtype == RECORD_DTYPE and records.flags.c_contiguous:
            # One copy for all six: the rows' int64 words, transposed into a (6, n) block.
            words = records.view(np.int64).reshape(records.shape[0], len(FIELDS))
            block = np.ascontiguousarray(words.T)
            block.flags.writeable = False
            columns = [block[0], *(block[k].view(np.float64) for k in range(1, len(FIELDS)))]
            return cls._finish(symbol, interval, columns)
        columns = [_frozen(np.array(_ts_column(symbol, records["ts"]), dtype=np.int64))]
        columns.extend(_frozen(np.array(records[name], dtype=np.float64)) for name in _PRICE_FIELDS)
        return cls._finish(symbol, interval, columns)

    @classmethod
    def concat(cls, symbol: str, interval: str, parts: Sequence[Bars]) -> Bars:
        """Join Bars of one symbol and interval (for example one per session)."""
        if not parts:
            return cls.empty(symbol, interval)
        if len(parts) == 1 and parts[0].symbol == symbol and parts[0].interval == interval:
            return parts[0]
        _check_names(symbol, interval)
        columns = [
            _frozen(np.concatenate([getattr(p, name) for p in parts])) for name in FIELDS
        ]
        return cls._finish(symbol, interval, columns)

    @classmethod
    def _finish(cls, symbol: str, interval: str, columns: list[NDArray[Any]]) -> Bars:
        """Sort and de-duplicate read-only columns the caller cannot write to."""
        ts = columns[0]
        repairs = _NO_REPAIRS
        if ts.shape[0] > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            was_unsorted = bool(np.any(ts[1:] < ts[:-1]))
            if was_unsorted:
                order = np.argsort(ts, kind="stable")
                columns = [column[order] for column in columns]
                ts = columns[0]
            keep = np.empty(ts.shape[0], dtype=bool)
            keep[0] = True
            np.not_equal(ts[1:], ts[:-1], out=keep[1:])
            dropped = int(keep.shape[0] - np.count_nonzero(keep))
            if dropped:
                columns = [column[keep] for column in columns]
            columns = [_frozen(column) for column in columns]
            repairs = BarRepairs(duplicates_dropped=dropped, was_unsorted=was_unsorted)
        t, o, h, lo, c, v = columns
        return cls(symbol, interval, (t, o, h, lo, c, v), repairs)

    def __len__(self) -> int:
        """The number of bars."""
        return int(self.ts.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the six columns (48 a bar)."""
        return 48 * len(self)

    @property
    def columns(self) -> Columns:
        """The six columns, in :data:`FIELDS` order."""
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    def records(self) -> NDArray[np.void]:
        """A read-only packed copy of the bars as :data:`RECORD_DTYPE` rows (a copy)."""
        out = np.empty(len(self), RECORD_DTYPE)
        for name in FIELDS:
            out[name] = getattr(self, name)
        out.flags.writeable = False
        return out.view()

    def between(self, start: dt.datetime | int, end: dt.datetime | int) -> Bars:
        """Bars with ``start <= ts < end``: a view, no copy.

        Args:
            start: tz-aware datetime or int ns (inclusive).
            end: tz-aware datetime or int ns (exclusive).
        """
        lo, hi = (int(i) for i in np.searchsorted(self.ts, [to_ns(start), to_ns(end)]))
        return self.slice(lo, max(lo, hi))

    def slice(self, start: int, stop: int) -> Bars:
        """Bars ``start:stop`` by position: a view, no copy."""
        part = slice(start, stop)
        ts, o, h, lo, c, v = self.columns
        columns = (ts[part], o[part], h[part], lo[part], c[part], v[part])
        return Bars(self.symbol, self.interval, columns, self.repairs)

    def equals(self, other: object) -> bool:
        """True when both hold the same bars, bit for bit (any NaN equals any NaN)."""
        if not isinstance(other, Bars):
            return False
        if (self.symbol, self.interval, len(self)) != (other.symbol, other.interval, len(other)):
            return False
        return all(
            same_bits(getattr(self, name), getattr(other, name)) for name in FIELDS
        )

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
        """Pickle support (the columns are copied; the copy is read-only again)."""
        return (_unpickle, (self.symbol, self.interval, self.columns, self.repairs))

    def to_arrow(self) -> Any:  # noqa: ANN401 - pyarrow is optional, so untyped here
        """A ``pyarrow.Table`` (ts, open, ..., volume) whose buffers are these columns.

        Raises:
            MissingExtraError: pyarrow is not installed (``preopen[arrow]``).
        """
        from preopen.model import _interop  # noqa: PLC0415 - optional extras load on use

        return _interop.bars_to_arrow(self)

    def to_pandas(self) -> Any:  # noqa: ANN401 - pandas is optional, so untyped here
        """A ``pandas.DataFrame`` of the bars (see :func:`preopen.model.BarTable.to_pandas`).

        Raises:
            MissingExtraError: pandas is not installed (``preopen[pandas]``).
        """
        from preopen.model import _interop  # noqa: PLC0415 - optional extras load on use

        return _interop.bars_to_pandas(self)

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        """The Arrow PyCapsule stream protocol: ``pyarrow.table(bars)``, ``polars.DataFrame(bars)``.

        Produced with ctypes (the Arrow C data interface): no pyarrow needed,
        and the consumer reads the numpy columns themselves.
        """
        del requested_schema  # the columns have one type each; a consumer casts if it must
        from preopen.model import _interop  # noqa: PLC0415 - ctypes loads on use

        return _interop.bars_stream(self)


def same_bits(mine: NDArray[Any], theirs: NDArray[Any]) -> bool:
    """True when two equal-length columns hold the same bits (any NaN equals any NaN)."""
    if mine.dtype.kind != "f":
        return bool(np.array_equal(mine, theirs))
    equal = mine.view(np.int64) == theirs.view(np.int64)
    return bool(np.all(equal | (np.isnan(mine) & np.isnan(theirs))))


def _unpickle(symbol: str, interval: str, columns: Columns, repairs: BarRepairs) -> Bars:
    t, o, h, lo, c, v = (_frozen(column) for column in columns)
    return Bars(symbol, interval, (t, o, h, lo, c, v), repairs)


def _check_names(symbol: str, interval: str) -> None:
    if not isinstance(symbol, str) or not symbol:
        raise BarsError(f"symbol {symbol!r} is not accepted: use a non-empty string")
    parse_interval(interval)


def _frozen(array: NDArray[Any]) -> NDArray[Any]:
    """Make an array the caller can no longer write read-only, and hand out a view."""
    if array.flags.writeable:
        array.flags.writeable = False
    return array.view()


def _own(array: NDArray[Any], dtype: type[np.generic]) -> NDArray[Any]:
    """A contiguous read-only column of ``dtype`` no one else can write to.

    A read-only native contiguous column is taken as is (no copy); anything
    else is copied or converted once.
    """
    if array.dtype == dtype and array.flags.c_contiguous and not array.flags.writeable:
        return array.view()
    return _frozen(np.array(array, dtype=dtype, order="C", copy=True))


def _ts_column(symbol: str, ts: NDArray[Any]) -> NDArray[np.int64]:
    if ts.dtype.kind == "M":
        return ts.astype("datetime64[ns]").view(np.int64)
    if ts.dtype.kind in "iu":
        return ts if ts.dtype == np.int64 else ts.astype(np.int64)
    raise BarsError(
        f"bars of {symbol!r}: ts has dtype {ts.dtype}, use int64 nanoseconds or datetime64"
    )
