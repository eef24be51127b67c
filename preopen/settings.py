"""Settings: defaults, a TOML file, ``PREOPEN_*`` environment variables.

Precedence, lowest first: the defaults below < a TOML file < ``PREOPEN_*``
environment variables < explicit keyword arguments (the CLI's flags). Every
value is checked when a :class:`Settings` is built; a refused value raises
one :class:`~preopen.errors.SettingsError` naming the key, the value, where
it came from and what is accepted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import math
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, get_type_hints
from urllib.parse import parse_qsl, urlsplit

from preopen.errors import CalendarError, SettingsError, redact_url
from preopen.shard import Shard
from preopen.symbols import SYMBOL_RULE, is_symbol

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

__all__ = ["ENV_PREFIX", "Settings", "redact"]

ENV_PREFIX: Final = "PREOPEN_"

# A table name, optionally qualified by its schema; it reaches SQL only
# through psycopg.sql.Identifier, the pattern keeps typos out early.
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_STORE_SCHEMES: Final = ("sqlite:///", "postgresql://", "postgres://", "grpc://", "grpc+tcp://")
# A list of stores in one string: split at a comma followed by a scheme, so that a
# libpq multi-host URL (postgresql://h1:5432,h2:5432/db) stays whole.
_STORE_SPLIT = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
# The interval names of ``preopen.model.INTERVALS``, repeated here so that
# building Settings does not import numpy (a test keeps the two equal).
_INTERVALS: Final = ("1m", "5m", "15m", "30m", "1h", "1d")
# A host name (RFC 1123 labels); IP addresses are checked with ipaddress.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_LOG_FORMATS: Final = ("text", "json")
_REFRESH: Final = ("incremental", "full")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything a runtime is configured with. Immutable; checked when built.

    Attributes:
        enabled: whether the scheduler prefetches at all (false: the host
            loads at the open itself, preopen only answers questions).
        window_minutes: how long before the open the prefetch starts.
        check_interval_minutes: the longest the scheduler sleeps between
            two looks at the clock, whatever is planned.
        auto_activate: swap the prefetched snapshot in at the open.
        trailing_days: how many sessions before the session to load.
        intervals: the bar intervals to load (``1m``, ``5m``, ``15m``,
            ``30m``, ``1h``, ``1d``).
        exchange: a built-in calendar name (``XNYS``) or a calendar TOML file.
        store: where bars come from: ``sqlite:///path``, ``postgresql://...`` or
            ``grpc://host:port`` (a hub); or a tuple of them, tried in order.
        table: the bars table (``name`` or ``schema.name``); empty: the
            store URL's ``?table=`` parameter, else ``bars``.
        symbols: the active symbols; empty means every symbol in the store.
        loaders: how many LoaderActors (and PostgreSQL connections).
        batch_size: symbols per load request.
        max_attempts: tries per batch before its symbols are marked failed.
        restart_intensity: restarts allowed within ``restart_period_s``
            before the supervisor gives up and stops the runtime.
        restart_period_s: the period of the restart intensity, in seconds.
        horizon_warning_sessions: warn (a status event and a log line) when
            the session being planned has fewer than this many sessions left
            before the calendar's horizon, the last date it is sure of; 0
            never warns. Planning past the horizon is always refused.
        load_timeout_s: the deadline of one store call (a batch's load), in
            seconds: past it the load fails as transient and is retried;
            at most the prefetch window.
        publish_dir: where each frozen snapshot is published for other
            processes (``preopen.attach``); empty: not published.
        publish_keep: publications kept in ``publish_dir``, the current one
            included; older ones are removed.
        metrics_port: ``serve`` exposes Prometheus metrics on this port
            (0: a free port, logged); None (the default): no metrics server.
        metrics_host: the address the metrics server binds (default loopback).
        log_format: ``serve``'s log lines: ``text`` (key=value) or ``json``
            (one JSON object a line, for log shippers).
        shard: ``"i/N"``: keep only the symbols of shard i of N (rendezvous
            hashing, see :mod:`preopen.shard`); empty: every symbol.
        flight_port: serve the frozen snapshots over Arrow Flight on this
            port (``serve``); 0: no hub.
        refresh: ``incremental``: the next session's snapshot reuses the
            bars the served one holds and loads only what it lacks;
            ``full``: every prefetch loads every trailing session (use it
            when the store corrects past sessions' bars: incremental reuse
            does not see such corrections, unless ``verify_reused``).
        verify_reused: with ``refresh = "incremental"``, each loader first
            compares the store's fingerprints of the reused range with the
            served bars and loads the symbols that differ in full (a
            correction to a past session); a store without
            ``fingerprints`` is not checked. Off by default: the check
            costs more than the incremental load it protects.
    """

    enabled: bool = True
    window_minutes: int = 60
    check_interval_minutes: int = 5
    auto_activate: bool = True
    trailing_days: int = 5
    intervals: tuple[str, ...] = ("1m", "1d")
    exchange: str = "XNYS"
    store: str | tuple[str, ...] = "sqlite:///preopen.db"
    table: str = ""
    symbols: tuple[str, ...] = ()
    loaders: int = 2
    batch_size: int = 100
    max_attempts: int = 3
    restart_intensity: int = 5
    restart_period_s: float = 60.0
    horizon_warning_sessions: int = 20
    load_timeout_s: float = 60.0
    publish_dir: str = ""
    publish_keep: int = 2
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_format: str = "text"
    shard: str = ""
    flight_port: int = 0
    refresh: str = "incremental"
    verify_reused: bool = False

    def __post_init__(self) -> None:
        """Check every value's type and range; see :meth:`load` for where values come from.

        Built directly (``Settings(loaders=4)``) a value must already have
        its key's type: ``True``/``False`` for a flag, an ``int`` for a
        whole number (not a bool, not ``"5"``), a finite number for a float
        (an int becomes a float), a list or tuple of strings for a list
        (kept as a tuple, so that Settings stay hashable).

        Raises:
            SettingsError: naming the key, the value and what is accepted.
        """
        for key, kind in _TYPES.items():
            value = getattr(self, key)
            coerced = _coerce(key, value, source="", kind=kind, split=False)
            if coerced is not value:
                object.__setattr__(self, key, coerced)  # normalising a frozen value once
        _check(self)

    @property
    def table_or_none(self) -> str | None:
        """The table to pass to ``open_store`` (None: let the URL decide)."""
        return self.table or None

    @property
    def stores(self) -> tuple[str, ...]:
        """The store URLs, in the order they are tried (one for a single store)."""
        return (self.store,) if isinstance(self.store, str) else self.store

    @property
    def shard_or_none(self) -> Shard | None:
        """The host's shard (None: every symbol)."""
        return Shard.parse(self.shard) if self.shard else None

    @property
    def window(self) -> dt.timedelta:
        """The prefetch window as a timedelta."""
        return dt.timedelta(minutes=self.window_minutes)

    @property
    def check_interval(self) -> dt.timedelta:
        """The check interval as a timedelta."""
        return dt.timedelta(minutes=self.check_interval_minutes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of every setting, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> Settings:  # noqa: ANN401 - values of any setting
        """A copy with some values changed (checked like any other)."""
        return _build(
            {**dataclasses.asdict(self), **changes}, sources=dict.fromkeys(changes, "arguments")
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        keys: Collection[str] | None = None,
        **overrides: Any,  # noqa: ANN401 - values of any setting
    ) -> Settings:
        """Build settings from a TOML file, the environment and explicit values.

        Args:
            path: a TOML file of top-level ``key = value`` lines (or the same
                keys under a ``[preopen]`` table); None for none.
            env: the environment to read ``PREOPEN_*`` variables from
                (default: ``os.environ``). Variables that name no setting,
                such as ``PREOPEN_TEST_DSN``, are ignored.
            keys: the settings the caller uses (default: all). The
                environment's values of other keys are not read, so that a
                stray ``PREOPEN_STORE`` cannot break a command that opens no
                store. A file is the caller's explicit choice: it is read
                and checked in full.
            **overrides: explicit values, highest precedence; None means
                "not given" (so CLI flags can be passed through unset).

        Raises:
            SettingsError: an unknown key in the file, a wrong type, or a
                value that is not accepted.
        """
        used = set(cls.names()) if keys is None else set(keys)
        unknown = sorted(used - set(cls.names()))
        if unknown:
            raise SettingsError(unknown[0], None, f"one of {', '.join(cls.names())}", source="keys")
        values, sources = _gather(path, os.environ if env is None else env, used)
        for key, value in overrides.items():
            if key not in _TYPES:
                raise SettingsError(
                    key, _shown(value), f"one of {', '.join(cls.names())}", source="arguments"
                )
            if value is not None:
                values[key] = value
                sources[key] = "arguments"
        return _build(values, sources=sources)


_TYPES: Final[dict[str, Any]] = get_type_hints(Settings)


def _gather(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str], used: set[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values from the file, then the environment's for the ``used`` keys; their sources."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if path is not None:
        for key, value in _read_toml(Path(path)).items():
            values[key] = value
            sources[key] = str(path)
    for key in Settings.names():
        name = ENV_PREFIX + key.upper()
        if key in used and name in environ:
            values[key] = _from_text(key, environ[name], source=name)
            sources[key] = name
    return values, sources


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError("config", str(path), f"a readable TOML file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(
            "config", str(path), f"a TOML file in UTF-8 (byte {exc.start} is not UTF-8)"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("config", str(path), f"valid TOML ({exc})") from exc
    table = data.get("preopen", data)
    if not isinstance(table, dict):
        raise SettingsError("preopen", table, "a table of settings", source=str(path))
    for key in table:
        if key not in _TYPES:
            raise SettingsError(
                key, _shown(table[key]), f"one of {', '.join(Settings.names())}", source=str(path)
            )
    return dict(table)


def _from_text(key: str, text: str, *, source: str) -> Any:  # noqa: ANN401, C901, PLR0911 - a return per type
    """Parse an environment variable's text into the key's type."""
    kind = _TYPES[key]
    raw = text.strip()
    if kind == int | None:
        kind = int
    if kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(key, text, "true or false (also 1/0, yes/no, on/off)", source=source)
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(key, text, "a whole number", source=source) from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(key, text, "a number", source=source) from None
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if kind == str | tuple[str, ...]:
        return _store_list(raw)
    return raw


def _store_list(text: str) -> str | tuple[str, ...]:
    """One URL, or several separated by commas (each starting with its scheme)."""
    parts = tuple(part for part in _STORE_SPLIT.split(text.strip()) if part)
    return parts[0] if len(parts) == 1 else parts


def _build(values: Mapping[str, Any], *, sources: Mapping[str, str]) -> Settings:
    """Coerce types strictly, then build (which checks values)."""
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        coerced[key] = _coerce(key, value, source=sources.get(key, ""))
    try:
        return Settings(**coerced)
    except SettingsError as exc:
        if exc.source or exc.key not in sources:
            raise
        raise SettingsError(exc.key, exc.value, exc.accepted, source=sources[exc.key]) from None


def _coerce(  # noqa: C901, PLR0911, PLR0912 - a branch per type
    key: str, value: Any, *, source: str, kind: Any = None, split: bool = True  # noqa: ANN401
) -> Any:  # noqa: ANN401 - a value of the key's type
    """Accept a value of the key's type (ints for floats, lists for tuples); refuse the rest.

    Args:
        key: the setting.
        value: its value.
        source: where the value came from (for the error).
        kind: the key's type (default: the declared one).
        split: accept a comma-separated string for a list (file, environment).
    """
    kind = _TYPES[key] if kind is None else kind
    if kind == int | None:
        if value is None:
            return None
        kind = int
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(key, value, "true or false", source=source)
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(key, value, "a whole number", source=source)
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value if type(value) is float else float(value)
        raise SettingsError(key, value, "a finite number", source=source)
    if kind == tuple[str, ...]:
        if split and isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return value if type(value) is tuple else tuple(value)
        raise SettingsError(key, value, "a list of strings", source=source)
    if kind == str | tuple[str, ...]:
        if isinstance(value, str):
            return value
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return value[0] if len(value) == 1 else tuple(value)
        raise SettingsError(key, value, "a URL or a non-empty list of URLs", source=source)
    if kind is str:
        if isinstance(value, str):
            return value
        raise SettingsError(key, value, "a string", source=source)
    return value  # a type without a rule here is checked in _check


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise SettingsError(key, value, f"a number from {low:g} to {high:g}")


def _check(s: Settings) -> None:
    """Refuse values no runtime could work with. Cheap except for the calendar."""
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
    _check_stores(s.store)
    _check_range("flight_port", s.flight_port, 0, 65_535)
    if s.shard:
        Shard.parse(s.shard)
    if s.table and not _TABLE.match(s.table):
        raise SettingsError("table", s.table, "a table name such as bars or myschema.bars")
    if "." in s.table and any(url.startswith("sqlite:///") for url in s.stores):
        raise SettingsError("table", s.table, "a plain name such as bars (SQLite has no schemas)")
    bad = [symbol for symbol in s.symbols if not is_symbol(symbol)]
    if bad:
        raise SettingsError("symbols", bad[0], f"symbols, each {SYMBOL_RULE}")
    if len(set(s.symbols)) != len(s.symbols):
        dupes = sorted({x for x in s.symbols if s.symbols.count(x) > 1})
        raise SettingsError("symbols", dupes[0], "each symbol once")
    _check_window(s)


def redact(url: str) -> str:
    """``url`` with any password removed (see :func:`preopen.errors.redact_url`)."""
    return redact_url(url)


def _check_stores(store: str | tuple[str, ...]) -> None:
    urls = (store,) if isinstance(store, str) else store
    accepted = "a URL starting with " + " or ".join(_STORE_SCHEMES)
    if not urls:
        raise SettingsError("store", store, f"{accepted}, or a non-empty list of them")
    for url in urls:
        if not isinstance(url, str):
            raise SettingsError("store", url, accepted)
        _check_store(url)
    if len(set(urls)) != len(urls):
        raise SettingsError("store", store, "each store once")


def _check_publish_dir(path: str) -> None:
    """Empty, or an absolute path that is not an existing non-directory."""
    if not path:
        return
    if "\0" in path or not os.path.isabs(path):  # noqa: PTH117 - a string check, no I/O
        raise SettingsError("publish_dir", path, "an absolute directory path, or empty")
    if os.path.exists(path) and not os.path.isdir(path):  # noqa: PTH110, PTH112
        raise SettingsError("publish_dir", path, "a directory (this path is a file), or empty")


def _check_serving(s: Settings) -> None:
    """The metrics server's port and address, and the log format."""
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

def _shown(value: object) -> object:
    """A value fit for an error message: a URL-like string loses its password."""
    return redact(value) if isinstance(value, str) and "@" in value else value


def _check_store(url: str) -> None:
    """A URL of a known scheme naming a file (SQLite) and a table name that can be one."""
    shown = redact(url)
    if not url.startswith(_STORE_SCHEMES):
        raise SettingsError("store", shown, "a URL starting with " + " or ".join(_STORE_SCHEMES))
    parts = urlsplit(url)
    is_sqlite = url.startswith("sqlite:///")
    if is_sqlite and parts.path in {"", "/", "/:memory:"}:
        raise SettingsError("store", shown, "sqlite:///path/to/file.db (a file, not :memory:)")
    for key, table in parse_qsl(parts.query, keep_blank_values=True):
        if key != "table":
            continue
        if not _TABLE.match(table):
            raise SettingsError("store", shown, "?table=name or ?table=schema.name")
        if is_sqlite and "." in table:
            raise SettingsError("store", shown, "?table=name (SQLite has no schemas)")


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
