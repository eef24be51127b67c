"""The PostgreSQL store's calls in flight: a bounded transaction each, cancellable.

Each call (a load, fingerprints, the symbols) runs on a pooled connection in
a transaction whose ``SET LOCAL`` settings bound it by what is left of its
deadline. :meth:`CallsInFlight.interrupt` cancels the queries running from
any thread; a generation counter makes a call that began before it fail
even between two statements or two retries.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Final

import psycopg

from preopen.errors import StoreInterruptedError, StoreTimeoutError
from preopen.store._pgsql import load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from psycopg_pool import ConnectionPool

__all__ = ["CallsInFlight"]

# Seconds interrupt() waits for the server to take a cancel request.
_CANCEL_TIMEOUT: Final = 2.0


class CallsInFlight:
    """The connections in use by a store's calls, for :meth:`interrupt`.

    Attributes:
        generation: bumped by each :meth:`interrupt`; a call reads it when
            it begins and is cancelled once it changed.
    """

    def __init__(self, *, url: str, load_timeout: float) -> None:
        """None yet; ``url`` (no password) and ``load_timeout`` word the errors."""
        self._url = url
        self._load_timeout = load_timeout
        # Thread id -> the connection of the call that thread runs.
        self._active: dict[int, psycopg.Connection[tuple[object, ...]]] = {}
        self.generation = 0

    @contextlib.contextmanager
    def session(
        self,
        pool: ConnectionPool,
        what: str,
        deadline: float,
        wait: float,
        *,
        generation: int,
        symbols: int = 0,
        bars: int = 0,
    ) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A connection of ``pool`` in a transaction bounded by ``deadline``; cancellable.

        Args:
            pool: the store's pool.
            what: the operation, for the errors.
            deadline: the call's deadline (``time.monotonic``).
            wait: the longest wait for a connection (the retry's share).
            generation: :attr:`generation` when the call began.
            symbols: the batch's symbols (sizes ``work_mem``).
            bars: bars per symbol asked for (sizes ``work_mem``).

        Raises:
            StoreTimeoutError: the deadline passed before the query started.
            StoreInterruptedError: interrupt() was called since the call
                began (``generation``), also between two retries.
        """
        if self.generation != generation:
            raise StoreInterruptedError(operation=what, url=self._url)
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreTimeoutError(
                operation=what, seconds=self._load_timeout,
                reason="no connection was free in time", url=self._url,
            )
        key = threading.get_ident()
        with pool.connection(timeout=max(min(wait, left), 0.001)) as conn:
            self._active[key] = conn
            try:
                if self.generation != generation:
                    raise StoreInterruptedError(operation=what, url=self._url)
                ms = max(1, int((deadline - time.monotonic()) * 1000))
                # The lock timeout fires a little first, so that a lock held
                # by another session is named as such.
                with conn.transaction():
                    conn.execute(
                        load_settings(
                            statement_ms=ms, lock_ms=max(1, ms * 9 // 10), symbols=symbols,
                            bars_per_symbol=bars,
                        )
                    )
                    yield conn
            finally:
                del self._active[key]

    def interrupt(self) -> None:
        """Cancel the queries in flight: their calls raise StoreInterruptedError.

        Waits at most about 2 s for the server to take each cancel request.
        """
        self.generation += 1
        for conn in list(self._active.values()):
            with contextlib.suppress(psycopg.Error, OSError):
                conn.cancel_safe(timeout=_CANCEL_TIMEOUT)
