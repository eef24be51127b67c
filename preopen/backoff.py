"""The one backoff of preopen: exponential, capped, with jitter (psycopg_pool's shape).

Used by the store's retries through connection failures, by the
supervisor's restarts of a child that keeps dying, and by the scheduler's
retries of keys that failed to load. Modelled on psycopg_pool's
``AttemptWithBackoff`` (``psycopg_pool/base.py``): the pause after the n-th
failure in a row is ``min(cap, initial * factor ** (n - 1))``, scaled by a
random factor in ``[1 - jitter, 1 + jitter)`` so that callers that failed
together do not retry together. The random number is the caller's, so that a
schedule is reproducible in tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: the pause after each failure in a row.

    Attributes:
        initial: the base pause after the first failure, in seconds.
        factor: how much the base pause grows after each further failure.
        cap: the largest base pause, in seconds.
        jitter: the pause is the base times a random factor in
            ``[1 - jitter, 1 + jitter)`` (psycopg_pool uses 0.1; 0: none).

    Raises:
        ValueError: a non-finite or negative pause, a factor below 1, a cap
            below ``initial`` or a jitter outside [0, 1).
    """

    initial: float = 0.1
    factor: float = 2.0
    cap: float = 1.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        """Refuse values that make no schedule."""
        checks = {
            "initial": (self.initial, self.initial >= 0.0, "a finite number >= 0"),
            "factor": (self.factor, self.factor >= 1.0, "a finite number >= 1"),
            "cap": (self.cap, self.cap >= self.initial, f"a number >= initial={self.initial}"),
            "jitter": (self.jitter, 0.0 <= self.jitter < 1.0, "a number in [0, 1)"),
        }
        for name, (value, ok, accepted) in checks.items():
            if not (math.isfinite(value) and ok):
                msg = f"backoff {name}={value!r} is not accepted: use {accepted}"
                raise ValueError(msg)

    def delay(self, failures: int, rand: float = 0.5) -> float:
        """The pause after the ``failures``-th failure in a row.

        Args:
            failures: failures so far, 1 for the first.
            rand: a random number in [0, 1) (0.5: no jitter).

        Returns:
            ``min(cap, initial * factor ** (failures - 1))``, jittered.
        """
        growth = self.factor ** min(max(failures - 1, 0), 64)  # 64: far past any cap
        base = min(self.cap, self.initial * growth)
        return base * (1.0 + self.jitter * (2.0 * rand - 1.0))
