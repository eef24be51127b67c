"""What each setting's value may be: ranges, forms, store URLs, the window against the calendar.

Checked once a :class:`~preopen.settings.Settings` holds values of the
declared types; a refusal names the key, the value and what is accepted.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import TYPE_CHECKING, Final

from preopen.errors import CalendarError, SettingsError, StoreUrlError, redact_url
from preopen.shard import Shard
from preopen.storeurl import ACCEPTED_SCHEMES, StoreUrl, parse_store_url, split_table
from preopen.symbols import SYMBOL_RULE, is_symbol

if TYPE_CHECKING:
    from preopen.settings._settings import Settings

__all__ = ["check_settings"]

# The interval names of ``preopen.model.INTERVALS``, repeated here so that
# building Settings does not import numpy (a test keeps the two equal).
_INTERVALS: Final = ("1m", "5m", "15m", "30m", "1h", "1d")
# A host name (RFC 1123 labels); IP addresses are checked with ipaddress.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_LOG_FORMATS: Final = ("text", "json")
_REFRESH: Final = ("incremental", "full")


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise SettingsError(key, value, f"a number from {low:g} to {high:g}")


def check_settings(s: Settings) -> None:
    """Refuse values no runtime could work with. Cheap except for the calendar.

    Raises:
        SettingsError: the first value refused, with its key.
    """
    _check_range("window_minutes", s.window_minutes, 1, 24 * 60)
    _check_range("check_interval_minutes", s.check_interval_minutes, 1, 24 * 60)
    _check_range("trailing_days", s.trailing_days, 1, 1000)
    _check_range("loaders", s.loaders, 1, 64)
    _check_range("batch_size", s.batch_size, 1, 100_000)
    _check_range("max_attempts", s.max_attempts, 1, 100)
    _check_range("restart_intensity", s.restart_intensity, 1, 10_000)
    _check_range("restart_period_s", s.restart_period_s, 0.001, 86_400.0)
    _check_range("load_timeout_s", s.load_timeout_s, 0.1, s.window_minutes * 60.0)
    _check_range("horizon_warning_sessions", s.horizon_warning_sessions, 0, 10_000)
    _check_range("publish_keep", s.publish_keep, 1, 100)
    _check_publish_dir(s.publish_dir)
    _check_intervals(s.intervals)
    _check_serving(s)
    stores = _check_stores(s.store)
    _check_range("flight_port", s.flight_port, 0, 65_535)
    if s.shard:
        Shard.parse(s.shard)
    _check_table(s.table, stores)
    bad = [symbol for symbol in s.symbols if not is_symbol(symbol)]
    if bad:
        raise SettingsError("symbols", bad[0], f"symbols, each {SYMBOL_RULE}")
    if len(set(s.symbols)) != len(s.symbols):
        dupes = sorted({x for x in s.symbols if s.symbols.count(x) > 1})
        raise SettingsError("symbols", dupes[0], "each symbol once")
    _check_window(s)


def _check_stores(store: str | tuple[str, ...]) -> tuple[StoreUrl, ...]:
    """Each URL as a store would check it (:func:`preopen.storeurl.parse_store_url`)."""
    urls = (store,) if isinstance(store, str) else store
    if not urls:
        raise SettingsError("store", store, f"a URL, or a non-empty list of URLs: "
                                            f"{ACCEPTED_SCHEMES}")
    parsed = []
    for url in urls:
        if not isinstance(url, str):
            raise SettingsError("store", url, f"a URL: {ACCEPTED_SCHEMES}")
        try:
            parsed.append(parse_store_url(url))
        except StoreUrlError as exc:
            # The URL's own ?table= is part of the store setting: refused as "store".
            accepted = f"?table= {exc.accepted}" if exc.key == "table" else exc.accepted
            raise SettingsError("store", redact_url(url), accepted) from None
    if len(set(urls)) != len(urls):
        raise SettingsError("store", store, "each store once")
    return tuple(parsed)


def _check_table(table: str, stores: tuple[StoreUrl, ...]) -> None:
    """Empty, or a table name the stores can use (no schema on SQLite)."""
    if not table:
        return
    try:
        schema, _ = split_table(table, url="")
    except StoreUrlError:
        raise SettingsError("table", table, "a table name such as bars or myschema.bars") from None
    if schema is not None and any(store.scheme == "sqlite" for store in stores):
        raise SettingsError("table", table, "a plain name such as bars (SQLite has no schemas)")


def _check_publish_dir(path: str) -> None:
    """Empty, or an absolute path that is not an existing non-directory."""
    if not path:
        return
    if "\0" in path or not os.path.isabs(path):  # noqa: PTH117 - a string check, no I/O
        raise SettingsError("publish_dir", path, "an absolute directory path, or empty")
    if os.path.exists(path) and not os.path.isdir(path):  # noqa: PTH110, PTH112
        raise SettingsError("publish_dir", path, "a directory (this path is a file), or empty")


def _check_serving(s: Settings) -> None:
    """The metrics server's port and address, the log format and the refresh."""
    if s.metrics_port is not None:
        _check_range("metrics_port", s.metrics_port, 0, 65_535)
    if not _is_host(s.metrics_host):
        raise SettingsError("metrics_host", s.metrics_host,
                            "an IP address or a host name, such as 127.0.0.1, ::1 or localhost")
    if s.log_format not in _LOG_FORMATS:
        raise SettingsError("log_format", s.log_format, " or ".join(_LOG_FORMATS))
    if s.refresh not in _REFRESH:
        raise SettingsError("refresh", s.refresh, " or ".join(_REFRESH))


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(_HOSTNAME.match(text))
    return True


def _check_intervals(intervals: tuple[str, ...]) -> None:
    if not intervals:
        raise SettingsError("intervals", intervals, f"one or more of {', '.join(_INTERVALS)}")
    for interval in intervals:
        if interval not in _INTERVALS:
            raise SettingsError("intervals", interval, f"one or more of {', '.join(_INTERVALS)}")
    if len(set(intervals)) != len(intervals):
        raise SettingsError("intervals", intervals, "each interval once")


def _check_window(s: Settings) -> None:
    from preopen.calendar import get_calendar  # noqa: PLC0415 - the calendar is only needed here

    try:
        calendar = get_calendar(s.exchange)
    except CalendarError as exc:
        raise SettingsError("exchange", s.exchange, str(exc)) from None
    gap = calendar.shortest_break
    if s.window > gap:
        minutes = int(gap.total_seconds() // 60)
        raise SettingsError(
            "window_minutes",
            s.window_minutes,
            f"at most {minutes} minutes, the shortest gap between two {calendar.name} sessions",
        )
