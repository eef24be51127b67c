"""The store's retry rules, on a fake clock: nothing here sleeps.

Expected schedules are written from the rule psycopg_pool publishes for its
reconnection attempts (base.py, AttemptWithBackoff): the first pause is the
initial delay, each next one twice the last, jittered by +-10%, and the pause
before the last attempt is cut so that it starts when the budget ends.
"""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg_pool import PoolClosed, PoolTimeout
from psycopg_pool import base as pool_base

from preopen.errors import StoreError
from preopen.store._retry import (
    DEFAULT_RETRY_FOR,
    Backoff,
    Retry,
    RetryExhaustedError,
    is_connection_failure,
    retry_budget,
)

DROPPED = psycopg.errors.AdminShutdown("terminating connection due to administrator command")


class FakeTime:
    """A monotonic clock that only moves when slept on or told to."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


def retry(time: FakeTime, retry_for: float, **kwargs) -> Retry:
    # random() == 0.5 is the middle of the jitter: no spread, exact schedule.
    return Retry(retry_for, clock=time.clock, sleep=time.sleep, random=lambda: 0.5, **kwargs)


class Script:
    """An attempt that fails with the given errors in turn, then returns 'ok'."""

    def __init__(self, time: FakeTime, errors: list[Exception], *, takes: float = 0.0,
                 waits: bool = False) -> None:
        self.time = time
        self.errors = list(errors)
        self.takes = takes
        self.waits = waits
        self.calls: list[tuple[float, float]] = []  # (start, wait given)

    def __call__(self, wait: float) -> str:
        self.calls.append((self.time.now, wait))
        if not self.errors:
            return "ok"
        error = self.errors.pop(0)
        # A timed-out wait for a connection takes the whole wait; anything else `takes`.
        self.time.now += wait if isinstance(error, PoolTimeout) and self.waits else self.takes
        raise error


def run(r: Retry, script: Script, **kwargs) -> str:
    return r.run(script, retryable=is_connection_failure,
                 waited=lambda e: isinstance(e, PoolTimeout), **kwargs)


# -- the schedule ---------------------------------------------------------------

def test_pauses_double_from_the_initial_delay_up_to_the_cap():
    backoff = Backoff(initial=0.1, factor=2.0, cap=1.0, jitter=0.1)
    assert [round(backoff.delay(n, 0.5), 9) for n in range(1, 8)] == [
        0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_jitter_is_plus_or_minus_its_fraction():
    backoff = Backoff(initial=1.0, factor=2.0, cap=8.0, jitter=0.1)
    assert backoff.delay(1, 0.0) == pytest.approx(0.9)
    assert backoff.delay(3, 0.0) == pytest.approx(3.6)
    assert backoff.delay(3, 0.999999) == pytest.approx(4.4, abs=1e-5)


@given(failures=st.integers(1, 10_000), rand=st.floats(0.0, 1.0, exclude_max=True))
def test_every_pause_lies_within_the_jitter_of_its_capped_base(failures, rand):
    backoff = Backoff()
    base = min(1.0, 0.1 * 2.0 ** (failures - 1)) if failures < 64 else 1.0
    assert base * 0.9 - 1e-12 <= backoff.delay(failures, rand) <= base * 1.1 + 1e-12


def test_same_schedule_as_psycopg_pool_reconnection_attempts(monkeypatch):
    # psycopg_pool's own rule (initial 1 s, x2, +-10%), with its jitter at the middle.
    monkeypatch.setattr(pool_base, "random", lambda: 0.5)
    if hasattr(pool_base, "AttemptWithBackoff"):
        attempt = pool_base.AttemptWithBackoff(timeout=1000.0)
    else:  # psycopg_pool before 3.3 named it ConnectionAttempt
        attempt = pool_base.ConnectionAttempt(reconnect_timeout=1000.0)
    theirs = []
    for now in (0.0, 1.0, 3.0, 7.0, 15.0):
        attempt.update_delay(now)
        theirs.append(attempt.delay)
    ours = Backoff(initial=1.0, factor=2.0, cap=1000.0, jitter=0.1)
    assert [ours.delay(n, 0.5) for n in range(1, 6)] == pytest.approx(theirs)
    assert theirs == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"initial": -0.1}, r"initial=-0\.1 is not accepted"),
    ({"factor": 0.5}, r"factor=0\.5 is not accepted: use a finite number >= 1"),
    ({"initial": 2.0, "cap": 1.0}, r"cap=1\.0 is not accepted: use a number >= initial=2\.0"),
    ({"jitter": 1.0}, r"jitter=1\.0 is not accepted: use a number in \[0, 1\)"),
    ({"cap": float("inf")}, r"cap=inf is not accepted"),
])
def test_a_backoff_that_makes_no_schedule_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


# -- the loop -------------------------------------------------------------------

def test_a_dropped_connection_is_retried_until_it_works():
    time = FakeTime()
    script = Script(time, [DROPPED, DROPPED])
    failures = []
    assert run(retry(time, 3.0), script, on_failure=failures.append) == "ok"
    assert time.sleeps == [0.1, 0.2]
    assert len(script.calls) == 3
    assert failures == [DROPPED, DROPPED]


def test_the_budget_ends_with_a_last_attempt_at_its_end():
    time = FakeTime()
    script = Script(time, [DROPPED] * 100)
    with pytest.raises(RetryExhaustedError) as caught:
        run(retry(time, 3.0), script)
    # Pauses 0.1 0.2 0.4 0.8 1.0 reach 2.5 s; the next is cut to 0.5 s so that
    # the seventh and last attempt starts at 3.0 s, when the budget ends.
    assert time.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 0.5]
    error = caught.value
    assert (error.attempts, error.elapsed) == (7, pytest.approx(3.0))
    assert error.error is DROPPED
    assert error.reason is DROPPED
    assert error.__cause__ is DROPPED
    assert "gave up after 7 attempts in 3.00 sec" in str(error)


def test_the_budget_starts_at_the_first_failure_not_at_the_call():
    time = FakeTime()
    script = Script(time, [DROPPED] * 100, takes=10.0)  # each attempt runs 10 s, then drops
    with pytest.raises(RetryExhaustedError) as caught:
        run(retry(time, 3.0), script)
    # Failed at 10 s: the budget runs to 13 s. Second attempt at 10.1 s fails at 20.1 s.
    assert caught.value.attempts == 2
    assert caught.value.elapsed == pytest.approx(20.1)


def test_a_timed_out_wait_counts_from_its_start_and_is_cut_into_max_wait_slices():
    time = FakeTime()
    script = Script(time, [PoolTimeout("no connection")] * 100, waits=True)
    with pytest.raises(RetryExhaustedError) as caught:
        run(retry(time, 2.5, max_wait=1.0), script)
    # Waits of 1 s, 1 s, 0.5 s: the budget counts from the first wait's start,
    # and a wait is its own pause (no sleep between them).
    assert [round(wait, 9) for _, wait in script.calls] == [1.0, 1.0, 0.5]
    assert time.sleeps == []
    assert (caught.value.attempts, caught.value.elapsed) == (3, pytest.approx(2.5))


def test_the_wait_given_is_what_is_left_of_the_budget_never_below_min_wait():
    time = FakeTime()
    script = Script(time, [DROPPED] * 100)
    with pytest.raises(RetryExhaustedError):
        run(retry(time, 0.25, max_wait=5.0, min_wait=0.1), script)
    waits = [round(wait, 9) for _, wait in script.calls]
    # Before any failure the whole budget; then what is left; the last attempt,
    # at the budget's end, still gets min_wait.
    assert waits == [0.25, 0.15, 0.1]


def test_the_reason_is_the_connection_error_behind_later_pool_timeouts():
    time = FakeTime()
    timeout = PoolTimeout("couldn't get a connection after 1.00 sec")
    script = Script(time, [DROPPED, timeout, timeout, timeout], waits=True)
    with pytest.raises(RetryExhaustedError) as caught:
        run(retry(time, 1.0), script)
    assert caught.value.error is timeout
    assert caught.value.reason is DROPPED


def test_no_budget_means_one_attempt():
    time = FakeTime()
    script = Script(time, [DROPPED])
    with pytest.raises(RetryExhaustedError) as caught:
        run(retry(time, 0.0), script)
    assert caught.value.attempts == 1
    assert time.sleeps == []


@pytest.mark.parametrize("error", [
    psycopg.errors.UndefinedTable("relation does not exist"),
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    PoolClosed("the pool is closed"),
    StoreError("bad input"),
    ValueError("not about the connection"),
])
def test_other_errors_are_raised_at_once(error):
    time = FakeTime()
    script = Script(time, [error])
    failures = []
    with pytest.raises(type(error)) as caught:
        run(retry(time, 3.0), script, on_failure=failures.append)
    assert caught.value is error
    assert len(script.calls) == 1
    assert time.sleeps == []
    assert failures == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_a_base_exception_is_never_swallowed(interrupt):
    time = FakeTime()
    script = Script(time, [DROPPED, interrupt()])
    with pytest.raises(interrupt):
        run(retry(time, 3.0), script)
    assert len(script.calls) == 2


def test_an_interrupt_during_the_pause_leaves_at_once():
    time = FakeTime()

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    r = Retry(3.0, clock=time.clock, sleep=sleep, random=lambda: 0.5)
    script = Script(time, [DROPPED] * 10)
    with pytest.raises(KeyboardInterrupt):
        run(r, script)
    assert len(script.calls) == 1


def test_a_sleeper_may_abandon_the_retries():
    time = FakeTime()

    def sleep(seconds: float) -> None:
        raise StoreError("the store was closed")

    script = Script(time, [DROPPED] * 10)
    with pytest.raises(StoreError, match="was closed"):
        run(Retry(3.0, clock=time.clock, sleep=sleep), script)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"retry_for": -1.0}, r"retry_for=-1\.0 is not accepted: use seconds, a number >= 0"),
    ({"retry_for": float("nan")}, r"retry_for=nan is not accepted"),
    ({"retry_for": True}, r"retry_for=True is not accepted"),
    ({"retry_for": 1.0, "max_wait": 0.05}, r"min_wait=0\.1 is not accepted: use at most"),
])
def test_a_bad_budget_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Retry(**kwargs)


# -- what is retried ---------------------------------------------------------------

@pytest.mark.parametrize("error", [
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.errors.CrashShutdown("terminating connection because of crash of another process"),
    psycopg.errors.CannotConnectNow("the database system is starting up"),
    psycopg.errors.IdleSessionTimeout("terminating connection due to idle-session timeout"),
    psycopg.errors.TooManyConnections("sorry, too many clients already"),
    psycopg.errors.ConnectionFailure("connection failure"),
    psycopg.errors.ProtocolViolation("protocol violation"),
    psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    PoolTimeout("couldn't get a connection after 1.00 sec"),
])
def test_connection_failures(error):
    assert is_connection_failure(error)


@pytest.mark.parametrize("error", [
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    psycopg.errors.DiskFull("could not extend file"),
    psycopg.errors.UndefinedTable("relation does not exist"),
    psycopg.errors.InvalidColumnReference("no unique constraint"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.InterfaceError("bad use"),
    PoolClosed("the pool is closed"),
    ConnectionError("not psycopg's"),
    KeyboardInterrupt(),
])
def test_not_connection_failures(error):
    assert not is_connection_failure(error)


# -- the budget from a keyword or the URL --------------------------------------------

@pytest.mark.parametrize(("value", "from_url", "expected"), [
    (None, None, DEFAULT_RETRY_FOR),
    (None, "1.5", 1.5),
    (2, "9", 2.0),
    (0.0, None, 0.0),
    (None, "0", 0.0),
])
def test_retry_budget(value, from_url, expected):
    assert retry_budget(value, from_url) == expected


def test_the_default_budget_is_three_seconds():
    assert DEFAULT_RETRY_FOR == 3.0


@pytest.mark.parametrize(("value", "from_url", "shown"), [
    (-1.0, None, "-1.0"),
    (float("inf"), None, "inf"),
    (True, None, "True"),
    (None, "soon", "'soon'"),
    (None, "", "''"),
    (None, "-2", "'-2'"),
    (None, "nan", "'nan'"),
])
def test_a_bad_budget_names_the_value_and_what_is_accepted(value, from_url, shown):
    with pytest.raises(StoreError) as caught:
        retry_budget(value, from_url, url="postgresql://u@h/db")
    assert str(caught.value) == (
        f"retry_for={shown} is not accepted: use seconds, a number >= 0 (0: no retry)")
    assert caught.value.url == "postgresql://u@h/db"


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_a_bad_retry_for_in_the_url_is_bad_input_before_any_connection(value):
    from preopen.errors import SettingsError, StoreUrlError  # noqa: PLC0415
    from preopen.store import open_store  # noqa: PLC0415

    # Port 1: nothing listens; the URL is refused before anything is tried.
    with pytest.raises(StoreUrlError, match=rf"retry_for='{value}'") as caught:
        open_store(f"postgresql://u:pw@127.0.0.1:1/db?retry_for={value}", connect_timeout=1)
    assert isinstance(caught.value, SettingsError)
    assert "pw" not in str(caught.value)
