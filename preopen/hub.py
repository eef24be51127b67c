"""SnapshotHub: serves a runtime's frozen snapshots to other hosts over Arrow Flight.

One preopen loads from the database and serves; the others open the store
``grpc://hub:port`` (:class:`~preopen.store.FlightStore`), usually first in a
list whose last store is the database. The hub is a plain object:
:meth:`SnapshotHub.offer` hands it a snapshot (the runtime calls it with each
snapshot it freezes, the next session's in the window as well as the
follow-ups after the open), and it answers ``do_get`` from the newest
snapshot whose span of bars covers the range asked. What it lacks (a symbol
the snapshot does not hold, or a range no snapshot covers) it loads from its
own store when it has one (read-through), and counts it in :meth:`stats`;
without a store it answers that it lacks it, and the host asks its next store.

The wire format is :mod:`preopen.store`'s (``Request``, ``schema``,
``bars_to_arrow``). Requires the ``arrow`` extra; nothing imports this
module at start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from preopen.errors import MissingExtraError, StoreError
from preopen.model import Bars, to_ns
from preopen.store import LACKS, Request, bars_to_arrow

try:
    import pyarrow as pa
    from pyarrow import flight
except ImportError:  # pragma: no cover - the extra is installed wherever tests run
    raise MissingExtraError(extra="arrow", module="pyarrow", what="a hub (Arrow Flight)") from None

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from preopen.calendar import ExchangeCalendar
    from preopen.model import SessionSnapshot
    from preopen.store import BarStore

__all__ = ["HubStats", "SnapshotHub"]

log = logging.getLogger("preopen")

#: Rows per record batch on the wire (a broken transfer loses at most one).
BATCH_ROWS: Final = 65_536
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Tally slots, per serving thread.
_REQUESTS, _ROWS, _FROM_SNAPSHOT, _READ_THROUGH, _READ_LOADS, _LACKED, _ERRORS = range(7)


@dataclass(frozen=True, slots=True)
class HubStats:
    """What a hub has served since it started.

    Attributes:
        port: the port it listens on.
        sessions: the sessions of the snapshots it holds, newest first.
        requests: ``do_get`` calls answered (or refused).
        rows_sent: bars sent.
        symbols_from_snapshot: (symbol, interval) answers taken from a snapshot.
        symbols_read_through: (symbol, interval) answers loaded from its own store.
        read_through_loads: loads made from its own store.
        lacked: requests refused because it lacked the range and had no store.
        errors: requests that failed otherwise (a bad ticket, a store error).
    """

    port: int
    sessions: tuple[dt.date, ...]
    requests: int
    rows_sent: int
    symbols_from_snapshot: int
    symbols_read_through: int
    read_through_loads: int
    lacked: int
    errors: int

    def line(self) -> str:
        """``key=value`` words for a log line."""
        sessions = ",".join(s.isoformat() for s in self.sessions) or "-"
        return (f"hub_port={self.port} hub_sessions={sessions} hub_requests={self.requests} "
                f"hub_rows={self.rows_sent} hub_from_snapshot={self.symbols_from_snapshot} "
                f"hub_read_through={self.symbols_read_through} "
                f"hub_read_through_loads={self.read_through_loads} hub_lacked={self.lacked} "
                f"hub_errors={self.errors}")


class SnapshotHub(flight.FlightServerBase):  # type: ignore[misc]  # pyarrow has no stubs
    """An Arrow Flight server of frozen snapshots.

    Args:
        location: where to listen (``grpc://127.0.0.1:0`` binds a free port;
            see :attr:`port`).
        calendar: the exchange calendar (a snapshot's span of bars is the
            trailing sessions before its session).
        trailing_days: how many trailing sessions the offered snapshots hold.
        store: the hub's own store for read-through; None: refuse what it lacks.
        keep: how many sessions' snapshots it holds (the next and the current).
        batch_rows: rows per record batch on the wire.
    """

    def __init__(
        self,
        location: str = "grpc://127.0.0.1:0",
        *,
        calendar: ExchangeCalendar,
        trailing_days: int,
        store: BarStore | None = None,
        keep: int = 2,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        """Bind the port and start serving (in gRPC's threads)."""
        super().__init__(location)
        self._calendar = calendar
        self._trailing = trailing_days
        self._store = store
        self._keep = max(1, keep)
        self._batch_rows = batch_rows
        # (session, span start ns, span end ns, snapshot), newest session first.
        # One writer (offer); readers take the tuple reference once.
        self._held: tuple[tuple[dt.date, int, int, SessionSnapshot], ...] = ()
        self._local = threading.local()
        self._tallies: list[list[int]] = []

    # --- feeding -----------------------------------------------------------------

    def offer(self, snapshot: SessionSnapshot) -> None:
        """Hold ``snapshot`` (replacing an older one of its session); keep the newest few.

        Called from one thread at a time (the runtime's callbacks).
        """
        trailing = self._calendar.trailing_sessions(snapshot.session, self._trailing)
        start = to_ns(self._calendar.open_at(trailing[0]))
        end = to_ns(self._calendar.close_at(trailing[-1]))
        others = tuple(h for h in self._held if h[0] != snapshot.session)
        held = sorted(((snapshot.session, start, end, snapshot), *others),
                      key=lambda h: h[0], reverse=True)
        self._held = tuple(held[: self._keep])
        log.info("event=hub-offer session=%s symbols=%d", snapshot.session.isoformat(),
                 len(snapshot.symbols))

    def stats(self) -> HubStats:
        """The counts so far (summed over the serving threads)."""
        totals = [0] * 7
        for tally in tuple(self._tallies):
            for i, value in enumerate(tally):
                totals[i] += value
        return HubStats(self.port, tuple(h[0] for h in self._held), *totals)

    # --- Flight --------------------------------------------------------------------

    def do_get(self, context: Any, ticket: Any) -> Any:  # noqa: ANN401, ARG002 - pyarrow's API
        """Answer one :class:`~preopen.store.Request` with one Arrow stream."""
        tally = self._tally()
        tally[_REQUESTS] += 1
        try:
            request = Request.decode(ticket.ticket)
        except ValueError as exc:
            tally[_ERRORS] += 1
            raise flight.FlightServerError(str(exc)) from None
        table = self._answer(request, tally)
        tally[_ROWS] += table.num_rows
        batches = table.to_batches(max_chunksize=self._batch_rows)
        return flight.RecordBatchStream(pa.Table.from_batches(batches, schema=table.schema))

    def do_action(self, context: Any, action: Any) -> Iterator[bytes]:  # noqa: ANN401, ARG002 - pyarrow's API
        """``symbols``: the newest snapshot's symbols, else the store's."""
        if action.type != "symbols":
            msg = f"unknown action {action.type!r}: the hub answers 'symbols'"
            raise flight.FlightServerError(msg)
        held = self._held
        if held:
            names: Sequence[str] = held[0][3].symbols
        elif self._store is not None:
            names = self._store.symbols()
            self._tally()[_READ_LOADS] += 1
        else:
            raise flight.FlightServerError("the hub holds no snapshot yet", extra_info=LACKS)
        return iter([json.dumps(list(names)).encode()])

    def list_actions(self, context: Any) -> list[tuple[str, str]]:  # noqa: ANN401, ARG002 - pyarrow's API
        """The actions the hub answers."""
        return [("symbols", "the symbols the hub serves, as a JSON list")]

    # --- answering -------------------------------------------------------------------

    def _answer(self, request: Request, tally: list[int]) -> Any:  # noqa: ANN401 - a pyarrow Table
        found = self._covering(request)
        bars: dict[str, Bars] = {}
        missing: list[str] = list(request.symbols)
        session, span = "", (request.start, request.end)
        if found is not None:
            session, span = found[0].isoformat(), (found[1], found[2])
            snapshot = found[3]
            missing = []
            for symbol in request.symbols:
                held = snapshot.data.get((symbol, request.interval))
                if held is None:
                    missing.append(symbol)
                else:
                    bars[symbol] = held.between(request.start, request.end)
            tally[_FROM_SNAPSHOT] += len(bars)
        if missing:
            bars.update(self._read_through(request, missing, tally))
            if found is None:
                session = request.session.isoformat() if request.session else "store"
        source = "snapshot" if not missing else ("store" if found is None else "mixed")
        metadata = {"session": session, "start": str(span[0]), "end": str(span[1]),
                    "interval": request.interval, "source": source}
        return bars_to_arrow(request.symbols, [bars[s] for s in request.symbols], metadata)

    def _covering(self, request: Request) -> tuple[dt.date, int, int, SessionSnapshot] | None:
        for held in self._held:
            session, start, end, snapshot = held
            if request.session is not None and session != request.session:
                continue
            if start <= request.start and request.end <= end \
                    and request.interval in snapshot.intervals:
                return held
        return None

    def _read_through(self, request: Request, missing: list[str],
                      tally: list[int]) -> dict[str, Bars]:
        if self._store is None:
            tally[_LACKED] += 1
            sessions = ", ".join(h[0].isoformat() for h in self._held) or "none"
            msg = (f"the hub lacks {len(missing)} of {len(request.symbols)} symbols at "
                   f"{request.interval} for the range asked (sessions held: {sessions}) "
                   "and has no store to read through")
            raise flight.FlightServerError(msg, extra_info=LACKS)
        start = _EPOCH + dt.timedelta(microseconds=request.start // 1000)
        end = _EPOCH + dt.timedelta(microseconds=-(-request.end // 1000))
        try:
            loaded = self._store.load(missing, request.interval, start, end)
        except (StoreError, ConnectionError, TimeoutError) as exc:
            tally[_ERRORS] += 1
            msg = f"the hub's read-through failed: {exc}"
            raise flight.FlightUnavailableError(msg) from None
        tally[_READ_LOADS] += 1
        tally[_READ_THROUGH] += len(missing)
        empty = Bars.empty
        return {s: b if (b := loaded.get(s)) is not None else empty(s, request.interval)
                for s in missing}

    def _tally(self) -> list[int]:
        tally: list[int] | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = [0] * 7
            self._local.tally = tally
            self._tallies.append(tally)  # list.append is atomic
        return tally
