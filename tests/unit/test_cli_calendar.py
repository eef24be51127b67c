"""``preopen calendar ...``: answers, JSON output, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from preopen.cli import EXIT_BAD_INPUT, EXIT_OK, main

ROOT = Path(__file__).parents[2]


def run_json(capsys, *args: str):
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    return json.loads(out)


def test_next_after_thanksgiving_is_the_early_close(capsys):
    # 2024-11-28 is Thanksgiving; the Friday after closes at 13:00 (EST, UTC-5).
    row = run_json(capsys, "calendar", "next", "--after", "2024-11-27")
    assert row["session"] == "2024-11-29"
    assert row["open"] == "2024-11-29T09:30:00-05:00"
    assert row["close"] == "2024-11-29T13:00:00-05:00"
    assert row["prefetch_start"] == "2024-11-29T08:30:00-05:00"
    assert row["timezone"] == "America/New_York"


def test_next_with_a_window_in_summer_time(capsys):
    row = run_json(capsys, "calendar", "next", "--after", "2024-07-03", "--window-minutes", "90")
    assert row["session"] == "2024-07-05"
    assert row["prefetch_start"] == "2024-07-05T08:00:00-04:00"


def test_sessions_holidays_early_closes(capsys):
    rows = run_json(capsys, "calendar", "sessions", "2024-11-25", "2024-12-03")
    assert [r["session"] for r in rows] == [
        "2024-11-25",
        "2024-11-26",
        "2024-11-27",
        "2024-11-29",
        "2024-12-02",
        "2024-12-03",
    ]
    assert run_json(capsys, "calendar", "holidays", "2022")[3:5] == ["2022-05-30", "2022-06-20"]
    assert run_json(capsys, "calendar", "early-closes", "2024") == {
        "2024-07-03": "13:00:00",
        "2024-11-29": "13:00:00",
        "2024-12-24": "13:00:00",
    }


def test_table_output(capsys):
    assert main(["calendar", "next", "--after", "2025-01-08"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "2025-01-10" in out  # 2025-01-09 closed (national day of mourning)
    assert "08:30" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["calendar", "next", "--after", "2024-13-01"], "--after='2024-13-01'"),
        (["calendar", "next", "--after", "1900-01-01"], "1900-01-01"),
        (["calendar", "next", "--exchange", "XMARS"], "XMARS"),
        (["calendar", "next", "--window-minutes", "-3"], "window_minutes=-3"),
        (["calendar", "next", "--window-minutes", "soon"], "soon"),
        (["calendar", "sessions", "2024-02-01", "2024-01-01"], "END"),
        (["calendar", "holidays", "twenty"], "YEAR='twenty'"),
        (["calendar", "whenever"], "whenever"),
        (["calendar", "next", "--bogus"], "--bogus"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, needle):
    assert main(args) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("preopen: error: ")
    assert needle in lines[0]
    assert "Traceback" not in captured.err


def test_run_py_exit_codes_from_a_real_process():
    ok = subprocess.run(
        [sys.executable, "run.py", "calendar", "next", "--after", "2024-11-27", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["session"] == "2024-11-29"
    bad = subprocess.run(
        [sys.executable, "run.py", "calendar", "next", "--after", "tomorrow"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert "tomorrow" in bad.stderr


def test_pendulum_imports_from_the_repository_root():
    # Nothing at the root may shadow the standard library (pendulum needs `calendar`).
    proc = subprocess.run(
        [sys.executable, "-c", "import pendulum, calendar; print(calendar.monthrange(2024, 2)[1])"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "29"
