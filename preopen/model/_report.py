"""ValidationReport: what the completeness check found, per symbol and interval.

The report is columnar: one int64 array ``counts`` of shape (intervals,
symbols, len(COUNT_FIELDS)), whatever the number of symbols. A
:class:`SymbolReport` is made when one entry is asked for; the summary
(complete, ok, failed symbols, totals) is computed once when the report is
built, so reading it at the open costs nothing proportional to the symbols.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from preopen.errors import BarsError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["COUNT_FIELDS", "SymbolReport", "ValidationReport"]


@dataclass(frozen=True, slots=True)
class SymbolReport:
    """The check of one symbol's bars at one interval over the sessions.

    Attributes:
        symbol: the symbol.
        interval: the interval name.
        expected: bars the calendar expects (390 a regular 1m session, 210 on
            a 13:00 close; one a session for ``1d``).
        found: expected stamps that have a bar.
        gaps: runs of consecutive expected stamps without a bar (intraday, a
            run never spans two sessions; daily, missing days in a row are one).
        duplicates: bars dropped as duplicates of an earlier ts (repaired).
        unsorted: the bars arrived out of order (repaired by sorting).
        bad_prices: bars with an open, high, low or close that is NaN,
            infinite, zero or negative.
        high_below_low: bars with high < low.
        negative_volume: bars with a negative or non-finite volume.
        outside_session: bars stamped outside every session's open..close.
        misaligned: bars inside a session but not on the interval's grid
            (intraday: open + k * interval; daily: the open).
        empty: there are no bars at all.
    """

    symbol: str
    interval: str
    expected: int
    found: int
    gaps: int = 0
    duplicates: int = 0
    unsorted: bool = False
    bad_prices: int = 0
    high_below_low: int = 0
    negative_volume: int = 0
    outside_session: int = 0
    misaligned: int = 0
    empty: bool = False

    @property
    def missing(self) -> int:
        """Expected bars that are not there."""
        return self.expected - self.found

    @property
    def complete(self) -> bool:
        """Every expected bar is there."""
        return not self.empty and self.found == self.expected

    @property
    def ok(self) -> bool:
        """Complete and free of defects that were not repaired.

        Duplicates and unsorted input were repaired, so they are findings but
        do not make the data unusable.
        """
        return self.complete and not (
            self.bad_prices
            or self.high_below_low
            or self.negative_volume
            or self.outside_session
            or self.misaligned
        )

    def findings(self) -> list[str]:
        """One lowercase sentence per thing found, empty when clean."""
        where = f"{self.symbol} {self.interval}"
        if self.empty:
            return [f"{where}: no bars (expected {self.expected})"]
        out: list[str] = []
        if self.found != self.expected:
            out.append(
                f"{where}: {self.found} of {self.expected} expected bars "
                f"({self.missing} missing in {self.gaps} gaps)"
            )
        counts = (
            (self.duplicates, "duplicate bars dropped"),
            (self.bad_prices, "bars with NaN or non-positive prices"),
            (self.high_below_low, "bars with high < low"),
            (self.negative_volume, "bars with negative volume"),
            (self.outside_session, "bars outside the session"),
            (self.misaligned, "bars off the interval grid"),
        )
        out.extend(f"{where}: {count} {what}" for count, what in counts if count)
        if self.unsorted:
            out.append(f"{where}: bars arrived unsorted (sorted)")
        return out


#: The fields of a :class:`SymbolReport` after symbol and interval, in the
#: order of the report's ``counts`` (booleans as 0/1).
COUNT_FIELDS: Final = tuple(f.name for f in fields(SymbolReport))[2:]
_IDX: Final = {name: i for i, name in enumerate(COUNT_FIELDS)}
_DEFECTS: Final = [
    _IDX[name]
    for name in ("bad_prices", "high_below_low", "negative_volume", "outside_session", "misaligned")
]
_FINDINGS: Final = [_IDX[name] for name in ("gaps", "duplicates", "unsorted")] + _DEFECTS
_NONE: Final = -1  # ``expected`` of a (symbol, interval) the report has no entry for


class ValidationReport:
    """Per (symbol, interval): complete or not, and the defects found.

    Build it with :func:`preopen.model.validate` (or from SymbolReports:
    ``ValidationReport({(symbol, interval): entry, ...})``).

    Attributes:
        symbols: the symbols checked, sorted.
        intervals: the intervals checked, sorted.
        counts: int64 (intervals, symbols, COUNT_FIELDS), read-only; an
            ``expected`` of -1 marks a (symbol, interval) with no entry.
        entries: read-only mapping (symbol, interval) -> SymbolReport, made on access.
        complete: every entry has all its expected bars.
        ok: every entry is complete and free of unrepaired defects.
        failed_symbols: symbols with an entry that is not ok, sorted.
        expected: bars expected over all entries.
        found: expected bars found over all entries.
    """

    __slots__ = (
        "_size",
        "complete",
        "counts",
        "entries",
        "expected",
        "failed_symbols",
        "found",
        "intervals",
        "ok",
        "symbols",
    )

    symbols: tuple[str, ...]
    intervals: tuple[str, ...]
    counts: NDArray[np.int64]
    entries: Mapping[tuple[str, str], SymbolReport]
    complete: bool
    ok: bool
    failed_symbols: tuple[str, ...]
    expected: int
    found: int
    _size: int

    def __init__(self, entries: Mapping[tuple[str, str], SymbolReport] | None = None) -> None:
        """Build a report from SymbolReports (a copy: the caller's mapping may change)."""
        entries = entries or {}
        symbols = tuple(sorted({symbol for symbol, _ in entries}))
        intervals = tuple(sorted({interval for _, interval in entries}))
        counts = np.full((len(intervals), len(symbols), len(COUNT_FIELDS)), 0, np.int64)
        counts[:, :, _IDX["expected"]] = _NONE
        for (symbol, interval), entry in entries.items():
            if (entry.symbol, entry.interval) != (symbol, interval):
                raise BarsError(f"report key {(symbol, interval)!r} does not match {entry!r}")
            row = counts[intervals.index(interval), bisect_left(symbols, symbol)]
            row[:] = [int(getattr(entry, name)) for name in COUNT_FIELDS]
        self._init(symbols, intervals, counts)

    @classmethod
    def from_counts(
        cls,
        symbols: tuple[str, ...],
        intervals: tuple[str, ...],
        counts: NDArray[np.int64],
        *,
        trusted: bool = False,
    ) -> ValidationReport:
        """Wrap counts made by :func:`~preopen.model.validate` or read from a published file.

        Args:
            symbols: the symbols, sorted and unique.
            intervals: the intervals, sorted and unique.
            counts: int64 (intervals, symbols, COUNT_FIELDS).
            trusted: skip the check that the symbols are sorted (O(n log n)).

        Raises:
            BarsError: a shape that does not match the symbols and intervals.
        """
        shape = (len(intervals), len(symbols), len(COUNT_FIELDS))
        if counts.shape != shape or counts.dtype != np.int64:
            got = f"{counts.dtype} {counts.shape}"
            raise BarsError(f"report counts must be int64 {shape}, got {got}")
        unsorted = not trusted and list(symbols) != sorted(set(symbols))
        if unsorted or list(intervals) != sorted(set(intervals)):
            raise BarsError("report symbols and intervals must be sorted and unique")
        report = cls.__new__(cls)
        report._init(symbols, intervals, counts)  # noqa: SLF001 - the other constructor
        return report

    def _init(
        self, symbols: tuple[str, ...], intervals: tuple[str, ...], counts: NDArray[np.int64]
    ) -> None:
        if counts.flags.writeable:
            counts.flags.writeable = False
        setter = object.__setattr__
        setter(self, "symbols", symbols)
        setter(self, "intervals", intervals)
        setter(self, "counts", counts.view())
        present = counts[:, :, _IDX["expected"]] >= 0
        complete = present & (counts[:, :, _IDX["empty"]] == 0)
        complete &= counts[:, :, _IDX["found"]] == counts[:, :, _IDX["expected"]]
        ok = complete & ~np.any(counts[:, :, _DEFECTS] != 0, axis=2)
        failed = np.flatnonzero(np.any(present & ~ok, axis=0))
        setter(self, "complete", bool(np.all(complete | ~present)))
        setter(self, "ok", bool(np.all(ok | ~present)))
        setter(self, "failed_symbols", tuple(symbols[i] for i in failed))
        setter(self, "expected", int(counts[:, :, _IDX["expected"]][present].sum()))
        setter(self, "found", int(counts[:, :, _IDX["found"]][present].sum()))
        setter(self, "_size", int(np.count_nonzero(present)))
        setter(self, "entries", _Entries(self))

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: reports are immutable."""
        raise AttributeError(f"ValidationReport is immutable: cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support (the counts are copied)."""
        counts = np.array(self.counts)
        return (ValidationReport.from_counts, (self.symbols, self.intervals, counts))

    def entry(self, symbol: str, interval: str) -> SymbolReport | None:
        """The entry of one (symbol, interval), None when the report has none."""
        if interval not in self.intervals:
            return None
        i = bisect_left(self.symbols, symbol)
        if i == len(self.symbols) or self.symbols[i] != symbol:
            return None
        return self._make(self.intervals.index(interval), i)

    def _make(self, k: int, i: int) -> SymbolReport | None:
        row = self.counts[k, i].tolist()
        if row[0] < 0:
            return None
        values: dict[str, Any] = dict(zip(COUNT_FIELDS, row, strict=True))
        values["unsorted"] = bool(values["unsorted"])
        values["empty"] = bool(values["empty"])
        return SymbolReport(self.symbols[i], self.intervals[k], **values)

    def __eq__(self, other: object) -> bool:
        """Equal when the entries are."""
        if not isinstance(other, ValidationReport):
            return NotImplemented
        return (
            self.symbols == other.symbols
            and self.intervals == other.intervals
            and bool(np.array_equal(self.counts, other.counts))
        )

    def __hash__(self) -> int:
        """Hash of the sizes and totals (consistent with equality)."""
        return hash((self.symbols, self.intervals, self.expected, self.found))

    def __iter__(self) -> Iterator[SymbolReport]:
        """The entries, in (symbol, interval) order."""
        for i in range(len(self.symbols)):
            for k in range(len(self.intervals)):
                entry = self._make(k, i)
                if entry is not None:
                    yield entry

    def __len__(self) -> int:
        """The number of (symbol, interval) entries."""
        return self._size

    def __getitem__(self, key: tuple[str, str]) -> SymbolReport:
        """The entry of one (symbol, interval)."""
        return self.entries[key]

    def findings(self) -> list[str]:
        """Every finding of every entry, in (symbol, interval) order."""
        counts = self.counts
        present = counts[:, :, _IDX["expected"]] >= 0
        noted = np.any(counts[:, :, _FINDINGS] != 0, axis=2)
        noted |= counts[:, :, _IDX["found"]] != counts[:, :, _IDX["expected"]]
        noted |= counts[:, :, _IDX["empty"]] != 0
        symbol_at, interval_at = np.nonzero((present & noted).T)  # symbol-major order
        out: list[str] = []
        for i, k in zip(symbol_at.tolist(), interval_at.tolist(), strict=True):
            entry = self._make(k, i)
            if entry is not None:
                out.extend(entry.findings())
        return out

    def __repr__(self) -> str:
        """Size and outcome."""
        return (
            f"ValidationReport({self._size} entries, complete={self.complete}, "
            f"failed={len(self.failed_symbols)})"
        )


class _Entries(Mapping[tuple[str, str], SymbolReport]):
    """The report's entries as a read-only mapping, each made on access."""

    __slots__ = ("_report",)

    def __init__(self, report: ValidationReport) -> None:
        self._report = report

    def __getitem__(self, key: tuple[str, str]) -> SymbolReport:
        try:
            symbol, interval = key
        except (TypeError, ValueError):
            raise KeyError(key) from None
        entry = self._report.entry(symbol, interval)
        if entry is None:
            raise KeyError(key)
        return entry

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((e.symbol, e.interval) for e in self._report)

    def __len__(self) -> int:
        return len(self._report)
