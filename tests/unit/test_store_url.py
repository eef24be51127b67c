"""Store URLs: redaction never leaks a password; bad URLs are bad input; errors are classified."""

import pytest

from preopen.errors import (
    SettingsError,
    StoreConnectionError,
    StoreDataError,
    StoreError,
    StoreInterruptedError,
    StoreSchemaError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreUrlError,
    StoreWideError,
    is_store_wide,
    is_transient,
)
from preopen.settings import Settings
from preopen.store import parse_store_url, redact_url

PW = "S3cr3t-Pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://user:{PW}@db.example:5432/prod", "postgresql://user:***@db.example:5432/prod"),
        (f"postgres://user:{PW}@h/db?table=x.bars", "postgres://user:***@h/db?table=x.bars"),
        (f"mysql://user:{PW}@h/db", "mysql://user:***@h/db"),
        (f"postgresql://user:{PW}@", "postgresql://user:***@"),
        (f"postgresql://:{PW}@h/db", "postgresql://:***@h/db"),
        (f"postgresql://user:p@ss/w#rd?x@{PW}@h/db", "postgresql://user:***@h/db"),
        (f"postgresql://user:{PW}%40x%2F@h/db", "postgresql://user:***@h/db"),
        (f"postgresql://h/db?password={PW}&sslmode=disable",
         "postgresql://h/db?password=***&sslmode=disable"),
        (f"postgresql://h/db?sslpassword={PW}", "postgresql://h/db?sslpassword=***"),
        (f"host=h password={PW} dbname=x", "host=h password=*** dbname=x"),
        (f"host=h password='{PW} x' dbname=x", "host=h password=*** dbname=x"),
        ("sqlite:///bars.db", "sqlite:///bars.db"),
        ("postgresql://user@h:5432/db", "postgresql://user@h:5432/db"),
    ],
)
def test_redact_url_never_leaks_a_password(url, shown):
    assert redact_url(url) == shown
    assert PW not in redact_url(url)


def test_redact_url_of_a_non_string():
    assert redact_url(None) == "None"


def test_a_bad_store_setting_does_not_echo_the_password():
    with pytest.raises(SettingsError) as caught:
        Settings(store=f"mysql://user:{PW}@h/db")
    assert PW not in str(caught.value)
    assert PW not in repr(caught.value.value)


@pytest.mark.parametrize(
    "url",
    [f"mysql://user:{PW}@h/db", f"sqlite://user:{PW}@h/x.db",
     f"postgresql://user:{PW}@h/db?table=bad;name"],
)
def test_a_bad_url_error_does_not_echo_the_password(url):
    with pytest.raises(StoreUrlError) as caught:
        parse_store_url(url)
    assert PW not in str(caught.value)
    assert PW not in caught.value.url


def test_parse_store_url_answers_the_parts():
    parsed = parse_store_url("postgresql://u@h/db?table=s.t")
    assert (parsed.scheme, parsed.schema, parsed.table, parsed.qualified) == (
        "postgresql", "s", "t", "s.t")
    lite = parse_store_url("sqlite:///dir/x.db", "mine")
    assert (lite.scheme, lite.path, lite.table) == ("sqlite", "dir/x.db", "mine")


@pytest.mark.parametrize(
    "url",
    ["postgresql:/h/db", "mysql://h/db", "sqlite:///", "sqlite://host/x.db",
     "sqlite:///x.db?table=a.bars", "postgresql://h/db?table=bad;name",
     "postgresql://h/db?table=" + "t" * 64],
)
def test_settings_refuse_exactly_the_urls_a_store_refuses(url):
    with pytest.raises(StoreUrlError):
        parse_store_url(url)
    with pytest.raises(SettingsError) as caught:
        Settings(store=url)
    assert caught.value.key == "store"


@pytest.mark.parametrize(
    ("error", "wide", "transient"),
    [
        (StoreConnectionError("refused"), True, True),
        (StoreUnavailableError(operation="load", attempts=3, elapsed=3.0, reason="x"), True, True),
        (StoreSchemaError("no table"), True, False),
        (StoreDataError("bad blob", symbol="A"), False, False),
        (StoreTimeoutError(operation="load", seconds=1.0), True, True),
        (StoreInterruptedError(operation="load"), True, False),
        (StoreWideError("locked", transient=True), True, True),
        (StoreWideError("read-only"), True, False),
        (StoreUrlError("store", "x", "y"), True, False),
        (StoreError("one symbol's trouble"), False, False),
        (ConnectionRefusedError("a host store"), True, True),
        (TimeoutError("a host store"), True, True),
        (ValueError("a host store"), False, False),
    ],
)
def test_what_the_planner_must_not_bisect(error, wide, transient):
    assert is_store_wide(error) is wide
    assert is_transient(error) is transient
