"""Synthetic bars that follow the calendar: for the demo, the tests and the benchmarks.

Random walks generated with numpy in bulk (one matrix for all the symbols of
a chunk, never a Python loop per bar), stamped on the calendar's grid
(:func:`preopen.model.session_grid`): holidays have no bars, a 13:00 close
has 210 one-minute bars, daily bars sit at the session's open. Deterministic:
the same seed, symbols, sessions and interval give the same bars.

:func:`plant` puts one known defect into good bars, so that a test can assert
that :func:`preopen.model.validate` finds exactly what was planted.
"""

from __future__ import annotations

import enum
import zlib
from typing import TYPE_CHECKING

import numpy as np

from preopen.errors import BarsError
from preopen.model import DAILY, RECORD_DTYPE, Bars, parse_interval, session_grid

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping, Sequence

    from preopen.calendar import ExchangeCalendar
    from preopen.store._base import BarStore

__all__ = ["Defect", "plant", "seed_store", "symbol_names", "synthetic_bars"]

# Symbols generated (and written) at once by seed_store: bounds memory.
_CHUNK = 200


def symbol_names(symbols: int | Sequence[str]) -> list[str]:
    """``"S0000".."S0999"`` for an int (wider when needed), or the names given."""
    if isinstance(symbols, bool) or (isinstance(symbols, int) and symbols < 0):
        raise BarsError(f"symbols={symbols!r} is not accepted: use a count >= 0 or names")
    if isinstance(symbols, int):
        width = max(4, len(str(symbols - 1)))
        return [f"S{i:0{width}d}" for i in range(symbols)]
    return list(symbols)


def synthetic_bars(
    symbols: int | Sequence[str],
    calendar: ExchangeCalendar,
    sessions: Sequence[dt.date],
    interval: str,
    seed: int = 0,
) -> dict[str, Bars]:
    """Random-walk bars on the calendar's grid for every symbol.

    Args:
        symbols: a count (names ``S0000``...) or the names.
        calendar: the exchange calendar.
        sessions: the sessions to cover (each must be a session).
        interval: the interval name.
        seed: the random seed.

    Returns:
        symbol -> Bars, complete and free of defects.
    """
    names = symbol_names(symbols)
    grid = session_grid(calendar, sessions, interval)
    step = parse_interval(interval)
    n = grid.stamps.shape[0]
    out: dict[str, Bars] = {}
    for offset in range(0, len(names), _CHUNK):
        chunk = names[offset : offset + _CHUNK]
        # One generator per chunk, seeded by everything that defines its bars
        # (not by the chunk's position, so seed_store's chunks give the same bars).
        rng = np.random.default_rng([seed, step, n, zlib.crc32("\0".join(chunk).encode())])
        m = len(chunk)
        start = rng.uniform(10.0, 500.0, size=(m, 1))
        returns = rng.normal(0.0, 0.001 * np.sqrt(step / 60e9), size=(m, n))
        close = start * np.exp(np.cumsum(returns, axis=1))
        open_ = np.concatenate([start, close[:, :-1]], axis=1)
        spread = np.abs(rng.normal(0.0, 0.0005, size=(2, m, n)))
        records = np.empty((m, n), RECORD_DTYPE)
        records["ts"] = grid.stamps
        records["open"] = open_
        records["close"] = close
        records["high"] = np.maximum(open_, close) * (1.0 + spread[0])
        records["low"] = np.minimum(open_, close) * (1.0 - spread[1])
        records["volume"] = rng.integers(100, 10_000, size=(m, n)).astype(np.float64)
        # Read-only first: each Bars is then a row view, no copy per symbol.
        records.flags.writeable = False
        for row, name in enumerate(chunk):
            out[name] = Bars.from_records(name, interval, records[row])
    return out


