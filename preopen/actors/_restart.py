"""The supervisor's restart rule: intensity, period and backoff.

Modelled on Erlang/OTP: at most ``intensity`` restarts within any
``period_s`` seconds; one more escalates. Between restarts that come close
together the supervisor backs off, exponentially with jitter, so that a
child crashing on every start does not spin: the first restart in a quiet
period is immediate (a dead loader is replaced at once), the next ones wait
``base_s``, ``2 * base_s``, ... up to ``cap_s``, each scaled by a random
factor in [0.5, 1).
"""

from __future__ import annotations

import random
from collections import deque

__all__ = ["RestartPolicy"]


class RestartPolicy:
    """Counts restarts and decides: restart after a delay, or escalate.

    Args:
        intensity: restarts allowed within ``period_s`` (>= 0).
        period_s: the sliding period in seconds (> 0).
        base_s: the backoff after the first restart of a burst.
        cap_s: the longest backoff.
        seed: seeds the jitter (for reproducible tests).

    Raises:
        ValueError: a negative intensity or a non-positive period.
    """

    def __init__(self, intensity: int, period_s: float, *, base_s: float = 0.01,
                 cap_s: float = 0.5, seed: int | None = None) -> None:
        """Create the policy with no restart counted."""
        if intensity < 0:
            msg = f"intensity={intensity} is not accepted: an integer >= 0"
            raise ValueError(msg)
        if period_s <= 0:
            msg = f"period_s={period_s} is not accepted: a number of seconds > 0"
            raise ValueError(msg)
        self.intensity = intensity
        self.period_s = period_s
        self.base_s = base_s
        self.cap_s = cap_s
        self.restarts = 0
        self._recent: deque[float] = deque()
        self._random = random.Random(seed)  # noqa: S311 - jitter, not cryptography

    def recent(self, now: float) -> int:
        """Restarts within the period ending at ``now``."""
        while self._recent and now - self._recent[0] > self.period_s:
            self._recent.popleft()
        return len(self._recent)

    def record(self, now: float) -> float | None:
        """A child died at ``now`` (monotonic seconds).

        Returns:
            The delay before restarting it, or ``None`` to escalate (the
            restart would exceed the intensity).
        """
        count = self.recent(now)
        if count >= self.intensity:
            return None
        self._recent.append(now)
        self.restarts += 1
        if count == 0:
            return 0.0
        delay = min(self.cap_s, self.base_s * (1 << (count - 1)))
        jitter: float = 0.5 + self._random.random() / 2
        return delay * jitter
