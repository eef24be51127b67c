"""The hub's wire format over Arrow Flight, and FlightStore, the store that reads a hub.

``grpc://host:port`` (the scheme pyarrow.flight uses) opens a
:class:`FlightStore`: a BarStore whose loads come from another preopen that
serves its frozen snapshots (:mod:`preopen.hub`).

The wire format, both sides of it here:

- a request is a Flight ticket holding one JSON object :class:`Request`:
  ``interval``, ``start`` and ``end`` (UTC nanoseconds, ``start <= ts < end``),
  ``symbols`` and optionally ``session`` (ISO date);
- the answer is one Arrow stream of :data:`schema`: ``symbol`` (dictionary of
  int32 indices over the requested symbols, in request order), ``ts``
  (timestamp ns UTC) and five float64 columns, sorted by symbol then ts. Its
  schema metadata names the session of the snapshot that answered, the span
  of bars that snapshot holds (``start``/``end``), the interval and where the
  bars came from (``snapshot``, ``store`` for a read-through, or ``mixed``);
- the action ``symbols`` answers a JSON list of symbols;
- a hub that lacks the range and cannot read through answers an error whose
  ``extra_info`` is :data:`LACKS`.

The client checks what comes back: the schema, the interval, that the span
served covers the range asked (a hub still holding the previous session's
snapshot is refused as stale), that every symbol asked is in the dictionary,
that the rows are sorted by symbol and every ts is within the range. A stream
that breaks off or does not parse is a :class:`~preopen.errors.StoreError`.

pyarrow is an optional extra: it is imported on first use, never at start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from preopen.errors import (
    MissingExtraError,
    PreopenTimeoutError,
    StaleSessionError,
    StoreConnectionError,
    StoreError,
    StoreLacksError,
)
from preopen.model import FIELDS, Bars, to_ns

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import ModuleType

    import pyarrow as pa

    from preopen.store._fingerprint import Fingerprint

__all__ = ["LACKS", "FlightStore", "Request", "bars_to_arrow", "require_arrow", "schema"]

#: ``extra_info`` of the error a hub raises when it lacks the range.
LACKS: Final = b"preopen:lacks"
_META_PREFIX: Final = "preopen."
_DEFAULT_TIMEOUT_S: Final = 30.0


def require_arrow() -> tuple[ModuleType, ModuleType]:
    """``(pyarrow, pyarrow.flight)``, imported now.

    Raises:
        MissingExtraError: pyarrow is not installed (``pip install 'preopen[arrow]'``).
    """
    try:
        import pyarrow as pa  # noqa: PLC0415 - an optional extra, loaded on use
        from pyarrow import flight  # noqa: PLC0415
    except ImportError:
        raise MissingExtraError(extra="arrow", module="pyarrow",
                                what="a hub (Arrow Flight)") from None
    return pa, flight


def schema(metadata: Mapping[str, str] | None = None) -> pa.Schema:
    """The schema of the hub's answers, with ``metadata`` under ``preopen.`` keys."""
    pa, _ = require_arrow()
    fields = [pa.field("symbol", pa.dictionary(pa.int32(), pa.string()), nullable=False),
              pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False)]
    fields += [pa.field(name, pa.float64(), nullable=False) for name in FIELDS[1:]]
    meta = {f"{_META_PREFIX}{k}": v for k, v in (metadata or {}).items()}
    return pa.schema(fields, metadata=meta or None)


@dataclass(frozen=True, slots=True)
class Request:
    """What a host asks a hub for.

    Attributes:
        interval: the bar interval.
        start: UTC nanoseconds, inclusive.
        end: UTC nanoseconds, exclusive.
        symbols: the symbols, in the order of the answer's dictionary.
        session: the session the host prepares, when it says so.
    """

    interval: str
    start: int
    end: int
    symbols: tuple[str, ...]
    session: dt.date | None = None

    def encode(self) -> bytes:
        """The ticket: one JSON object."""
        return json.dumps({
            "v": 1, "interval": self.interval, "start": self.start, "end": self.end,
            "symbols": list(self.symbols),
            "session": self.session.isoformat() if self.session else None,
        }, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, ticket: bytes) -> Request:
        """Parse a ticket.

        Raises:
            ValueError: not a ticket of this format.
        """
        try:
            data = json.loads(ticket)
            symbols = data["symbols"]
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise TypeError(symbols)  # noqa: TRY301 - one message for every defect
            session = dt.date.fromisoformat(data["session"]) if data.get("session") else None
            return cls(str(data["interval"]), int(data["start"]), int(data["end"]),
                       tuple(symbols), session)
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"ticket {ticket[:80]!r} is not a preopen request: {exc!r}"
            raise ValueError(msg) from None


