"""FallbackStore: a list of stores tried in order, the database last.

``store = ["grpc://hub:8815", "postgresql://..."]`` opens one
:class:`FallbackStore`. Each call goes to the first store; when it is down
(a connection error, a refused or failed open), slower than its deadline (a
timeout), or lacks what was asked (:class:`~preopen.errors.StoreLacksError`,
a stale session included), the next store is tried, and so on. The store
that answered and how many calls fell back are kept as an immutable
:class:`FallbackReport` the runtime's status shows.

Stores are opened on first use, so a hub that is unreachable at start-up
costs nothing until a load; a store whose open failed is opened again on
the next call. Errors a store raises about the request itself (a bad
interval, a schema error of the database) are not hidden by a fallback when
the last store raises them too: the last store's error is raised, with every
store's reason in its message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from preopen.errors import PreopenTimeoutError, StoreConnectionError, StoreError, redact_url

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping, Sequence

    from preopen.model import Bars
    from preopen.store._base import BarStore
    from preopen.store._fingerprint import Fingerprint

__all__ = ["FallbackReport", "FallbackStore"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FallbackReport:
    """Which store of a list answers, and how often the first did not.

    Attributes:
        served: the URL (password removed) of the store that answered the
            last call; empty before the first.
        fallbacks: calls answered by a store after the first.
        calls: calls answered in all.
        last_reason: why the last fallback happened, in words.
        by_store: calls answered per store URL.
    """

    served: str = ""
    fallbacks: int = 0
    calls: int = 0
    last_reason: str = ""
    by_store: tuple[tuple[str, int], ...] = ()


class FallbackStore:
    """A BarStore over several stores, tried in order.

    Thread-safe without a lock: each thread counts in a tally of its own
    (one writer each), the report sums them when read; a store is opened
    with ``dict.setdefault`` (atomic), so two threads racing to open one
    keep the same store and the loser closes its copy.

    Args:
        urls: the store URLs, first tried first (passwords are never shown).
        opener: opens one URL (``open_store`` with the runtime's options).

    Raises:
        StoreError: no URL, or the same URL twice.
    """

    def __init__(self, urls: Sequence[str], opener: Callable[[str], BarStore]) -> None:
        """Remember the URLs; nothing is opened yet."""
        if not urls or len(set(urls)) != len(urls):
            raise StoreError(f"a list of stores needs distinct URLs, got {len(urls)} "
                             f"({', '.join(redact_url(u) for u in urls)})")
        self._urls = tuple(urls)
        # redact_url rebuilds the URL (sqlite://// loses a slash): only when there is a secret.
        self._shown = tuple(redact_url(u) if "@" in u or "password" in u.lower() else u
                            for u in urls)
        self.url = ",".join(self._shown)
        self._opener = opener
        self._stores: dict[int, BarStore] = {}
        self._local = threading.local()
        self._tallies: list[list[int]] = []  # per thread: calls per store, then fallbacks
        self._last: tuple[int, str] | None = None  # (store answering last, why it fell back)
        self._closed = False

    @property
    def report(self) -> FallbackReport:
        """Which store answered last, and the counts so far."""
        width = len(self._urls)
        totals = [0] * (width + 1)
        for tally in tuple(self._tallies):
            for i, value in enumerate(tally):
                totals[i] += value
        last = self._last
        return FallbackReport(
            served=self._shown[last[0]] if last is not None else "",
            fallbacks=totals[width],
            calls=sum(totals[:width]),
            last_reason=last[1] if last is not None else "",
            by_store=tuple(zip(self._shown, totals[:width], strict=True)),
        )

    # --- BarStore ----------------------------------------------------------------

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Bars]:
        """Load from the first store that answers (see the module's docstring)."""
        return self._first("load", lambda store: store.load(symbols, interval, start, end))

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Write to the first store that takes writes (a hub is read-only)."""
        return self._first("write", lambda store: store.write(interval, bars_by_symbol))

    def symbols(self) -> tuple[str, ...]:
        """The symbols of the first store that answers."""
        return self._first("symbols", lambda store: store.symbols())

    def fingerprints(
        self,
        symbols: Sequence[str],
        interval: str,
        ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    ) -> dict[str, tuple[Fingerprint, ...]]:
        """The fingerprints of the first store that keeps them (a hub does not)."""
        return self._first("fingerprint",
                           lambda store: store.fingerprints(symbols, interval, ranges))

    def interrupt(self) -> None:
        """Interrupt the calls in flight on every store opened."""
        for store in list(self._stores.values()):
            interrupt = getattr(store, "interrupt", None)  # a host's own store may lack it
            if interrupt is not None:
                interrupt()

    def close(self) -> None:
        """Close every store opened."""
        self._closed = True
        for index in range(len(self._urls)):
            store = self._stores.pop(index, None)
            if store is not None:
                store.close()

    def __repr__(self) -> str:
        """The URLs in order and what answered last."""
        return f"FallbackStore({self.url!r}, served={self.report.served!r})"

    # --- the order ---------------------------------------------------------------

    def _store(self, index: int) -> BarStore:
        if self._closed:
            raise StoreError(f"store {self.url!r} is closed", url=self.url)
        store = self._stores.get(index)
        if store is None:
            opened = self._opener(self._urls[index])
            store = self._stores.setdefault(index, opened)
            if store is not opened:
                opened.close()  # another thread opened it first
        return store

    def _first(self, operation: str, call: Callable[[BarStore], T]) -> T:
        reasons: list[str] = []
        last: BaseException | None = None
        for index, shown in enumerate(self._shown):
            try:
                result = call(self._store(index))
            except (StoreError, ConnectionError, PreopenTimeoutError, TimeoutError) as exc:
                reasons.append(f"{shown}: {exc}")
                last = exc
                continue
            self._answered(index, "; ".join(reasons))
            return result
        assert last is not None  # noqa: S101 - at least one store was tried
        message = f"couldn't {operation} from any of {len(self._shown)} stores: " + " | ".join(
            reasons)
        if isinstance(last, ConnectionError | TimeoutError):
            # Still a connection problem: the loader retries it as transient.
            raise StoreConnectionError(message, url=self.url) from last
        raise StoreError(message, url=self.url) from last

    def _answered(self, index: int, reason: str) -> None:
        tally: list[int] | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = [0] * (len(self._urls) + 1)
            self._local.tally = tally
            self._tallies.append(tally)  # list.append is atomic
        tally[index] += 1
        if index > 0:
            tally[-1] += 1
        self._last = (index, reason)
