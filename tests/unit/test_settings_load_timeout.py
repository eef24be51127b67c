"""The load_timeout_s setting: default, sources, and what is refused."""

import pytest

from preopen.errors import SettingsError
from preopen.settings import Settings


def test_default_is_well_inside_the_window():
    settings = Settings()
    assert settings.load_timeout_s == 60.0
    assert settings.load_timeout_s < settings.window_minutes * 60


def test_from_the_environment_and_a_file(tmp_path):
    assert Settings.load(env={"PREOPEN_LOAD_TIMEOUT_S": "2.5"}).load_timeout_s == 2.5
    path = tmp_path / "preopen.toml"
    path.write_text("load_timeout_s = 30\n", encoding="utf-8")
    assert Settings.load(path, env={}).load_timeout_s == 30.0


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"load_timeout_s": 0}, r"load_timeout_s=0\.0 .*from 0\.1 to 3600"),
        ({"load_timeout_s": 3601}, r"load_timeout_s=3601\.0 .*from 0\.1 to 3600"),
        ({"window_minutes": 5, "load_timeout_s": 301}, r"from 0\.1 to 300"),
    ],
)
def test_refused_values_name_the_key_and_the_range(changes, match):
    with pytest.raises(SettingsError, match=match) as caught:
        Settings.load(env={}, **changes)
    assert caught.value.key == "load_timeout_s"
    assert caught.value.source == "arguments"


def test_the_environment_must_hold_a_number():
    with pytest.raises(SettingsError, match="PREOPEN_LOAD_TIMEOUT_S"):
        Settings.load(env={"PREOPEN_LOAD_TIMEOUT_S": "soon"})
