"""Retrying a store operation through connection failures, within a time budget.

Modelled on psycopg_pool's ``AttemptWithBackoff`` (``psycopg_pool/base.py``):
the pause between attempts grows exponentially from ``initial``, is spread by
a random jitter of +-``jitter`` (so that the loaders that failed together do
not retry together), stops growing at ``cap``, and is cut short so that the
last attempt starts when the budget ends, not after it.

The budget (``retry_for`` seconds) starts at the first failure, not at the
call: a long load whose connection drops near its end still gets the whole
budget. A failure that was a wait for a connection (the pool had none to give
within the wait) is dated at the start of that wait, since the waiting was the
trying; and a long wait is cut into attempts of at most ``max_wait``, so that
the pool is asked again (which restarts its reconnection if it gave up). Only
failures the caller calls retryable are retried; anything else, and every
BaseException (KeyboardInterrupt, SystemExit), leaves at once.

The clock, the sleeper and the random source are injectable, so the rules are
tested without sleeping.
"""

from __future__ import annotations

import contextlib
import math
import random as _random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeGuard, TypeVar

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from preopen.backoff import Backoff
from preopen.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_RETRY_FOR",
    "Backoff",
    "Retry",
    "RetryExhaustedError",
    "is_connection_failure",
    "is_seconds",
    "is_wait_timeout",
    "retry_budget",
]

T = TypeVar("T")

#: The default budget in seconds. A fast PostgreSQL restart takes well under a
#: second, and the pool retries a lost connection about 1 s and 3 s after the
#: loss (psycopg_pool's backoff): 3 s covers both. A server down for longer is
#: the actors' business (a batch's max_attempts, the scheduler retrying until
#: the open), and a loader blocked in a store call delays its actor's stop by
#: at most about this long (under the supervisor's 5 s stop timeout).
DEFAULT_RETRY_FOR: Final = 3.0

# SQLSTATEs that mean the session ended or could not start, not that the
# statement was wrong: admin_shutdown (pg_terminate_backend, a fast or smart
# shutdown), crash_shutdown (another backend crashed and the server reset),
# cannot_connect_now (starting up, shutting down, in recovery),
# idle_session_timeout, too_many_connections. Class 08 is connection_exception.
_SESSION_ENDED: Final = frozenset({"57P01", "57P02", "57P03", "57P05", "53300"})


def is_connection_failure(error: BaseException) -> bool:
    """Whether ``error`` is about the connection (retry) rather than the statement.

    A psycopg OperationalError with no SQLSTATE is libpq losing or failing
    to open the connection; with one, only connection exceptions (class 08)
    and the session-ending states count. A pool that gave no connection in
    time counts; a closed pool does not (the store was closed on purpose).
    """
    if isinstance(error, PoolClosed):
        return False
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state.startswith("08") or state in _SESSION_ENDED