def seed_store(
    store: BarStore,
    calendar: ExchangeCalendar,
    symbols: int | Sequence[str],
    sessions: Sequence[dt.date],
    intervals: Sequence[str],
    *,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write synthetic bars into a store, chunk by chunk.

    Args:
        store: the store to fill (its table must exist).
        calendar: the exchange calendar.
        symbols: a count (names ``S0000``...) or the names.
        sessions: the sessions to cover.
        intervals: the intervals to write.
        seed: the random seed.
        progress: called as ``progress(rows_written, rows_total)`` after each chunk.

    Returns:
        The rows written.
    """
    names = symbol_names(symbols)
    per_symbol = {i: session_grid(calendar, sessions, i).stamps.shape[0] for i in intervals}
    total = len(names) * sum(per_symbol.values())
    written = 0
    if progress is not None:
        progress(0, total)
    for interval in intervals:
        for offset in range(0, len(names), _CHUNK):
            chunk = names[offset : offset + _CHUNK]
            # Same chunking as synthetic_bars, so seeding and generating agree.
            bars = synthetic_bars(chunk, calendar, sessions, interval, seed=seed)
            written += store.write(interval, bars)
            if progress is not None:
                progress(written, total)
    return written


class Defect(enum.StrEnum):
    """A defect :func:`plant` can put into bars, named as the report counts it."""

    BAD_PRICE = "bad_prices"
    HIGH_BELOW_LOW = "high_below_low"
    NEGATIVE_VOLUME = "negative_volume"
    DUPLICATE = "duplicates"
    UNSORTED = "unsorted"
    OUTSIDE_SESSION = "outside_session"
    GAP = "gaps"
    EMPTY = "empty"


def plant(bars: Bars, defect: Defect, count: int = 1, *, seed: int = 0) -> Bars:
    """Return a copy of good bars with ``count`` bars carrying one defect.

    The planted bars are distinct, chosen by ``seed``. ``GAP`` removes
    ``count`` consecutive bars from inside one session (one gap, ``count``
    missing); ``OUTSIDE_SESSION`` adds ``count`` bars stamped after the last
    bar's session closes (one interval apart, starting 10 h after the last
    bar; ``count`` * interval must stay under 7 h for intraday intervals);
    ``UNSORTED`` reverses the input order (``count`` is ignored);
    ``EMPTY`` returns no bars.

    Raises:
        BarsError: more bars asked for than there are.
    """
    records = bars.records().copy()
    n = records.shape[0]
    if defect is Defect.EMPTY:
        return Bars.empty(bars.symbol, bars.interval)
    if defect is Defect.UNSORTED:
        return Bars.from_records(bars.symbol, bars.interval, records[::-1])
    if count < 1 or count > n:
        raise BarsError(f"cannot plant {count} {defect} in {n} bars")
    rng = np.random.default_rng([seed, count, n])
    if defect is Defect.GAP:
        return Bars.from_records(bars.symbol, bars.interval, _cut_gap(records, count, bars, rng))
    if defect is Defect.OUTSIDE_SESSION:
        extra = np.repeat(records[-1:], count)
        step = parse_interval(bars.interval)
        # 10 h after the last bar (a regular or early close's last bar, or a
        # daily bar at the open) is after the close and before the next open.
        extra["ts"] = records["ts"][-1] + 10 * 3_600_000_000_000 + np.arange(count) * step
        return Bars.from_records(bars.symbol, bars.interval, np.concatenate([records, extra]))
    at = rng.choice(n, size=count, replace=False)
    if defect is Defect.DUPLICATE:
        # Each copy right after its original: duplicates, but not unsorted.
        order = np.sort(np.concatenate([np.arange(n), at]))
        return Bars.from_records(bars.symbol, bars.interval, records[order])
    _spoil(records, defect, at, rng)
    return Bars.from_records(bars.symbol, bars.interval, records)


def _cut_gap(
    records: np.ndarray, count: int, bars: Bars, rng: np.random.Generator
) -> np.ndarray:
    """Drop ``count`` consecutive bars with a bar on each side, within one session."""
    ts = records["ts"]
    n = ts.shape[0]
    first = np.arange(1, max(n - count, 1))
    if bars.interval != DAILY:
        # Intraday: the dropped bars and their neighbours are one interval apart.
        step = parse_interval(bars.interval)
        first = first[ts[first + count] - ts[first - 1] == (count + 1) * step]
    if not first.shape[0]:
        raise BarsError(f"cannot plant a gap of {count} bars inside one session of {n} bars")
    start = int(rng.choice(first))
    keep = np.ones(n, dtype=bool)
    keep[start : start + count] = False
    return records[keep]


def _spoil(records: np.ndarray, defect: Defect, at: np.ndarray, rng: np.random.Generator) -> None:
    spoilers: Mapping[Defect, Callable[[], None]] = {
        Defect.BAD_PRICE: lambda: _set_bad_price(records, at, rng),
        Defect.HIGH_BELOW_LOW: lambda: _swap_high_low(records, at),
        Defect.NEGATIVE_VOLUME: lambda: records["volume"].__setitem__(at, -1.0),
    }
    spoilers[defect]()


def _set_bad_price(records: np.ndarray, at: np.ndarray, rng: np.random.Generator) -> None:
    # NaN in open or close keeps high >= low comparable-false, so the only
    # defect is the bad price; the bad values cycle through NaN, 0 and < 0.
    bad = np.array([np.nan, 0.0, -1.0])[rng.integers(0, 3, size=at.shape[0])]
    column = np.array(["open", "close"])[rng.integers(0, 2, size=at.shape[0])]
    for value, name, index in zip(bad.tolist(), column.tolist(), at.tolist(), strict=True):
        records[name][index] = value


def _swap_high_low(records: np.ndarray, at: np.ndarray) -> None:
    high = records["high"][at].copy()
    records["high"][at] = records["low"][at]
    records["low"][at] = high
