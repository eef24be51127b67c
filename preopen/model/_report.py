"""ValidationReport: what the completeness check found, per symbol and interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["SymbolReport", "ValidationReport"]


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


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Per (symbol, interval): complete or not, and the defects found.

    Attributes:
        entries: read-only mapping (symbol, interval) -> SymbolReport.
    """

    entries: Mapping[tuple[str, str], SymbolReport] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        """Freeze the entries (a copy, so the caller's dict can change freely)."""
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    def __eq__(self, other: object) -> bool:
        """Equal when the entries are."""
        if not isinstance(other, ValidationReport):
            return NotImplemented
        return dict(self.entries) == dict(other.entries)

    def __hash__(self) -> int:
        """Hash of the entries."""
        return hash(frozenset(self.entries.items()))

    def __iter__(self) -> Iterator[SymbolReport]:
        """The entries, in (symbol, interval) order."""
        return iter(self.entries[key] for key in sorted(self.entries))

    def __len__(self) -> int:
        """The number of (symbol, interval) entries."""
        return len(self.entries)

    def __getitem__(self, key: tuple[str, str]) -> SymbolReport:
        """The entry of one (symbol, interval)."""
        return self.entries[key]

    @property
    def complete(self) -> bool:
        """Every (symbol, interval) has all its expected bars."""
        return all(entry.complete for entry in self.entries.values())

    @property
    def ok(self) -> bool:
        """Every entry is complete and free of unrepaired defects."""
        return all(entry.ok for entry in self.entries.values())

    @property
    def failed_symbols(self) -> tuple[str, ...]:
        """Symbols with at least one entry that is not :attr:`SymbolReport.ok`, sorted."""
        return tuple(sorted({entry.symbol for entry in self.entries.values() if not entry.ok}))

    @property
    def expected(self) -> int:
        """Bars expected over all entries."""
        return sum(entry.expected for entry in self.entries.values())

    @property
    def found(self) -> int:
        """Expected bars found over all entries."""
        return sum(entry.found for entry in self.entries.values())

    def findings(self) -> list[str]:
        """Every finding of every entry, in (symbol, interval) order."""
        return [line for entry in self for line in entry.findings()]
