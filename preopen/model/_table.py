"""BarTable: every symbol's bars at one interval, as six contiguous columns.

The columns ``ts`` (int64 UTC nanoseconds), ``open``, ``high``, ``low``,
``close`` and ``volume`` (float64) hold the bars sorted by symbol, then ts.
``offsets`` (int64, one more than the symbols) says where each symbol's bars
are: symbol ``i`` is ``offsets[i]:offsets[i + 1]``. A table is a handful of
arrays whatever the number of symbols; :meth:`BarTable.bars` makes a Bars
whose columns are slices of the table's (views, no copy).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from preopen.errors import BarsError
from preopen.model._bars import FIELDS, BarRepairs, Bars, same_bits
from preopen.model._intervals import parse_interval
from preopen.model._reserve import ColumnReservation

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from numpy.typing import NDArray

    from preopen.model._bars import Columns

__all__ = ["BarTable"]

_NO_REPAIRS = BarRepairs()


class BarTable:
    """Every symbol's bars at one interval: immutable, sorted by symbol then ts.

    Attributes:
        interval: the interval name.
        symbols: the symbols, sorted, each once.
        offsets: int64, ``len(symbols) + 1`` entries from 0 to the bar count.
        ts: int64 UTC nanoseconds. open, high, low, close, volume: float64.
        duplicates: int64 per symbol, duplicate bars dropped when loaded.
        unsorted: bool per symbol, the bars arrived unsorted (and were sorted).
        nbars: the number of bars.
        nbytes: bytes of the six columns (48 a bar).
    """

    __slots__ = (
        "close",
        "duplicates",
        "high",
        "interval",
        "low",
        "nbars",
        "nbytes",
        "offsets",
        "open",
        "symbols",
        "ts",
        "unsorted",
        "volume",
    )

    interval: str
    symbols: tuple[str, ...]
    offsets: NDArray[np.int64]
    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    duplicates: NDArray[np.int64]
    unsorted: NDArray[np.bool_]
    nbars: int
    nbytes: int

    def __init__(
        self,
        interval: str,
        symbols: tuple[str, ...],
        offsets: NDArray[np.int64],
        columns: Columns,
        *,
        duplicates: NDArray[np.int64] | None = None,
        unsorted: NDArray[np.bool_] | None = None,
        check_order: bool = True,
    ) -> None:
        """Wrap read-only columns; checks the shapes (and, unless told not to, the order).

        Args:
            interval: the interval name.
            symbols: the symbols, sorted, unique.
            offsets: where each symbol's bars start, plus the total at the end.
            columns: ts, open, high, low, close, volume: contiguous, equal length.
            duplicates: per symbol, duplicates dropped on load (default none).
            unsorted: per symbol, whether the bars arrived unsorted (default no).
            check_order: check that the symbols are sorted and ts increases
                within each symbol (one pass over the bars; attaching a
                published table skips it).

        Raises:
            BarsError: shapes, dtypes, offsets or order that do not make a table.
        """
        parse_interval(interval)
        n = len(symbols)
        offsets = np.asarray(offsets)
        if offsets.dtype != np.int64 or offsets.shape != (n + 1,):
            raise BarsError(
                f"table {interval}: offsets must be int64 of {n + 1} entries, "
                f"got {offsets.dtype} {offsets.shape}"
            )
        total = int(offsets[-1]) if n else 0
        if offsets[0] != 0 or bool(np.any(offsets[1:] < offsets[:-1])):
            raise BarsError(f"table {interval}: offsets must rise from 0, got {offsets[:5]}...")
        for name, column in zip(FIELDS, columns, strict=True):
            want = np.int64 if name == "ts" else np.float64
            if column.dtype != want or column.shape != (total,) or not column.flags.c_contiguous:
                raise BarsError(
                    f"table {interval}: column {name} must be contiguous {np.dtype(want)} of "
                    f"{total} bars, got {column.dtype} {column.shape}"
                )
        if check_order and any(a >= b for a, b in pairwise(symbols)):
            raise BarsError(f"table {interval}: symbols must be sorted and unique")
        setter = object.__setattr__
        setter(self, "interval", interval)
        setter(self, "symbols", symbols)
        setter(self, "offsets", _read_only(offsets))
        for name, column in zip(FIELDS, columns, strict=True):
            setter(self, name, _read_only(column))
        dup = np.zeros(n, np.int64) if duplicates is None else np.asarray(duplicates, np.int64)
        uns = np.zeros(n, np.bool_) if unsorted is None else np.asarray(unsorted, np.bool_)
        setter(self, "duplicates", _read_only(dup))
        setter(self, "unsorted", _read_only(uns))
        setter(self, "nbars", total)
        setter(self, "nbytes", 48 * total)
        if check_order:
            self._check_order()

    def _check_order(self) -> None:
        ts = self.ts
        if ts.shape[0] < 2:  # noqa: PLR2004 - fewer than two bars are always in order
            return
        falls = ts[1:] <= ts[:-1]
        if not bool(np.any(falls)):
            return
        # A fall is allowed only where a new symbol starts.
        starts = self.offsets[1:-1]
        starts = starts[(starts > 0) & (starts < ts.shape[0])]
        falls[starts - 1] = False
        if bool(np.any(falls)):
            at = int(np.argmax(falls)) + 1
            raise BarsError(f"table {self.interval}: ts not increasing within a symbol at bar {at}")

    @classmethod
    def from_bars(
        cls,
        interval: str,
        bars_by_symbol: Mapping[str, Bars],
        reserved: ColumnReservation | None = None,
    ) -> BarTable:
        """Concatenate Bars of one interval into a table (one copy of each column).

        ``reserved``: memory reserved for the columns while the bars loaded
        (used when they fit; otherwise the columns are allocated now).

        Raises:
            BarsError: a Bars of another interval or symbol than its key.
        """
        symbols = tuple(sorted(bars_by_symbol))
        parts = [bars_by_symbol[symbol] for symbol in symbols]
        for symbol, bars in zip(symbols, parts, strict=True):
            if bars.symbol != symbol or bars.interval != interval:
                raise BarsError(
                    f"table {interval}: key {symbol!r} maps to {bars!r}, not its own bars"
                )
        lengths = np.fromiter((len(b) for b in parts), np.int64, len(parts))
        offsets = np.zeros(len(parts) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        columns = _concat_columns(parts, int(offsets[-1]), reserved)
        n = len(parts)
        duplicates = np.fromiter((b.repairs.duplicates_dropped for b in parts), np.int64, n)
        unsorted = np.fromiter((b.repairs.was_unsorted for b in parts), np.bool_, len(parts))
        t, o, h, lo, c, v = columns
        return cls(
            interval,
            symbols,
            offsets,
            (t, o, h, lo, c, v),
            duplicates=duplicates,
            unsorted=unsorted,
            check_order=False,  # every Bars is sorted, and symbols do not overlap
        )

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: tables are immutable."""
        raise AttributeError(f"BarTable is immutable: cannot set {name!r}")

    def __len__(self) -> int:
        """The number of bars."""
        return self.nbars

    def __contains__(self, symbol: object) -> bool:
        """True when the table has the symbol (possibly with no bars)."""
        return isinstance(symbol, str) and self.index(symbol) >= 0

    def __iter__(self) -> Iterator[Bars]:
        """Every symbol's Bars, in symbol order (views)."""
        return (self._bars_at(i) for i in range(len(self.symbols)))

    @property
    def columns(self) -> Columns:
        """The six columns, in :data:`~preopen.model.FIELDS` order."""
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Bars per symbol (a new array)."""
        return np.diff(self.offsets)

    def index(self, symbol: str) -> int:
        """The position of a symbol in :attr:`symbols`, -1 when absent (a binary search)."""
        i = bisect_left(self.symbols, symbol)
        return i if i < len(self.symbols) and self.symbols[i] == symbol else -1

    def bars(self, symbol: str) -> Bars:
        """One symbol's Bars: each column a slice of the table's (a view, no copy).

        Raises:
            KeyError: the table has no such symbol.
        """
        i = self.index(symbol)
        if i < 0:
            raise KeyError(f"table {self.interval} has no bars for symbol {symbol!r}")
        return self._bars_at(i)

    def _bars_at(self, i: int) -> Bars:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        dup, uns = int(self.duplicates[i]), bool(self.unsorted[i])
        repairs = BarRepairs(dup, uns) if dup or uns else _NO_REPAIRS
        columns = (
            self.ts[lo:hi], self.open[lo:hi], self.high[lo:hi],
            self.low[lo:hi], self.close[lo:hi], self.volume[lo:hi],
        )
        return Bars(self.symbols[i], self.interval, columns, repairs)

    def symbol_codes(self) -> NDArray[np.int32]:
        """Per bar, the index of its symbol in :attr:`symbols` (int32, a new array)."""
        return np.repeat(np.arange(len(self.symbols), dtype=np.int32), self.lengths)

    def equals(self, other: object) -> bool:
        """True when both hold the same symbols and bars, bit for bit."""
        if not isinstance(other, BarTable):
            return False
        mine = (self.interval, self.symbols, self.nbars)
        if mine != (other.interval, other.symbols, other.nbars):
            return False
        if not np.array_equal(self.offsets, other.offsets):
            return False
        return all(same_bits(a, b) for a, b in zip(self.columns, other.columns, strict=True))

    def __eq__(self, other: object) -> bool:
        """Equality by contents, see :meth:`equals`."""
        if not isinstance(other, BarTable):
            return NotImplemented
        return self.equals(other)

    def __hash__(self) -> int:
        """Hash of the interval and sizes (consistent with equality)."""
        return hash((self.interval, len(self.symbols), self.nbars))

    def __repr__(self) -> str:
        """Interval, symbols and bars."""
        return f"BarTable({self.interval!r}, {len(self.symbols)} symbols, {self.nbars} bars)"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support (the arrays are copied; the copy is read-only again)."""
        state = (self.interval, self.symbols, self.offsets, self.columns)
        return (_unpickle, (*state, self.duplicates, self.unsorted))

    def to_arrow(self) -> Any:  # noqa: ANN401 - pyarrow is optional, so untyped here
        """A ``pyarrow.Table`` whose buffers are the table's columns (zero-copy).

        Columns: ``symbol`` (dictionary: int32 codes, the one column made
        here, over the symbol strings), ``ts`` (timestamp[ns, UTC] over the
        int64 buffer), ``open`` .. ``volume`` (float64, the numpy buffers).

        Raises:
            MissingExtraError: pyarrow is not installed (``preopen[arrow]``).
        """
        from preopen.model import _interop  # noqa: PLC0415 - optional extras load on use

        return _interop.table_to_arrow(self)

    def to_pandas(self) -> Any:  # noqa: ANN401 - pandas is optional, so untyped here
        """A ``pandas.DataFrame``: symbol (categorical), ts (UTC), open .. volume.

        The five float columns are the table's arrays (no copy, read-only);
        ``ts`` is a datetime64[ns, UTC] view of the int64 column when pandas
        allows it; ``symbol`` is built (int32 codes, 4 bytes a bar).

        Raises:
            MissingExtraError: pandas is not installed (``preopen[pandas]``).
        """
        from preopen.model import _interop  # noqa: PLC0415 - optional extras load on use

        return _interop.table_to_pandas(self)

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        """The Arrow PyCapsule stream protocol: ``pyarrow.table(t)``, ``polars.DataFrame(t)``.

        Produced with ctypes (the Arrow C data interface): no pyarrow needed,
        and the consumer reads the numpy columns themselves.
        """
        del requested_schema  # the columns have one type each; a consumer casts if it must
        from preopen.model import _interop  # noqa: PLC0415 - ctypes loads on use

        return _interop.table_stream(self)


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    if array.flags.writeable:
        array = array.copy() if array.base is not None or not array.flags.owndata else array
        array.flags.writeable = False
    return array.view()


