"""The LoaderActor: loads one batch from the store and replies.

A loader holds no state but its store. It answers every request, success or
failure, to the reply address in the request, so the scheduler never waits
on it. Whatever the store raises, BaseException included, becomes a
:class:`~preopen.actors.messages.LoadFailed` reply: a SystemExit escaping an
actor would stop every actor in the process (pykka's rule).
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from preopen.actors._base import SupervisedActor, describe
from preopen.actors.messages import ListSymbols, LoadBatch, Loaded, LoadFailed, SymbolsListed

if TYPE_CHECKING:
    from preopen.actors._base import ChildContext
    from preopen.store import BarStore

__all__ = ["LoaderActor", "is_transient"]


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is about the connection (retry as is) rather than the data."""
    return isinstance(error, (ConnectionError, TimeoutError))


class LoaderActor(SupervisedActor):
    """Loads batches of symbols from a store.

    Args:
        context: its place in the supervision tree.
        store: the bar store (safe to call from several loaders at once).
    """

    def __init__(self, context: ChildContext, *, store: BarStore) -> None:
        """Create the actor (runs in the supervisor's thread)."""
        super().__init__(context)
        self._store = store

    def on_receive(self, message: Any) -> Any:  # noqa: ANN401 - pykka's contract
        """Handle one message."""
        match message:
            case LoadBatch():
                self._load(message)
            case ListSymbols(request_id=request_id, reply_to=reply_to):
                try:
                    symbols = tuple(self._store.symbols())
                except BaseException as exc:  # noqa: BLE001 - see the module's docstring
                    reply_to.tell(LoadFailed(request_id, describe(exc), is_transient(exc)))
                else:
                    reply_to.tell(SymbolsListed(request_id, symbols))
            case _:
                return super().on_receive(message)
        return None

    def _load(self, request: LoadBatch) -> None:
        started = time.perf_counter()
        try:
            bars = self._store.load(request.symbols, request.interval, request.start, request.end)
        except BaseException as exc:  # noqa: BLE001 - see the module's docstring
            request.reply_to.tell(LoadFailed(request.request_id, describe(exc), is_transient(exc)))
            return
        # A fresh dict nobody else holds, behind a read-only view: immutable in transit.
        wanted = {s: bars[s] for s in request.symbols if s in bars}
        request.reply_to.tell(
            Loaded(request.request_id, MappingProxyType(wanted), time.perf_counter() - started)
        )
