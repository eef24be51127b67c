"""Every command refuses bad input with exit code 2 and one line naming the value."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from preopen.cli import EXIT_BAD_INPUT, main


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
