"""``run.py serve``: runs on the system clock, logs, and stops cleanly on a signal."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.lines import pump_lines, wait_for_line

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_a_signal(tmp_path: Path, signum):
    store = f"sqlite:///{tmp_path / 'serve.db'}"
    seed = subprocess.run(
        [sys.executable, "run.py", "seed", "--store", store, "--symbols", "5", "--sessions", "2",
         "--intervals", "1d"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert seed.returncode == 0, seed.stderr
    proc = subprocess.Popen(
        [sys.executable, "run.py", "serve", "--store", store, "--status-interval", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.SimpleQueue = queue.SimpleQueue()
    reader = threading.Thread(target=pump_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        wait_for_line(lines, "event=serving", seen)
        wait_for_line(lines, "event=status phase=", seen)
        proc.send_signal(signum)
        # The timeout only keeps a broken run from hanging the suite; what is
        # checked is the outcome: the process ends, with code 0, and reports
        # that no thread of the runtime is left running.
        assert proc.wait(timeout=120) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    text = "".join(seen)
    assert f"event=signal signal={signal.Signals(signum).name}" in text
    assert "event=stopped threads_left=0" in text
    assert text.index("event=signal") < text.index("event=stopped")
    assert "Traceback" not in text
    assert proc.returncode == 0
