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


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["calendar", "holidays", "0"], "year 0 is outside"),
        (["calendar", "holidays", "99999999999"], "year 99999999999 is outside"),
        (["calendar", "early-closes", "10000"], "year 10000 is outside"),
        (["calendar", "early-closes", "--", "-1"], "year -1 is outside"),
    ],
)
def test_years_out_of_range_exit_2_with_one_line(capsys, args, needle):
    assert main(args) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert needle in lines[0]
    assert "Traceback" not in captured.err


def test_window_refusal_states_the_real_bound(capsys):
    # XNYS: 16:00 to the next 09:30 is 1050 minutes, so 1050 is accepted and 1051 is not.
    row = run_json(capsys, "calendar", "next", "--after", "2024-11-27", "--window-minutes", "1050")
    assert row["prefetch_start"] == "2024-11-28T16:00:00-05:00"
    assert main(["calendar", "next", "--window-minutes", "1051"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "window_minutes=1051 (from --window-minutes)" in err
    assert "from 1 to 1050" in err
    assert "1440" not in err
    assert main(["calendar", "next", "--help"]) == EXIT_OK
    assert "1050" in capsys.readouterr().out


def test_calendar_commands_ignore_settings_they_do_not_use(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PREOPEN_STORE", "garbage")
    monkeypatch.setenv("PREOPEN_LOADERS", "many")
    config = tmp_path / "preopen.toml"
    config.write_text('store = "mysql://nope"\nwindow_minutes = 30\nexchange = "XTKS"\n')
    row = run_json(capsys, "calendar", "next", "--after", "2024-11-05", "--config", str(config))
    assert row["exchange"] == "XTKS"
    assert row["prefetch_start"] == "2024-11-06T08:30:00+09:00"
    # The environment wins over the file, as for every setting.
    monkeypatch.setenv("PREOPEN_WINDOW_MINUTES", "45")
    row = run_json(capsys, "calendar", "next", "--after", "2024-11-05", "--config", str(config))
    assert row["prefetch_start"] == "2024-11-06T08:15:00+09:00"
    assert run_json(capsys, "calendar", "holidays", "2024")[0] == "2024-01-01"
    # A setting the command does use is still checked.
    monkeypatch.setenv("PREOPEN_WINDOW_MINUTES", "soon")
    assert main(["calendar", "next"]) == EXIT_BAD_INPUT
    assert "PREOPEN_WINDOW_MINUTES" in capsys.readouterr().err


def test_next_prints_the_break_and_the_horizon(capsys):
    row = run_json(capsys, "calendar", "next", "--exchange", "XTKS", "--after", "2024-11-05")
    assert row["session"] == "2024-11-06"
    assert row["open"] == "2024-11-06T09:00:00+09:00"
    assert row["break_start"] == "2024-11-06T11:30:00+09:00"
    assert row["break_end"] == "2024-11-06T12:30:00+09:00"
    assert row["close"] == "2024-11-06T15:30:00+09:00"
    assert row["horizon"] == "2030-12-31"
    xnys = run_json(capsys, "calendar", "next", "--after", "2099-12-28")
    assert xnys["break_start"] is None
    assert xnys["horizon"] == "2099-12-31"
    assert xnys["sessions_before_horizon"] == 2  # 2099-12-30 and 31 follow the 29th
    assert main(["calendar", "next", "--exchange", "XHKG", "--after", "2024-12-20"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "break start" in out
    assert "12:00:00+08:00" in out
    assert "horizon" in out


def test_export_writes_a_calendar_preopen_reads(capsys, tmp_path):
    pytest.importorskip("exchange_calendars", reason="the exchange-calendars extra")
    target = tmp_path / "xtks.toml"
    args = ["calendar", "export", "XTKS", "--to", str(target)]
    assert main([*args, "--start", "2024-10-01", "--end", "2024-12-31"]) == EXIT_OK
    capsys.readouterr()
    rows = run_json(capsys, "calendar", "sessions", "2024-11-01", "2024-11-06",
                    "--exchange", str(target))
    # 2024-11-04 is Culture Day observed; the close moved to 15:30 on the 5th.
    assert [r["session"] for r in rows] == ["2024-11-01", "2024-11-05", "2024-11-06"]
    assert rows[0]["close"] == "2024-11-01T15:00:00+09:00"
    assert rows[1]["close"] == "2024-11-05T15:30:00+09:00"
    assert rows[1]["break"] == ["2024-11-05T11:30:00+09:00", "2024-11-05T12:30:00+09:00"]
    row = run_json(capsys, "calendar", "next", "--exchange", str(target), "--after", "2024-12-27")
    assert row["session"] == "2024-12-30"
    assert row["horizon"] == "2024-12-31"
    assert row["sessions_before_horizon"] == 0  # Tokyo is closed on December 31
    assert main([*args, "--start", "2024-12-31", "--end", "2024-01-01"]) == EXIT_BAD_INPUT
    assert main(["calendar", "export", "NOPE", "--to", str(target), "--start", "2024-01-01",
                 "--end", "2024-02-01"]) == EXIT_BAD_INPUT
    assert "xcals:NOPE" in capsys.readouterr().err
