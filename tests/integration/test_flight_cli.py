"""``serve --flight-port`` as a hub and ``prefetch`` from it with a list of stores."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.lines import pump_lines, wait_for_line

pytest.importorskip("pyarrow.flight")

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False)


def test_prefetch_through_a_serving_hub_with_the_database_behind(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    # The 5 sessions before 2024-12-02 (the seed's default).
    seeded = run("seed", "--store", store, "--symbols", "6", "--intervals", "1m,1d")
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "run.py", "serve", "--store", store, "--flight-port", str(port),
         "--status-interval", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.SimpleQueue = queue.SimpleQueue()
    reader = threading.Thread(target=pump_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    hub = f"grpc://127.0.0.1:{port}"
    try:
        started = wait_for_line(lines, "event=serving", seen)
        assert f"flight_port={port}" in started
        assert "shard=all" in started
        # The real clock is far from 2024-12-02's window: the hub reads through its store.
        done = run("prefetch", "--session", "2024-12-02", "--store", hub, "--store", store,
                   "--config", str(_config(tmp_path, shard="1/2")))
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"served by {hub} shard 1/2" in done.stdout
        status = wait_for_line(lines, "hub_read_through=", seen)
        while "hub_read_through=0 " in status:
            status = wait_for_line(lines, "hub_read_through=", seen)
        assert "hub_lacked=0" in status
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    assert "Traceback" not in "".join(seen)


def _config(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / "host.toml"
    path.write_text("".join(f'{key} = "{value}"\n' for key, value in values.items()))
    return path


def test_bad_flight_port_and_shard_are_refused_in_one_line(tmp_path: Path):
    bad = run("serve", "--flight-port", "70000")
    assert bad.returncode == 2
    assert "--flight-port='70000' is not accepted" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = run("prefetch", "--config", str(_config(tmp_path, shard="3/2")))
    assert bad.returncode == 2
    assert "shard='3/2'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
