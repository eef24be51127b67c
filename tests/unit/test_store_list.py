"""The store setting as a list of stores tried in order."""

from __future__ import annotations

import pytest

from preopen.errors import SettingsError
from preopen.settings import Settings

HUB = "grpc://hub:8815"
PG = "postgresql://root@db:5432/test"


def test_a_single_store_stays_a_string():
    assert Settings(store=PG).store == PG
    assert Settings(store=PG).stores == (PG,)
    assert Settings.load(env={"PREOPEN_STORE": PG}).store == PG


def test_toml_array(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(f'store = ["{HUB}", "{PG}"]\n')
    assert Settings.load(path).store == (HUB, PG)
    path.write_text(f'store = ["{PG}"]\n')
    assert Settings.load(path).store == PG


def test_comma_separated_environment_keeps_a_multi_host_url_whole():
    multi = "postgresql://root@h1:5432,h2:5433/test"
    settings = Settings.load(env={"PREOPEN_STORE": f"{HUB}, {multi}"})
    assert settings.stores == (HUB, multi)
    assert Settings.load(env={"PREOPEN_STORE": multi}).store == multi


def test_arguments_take_a_list():
    assert Settings.load(store=[HUB, PG]).store == (HUB, PG)


@pytest.mark.parametrize(("value", "bad"), [
    ([HUB, "mysql://x"], "mysql://x"),
    ([HUB, HUB], (HUB, HUB)),
    ([], []),
    ([HUB, 3], [HUB, 3]),
])
def test_refused_with_the_value(value, bad):
    with pytest.raises(SettingsError) as info:
        Settings.load(store=value)
    assert info.value.key == "store"
    assert info.value.value == bad
    assert info.value.source == "arguments"
