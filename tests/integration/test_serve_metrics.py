"""``run.py serve --metrics-port 0``: the bound port is logged, /metrics is scraped and parsed.

``serve`` runs on the system clock against a SQLite store seeded in tmp_path,
as ``test_serve.py`` does; whatever the phase of the real day, every metric
family is there with its type. The process is always killed at the end.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from support.lines import next_line, pump_lines

from preopen.metrics import METRICS

ROOT = Path(__file__).parents[2]


def _next_json(lines: queue.SimpleQueue, event: str, seen: list[str]) -> dict:
    while True:
        line = next_line(lines, seen)
        entry = json.loads(line)  # every line is one JSON object
        if entry.get("event") == event:
            return entry


def test_serve_exposes_every_metric_on_a_logged_free_port(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'serve.db'}"
    seed = subprocess.run(
        [sys.executable, "run.py", "seed", "--store", store, "--symbols", "5", "--sessions", "2",
         "--intervals", "1d"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert seed.returncode == 0, seed.stderr
    proc = subprocess.Popen(
        [sys.executable, "run.py", "serve", "--store", store, "--metrics-port", "0",
         "--log-format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.SimpleQueue = queue.SimpleQueue()
    reader = threading.Thread(target=pump_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        started = _next_json(lines, "metrics", seen)
        port = started["port"]
        assert isinstance(port, int)
        assert port > 0
        assert started["url"] == f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(started["url"], timeout=10) as reply:  # noqa: S310 - loopback
            assert reply.status == 200
            text = reply.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, (kind, _) in METRICS.items():
        assert name in families, name
        assert families[name].type == kind, name
    # Prometheus naming: counters end in _total on the wire, units in the name.
    counters = [name for name, (kind, _) in METRICS.items() if kind == "counter"]
    assert all(f"\n{name}_total " in text for name in counters)
    assert "# TYPE preopen_activation_latency_seconds histogram" in text
    assert 'preopen_activation_latency_seconds_bucket{le="+Inf"}' in text
    assert "\npreopen_up 1.0" in text
    phases = {s.labels["phase"]: s.value for s in families["preopen_phase"].samples}
    assert sorted(phases.values()) == [0.0, 0.0, 0.0, 1.0]
    entries = [json.loads(line) for line in seen]   # JSON to the last line
    assert entries[-1]["event"] == "stopped"
    assert entries[-1]["threads_left"] == 0
    assert not any("Traceback" in line for line in seen)