def bars_to_arrow(symbols: Sequence[str], bars: Sequence[Bars],
                  metadata: Mapping[str, str]) -> pa.Table:
    """One table of the answer's schema from one Bars per symbol (same order).

    The only place the hub turns bars into Arrow: per symbol one slice of
    each column is concatenated with numpy, no Python object per row. (Once
    snapshots are columnar, this becomes a take on the interval's table.)
    """
    pa, _ = require_arrow()
    counts = np.fromiter((len(b) for b in bars), dtype=np.int64, count=len(bars))
    indices = np.repeat(np.arange(len(symbols), dtype=np.int32), counts)
    columns: list[Any] = [pa.DictionaryArray.from_arrays(
        pa.array(indices, type=pa.int32()), pa.array(list(symbols), type=pa.string()))]
    for name in FIELDS:
        column = (np.concatenate([getattr(b, name) for b in bars]) if bars
                  else np.empty(0, np.int64 if name == "ts" else np.float64))
        columns.append(pa.array(column, type=schema().field(name).type))
    return pa.Table.from_arrays(columns, schema=schema(metadata))


def arrow_to_bars(table: pa.Table, request: Request, *, url: str) -> dict[str, Bars]:
    """Check an answer against its request and cut it into Bars.

    Raises:
        StaleSessionError: the span served ends before the range asked.
        StoreLacksError: the span served does not cover the range otherwise.
        StoreError: the schema, the interval, the symbols or the rows are wrong.
    """
    _check_answer(table.schema, request, url=url)
    if table.num_rows == 0:
        return {s: Bars.empty(s, request.interval) for s in request.symbols}
    combined = table.combine_chunks()
    symbol = combined.column("symbol").chunk(0)
    names = symbol.dictionary.to_pylist()
    if names != list(request.symbols):
        raise StoreError(f"hub {url} answered other symbols than asked "
                         f"({len(names)} for {len(request.symbols)})", url=url)
    columns = {name: combined.column(name).to_numpy() for name in FIELDS}
    indices = symbol.indices.to_numpy()
    ts = columns["ts"].view(np.int64)
    if (np.diff(indices) < 0).any() or (ts < request.start).any() or (ts >= request.end).any():
        raise StoreError(f"hub {url} answered rows out of order or outside the range", url=url)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=len(names)))])
    out: dict[str, Bars] = {}
    for i, name in enumerate(names):
        a, b = int(bounds[i]), int(bounds[i + 1])
        out[name] = Bars.from_arrays(name, request.interval, ts[a:b],
                                     *(columns[f][a:b] for f in FIELDS[1:]))
    return out


def _check_answer(answer: pa.Schema, request: Request, *, url: str) -> None:
    """The schema and the metadata: the interval, the session, the span served."""
    meta = {k.decode(): v.decode() for k, v in (answer.metadata or {}).items()}
    bare = answer.remove_metadata()
    if not bare.equals(schema()):
        raise StoreError(f"hub {url} answered an unexpected schema: {bare}", url=url)
    try:
        served = (int(meta[f"{_META_PREFIX}start"]), int(meta[f"{_META_PREFIX}end"]))
        session = meta[f"{_META_PREFIX}session"]
        interval = meta[f"{_META_PREFIX}interval"]
    except (KeyError, ValueError) as exc:
        raise StoreError(f"hub {url} answered without its metadata ({exc!r})", url=url) from None
    if interval != request.interval:
        raise StoreError(f"hub {url} answered interval {interval!r}, not {request.interval!r}",
                         url=url)
    wrong_session = request.session is not None and session != request.session.isoformat()
    if wrong_session or served[1] < request.end:
        raise StaleSessionError(session=session, served_end=served[1], wanted_end=request.end,
                                url=url)
    if served[0] > request.start:
        raise StoreLacksError(f"hub {url} holds bars from {served[0]} only, not from "
                              f"{request.start}", what="range", url=url)


