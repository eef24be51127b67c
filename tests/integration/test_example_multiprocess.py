"""examples/multiprocess_host.py: a runtime publishes, four processes attach and agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytest.importorskip("pyarrow")


def test_four_workers_attach_the_published_session_and_agree(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's preopen, in the workers too
    proc = subprocess.run(
        [sys.executable, "examples/multiprocess_host.py", "--symbols", "40", "--workers", "4",
         "--store", f"sqlite:///{tmp_path / 'host.db'}", "--publish-dir", str(tmp_path / "pub")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    # 40 symbols x (5 trailing sessions x 390 one-minute bars + 5 daily bars)
    assert lines[0].startswith("published 2024-11-29: 40 symbols, 78,200 bars")
    assert sum("momentum" in line for line in lines) == 4
    assert lines[-1] == "all workers agree"
    assert (tmp_path / "pub" / "manifest.json").is_file()