#: Columns at least this large live in an anonymous mapping of their own (see below).
_MAPPED_BYTES = 4 << 20


def _concat_columns(
    parts: list[Bars], total: int, reserved: ColumnReservation | None = None
) -> list[NDArray[Any]]:
    """The six columns of ``parts`` concatenated, each written once, read-only.

    A large table's columns are one anonymous ``mmap`` (48 bytes a bar,
    column after column) rather than numpy allocations: numpy asks the
    kernel for transparent huge pages on large arrays, and where the kernel
    compacts memory for them (``defrag = madvise``, the default) writing a
    fresh gigabyte cost 3.1 s of CPU here against 0.9 s with 4 KiB pages.
    The mapping is released with the last array that views it. A
    reservation made while the bars were loading is used when they fit.
    """
    outs = reserved.take(total) if reserved is not None else None
    if outs is None and 48 * total >= _MAPPED_BYTES:
        outs = ColumnReservation(total, prefault=False).take(total)
    if outs is None:
        outs = [np.empty(total, np.int64 if k == 0 else np.float64) for k in range(len(FIELDS))]
    for name, out in zip(FIELDS, outs, strict=True):
        if parts:
            np.concatenate([getattr(b, name) for b in parts], out=out)
        out.flags.writeable = False
    return outs


def _unpickle(  # noqa: PLR0917 - the pickled state, in order
    interval: str,
    symbols: tuple[str, ...],
    offsets: NDArray[np.int64],
    columns: Columns,
    duplicates: NDArray[np.int64],
    unsorted: NDArray[np.bool_],
) -> BarTable:
    return BarTable(
        interval, symbols, offsets, columns, duplicates=duplicates, unsorted=unsorted,
        check_order=False,
    )
