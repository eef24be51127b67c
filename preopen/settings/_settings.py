"""Settings: the values, and where they come from (defaults, a TOML file, the environment).

Precedence, lowest first: the defaults below < a TOML file < ``PREOPEN_*``
environment variables < explicit keyword arguments (the CLI's flags). Each
value is coerced to its type by :mod:`preopen.settings._values` and checked
by :mod:`preopen.settings._rules` when a :class:`Settings` is built.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, get_type_hints

from preopen.errors import SettingsError
from preopen.settings._rules import check_settings
from preopen.settings._values import coerce, from_text, shown
from preopen.shard import Shard

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX: Final = "PREOPEN_"


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
            coerced = coerce(key, value, kind, source="", split=False)
            if coerced is not value:
                object.__setattr__(self, key, coerced)  # normalising a frozen value once
        check_settings(self)

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
                    key, shown(value), f"one of {', '.join(cls.names())}", source="arguments"
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
            values[key] = from_text(key, _TYPES[key], environ[name], source=name)
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
                key, shown(table[key]), f"one of {', '.join(Settings.names())}", source=str(path)
            )
    return dict(table)


def _build(values: Mapping[str, Any], *, sources: Mapping[str, str]) -> Settings:
    """Coerce types strictly, then build (which checks values)."""
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        coerced[key] = coerce(key, value, _TYPES[key], source=sources.get(key, ""))
    try:
        return Settings(**coerced)
    except SettingsError as exc:
        if exc.source or exc.key not in sources:
            raise
        raise SettingsError(exc.key, exc.value, exc.accepted, source=sources[exc.key]) from None


