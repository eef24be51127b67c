"""Failures keep their tracebacks in the log and their type and message in the status."""

from __future__ import annotations

import datetime as dt
import logging

from support.week import at

from preopen.actors import ChildKey
from preopen.actors.messages import ActivateNow
from preopen.clock import SimulatedClock
from preopen.errors import StoreSchemaError
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.status import ErrorInfo

DAY = dt.date(2024, 11, 26)
WAIT = 20.0


class MissingTableStore:
    """Every load fails the way a store without its table does (no retry can help)."""

    url = "missing://"

    def __init__(self) -> None:
        self.loads = 0

    def load(self, symbols, interval, start, end):
        self.loads += 1
        raise StoreSchemaError('relation "bars" does not exist')

    def fingerprints(self, symbols, interval, ranges):
        return {}

    def write(self, interval, bars_by_symbol):
        return 0

    def symbols(self):
        return ("AAA",)

    def interrupt(self):
        pass

    def close(self):
        pass


def test_a_failed_load_is_logged_once_with_its_traceback_and_kept_typed(caplog):
    store = MissingTableStore()
    clock = SimulatedClock(at(DAY, "08:29"), settle_timeout=WAIT)
    runtime = Runtime.start(Settings(symbols=("AAA",), loaders=1, intervals=("5m",),
                                     trailing_days=2, max_attempts=1),
                            clock=clock, store=store, timeout=WAIT)
    try:
        with caplog.at_level(logging.DEBUG, logger="preopen"):
            clock.advance_to(at(DAY, "08:30"))
        failed = [r for r in caplog.records if r.exc_info and r.exc_info[0] is StoreSchemaError]
        assert len(failed) == store.loads == 1  # once per failed store call
        assert "loader-0" in failed[0].getMessage()
        status = runtime.status()
        assert status.last_failure == ErrorInfo("preopen.errors.StoreSchemaError",
                                                'relation "bars" does not exist', "loader-0")
        assert str(status.last_failure) == 'StoreSchemaError: relation "bars" does not exist'
    finally:
        runtime.stop(WAIT)


def test_a_child_crash_is_logged_with_its_stack_and_kept_typed(caplog):
    clock = SimulatedClock(at(DAY, "07:00"), settle_timeout=WAIT)
    runtime = Runtime.start(Settings(symbols=("AAA",), loaders=1, intervals=("5m",),
                                     trailing_days=2),
                            clock=clock, store=MissingTableStore(), timeout=WAIT)
    try:
        with caplog.at_level(logging.ERROR, logger="preopen"):
            # A malformed message: the scheduler dies setting a reply that is None.
            assert runtime._tree.address(ChildKey("scheduler")).tell(ActivateNow(reply=None))
            runtime.wait_for(lambda s: s.restarts == 1, timeout=WAIT)
        crashes = [r for r in caplog.records
                   if r.name.startswith("preopen") and "crashed" in r.getMessage()]
        assert len(crashes) == 1
        assert crashes[0].exc_info is not None
        assert crashes[0].exc_info[0] is AttributeError
        assert "scheduler" in crashes[0].getMessage()
        failure = runtime.status().last_failure
        assert failure is not None
        assert (failure.type, failure.where) == ("AttributeError", "scheduler")
        assert "set_exception" in failure.message
    finally:
        runtime.stop(WAIT)
