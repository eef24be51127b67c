"""The publish settings: validated like every other one, listed in the example file."""

import tomllib
from pathlib import Path

import pytest

from preopen.errors import SettingsError
from preopen.settings import Settings

ROOT = Path(__file__).parents[2]


def test_defaults_do_not_publish_and_keep_two():
    settings = Settings()
    assert settings.publish_dir == ""
    assert settings.publish_keep == 2


def test_values_from_file_and_environment(tmp_path):
    config = tmp_path / "preopen.toml"
    config.write_text(f'publish_dir = "{tmp_path}"\npublish_keep = 3\n')
    assert Settings.load(config).publish_dir == str(tmp_path)
    settings = Settings.load(config, env={"PREOPEN_PUBLISH_KEEP": "5"})
    assert settings.publish_keep == 5


@pytest.mark.parametrize(("key", "value", "accepted"), [
    ("publish_keep", 0, "a number from 1 to 100"),
    ("publish_keep", 101, "a number from 1 to 100"),
    ("publish_dir", "relative/dir", "an absolute directory path"),
])
def test_bad_values_are_refused_with_key_value_and_what_is_accepted(key, value, accepted):
    with pytest.raises(SettingsError, match=accepted) as caught:
        Settings.load(**{key: value})
    assert (caught.value.key, caught.value.value) == (key, value)


def test_a_file_is_not_a_publish_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match="this path is a file"):
        Settings.load(publish_dir=str(blocker))


def test_a_string_keep_in_a_file_is_refused_naming_the_file(tmp_path):
    config = tmp_path / "preopen.toml"
    config.write_text('publish_keep = "2"\n')
    with pytest.raises(SettingsError, match=rf"publish_keep='2' \(from {config}\)"):
        Settings.load(config)


def test_the_example_file_and_the_readme_list_them():
    example = tomllib.loads((ROOT / "examples" / "preopen.toml").read_text())
    assert example["publish_dir"] == ""
    assert example["publish_keep"] == 2
    readme = (ROOT / "README.md").read_text()
    assert "| `publish_dir` |" in readme
    assert "| `publish_keep` |" in readme
