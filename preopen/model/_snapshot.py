"""SessionSnapshot: one session's bars, frozen, ready to swap in at the open."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.errors import BarsError
from preopen.model._bars import Bars
from preopen.model._report import ValidationReport

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SessionSnapshot"]


@dataclass(frozen=True, slots=True, eq=False)
class SessionSnapshot:
    """One session's data: immutable, so any thread may read it without a lock.

    The mapping is built once (a private dict behind a MappingProxyType) and
    the Bars in it are read-only; activating a snapshot swaps a reference and
    never copies the arrays.

    Attributes:
        session: the session's date.
        open: the session's open (tz-aware).
        close: the session's close (tz-aware).
        data: read-only mapping (symbol, interval) -> Bars.
        report: the ValidationReport of ``data``.
        built_at: when the snapshot was frozen (tz-aware); not part of equality.
    """

    session: dt.date
    open: dt.datetime
    close: dt.datetime
    data: Mapping[tuple[str, str], Bars]
    report: ValidationReport = field(default_factory=ValidationReport)
    built_at: dt.datetime = field(default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))

    def __post_init__(self) -> None:
        """Check the values and freeze a private copy of the mapping."""
        for name in ("open", "close", "built_at"):
            value = getattr(self, name)
            if not isinstance(value, dt.datetime) or value.utcoffset() is None:
                raise BarsError(
                    f"snapshot {name}={value!r} is not accepted: use a tz-aware datetime"
                )
        frozen: dict[tuple[str, str], Bars] = {}
        for key, bars in self.data.items():
            if not isinstance(bars, Bars) or key != (bars.symbol, bars.interval):
                raise BarsError(
                    f"snapshot key {key!r} is not accepted: it must be (symbol, interval) of "
                    f"the Bars it maps to, got {bars!r}"
                )
            frozen[key] = bars
        object.__setattr__(self, "data", MappingProxyType(frozen))

    def bars(self, symbol: str, interval: str) -> Bars:
        """The Bars of one symbol at one interval.

        Raises:
            KeyError: the snapshot holds no such symbol or interval.
        """
        try:
            return self.data[symbol, interval]
        except KeyError:
            intervals = sorted({i for _, i in self.data})
            raise KeyError(
                f"snapshot of {self.session.isoformat()} has no bars for symbol {symbol!r} at "
                f"interval {interval!r} (intervals held: {', '.join(intervals) or 'none'})"
            ) from None

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols held, sorted."""
        return tuple(sorted({symbol for symbol, _ in self.data}))

    @property
    def intervals(self) -> tuple[str, ...]:
        """The intervals held, sorted."""
        return tuple(sorted({interval for _, interval in self.data}))

    @property
    def nbars(self) -> int:
        """Bars held over every symbol and interval."""
        return sum(len(bars) for bars in self.data.values())

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held."""
        return sum(bars.nbytes for bars in self.data.values())

    def __eq__(self, other: object) -> bool:
        """Equal when session, times, report and every Bars are (``built_at`` aside)."""
        if not isinstance(other, SessionSnapshot):
            return NotImplemented
        if (self.session, self.open, self.close) != (other.session, other.open, other.close):
            return False
        if self.data.keys() != other.data.keys() or self.report != other.report:
            return False
        return all(bars.equals(other.data[key]) for key, bars in self.data.items())

    def __hash__(self) -> int:
        """Hash of the session, times and keys (consistent with equality)."""
        return hash((self.session, self.open, self.close, frozenset(self.data)))

    def __repr__(self) -> str:
        """Session, size and completeness."""
        return (
            f"SessionSnapshot({self.session.isoformat()}, {len(self.symbols)} symbols, "
            f"{self.nbars} bars, complete={self.report.complete})"
        )