def is_seconds(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a finite, non-negative number of seconds (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value >= 0


def retry_budget(value: float | None, from_url: str | None, *, url: str = "") -> float:
    """The budget in seconds: ``value``, else the URL's ``retry_for``, else the default.

    Raises:
        StoreError: a budget that is not a finite number of seconds >= 0.
    """
    given: object = value
    if value is None and from_url is not None:
        given = from_url
        with contextlib.suppress(ValueError):
            value = float(from_url)
    if given is None:
        return DEFAULT_RETRY_FOR
    if not is_seconds(value):
        raise StoreError(
            f"retry_for={given!r} is not accepted: use seconds, a number >= 0 (0: no retry)",
            url=url,
        )
    return float(value)


def is_wait_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a wait for a pooled connection that ran out of time."""
    return isinstance(error, PoolTimeout)


class RetryExhaustedError(Exception):
    """The budget ran out with the operation still failing.

    Raised by :meth:`Retry.run` from the last error; the store turns it into
    a :class:`~preopen.errors.StoreUnavailableError`.

    Attributes:
        attempts: how many attempts were made.
        elapsed: seconds from the start of the first attempt to giving up.
        error: the last error.
        reason: the last error that was not a timed-out wait, else the last
            error (a pool timeout says less than the connection error behind it).
    """

    def __init__(
        self, attempts: int, elapsed: float, error: Exception, reason: Exception
    ) -> None:
        self.attempts = attempts
        self.elapsed = elapsed
        self.error = error
        self.reason = reason
        super().__init__(f"gave up after {attempts} attempts in {elapsed:.2f} sec: {error}")


def _never(_error: Exception) -> bool:
    return False


def _ignore(_error: Exception) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Retry:
    """Run an operation again after a retryable failure, until a budget runs out.

    Stateless between calls: one Retry serves every thread at once.

    Attributes:
        retry_for: the budget in seconds, counted from the first failure;
            0 allows no retry (but still one attempt).
        backoff: the pauses between attempts.
        max_wait: the longest one attempt waits for a resource (a pooled
            connection). A longer wait is cut into several attempts, so that
            the pool is asked again, which makes a pool that stopped
            reconnecting in the background start a new connection.
        min_wait: the shortest wait an attempt is given (the last attempt
            starts when the budget ends and still gets this).
        clock: monotonic seconds.
        sleep: pauses the calling thread; it may raise to abandon the retries.
        random: a number in [0, 1) for the jitter.
    """

    retry_for: float
    backoff: Backoff = field(default_factory=Backoff)
    max_wait: float = 1.0
    min_wait: float = 0.1
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], object] = time.sleep
    random: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        """Refuse budgets and waits that are not finite numbers of seconds >= 0.

        Raises:
            ValueError: a bad ``retry_for``, ``max_wait`` or ``min_wait``.
        """
        for name in ("retry_for", "max_wait", "min_wait"):
            if not is_seconds(value := getattr(self, name)):
                raise ValueError(f"{name}={value!r} is not accepted: use seconds, a number >= 0")
        if self.min_wait > self.max_wait:
            raise ValueError(
                f"min_wait={self.min_wait!r} is not accepted: use at most max_wait={self.max_wait}"
            )

    def run(
        self,
        attempt: Callable[[float], T],
        *,
        retryable: Callable[[Exception], bool],
        waited: Callable[[Exception], bool] = _never,
        on_failure: Callable[[Exception], object] = _ignore,
    ) -> T:
        """Call ``attempt(wait)`` until it returns, fails for good, or the budget ends.

        Args:
            attempt: the operation; ``wait`` is the longest it may wait for a
                resource: what is left of the budget (all of it before the
                first failure), at most max_wait, at least min_wait.
            retryable: whether a failure may be retried.
            waited: whether a failure was a timed-out wait. It is dated at
                the start of the wait, and no pause follows it (the wait was one).
            on_failure: called after each retryable failure, before the pause
                (the store discards its broken connections there).

        Returns:
            What ``attempt`` returned.

        Raises:
            RetryExhaustedError: from the last error, when the budget ran out.
            Exception: a failure that is not retryable, as it was raised.
        """
        started = self.clock()
        deadline: float | None = None
        reason: Exception | None = None
        attempts = failures = 0
        while True:
            attempts += 1
            began = self.clock()
            left = self.retry_for if deadline is None else deadline - began
            try:
                return attempt(max(min(left, self.max_wait), self.min_wait))
            # Exception, not BaseException: an interrupt or exit is never retried.
            except Exception as error:
                if not retryable(error):
                    raise
                was_wait = waited(error)
                failed_at = began if was_wait else self.clock()
                if deadline is None:
                    deadline = failed_at + self.retry_for
                if not was_wait:
                    reason = error
                on_failure(error)
                now = self.clock()
                if now >= deadline:
                    raise RetryExhaustedError(
                        attempts, now - started, error, reason or error
                    ) from error
                if not was_wait:
                    failures += 1
                    pause = self.backoff.delay(failures, self.random())
                    self.sleep(min(pause, deadline - now))
