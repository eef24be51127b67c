"""Every command refuses bad input with exit code 2 and one line naming the value.

The batch runs ``main`` in-process (it is the CLI's top level, where the exit
codes are decided: Typer's CliRunner would call the app beneath it) and a
few cases in a real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from preopen.cli import EXIT_BAD_INPUT, EXIT_FAILURE, main

ROOT = Path(__file__).parents[2]
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


@pytest.fixture
def bad_configs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "unknown key": "window_minute = 30\n",
        "wrong type": 'loaders = "two"\n',
        "window longer than the gap": "window_minutes = 1200\n",
        "bad interval": 'intervals = ["1m", "2h"]\n',
        "not toml": "loaders = = 2\n",
    }
    paths = {}
    for name, text in files.items():
        path = tmp_path / (name.replace(" ", "_") + ".toml")
        path.write_text(text)
        paths[name] = path
    return paths


NEEDLES = {
    "unknown key": "window_minute=",
    "wrong type": "loaders='two'",
    "window longer than the gap": "window_minutes=1200",
    "bad interval": "intervals='2h'",
    "not toml": "valid TOML",
}


def assert_one_line_error(capsys, needle: str) -> None:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("preopen: error: ")
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["demo", "serve", "prefetch", "seed"])
@pytest.mark.parametrize("problem", list(NEEDLES))
def test_bad_settings_file(capsys, bad_configs, command, problem):
    before = set(threading.enumerate())
    assert main([command, "--config", str(bad_configs[problem])]) == EXIT_BAD_INPUT
    assert_one_line_error(capsys, NEEDLES[problem])
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["demo", "--symbols", "many"], "--symbols='many'"),
        (["demo", "--symbols", "0"], "--symbols='0'"),
        (["demo", "--from", "yesterday-ish"], "--from='yesterday-ish'"),
        (["demo", "--store", "mysql://db"], "store='mysql://db'"),
        (["demo", "--colour"], "--colour"),
        (["seed", "--intervals", "1m,3m"], "--intervals='3m'"),
        (["seed", "--sessions", "-1"], "--sessions='-1'"),
        (["seed", "--before", "2024-02-30"], "--before='2024-02-30'"),
        (["seed", "--store", "sqlite://relative"], "store='sqlite://relative'"),
        (["prefetch", "--session", "2024-11-28"], "2024-11-28 is not a XNYS session"),
        (["prefetch", "--session", "someday"], "--session='someday'"),
        (["prefetch", "--symbols", "AAPL,,MSFT"], "--symbols='AAPL,,MSFT'"),
        (["serve", "--status-interval", "often"], "--status-interval='often'"),
        (["serve", "--log-level", "LOUD"], "--log-level='LOUD'"),
        (["bogus"], "bogus"),
    ],
)
def test_bad_options(capsys, args, needle):
    before = set(threading.enumerate())
    assert main(args) == EXIT_BAD_INPUT
    assert_one_line_error(capsys, needle)
    assert set(threading.enumerate()) <= before


# --- the general guard: a batch of bad inputs per command ---------------------------------

SECRET = "S3CRETpw"  # noqa: S105 - a password that must never be printed


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, str]:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes("exchange = 'Z\u00fcrich'\n".encode("latin-1"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    secret = tmp_path / "secret.toml"
    secret.write_text(f'store = "mysql://user:{SECRET}@db.example/prod"\n')
    return {
        "latin1": str(latin1),
        "binary": str(binary),
        "directory": str(tmp_path),
        "missing": str(tmp_path / "missing.toml"),
        "secret": str(secret),
        "no_db": f"sqlite:///{tmp_path / 'none.db'}",
    }


STORES = [
    "sqlite:///",
    "sqlite:///:memory:",
    "sqlite:///x.db?table=myschema.bars",
    "sqlite:///x.db?table=bad;name",
    f"mysql://user:{SECRET}@db.example/prod",
    f"postgresql://user:{SECRET}@db.example/prod?table=bad;name",
    f"postgresql://user@db.example/prod?password={SECRET}&table=a.b.c",
    "garbage",
    "",
]

BAD_INPUTS = [
    *(["demo", "--symbols", v] for v in ("-1", "1e3", "", "100001", "ten")),
    *(["demo", "--sessions", v] for v in ("0", "21", "2.5")),
    *(["demo", "--from", v] for v in ("2024-13-01", "", "2024-11-29T25:00", "1e9",
                                      "1800-01-01", "2400-01-01")),
    *(["demo", "--store", v] for v in STORES),
    *(["seed", "--intervals", v] for v in ("1m,1m", "", ",", "1m,,1d", "1M")),
    *(["seed", "--symbols", v] for v in ("0", "-5", "x")),
    *(["seed", "--sessions", v] for v in ("0", "10001")),
    *(["seed", "--before", v] for v in ("2024-02-30", "tomorrow", "1800-01-01")),
    *(["seed", "--seed", v] for v in ("-1", "2147483649")),
    *(["seed", "--table", v] for v in ("a b", "a.b.c", "1bars", "x;drop table bars")),
    *(["seed", "--store", v] for v in STORES),
    *(["prefetch", "--session", v] for v in ("2024-11-28", "2024-11-30", "someday", "1800-01-02",
                                             "2400-01-03")),
    *(["prefetch", "--symbols", v] for v in (",", "A,,B", "A,A", " ")),
    *(["prefetch", "--store", v] for v in STORES),
    *(["serve", "--status-interval", v] for v in ("0", "-1", "often", "86401")),
    *(["serve", "--log-level", v] for v in ("LOUD", "")),
    *(["serve", "--store", v] for v in STORES),
    ["demo", "--nope"],
    ["seed", "extra-argument"],
    ["prefetch", "--session"],
]


def _bad_input_id(args: list[str]) -> str:
    return " ".join(args)[:60]


@pytest.mark.parametrize("args", BAD_INPUTS, ids=_bad_input_id)
def test_no_bad_input_reaches_a_traceback(capsys, monkeypatch, tmp_path, args):
    monkeypatch.chdir(tmp_path)  # the default store, preopen.db, does not exist here
    before = set(threading.enumerate())
    code = main(args)
    out, err = capsys.readouterr()
    assert code in {1, 2}, (code, out, err)
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("preopen: error: "), err
    assert SECRET not in "".join((out + err).split())
    assert not (tmp_path / "preopen.db").exists()
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("command", ["demo", "serve", "prefetch", "seed"])
@pytest.mark.parametrize("config", ["latin1", "binary", "directory", "missing", "secret"])
def test_a_config_file_no_command_can_read_is_one_line_and_exit_2(
    capsys, odd_files, command, config
):
    assert main([command, "--config", odd_files[config]]) == EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert "config=" in err or "store=" in err, err
    assert SECRET not in "".join((out + err).split())
    assert "Traceback" not in out + err


@pytest.mark.parametrize("command", ["prefetch", "serve"])
def test_a_sqlite_store_that_does_not_exist_is_bad_input_not_a_new_file(
    capsys, monkeypatch, tmp_path, command
):
    monkeypatch.chdir(tmp_path)
    args = [command] if command == "serve" else [command, "--session", "2024-12-02"]
    assert main(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "preopen.db does not exist" in err
    assert "seed --store sqlite:///preopen.db" in err
    assert not (tmp_path / "preopen.db").exists()


def test_an_unexpected_error_is_one_line_and_exit_1(capsys, monkeypatch):
    def broken(*_args, **_kwargs):
        msg = "a defect in preopen"
        raise ZeroDivisionError(msg)

    monkeypatch.setattr("preopen.calendar.get_calendar", broken)
    monkeypatch.delenv("PREOPEN_DEBUG", raising=False)
    assert main(["seed", "--store", "sqlite:///x.db"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    expected = ("preopen: error: unexpected ZeroDivisionError: a defect in preopen"
                " (set PREOPEN_DEBUG=1 for the traceback)")
    assert err.strip().splitlines() == [expected]
    monkeypatch.setenv("PREOPEN_DEBUG", "1")
    assert main(["seed", "--store", "sqlite:///x.db"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().splitlines()[-1] == (
        "preopen: error: unexpected ZeroDivisionError: a defect in preopen"
    )


def test_ctrl_c_is_exit_130_and_one_line(capsys, monkeypatch, tmp_path):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("preopen.cli._seed.seed_with_progress", interrupted)
    assert main(["seed", "--store", f"sqlite:///{tmp_path / 'x.db'}"]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "preopen: interrupted\n"


def test_a_stray_preopen_variable_does_not_break_seed(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PREOPEN_WINDOW_MINUTES", "an hour")
    monkeypatch.setenv("PREOPEN_SYMBOLS", " , ")
    monkeypatch.setenv("PREOPEN_DEBUGGING", "whatever")
    store = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["seed", "--store", store, "--symbols", "1", "--sessions", "1",
                 "--intervals", "1d"]) == 0
    assert "wrote 1 rows" in capsys.readouterr().out


SUBPROCESS_CASES = [
    ["demo", "--from", "2024-13-01"],
    ["seed", "--intervals", "1m,1m"],
    ["prefetch", "--store", f"mysql://user:{SECRET}@db.example/prod"],
    ["calendar", "holidays", "0"],
    ["calendar", "holidays", "99999999999"],
    ["calendar", "early-closes", "10000"],
]


@pytest.mark.parametrize("args", SUBPROCESS_CASES, ids=_bad_input_id)
def test_no_traceback_in_a_real_process(tmp_path, args):
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PREOPEN_DEBUG": ""})
    assert proc.returncode in {1, 2}, proc
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert SECRET not in "".join((proc.stdout + proc.stderr).split())


def test_sigint_in_a_real_process_is_exit_130_and_one_line(tmp_path):
    # The command raises a real SIGINT at itself while it works, as Ctrl-C does.
    code = (
        "import signal, sys, threading\n"
        "import preopen.cli._seed as seed\n"
        "def working(*args, **kwargs):\n"
        "    signal.raise_signal(signal.SIGINT)\n"
        "    threading.Event().wait(60)\n"
        "seed.seed_with_progress = working\n"
        "from preopen.cli import main\n"
        f"sys.exit(main(['seed', '--store', 'sqlite:///{tmp_path / 'x.db'}']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == EXIT_INTERRUPTED, proc
    assert proc.stderr == "preopen: interrupted\n"
