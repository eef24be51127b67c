"""validate: check bars against the calendar's sessions, vectorised.

Bars are checked against the grid of stamps the calendar expects
(:func:`~preopen.model.session_grid`); a bar stamped inside a midday break
is outside the session's trading. Every check is a numpy pass
over a whole :class:`~preopen.model.BarTable` (searchsorted against the grid,
per-symbol counts by ``bincount``), in slices of about 65,000 bars to
bound the temporaries: no Python work per bar, nor per symbol. Bars an
earlier check found clean and that were copied unchanged (the reused part
of a day-over-day snapshot) can be taken as known (``validate_tables``'s
``known``): only the bars after them are checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from preopen.model._bars import Bars
from preopen.model._grid import SessionGrid, expected_count, session_grid
from preopen.model._intervals import DAILY
from preopen.model._report import COUNT_FIELDS, SymbolReport, ValidationReport
from preopen.model._table import BarTable

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence
    from typing import Any, Final

    from numpy.typing import NDArray

    from preopen.calendar import ExchangeCalendar

__all__ = ["check_bars", "check_table", "validate", "validate_tables"]


def validate(
    bars_by_key: Mapping[tuple[str, str], Bars],
    calendar: ExchangeCalendar,
    sessions: Sequence[dt.date],
    intervals: Sequence[str],
) -> ValidationReport:
    """Check bars against the calendar: completeness and defects.

    Every symbol that appears in ``bars_by_key`` is checked at every interval
    of ``intervals``; a (symbol, interval) with no entry, or empty Bars, is
    reported as empty, never raised. The bars are first concatenated into one
    table per interval (:meth:`BarTable.from_bars`); a snapshot validates its
    tables directly with :func:`validate_tables`.

    Args:
        bars_by_key: (symbol, interval) -> Bars.
        calendar: the exchange calendar.
        sessions: the sessions the bars should cover.
        intervals: the intervals to check.

    Returns:
        The report, one entry per (symbol, interval).
    """
    grouped: dict[str, dict[str, Bars]] = {}
    for (symbol, interval), bars in bars_by_key.items():
        grouped.setdefault(interval, {})[symbol] = bars
    tables = {
        interval: BarTable.from_bars(interval, grouped[interval])
        for interval in intervals
        if interval in grouped
    }
    symbols = tuple(sorted({symbol for symbol, _ in bars_by_key}))
    return validate_tables(tables, calendar, sessions, intervals, symbols)


def validate_tables(
    tables: Mapping[str, BarTable],
    calendar: ExchangeCalendar,
    sessions: Sequence[dt.date],
    intervals: Sequence[str],
    symbols: tuple[str, ...],
    *,
    known: Mapping[str, NDArray[np.int64]] | None = None,
    known_sessions: int = 0,
) -> ValidationReport:
    """Check tables against the calendar (see :func:`validate`).

    Args:
        tables: interval -> BarTable; an interval without a table has no bars.
        calendar: the exchange calendar.
        sessions: the sessions the bars should cover.
        intervals: the intervals to check.
        symbols: the symbols to report on, sorted (a symbol missing from a
            table is reported empty there).
        known: per interval, per row of its table, how many leading bars an
            earlier check found clean (complete, on the grid, no defect)
            over the first ``known_sessions`` sessions, copied unchanged
            (0: nothing known). Those bars are not checked again, only the
            sessions after them. The report is the one a whole check makes:
            see :func:`_check_known` for when a row is checked whole anyway.
        known_sessions: how many of the (sorted) sessions ``known`` covers.
    """
    ordered = tuple(sorted(set(intervals)))
    days = sorted(set(sessions))
    counts = np.zeros((len(ordered), len(symbols), len(COUNT_FIELDS)), np.int64)
    for k, interval in enumerate(ordered):
        grid = session_grid(calendar, days, interval)
        table = tables.get(interval)
        counts[k] = _empty_row(grid, interval)
        if table is None or not table.symbols:
            continue
        heads = (known or {}).get(interval)
        if heads is not None and 0 < known_sessions < len(days):
            checked = _check_known(table, grid, heads, calendar, days, known_sessions)
        else:
            checked = check_table(table, grid)
        if table.symbols == symbols:
            counts[k] = checked
            continue
        where = {symbol: i for i, symbol in enumerate(symbols)}
        rows = np.array([where.get(symbol, -1) for symbol in table.symbols], dtype=np.intp)
        present = rows >= 0
        counts[k, rows[present]] = checked[present]
    return ValidationReport.from_counts(symbols, ordered, counts)


def _check_known(  # noqa: PLR0917 - the table, its grid, and what is known of it
    table: BarTable,
    grid: SessionGrid,
    heads: NDArray[np.int64],
    calendar: ExchangeCalendar,
    days: list[dt.date],
    k: int,
) -> NDArray[np.int64]:
    """Counts of every row of ``table``; rows with a known head checked after it only.

    Invariant (the caller's): each head was found clean over ``days[:k]``
    by an earlier check and copied unchanged, so every head holds the grid
    those sessions had then, the same stamps in every row. A row's head is
    used only when today's calendar agrees: its length is today's count of
    those sessions' stamps, one head equals today's stamps (so all do), and
    the row's next bar is at or after the last of those sessions' closes (so
    no later bar falls inside them). Then the head's counts are known (all
    found, no defect) and the rest is checked against ``days[k:]`` only:
    intraday a run of missing bars never spans two sessions, and daily the
    head has no missing day, so the gaps of the two parts add up.
    """
    head_grid = session_grid(calendar, days[:k], table.interval)
    size = expected_count(head_grid)
    offsets = table.offsets
    usable = (heads == size) & (heads > 0)
    rows = np.flatnonzero(usable)
    if rows.shape[0]:
        first = int(offsets[rows[0]])
        if not np.array_equal(table.ts[first : first + size], head_grid.stamps):
            rows = rows[:0]  # the calendar of those sessions changed: check every row whole
        # Every head's ends too (cheap; the invariant says they all agree).
        ts = table.ts
        ends = (ts[offsets[rows]] == head_grid.stamps[0]) & (
            ts[offsets[rows] + size - 1] == head_grid.stamps[-1])
        rows = rows[ends]
    after = offsets[rows] + size
    has_more = after < offsets[rows + 1]
    keep = ~has_more  # a row that is all head keeps it; the others if their next bar is late
    keep[has_more] = table.ts[after[has_more]] >= int(head_grid.closes.max())
    rows = rows[keep]
    whole = np.setdiff1d(np.arange(len(table.symbols), dtype=np.intp), rows)
    out = np.empty((len(table.symbols), len(COUNT_FIELDS)), np.int64)
    if whole.shape[0]:
        out[whole] = check_table(table, grid, whole)
    if rows.shape[0]:
        rest = check_table(table, session_grid(calendar, days[k:], table.interval), rows, size)
        rest[:, _F["expected"]] += size
        rest[:, _F["found"]] += size
        rest[:, _F["empty"]] = 0
        out[rows] = rest
    return out


_F: Final = {name: i for i, name in enumerate(COUNT_FIELDS)}
#: Bars checked per slice. Small enough that a slice's temporaries (a few
#: arrays of 8 bytes a bar) come back from the allocator already faulted in:
#: slices of 2**20 bars took fresh pages for each (17.7 M bars: 0.78-0.90 s
#: against 0.45 s with 2**16; the new session of a day-over-day snapshot,
#: 3.9 M bars: 0.18-0.43 s against 0.12-0.15 s).
_SLICE_BARS: Final = 1 << 16


def _empty_row(grid: SessionGrid, interval: str) -> NDArray[np.int64]:
    """The counts of a symbol with no bars at all."""
    row = np.zeros(len(COUNT_FIELDS), np.int64)
    expected = expected_count(grid)
    row[_F["expected"]] = expected
    row[_F["gaps"]] = _missing_runs(_breaks(grid, interval), 0, expected - 1) if expected else 0
    row[_F["empty"]] = 1
    return row


def check_table(
    table: BarTable,
    grid: SessionGrid,
    rows: NDArray[np.intp] | None = None,
    skip: int = 0,
) -> NDArray[np.int64]:
    """Check symbols of a table against a grid.

    Args:
        table: the table.
        grid: the expected stamps.
        rows: the rows (symbol positions, ascending) to check; default every row.
        skip: leading bars of each checked row left out (the caller vouches
            for them; see :func:`validate_tables`'s ``known``).

    Returns:
        int64 (rows, COUNT_FIELDS): one row of counts per checked symbol.
    """
    if rows is None:
        rows = np.arange(len(table.symbols), dtype=np.intp)
        contiguous = not skip
    else:
        contiguous = False
    n = rows.shape[0]
    out = np.zeros((n, len(COUNT_FIELDS)), np.int64)
    out[:, _F["expected"]] = expected_count(grid)
    out[:, _F["duplicates"]] = table.duplicates[rows]
    out[:, _F["unsorted"]] = table.unsorted[rows]
    starts = table.offsets[rows] + skip
    stops = table.offsets[rows + 1]
    out[:, _F["empty"]] = stops <= starts
    # Each slice's bars, in order: the checked part of each of its rows.
    ends = np.cumsum(np.maximum(stops - starts, 0))
    breaks = _breaks(grid, table.interval)
    lo = 0
    while lo < n:
        # A slice of whole rows holding about _SLICE_BARS bars (at least one row).
        before = int(ends[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, before + _SLICE_BARS, side="right")))
        hi = min(hi, n)
        if contiguous:
            columns = [c[int(starts[lo]) : int(stops[hi - 1])] for c in table.columns]
        else:
            columns = [_gather(c, starts[lo:hi], stops[lo:hi]) for c in table.columns]
        _check_slice(columns, stops[lo:hi] - starts[lo:hi], grid, breaks, out[lo:hi])
        lo = hi
    return out


def _gather(
    column: NDArray[Any], starts: NDArray[np.int64], stops: NDArray[np.int64]
) -> NDArray[Any]:
    """``column[starts[i]:stops[i]]`` of every row, one after another (one copy).

    Rows of one length at one stride (a day-over-day snapshot's new session:
    every symbol's last 390 bars) are one strided 2-D view, copied in one
    call; other rows are concatenated slice by slice (at memory speed, but
    about a microsecond a slice; fancy indexing was 10x slower here).
    """
    lengths = stops - starts
    m = lengths.shape[0]
    if m > 1 and column.ndim == 1 and column.strides[0] == column.itemsize:
        steps = np.diff(starts)
        length, step = int(lengths[0]), int(steps[0])
        # The view's last row ends at stops[-1] <= len(column): in bounds.
        if length > 0 and step >= length and (lengths == length).all() and (steps == step).all():
            view = as_strided(column[int(starts[0]):], shape=(m, length),
                              strides=(step * column.itemsize, column.itemsize), writeable=False)
            return view.reshape(-1)
    pairs = zip(starts.tolist(), stops.tolist(), strict=True)
    return np.concatenate([column[a:b] for a, b in pairs])


def _check_slice(
    columns: list[NDArray[Any]],
    lengths: NDArray[np.int64],
    grid: SessionGrid,
    breaks: NDArray[np.int64],
    out: NDArray[np.int64],
) -> None:
    """Count a slice's defects into ``out``; ``columns`` hold its rows' bars one after another."""
    m = lengths.shape[0]
    starts = np.cumsum(lengths) - lengths
    nonempty = lengths > 0

    def count(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
        """Per symbol, how many of its bars are in ``mask`` (one pass, no copy)."""
        sums = np.zeros(m, np.int64)
        if mask.shape[0]:
            # Only symbols with bars: their starts rise strictly and the last runs to the end.
            sums[nonempty] = np.add.reduceat(mask, starts[nonempty], dtype=np.int64)
        return sums

    ts, open_, high, low, close, volume = columns
    expected = expected_count(grid)
    position = np.searchsorted(grid.stamps, ts)
    if expected:
        on_grid = (position < expected) & (grid.stamps[np.minimum(position, expected - 1)] == ts)
    else:
        on_grid = np.zeros(ts.shape[0], dtype=bool)
    session = np.searchsorted(grid.opens, ts, side="right") - 1
    if grid.opens.shape[0]:
        inside = (session >= 0) & (ts < grid.closes[np.maximum(session, 0)])
    else:
        inside = np.zeros(ts.shape[0], dtype=bool)
    del session
    with np.errstate(invalid="ignore"):
        # NaN compares False: ``0 < x < inf`` is false for NaN, infinities and x <= 0.
        good = np.ones(ts.shape[0], dtype=bool)
        for part in (open_, high, low, close):
            good &= part > 0
            good &= part < np.inf
        out[:, _F["bad_prices"]] = lengths - count(good)
        del good
        out[:, _F["high_below_low"]] = count(high < low)
        out[:, _F["negative_volume"]] = lengths - count((volume >= 0) & (volume < np.inf))
    found = count(on_grid)
    out[:, _F["found"]] = found
    out[:, _F["outside_session"]] = lengths - count(inside)
    out[:, _F["misaligned"]] = count(inside & ~on_grid)
    codes = np.repeat(np.arange(m, dtype=np.intp), found)
    out[:, _F["gaps"]] = _gaps(codes, position[on_grid], breaks, m)


def _breaks(grid: SessionGrid, interval: str) -> NDArray[np.int64]:
    """Per stamp, how many places before it a run of missing stamps cannot span.

    Intraday, a run never spans two sessions; daily bars are one a session,
    so missing days in a row are one gap.
    """
    if interval == DAILY or grid.stamps.shape[0] == 0:
        return np.zeros(grid.stamps.shape[0], np.int64)
    change = np.zeros(grid.stamps.shape[0], np.int64)
    change[1:] = grid.session_of[1:] != grid.session_of[:-1]
    return np.cumsum(change)


def _missing_runs(breaks: NDArray[np.int64], a: Any, b: Any) -> Any:  # noqa: ANN401
    """Runs of missing stamps in ``a..b`` (inclusive), every stamp there missing."""
    return breaks[b] - breaks[a] + 1


def _gaps(
    codes: NDArray[np.intp], position: NDArray[np.intp], breaks: NDArray[np.int64], m: int
) -> NDArray[np.int64]:
    """Runs of missing stamps per symbol, from the sorted grid positions each one has."""
    expected = breaks.shape[0]
    gaps = np.zeros(m, np.int64)
    if not expected:
        return gaps
    has = np.zeros(m, dtype=bool)
    if codes.shape[0]:
        new = np.ones(codes.shape[0], dtype=bool)
        new[1:] = codes[1:] != codes[:-1]
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:] - 1, codes.shape[0] - 1)
        has[codes[starts]] = True
        head = position[starts]
        lead = head > 0
        gaps += _per_symbol(codes[starts][lead], _missing_runs(breaks, 0, head[lead] - 1), m)
        tail = position[ends]
        trail = tail < expected - 1
        gaps += _per_symbol(
            codes[ends][trail], _missing_runs(breaks, tail[trail] + 1, expected - 1), m
        )
        inner = ~new[1:] & (position[1:] > position[:-1] + 1)
        a, b = position[:-1][inner] + 1, position[1:][inner] - 1
        gaps += _per_symbol(codes[1:][inner], _missing_runs(breaks, a, b), m)
    gaps[~has] = _missing_runs(breaks, 0, expected - 1)
    return gaps


def _per_symbol(codes: NDArray[np.intp], runs: NDArray[np.int64], m: int) -> NDArray[np.int64]:
    """Sum ``runs`` per symbol code (exact: the counts are far below 2**53)."""
    return np.bincount(codes, weights=runs, minlength=m).astype(np.int64)


def check_bars(symbol: str, interval: str, bars: Bars | None, grid: SessionGrid) -> SymbolReport:
    """Check one symbol's bars against a grid (see :func:`validate`)."""
    if bars is None:
        bars = Bars.empty(symbol, interval)
    table = BarTable.from_bars(interval, {symbol: bars})
    report = ValidationReport.from_counts((symbol,), (interval,), check_table(table, grid)[None])
    entry = report.entry(symbol, interval)
    if entry is None:  # pragma: no cover - from_counts always has the entry
        raise KeyError((symbol, interval))
    return entry
