"""SessionSnapshot: one session's bars, frozen, ready to swap in at the open.

A snapshot holds one :class:`BarTable` per interval, its ValidationReport,
and its summary (symbols, bar and byte counts) computed when it is built, so
nothing proportional to the number of symbols runs when it is read at the
open. ``bars(symbol, interval)`` makes a Bars view of a table on access.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import FrozenInstanceError
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from preopen.errors import BarsError
from preopen.model._bars import Bars
from preopen.model._report import ValidationReport
from preopen.model._reuse import assemble_tables, known_heads
from preopen.model._table import BarTable
from preopen.model._validate import validate_tables

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from preopen.calendar import ExchangeCalendar
    from preopen.model._reserve import ColumnReservation

__all__ = ["SessionSnapshot"]

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class SessionSnapshot:
    """One session's data: immutable, so any thread may read it without a lock.

    Build it with :meth:`assemble` (tables, validation and summary in one
    go), from tables (``tables=``), or, as before, from a mapping
    (symbol, interval) -> Bars (``data=``, concatenated into tables).
    Activating a snapshot swaps a reference and never copies the arrays.

    Attributes:
        session: the session's date.
        open: the session's open (tz-aware).
        close: the session's close (tz-aware).
        report: the ValidationReport of the bars.
        built_at: when the snapshot was frozen (tz-aware); not part of equality.
        tables: read-only mapping interval -> BarTable.
        data: read-only mapping (symbol, interval) -> Bars (views made on access).
        symbols: the symbols held, sorted (computed when built).
        intervals: the intervals held, sorted.
        nbars: bars held over every symbol and interval.
        nbytes: bytes of the columns held (48 a bar).
    """

    __slots__ = (
        "built_at",
        "close",
        "data",
        "intervals",
        "nbars",
        "nbytes",
        "open",
        "report",
        "session",
        "symbols",
        "tables",
    )

    session: dt.date
    open: dt.datetime
    close: dt.datetime
    report: ValidationReport
    built_at: dt.datetime
    tables: Mapping[str, BarTable]
    data: Mapping[tuple[str, str], Bars]
    symbols: tuple[str, ...]
    intervals: tuple[str, ...]
    nbars: int
    nbytes: int

    def __init__(  # noqa: PLR0917 - the seed's construction, plus tables
        self,
        session: dt.date,
        open: dt.datetime,  # noqa: A002 - the session's open, named as everywhere
        close: dt.datetime,
        data: Mapping[tuple[str, str], Bars] | None = None,
        report: ValidationReport | None = None,
        built_at: dt.datetime = _EPOCH,
        *,
        tables: Mapping[str, BarTable] | None = None,
    ) -> None:
        """Check the values and freeze them (see the class docstring).

        Raises:
            BarsError: a naive time, a key that does not match its Bars, both
                or a table filed under another interval.
        """
        for name, value in (("open", open), ("close", close), ("built_at", built_at)):
            if not isinstance(value, dt.datetime) or value.utcoffset() is None:
                raise BarsError(
                    f"snapshot {name}={value!r} is not accepted: use a tz-aware datetime"
                )
        if data is not None and tables is not None:
            raise BarsError("snapshot: give data or tables, not both")
        frozen = _tables_of(data or {}, {}) if tables is None else dict(tables)
        for interval, table in frozen.items():
            if not isinstance(table, BarTable) or table.interval != interval:
                raise BarsError(f"snapshot table key {interval!r} maps to {table!r}")
        ordered = dict(sorted(frozen.items()))
        setter = object.__setattr__
        setter(self, "session", session)
        setter(self, "open", open)
        setter(self, "close", close)
        setter(self, "report", report if report is not None else ValidationReport())
        setter(self, "built_at", built_at)
        setter(self, "tables", MappingProxyType(ordered))
        setter(self, "symbols", _union(list(ordered.values())))
        setter(self, "intervals", tuple(ordered))
        setter(self, "nbars", sum(table.nbars for table in ordered.values()))
        setter(self, "nbytes", sum(table.nbytes for table in ordered.values()))
        # No reference back to the snapshot: a cycle would leave a replaced
        # snapshot to the cyclic collector instead of freeing it by refcount.
        setter(self, "data", _BarsByKey(self.tables, self.symbols))

    @classmethod
    def assemble(  # noqa: PLR0917 - what a session's snapshot is made of
        cls,
        session: dt.date,
        open: dt.datetime,  # noqa: A002 - the session's open, named as everywhere
        close: dt.datetime,
        data: Mapping[tuple[str, str], Bars],
        calendar: ExchangeCalendar,
        trailing: Sequence[dt.date],
        intervals: Sequence[str],
        built_at: dt.datetime,
        *,
        reused: Mapping[tuple[str, str], Bars] | None = None,
        clean: Collection[tuple[str, str]] = (),
        reused_sessions: int = 0,
        reserved: Mapping[str, ColumnReservation] | None = None,
    ) -> SessionSnapshot:
        """Concatenate loaded Bars into one table per interval, validate, and freeze.

        Each column is copied once, into its interval's table; the loaded Bars
        can be dropped afterwards. Validation runs on the tables.

        Args:
            session: the session's date.
            open: the session's open.
            close: the session's close.
            data: (symbol, interval) -> Bars, as the loaders returned them.
            calendar: the exchange calendar (for the expected bars).
            trailing: the sessions the bars cover.
            intervals: the intervals to check.
            built_at: when the snapshot is frozen.
            reused: (symbol, interval) -> bars kept from the served snapshot
                (:func:`~preopen.model.reuse_bars`): each goes before the
                loaded bars of its key, copied once into the table.
            clean: reused keys whose served entry was clean
                (:func:`~preopen.model.clean_keys`): their reused bars are
                not checked again, only the bars after them.
            reused_sessions: how many of the (sorted) ``trailing`` sessions
                the reused bars cover.
            reserved: per interval, memory reserved for the table while the
                bars loaded (:class:`~preopen.model.ColumnReservation`).
        """
        known = None
        if reused:
            tables = assemble_tables(data, reused, reserved)
            if clean and reused_sessions:
                known = known_heads(tables, reused, clean)
        else:
            tables = _tables_of(data, reserved or {})
        symbols = _union(list(tables.values()))
        report = validate_tables(tables, calendar, trailing, intervals, symbols,
                                 known=known, known_sessions=reused_sessions)
        return cls(session, open, close, report=report, built_at=built_at, tables=tables)

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: snapshots are immutable."""
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        """Refuse: snapshots are immutable."""
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def table(self, interval: str) -> BarTable:
        """The table of one interval.

        Raises:
            KeyError: the snapshot holds no such interval.
        """
        try:
            return self.tables[interval]
        except KeyError:
            raise KeyError(
                f"snapshot of {self.session.isoformat()} has no table at interval {interval!r} "
                f"(intervals held: {', '.join(self.intervals) or 'none'})"
            ) from None

    def bars(self, symbol: str, interval: str) -> Bars:
        """The Bars of one symbol at one interval: views of the interval's table.

        Raises:
            KeyError: the snapshot holds no such symbol or interval.
        """
        table = self.tables.get(interval)
        i = table.index(symbol) if table is not None else -1
        if table is None or i < 0:
            raise KeyError(
                f"snapshot of {self.session.isoformat()} has no bars for symbol {symbol!r} at "
                f"interval {interval!r} (intervals held: {', '.join(self.intervals) or 'none'})"
            ) from None
        return table._bars_at(i)  # noqa: SLF001 - the index is already known

    def __eq__(self, other: object) -> bool:
        """Equal when session, times, report and every table are (``built_at`` aside)."""
        if not isinstance(other, SessionSnapshot):
            return NotImplemented
        if (self.session, self.open, self.close) != (other.session, other.open, other.close):
            return False
        if self.intervals != other.intervals or self.report != other.report:
            return False
        return all(table.equals(other.tables[k]) for k, table in self.tables.items())

    def __hash__(self) -> int:
        """Hash of the session, times and sizes (consistent with equality)."""
        return hash((self.session, self.open, self.close, self.intervals, self.nbars))

    def __repr__(self) -> str:
        """Session, size and completeness."""
        return (
            f"SessionSnapshot({self.session.isoformat()}, {len(self.symbols)} symbols, "
            f"{self.nbars} bars, complete={self.report.complete})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support (the tables are copied)."""
        args = (self.session, self.open, self.close, None, self.report, self.built_at)
        return (_unpickle, (args, dict(self.tables)))


def _unpickle(args: tuple[Any, ...], tables: dict[str, BarTable]) -> SessionSnapshot:
    return SessionSnapshot(*args, tables=tables)


def _tables_of(
    data: Mapping[tuple[str, str], Bars], reserved: Mapping[str, ColumnReservation]
) -> dict[str, BarTable]:
    grouped: dict[str, dict[str, Bars]] = {}
    for key, bars in data.items():
        if not isinstance(bars, Bars) or key != (bars.symbol, bars.interval):
            raise BarsError(
                f"snapshot key {key!r} is not accepted: it must be (symbol, interval) of "
                f"the Bars it maps to, got {bars!r}"
            )
        grouped.setdefault(key[1], {})[key[0]] = bars
    return {
        interval: BarTable.from_bars(interval, parts, reserved.get(interval))
        for interval, parts in grouped.items()
    }


def _union(tables: list[BarTable]) -> tuple[str, ...]:
    """The symbols of every table, sorted; shared as is when the tables agree."""
    if not tables:
        return ()
    first = tables[0].symbols
    if all(t.symbols is first or t.symbols == first for t in tables[1:]):
        return first
    return tuple(sorted(set().union(*(t.symbols for t in tables))))


class _BarsByKey(Mapping[tuple[str, str], Bars]):
    """(symbol, interval) -> Bars over a snapshot's tables, each Bars made on access."""

    __slots__ = ("_symbols", "_tables")

    def __init__(self, tables: Mapping[str, BarTable], symbols: tuple[str, ...]) -> None:
        self._tables = tables
        self._symbols = symbols

    def __getitem__(self, key: tuple[str, str]) -> Bars:
        try:
            symbol, interval = key
        except (TypeError, ValueError):
            raise KeyError(key) from None
        table = self._tables.get(interval)
        i = table.index(symbol) if table is not None and isinstance(symbol, str) else -1
        if table is None or i < 0:
            raise KeyError(key)
        return table._bars_at(i)  # noqa: SLF001 - the index is already known

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:  # noqa: PLR2004 - a pair
            return False
        table = self._tables.get(key[1])
        return table is not None and key[0] in table

    def __iter__(self) -> Iterator[tuple[str, str]]:
        tables = self._tables
        for symbol in self._symbols:
            for interval, table in tables.items():
                if symbol in table:
                    yield symbol, interval

    def __len__(self) -> int:
        return sum(len(table.symbols) for table in self._tables.values())
