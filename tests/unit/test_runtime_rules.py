"""House rules that the code must keep: no locks, no wall clock outside clock.py."""

from __future__ import annotations

import re
from pathlib import Path

import pendulum
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "preopen"

LOCKS = re.compile(
    r"threading\s*\.\s*(Lock|RLock|Condition|Semaphore|BoundedSemaphore)\b"
    r"|from\s+threading\s+import\s+[^\n]*\b(Lock|RLock|Condition|Semaphore|BoundedSemaphore)\b"
)
WALL_CLOCK = re.compile(
    r"\b(datetime|dt)\s*\.\s*now\s*\(|\bpendulum\s*\.\s*now\s*\(|\btime\s*\.\s*time\s*\("
    r"|\bdate\s*\.\s*today\s*\(|\butcnow\s*\("
)


def sources():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    return files


def test_the_patterns_catch_what_they_are_meant_to():
    assert LOCKS.search("x = threading.Lock()")
    assert LOCKS.search("from threading import Event, RLock")
    assert not LOCKS.search("threading.Event()")
    assert WALL_CLOCK.search("dt.datetime.now(tz)")
    assert WALL_CLOCK.search("pendulum.now('UTC')")
    assert WALL_CLOCK.search("time.time()")
    assert not WALL_CLOCK.search("time.perf_counter()")


def test_no_lock_anywhere_in_preopen():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
                 for path in sources()
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if LOCKS.search(line)]
    assert offenders == []


def test_market_time_is_read_only_in_clock_py():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
                 for path in sources() if path.name != "clock.py" or path.parent != PACKAGE
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if WALL_CLOCK.search(line)]
    assert offenders == []


def test_the_host_s_vocabulary_is_public():
    from preopen import (  # noqa: PLC0415 - the import is what is tested
        Event,
        EventKind,
        NoSnapshotError,
        PreopenTimeoutError,
        Progress,
        RuntimeStatus,
        RuntimeStoppedError,
        StoreError,
    )

    for value in (RuntimeStatus, Event, EventKind, Progress):
        assert value.__module__ == "preopen.status"
    for error in (NoSnapshotError, PreopenTimeoutError, RuntimeStoppedError, StoreError):
        assert error.__module__ == "preopen.errors"


@pytest.mark.parametrize("symbol", [" S0000", "S0000 ", "", "\t"])
def test_one_symbol_rule_for_settings_set_symbols_and_the_cli(symbol, tmp_path):
    from preopen.cli._common import BadInputError  # noqa: PLC0415
    from preopen.cli._options import parse_symbol_list  # noqa: PLC0415
    from preopen.clock import SimulatedClock  # noqa: PLC0415
    from preopen.errors import SettingsError  # noqa: PLC0415
    from preopen.runtime import Runtime  # noqa: PLC0415
    from preopen.settings import Settings  # noqa: PLC0415
    from preopen.store import open_store  # noqa: PLC0415

    with pytest.raises(SettingsError, match="without surrounding spaces"):
        Settings(symbols=(symbol,))
    if symbol.strip():
        # A CLI list is split on commas and each part stripped ("AAA, BBB"):
        # what remains is checked by the same rule.
        assert parse_symbol_list("--symbols", f"AAA,{symbol}") == ("AAA", symbol.strip())
    else:
        with pytest.raises(BadInputError, match="without surrounding spaces"):
            parse_symbol_list("--symbols", f"AAA,{symbol}")
    clock = SimulatedClock(pendulum.datetime(2024, 11, 23, 12, 0, tz="America/New_York"))
    url = f"sqlite:///{tmp_path / 'bars.db'}"
    open_store(url, create=True).close()
    settings = Settings(store=url)
    with Runtime.start(settings, clock=clock) as runtime, \
            pytest.raises(ValueError, match="without surrounding spaces"):
        runtime.set_symbols(["AAA", symbol])
