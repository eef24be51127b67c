"""examples/host.py, the embedding example, runs against SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def run_host(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "examples/host.py", "--symbols", "20", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def check_output(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("session 2024-11-29: 20 symbols, ")
    # 20 symbols x (5 trailing sessions x 390 one-minute bars + 5 daily bars)
    assert "39,100 bars" in first
    assert "fallbacks 0" in first
    assert proc.stdout.rstrip().endswith("threads left: 0")


def test_host_on_sqlite(tmp_path: Path):
    check_output(run_host("--store", f"sqlite:///{tmp_path / 'host.db'}"))


def test_host_on_postgres(pg_dsn: str, pg_table: str):
    separator = "&" if "?" in pg_dsn else "?"
    check_output(run_host("--store", f"{pg_dsn}{separator}table={pg_table}"))
