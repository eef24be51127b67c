"""The LoaderActor: loads one batch from the store and replies.

A loader holds no state but its store. It answers every request, success or
failure, to the scheduler, so the scheduler never waits on it. Whatever the
store raises, BaseException included, becomes a
:class:`~preopen.actors.messages.LoadFailed` reply: a SystemExit escaping an
actor would stop every actor in the process (pykka's rule). A failed call is
logged here, once, with its traceback.

A loader runs on a daemon thread (pykka's ``use_daemon_thread``): it is the
one actor that calls foreign code that may not return (a store call that
ignores cancellation). The runtime's stop interrupts the store and reports
such a thread by name; being a daemon, it does not keep the process alive.
Once the tree is stopping, a loader starts no new store call.

What a loader does with a :class:`~preopen.actors.messages.LoadBatch` is
:func:`load_batch`: the store's bars, after checking the reused bars of an
incremental prefetch against the store when the batch carries a
``ReuseCheck`` (``verify_reused``; see :mod:`preopen.planning.incremental`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.actors.child import SupervisedActor, describe
from preopen.actors.messages import ListSymbols, LoadBatch, Loaded, LoadFailed, SymbolsListed
from preopen.errors import is_store_wide, is_transient
from preopen.status import ErrorInfo
from preopen.store import fingerprints_of

if TYPE_CHECKING:
    from preopen.actors.child import Address
    from preopen.model import Bars
    from preopen.store import BarStore

__all__ = ["LoaderActor", "LoaderWiring", "is_transient", "load_batch", "load_failed"]

logger = logging.getLogger(__name__)


def load_failed(request_id: int, error: BaseException, seconds: float = 0.0, *,
                where: str = "") -> LoadFailed:
    """The :class:`LoadFailed` reply for ``error``: its classification, type and message."""
    return LoadFailed(request_id, describe(error), is_transient(error),
                      store_wide=is_store_wide(error), error_type=type(error).__name__,
                      seconds=seconds, failure=ErrorInfo.of(error, where))


def load_batch(store: BarStore, request: LoadBatch) -> tuple[dict[str, Bars], frozenset[str]]:
    """What a loader does with a LoadBatch: its bars, and the symbols reloaded in full.

    With a ``check`` (``verify_reused``) and a store that has
    ``fingerprints``, the store's fingerprints of ``[full_start, start)``
    are compared with the reused bars' (one aggregate query for the batch);
    the symbols that differ (a correction to a past session) are loaded from
    ``full_start``, and named in the second value.
    """
    batch = request.batch
    bars = store.load(batch.symbols, batch.interval, request.start, request.end)
    check = request.check
    fingerprints = getattr(store, "fingerprints", None)  # a host's store may not have it
    if check is None or not callable(fingerprints):
        return bars, frozenset()
    symbols = [s for s in batch.symbols if s in check.reused]
    ranges = [(check.full_start, request.start)]
    found = fingerprints(symbols, batch.interval, ranges)
    changed = [s for s in symbols
               if tuple(found.get(s, ())) != fingerprints_of(check.reused[s], ranges)]
    if changed:
        bars = {**bars, **store.load(changed, batch.interval, check.full_start, request.end)}
    return bars, frozenset(changed)


@dataclass(frozen=True, slots=True)
class LoaderWiring:
    """What a LoaderActor is connected to.

    Attributes:
        store: the bar store (safe to call from several loaders at once).
        scheduler: where the answers go.
    """

    store: BarStore
    scheduler: Address


class LoaderActor(SupervisedActor[LoaderWiring]):
    """Loads batches of symbols from a store."""

    use_daemon_thread = True  # see the module's docstring

    def handle(self, message: object) -> object:
        """Handle one message."""
        if self.context.address.outstanding.closed and isinstance(message,
                                                                   (LoadBatch, ListSymbols)):
            return None  # stopping: no new store call (nobody would read its answer)
        match message:
            case LoadBatch():
                self._load(message)
            case ListSymbols(request_id=request_id):
                scheduler = self.wiring.scheduler
                try:
                    symbols = tuple(self.wiring.store.symbols())
                except BaseException as exc:
                    logger.warning("%s: listing the store's symbols failed", self.context.key,
                                   exc_info=exc)
                    scheduler.tell(load_failed(request_id, exc, where=self.context.key.name))
                else:
                    scheduler.tell(SymbolsListed(request_id, symbols))
            case _:
                return super().handle(message)
        return None

    def _load(self, request: LoadBatch) -> None:
        batch = request.batch
        scheduler = self.wiring.scheduler
        started = time.perf_counter()
        try:
            bars, changed = load_batch(self.wiring.store, request)
        except BaseException as exc:
            what = (f"{self.context.key}: loading {len(batch.symbols)} symbols of "
                    f"{batch.interval} (request {batch.request_id})")
            if self.context.address.outstanding.closed:
                logger.info("%s ended by the stop: %s", what, describe(exc))  # expected
            else:
                logger.warning("%s failed", what, exc_info=exc)
            scheduler.tell(load_failed(batch.request_id, exc, time.perf_counter() - started,
                                       where=self.context.key.name))
            return
        # A fresh dict nobody else holds, behind a read-only view: immutable in transit.
        wanted = {s: bars[s] for s in batch.symbols if s in bars}
        scheduler.tell(
            Loaded(batch.request_id, MappingProxyType(wanted), time.perf_counter() - started,
                   changed)
        )