class FlightStore:
    """A BarStore that loads from a preopen hub over Arrow Flight. Read-only.

    Args:
        url: ``grpc://host:port``; ``?timeout=S`` sets the deadline of one
            call in seconds (default 30).
        connect_timeout: unused (a Flight client connects on its first call);
            kept for ``open_store``'s signature.

    Raises:
        StoreError: a URL without a host or port, or a bad timeout.
        MissingExtraError: pyarrow is not installed.
    """

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        """Check the URL; the connection is made on the first call."""
        del connect_timeout
        require_arrow()
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        try:
            port = parts.port
            self.timeout = float(query.get("timeout", _DEFAULT_TIMEOUT_S))
        except ValueError:
            port, self.timeout = None, 0.0
        if not parts.hostname or port is None or not self.timeout > 0:
            raise StoreError(f"store URL {url!r} is not accepted: use grpc://host:port "
                             "(optionally ?timeout=seconds, > 0)", url=url)
        self.host, self.port = parts.hostname, port
        self.url = f"{parts.scheme}://{self.host}:{port}"
        self._location = f"grpc://{self.host}:{port}"
        self._local = threading.local()
        self._clients: list[Any] = []  # every thread's client (list.append is atomic)
        self._generation = 0  # bumped by interrupt(): each thread then makes a new client

    def _client(self) -> Any:  # noqa: ANN401 - pyarrow.flight.FlightClient
        client = getattr(self._local, "client", None)
        if client is None or getattr(self._local, "generation", -1) != self._generation:
            _, flight = require_arrow()
            client = flight.FlightClient(self._location)
            self._local.client = client
            self._local.generation = self._generation
            self._clients.append(client)
        return client

    def _options(self) -> Any:  # noqa: ANN401 - pyarrow.flight.FlightCallOptions
        _, flight = require_arrow()
        return flight.FlightCallOptions(timeout=self.timeout)

    def load(
        self, symbols: Sequence[str], interval: str, start: dt.datetime, end: dt.datetime,
        *, session: dt.date | None = None,
    ) -> dict[str, Bars]:
        """Load the bars of ``symbols`` with ``start <= ts < end`` from the hub.

        Raises:
            StoreConnectionError: the hub does not answer or broke off.
            PreopenTimeoutError: no complete answer within the deadline.
            StoreLacksError: the hub lacks the range (StaleSessionError: it
                holds another session's bars).
            StoreError: an answer that is not what was asked.
        """
        request = Request(interval, to_ns(start), to_ns(end), tuple(symbols), session)
        if not request.symbols:
            return {}
        _, flight = require_arrow()
        with self._errors("load"):
            reader = self._client().do_get(flight.Ticket(request.encode()), self._options())
            table = reader.read_all()
        return arrow_to_bars(table, request, url=self.url)

    def symbols(self) -> tuple[str, ...]:
        """The symbols the hub serves (its newest snapshot's, else its store's)."""
        _, flight = require_arrow()
        with self._errors("symbols"):
            results = list(self._client().do_action(flight.Action("symbols", b""),
                                                    self._options()))
        try:
            names = json.loads(results[0].body.to_pybytes())
        except (IndexError, ValueError) as exc:
            raise StoreError(f"hub {self.url} answered no symbol list ({exc!r})",
                             url=self.url) from None
        return tuple(sorted(names))

    def write(self, interval: str, bars_by_symbol: Mapping[str, Bars]) -> int:
        """Refuse: a hub is read-only."""
        del interval, bars_by_symbol
        raise StoreError(f"store {self.url} is a hub: it is read-only", url=self.url)

    def fingerprints(
        self,
        symbols: Sequence[str],
        interval: str,
        ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    ) -> dict[str, tuple[Fingerprint, ...]]:
        """Refuse: a hub serves frozen snapshots and keeps no fingerprints.

        Raises:
            StoreLacksError: always; a list of stores asks the next one.
        """
        del symbols, interval, ranges
        raise StoreLacksError(f"hub {self.url} keeps no fingerprints",
                              what="fingerprints", url=self.url)

    def interrupt(self) -> None:
        """Close every client: calls in flight fail at once; later calls reconnect."""
        self._generation += 1
        self.close()

    def close(self) -> None:
        """Close every client opened."""
        clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def __repr__(self) -> str:
        """The hub's URL."""
        return f"FlightStore({self.url!r})"

    def _errors(self, what: str) -> _Errors:
        return _Errors(self, what)


class _Errors:
    """Turns pyarrow's errors of one call into preopen's."""

    def __init__(self, store: FlightStore, what: str) -> None:
        self._store = store
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc is None:
            return
        pa, flight = require_arrow()
        store = self._store
        where = f"hub {store.host}:{store.port}"
        if isinstance(exc, flight.FlightTimedOutError):
            raise PreopenTimeoutError(f"{self._what} from {where}", store.timeout) from exc
        if isinstance(exc, flight.FlightError) and getattr(exc, "extra_info", b"") == LACKS:
            raise StoreLacksError(f"{where} lacks it: {_first_line(exc)}", what=self._what,
                                  url=store.url) from exc
        if isinstance(exc, flight.FlightUnavailableError | flight.FlightCancelledError
                      | ConnectionError | OSError):
            raise StoreConnectionError(f"couldn't {self._what} from {where}: {_first_line(exc)}",
                                       url=store.url, host=store.host, port=store.port) from exc
        if isinstance(exc, pa.ArrowException | flight.FlightError):
            raise StoreError(f"{self._what} from {where} failed: {_first_line(exc)}",
                             url=store.url) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
