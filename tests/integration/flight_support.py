"""Shared by the Flight tests: a seeded SQLite store and the week's instants.

Also runnable as a hub process: ``python flight_support.py STORE_URL PORT_FILE [MODE]``
starts a SnapshotHub on a free loopback port, offers it the snapshot a
runtime on a simulated clock freezes for 2024-12-02 (in the window, before
the open), writes the port to PORT_FILE and serves until killed. MODE
``stale`` makes the hub answer from the snapshot of 2024-11-29 whatever is
asked (a hub behind by one session); ``corrupt`` answers a stream of the
wrong schema; ``slow`` waits before answering (past a host's deadline);
``stall`` sends one record batch, writes ``PORT_FILE.sent`` and then hangs
(so that a test can kill it in the middle of a transfer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parents[2]), str(Path(__file__).parents[1])]

from support.week import XNYS, at  # noqa: E402 - after the path is set

from preopen.store import open_store  # noqa: E402
from preopen.store.synthetic import seed_store, symbol_names  # noqa: E402

SYMBOLS = tuple(symbol_names(24))
SESSION = dt.date(2024, 12, 2)  # trailing 5: 11-22, 11-25, 11-26, 11-27, 11-29 (13:00)
PREVIOUS = dt.date(2024, 11, 29)
INTERVALS = ("1m", "1d")


def seed(path: Path) -> str:
    url = f"sqlite:///{path}"
    store = open_store(url, create=True)
    try:
        seed_store(store, XNYS, SYMBOLS, XNYS.sessions(dt.date(2024, 11, 15), SESSION), INTERVALS)
    finally:
        store.close()
    return url


def hub_settings(url: str, **more: object):
    from preopen.settings import Settings  # noqa: PLC0415

    values = {"store": url, "loaders": 2, "batch_size": 8, "symbols": SYMBOLS,
              "intervals": INTERVALS}
    values.update(more)
    return Settings(**values)


def frozen_snapshots(url: str, sessions=(SESSION,)):
    """The snapshots a runtime freezes in the window of each session, in order."""
    from preopen.clock import SimulatedClock  # noqa: PLC0415
    from preopen.runtime import Runtime  # noqa: PLC0415

    frozen = []
    clock = SimulatedClock(at(sessions[0] - dt.timedelta(days=1), "20:00"))
    with Runtime.start(hub_settings(url), clock=clock, on_frozen=frozen.append) as runtime:
        clock.advance(dt.timedelta(0))
        for session in sessions:
            clock.advance_to(at(session, "09:00"))
            runtime.wait_for(lambda s, d=session: s.session == d and s.prefetch_seconds
                             is not None and s.progress.pending == 0, timeout=60)
    return frozen


class HubProcess:
    """A hub in a child process on a free loopback port; always killed at exit."""

    def __init__(self, url: str, workdir: Path, mode: str = "ok", *, port: int = 0) -> None:
        self.url = url
        self.mode = mode
        self.port_file = workdir / f"hub-{mode}-{time.monotonic_ns()}.port"
        self.sent = self.port_file.with_suffix(".sent")
        env = {**os.environ, "HUB_PORT": str(port)}
        if mode == "stall":
            env["HUB_BATCH_ROWS"] = "100"
        self.process = subprocess.Popen(
            [sys.executable, __file__, url, str(self.port_file), mode], env=env)
        self.port = self._wait_port(120.0)

    def _wait_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not self.port_file.exists():
            if self.process.poll() is not None:
                msg = f"the hub process exited with {self.process.returncode}"
                raise RuntimeError(msg)
            if time.monotonic() > deadline:
                self.kill()
                msg = f"the hub gave no port within {timeout} s"
                raise TimeoutError(msg)
            time.sleep(0.05)
        return int(self.port_file.read_text())

    @property
    def address(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def wait_sent(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.sent.exists():
            if time.monotonic() > deadline:
                msg = "the hub sent nothing"
                raise TimeoutError(msg)
            time.sleep(0.02)

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def __enter__(self) -> HubProcess:  # noqa: PYI034 - a test helper
        return self

    def __exit__(self, *_: object) -> None:
        self.kill()


def _serve(url: str, port_file: Path, mode: str) -> None:
    from preopen.hub import SnapshotHub  # noqa: PLC0415

    class Faulty(SnapshotHub):
        def _covering(self, request):
            if mode == "stale":
                return self._held[0] if self._held else None  # whatever it holds
            return super()._covering(request)

        def do_get(self, context, ticket):
            if mode == "slow":
                time.sleep(30)
            if mode == "stall":
                from pyarrow import flight  # noqa: PLC0415

                from preopen.store import Request  # noqa: PLC0415

                table = self._answer(Request.decode(ticket.ticket), self._tally())

                def batches():
                    parts = table.to_batches(max_chunksize=100)
                    yield parts[0]
                    port_file.with_suffix(".sent").write_text("1")
                    time.sleep(600)
                    yield from parts[1:]

                return flight.GeneratorStream(table.schema, batches())
            if mode == "corrupt":
                import pyarrow as pa  # noqa: PLC0415
                from pyarrow import flight  # noqa: PLC0415

                bad = pa.table({"symbol": ["S0000"], "ts": [1.5]})
                return flight.RecordBatchStream(bad)
            return super().do_get(context, ticket)

    sessions = (PREVIOUS,) if mode == "stale" else (SESSION,)
    snapshots = frozen_snapshots(url, sessions)
    hub = Faulty(f"grpc://127.0.0.1:{os.environ.get('HUB_PORT', '0')}", calendar=XNYS,
                 trailing_days=5, batch_rows=int(os.environ.get("HUB_BATCH_ROWS", "65536")))
    for snapshot in snapshots:
        hub.offer(snapshot)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(hub.port))
    tmp.rename(port_file)
    hub.serve()


if __name__ == "__main__":
    _serve(sys.argv[1], Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "ok")
