"""Settings: defaults, precedence, and every refusal naming key and value."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from preopen.errors import PreopenError, SettingsError
from preopen.model import INTERVALS
from preopen.settings import Settings


def test_defaults_are_the_seed_plan():
    s = Settings.load(env={})
    assert s.enabled is True
    assert s.window_minutes == 60
    assert s.check_interval_minutes == 5
    assert s.auto_activate is True
    assert s.exchange == "XNYS"
    assert s.intervals == ("1m", "1d")
    assert s.store.startswith("sqlite:///")


def test_settings_are_immutable():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.window_minutes = 5  # type: ignore[misc]


def test_precedence_defaults_file_env_arguments(tmp_path: Path):
    config = tmp_path / "preopen.toml"
    config.write_text('window_minutes = 30\nloaders = 3\nbatch_size = 10\nintervals = ["1m"]\n')
    env = {"PREOPEN_LOADERS": "4", "PREOPEN_BATCH_SIZE": "20", "PREOPEN_TEST_DSN": "ignored"}
    s = Settings.load(config, env=env, batch_size=50, trailing_days=None)
    assert s.window_minutes == 30  # file over default
    assert s.intervals == ("1m",)
    assert s.loaders == 4  # env over file
    assert s.batch_size == 50  # argument over env
    assert s.trailing_days == Settings().trailing_days  # None means "not given"


def test_preopen_table_in_file(tmp_path: Path):
    config = tmp_path / "preopen.toml"
    config.write_text("[preopen]\nwindow_minutes = 45\n")
    assert Settings.load(config, env={}).window_minutes == 45


def test_env_parsing_of_each_type():
    env = {
        "PREOPEN_ENABLED": "no",
        "PREOPEN_RESTART_PERIOD_S": "2.5",
        "PREOPEN_SYMBOLS": "AAPL, MSFT ,IBM",
    }
    s = Settings.load(env=env)
    assert s.enabled is False
    assert s.restart_period_s == 2.5
    assert s.symbols == ("AAPL", "MSFT", "IBM")


@pytest.mark.parametrize(
    ("overrides", "key", "value"),
    [
        ({"window_minutes": -5}, "window_minutes", -5),
        ({"window_minutes": 0}, "window_minutes", 0),
        ({"check_interval_minutes": 0}, "check_interval_minutes", 0),
        ({"loaders": 0}, "loaders", 0),
        ({"batch_size": 0}, "batch_size", 0),
        ({"max_attempts": 0}, "max_attempts", 0),
        ({"trailing_days": 0}, "trailing_days", 0),
        ({"restart_period_s": 0}, "restart_period_s", 0),
        ({"intervals": ["1m", "7m"]}, "intervals", "7m"),
        ({"intervals": []}, "intervals", ()),
        ({"exchange": "XMARS"}, "exchange", "XMARS"),
        ({"store": "mysql://x"}, "store", "mysql://x"),
        ({"table": "bars; drop table x"}, "table", "bars; drop table x"),
        ({"symbols": ["AAPL", "AAPL"]}, "symbols", "AAPL"),
        ({"enabled": "yes"}, "enabled", "yes"),
        ({"loaders": 2.5}, "loaders", 2.5),
        ({"loaders": True}, "loaders", True),
    ],
)
def test_bad_values_name_key_value_and_accepted(overrides, key, value):
    with pytest.raises(SettingsError) as info:
        Settings.load(env={}, **overrides)
    err = info.value
    assert err.key == key
    assert err.value == value
    assert err.accepted
    assert key in str(err)
    assert isinstance(err, PreopenError)
    assert isinstance(err, ValueError)


def test_window_longer_than_the_gap_between_sessions():
    # XNYS: 16:00 close to 09:30 open is 17 h 30 min = 1050 minutes.
    assert Settings(window_minutes=1050).window_minutes == 1050
    with pytest.raises(SettingsError) as info:
        Settings(window_minutes=1051)
    assert info.value.key == "window_minutes"
    assert "1050" in info.value.accepted


def test_unknown_key_in_file_is_refused(tmp_path: Path):
    config = tmp_path / "preopen.toml"
    config.write_text("window_minute = 30\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(config, env={})
    assert info.value.key == "window_minute"
    assert str(config) in str(info.value)
    assert "window_minutes" in info.value.accepted


def test_wrong_type_in_file_names_the_file(tmp_path: Path):
    config = tmp_path / "preopen.toml"
    config.write_text('window_minutes = "soon"\n')
    with pytest.raises(SettingsError) as info:
        Settings.load(config, env={})
    assert info.value.key == "window_minutes"
    assert info.value.source == str(config)


def test_bad_env_value_names_the_variable():
    with pytest.raises(SettingsError) as info:
        Settings.load(env={"PREOPEN_WINDOW_MINUTES": "an hour"})
    assert info.value.key == "window_minutes"
    assert info.value.source == "PREOPEN_WINDOW_MINUTES"


def test_range_error_from_env_names_the_variable():
    with pytest.raises(SettingsError) as info:
        Settings.load(env={"PREOPEN_LOADERS": "0"})
    assert info.value.source == "PREOPEN_LOADERS"


def test_missing_and_malformed_files(tmp_path: Path):
    with pytest.raises(SettingsError, match="readable"):
        Settings.load(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("window_minutes = = 3\n")
    with pytest.raises(SettingsError, match="valid TOML"):
        Settings.load(bad, env={})


def test_unknown_argument_is_refused():
    with pytest.raises(SettingsError) as info:
        Settings.load(env={}, windows=3)
    assert info.value.key == "windows"


def test_replace_checks_values():
    s = Settings()
    assert s.replace(loaders=3).loaders == 3
    with pytest.raises(SettingsError):
        s.replace(loaders=-1)


def test_example_file_holds_every_setting_at_its_default():
    example = Path(__file__).parents[2] / "examples" / "preopen.toml"
    text = example.read_text()
    data = tomllib.loads(text)
    # A setting whose default is "unset" (None) cannot be written in TOML: it is
    # shown commented out.
    unset = sorted(name for name in Settings.names() if getattr(Settings(), name) is None)
    assert sorted(data) == sorted(set(Settings.names()) - set(unset))
    for name in unset:
        assert f"\n# {name} = " in text, name
    assert Settings.load(example, env={}) == Settings()


# --- built directly: the same checks as through load() ----------------------------------


@pytest.mark.parametrize(
    ("changes", "key", "accepted"),
    [
        ({"enabled": "no"}, "enabled", "true or false"),
        ({"auto_activate": 0}, "auto_activate", "true or false"),
        ({"loaders": True}, "loaders", "a whole number"),
        ({"window_minutes": "5"}, "window_minutes", "a whole number"),
        ({"batch_size": 10.0}, "batch_size", "a whole number"),
        ({"restart_period_s": float("nan")}, "restart_period_s", "a finite number"),
        ({"restart_period_s": "60"}, "restart_period_s", "a finite number"),
        ({"symbols": "AAPL"}, "symbols", "a list of strings"),
        ({"symbols": ["AAPL", 3]}, "symbols", "a list of strings"),
        ({"exchange": None}, "exchange", "a string"),
    ],
)
def test_settings_built_directly_refuse_wrong_types(changes, key, accepted):
    with pytest.raises(SettingsError) as info:
        Settings(**changes)
    assert info.value.key == key
    assert info.value.value is changes[key] or info.value.value == changes[key]
    assert accepted in info.value.accepted
    assert f"{key}=" in str(info.value)


def test_settings_built_directly_normalise_lists_and_numbers():
    s = Settings(symbols=["A", "B"], intervals=["1d"], restart_period_s=30)
    assert s.symbols == ("A", "B")
    assert isinstance(s.symbols, tuple)
    assert s.intervals == ("1d",)
    assert isinstance(s.restart_period_s, float)
    assert hash(s) == hash(Settings(symbols=("A", "B"), intervals=("1d",),
                                    restart_period_s=30.0))


def test_building_settings_imports_no_numpy():
    code = (
        "import sys\n"
        "from preopen.settings import Settings\n"
        "Settings(symbols=['A'], intervals=['1m', '1d'])\n"
        "Settings.load(env={})\n"
        "print(sorted(m for m in ('numpy', 'pykka', 'psycopg') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=Path(__file__).parents[2]).stdout
    assert out.strip() == "[]"


def test_the_interval_names_are_the_models():
    for name in INTERVALS:
        assert Settings(intervals=(name,)).intervals == (name,)
    with pytest.raises(SettingsError) as info:
        Settings(intervals=("2m",))
    assert info.value.accepted == f"one or more of {', '.join(INTERVALS)}"


def test_a_config_file_that_is_not_utf8_is_one_settings_error(tmp_path: Path):
    config = tmp_path / "latin1.toml"
    config.write_bytes("exchange = 'Z\u00fcrich'\n".encode("latin-1"))
    with pytest.raises(SettingsError) as info:
        Settings.load(config, env={})
    assert info.value.key == "config"
    assert "UTF-8" in info.value.accepted


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user:S3CRET@db.example/prod",
        "postgresql://user:S3CRET@db.example/prod?table=bad;name",
        "postgresql://user@db.example/prod?password=S3CRET&table=a.b.c",
        "sqlite:///:memory:?password=S3CRET",
    ],
)
def test_a_refused_store_url_never_shows_its_password(url):
    with pytest.raises(SettingsError) as info:
        Settings.load(env={}, store=url)
    assert info.value.key == "store"
    assert "S3CRET" not in str(info.value)
    assert "S3CRET" not in repr(info.value.value)
    assert "user" in str(info.value) or "sqlite" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"store": "sqlite:///"}, "store"),
        ({"store": "sqlite:///:memory:"}, "store"),
        ({"store": "sqlite:///x.db?table=a.bars"}, "store"),
        ({"store": "sqlite:///x.db?table=bad;name"}, "store"),
        ({"store": "sqlite:///x.db", "table": "a.bars"}, "table"),
    ],
)
def test_store_urls_no_store_could_open_are_settings_errors(changes, key):
    with pytest.raises(SettingsError) as info:
        Settings(**changes)
    assert info.value.key == key


def test_keys_limits_what_the_environment_is_read_for(tmp_path: Path):
    env = {"PREOPEN_STORE": "garbage", "PREOPEN_LOADERS": "many", "PREOPEN_WINDOW_MINUTES": "30"}
    s = Settings.load(env=env, keys=("exchange", "window_minutes"))
    assert s.window_minutes == 30
    assert s.store == Settings().store
    with pytest.raises(SettingsError) as info:
        Settings.load(env=env)
    assert info.value.source in {"PREOPEN_STORE", "PREOPEN_LOADERS"}
    # A file is the caller's explicit choice: read and checked in full.
    config = tmp_path / "bad.toml"
    config.write_text("loaders = 0\n")
    with pytest.raises(SettingsError, match="loaders=0"):
        Settings.load(config, env={}, keys=("exchange",))
