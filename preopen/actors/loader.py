"""The LoaderActor: loads one batch from the store and replies.

A loader holds no state but its store. It answers every request, success or
failure, to the scheduler, so the scheduler never waits on it. Whatever the
store raises, BaseException included, becomes a
:class:`~preopen.actors.messages.LoadFailed` reply: a SystemExit escaping an
actor would stop every actor in the process (pykka's rule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from preopen.actors.child import SupervisedActor, describe
from preopen.actors.incremental import load_batch
from preopen.actors.messages import ListSymbols, LoadBatch, Loaded, LoadFailed, SymbolsListed

if TYPE_CHECKING:
    from preopen.actors.child import Address
    from preopen.store import BarStore

__all__ = ["LoaderActor", "LoaderWiring", "is_transient"]


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is about the connection (retry as is) rather than the data."""
    return isinstance(error, (ConnectionError, TimeoutError))


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

    def handle(self, message: object) -> object:
        """Handle one message."""
        match message:
            case LoadBatch():
                self._load(message)
            case ListSymbols(request_id=request_id):
                scheduler = self.wiring.scheduler
                try:
                    symbols = tuple(self.wiring.store.symbols())
                except BaseException as exc:  # noqa: BLE001 - see the module's docstring
                    scheduler.tell(LoadFailed(request_id, describe(exc), is_transient(exc)))
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
        except BaseException as exc:  # noqa: BLE001 - see the module's docstring
            scheduler.tell(LoadFailed(batch.request_id, describe(exc), is_transient(exc)))
            return
        # A fresh dict nobody else holds, behind a read-only view: immutable in transit.
        wanted = {s: bars[s] for s in batch.symbols if s in bars}
        scheduler.tell(
            Loaded(batch.request_id, MappingProxyType(wanted), time.perf_counter() - started,
                   changed)
        )
