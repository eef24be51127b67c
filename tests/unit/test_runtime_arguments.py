"""Runtime.start and wait_for refuse wrong arguments at once, naming them.

Before these checks ``Runtime.start(calendar="XNYS")`` waited its whole
start timeout and reported a timeout, ``store=object()`` was accepted, and
``wait_for(timeout=nan)`` never returned.
"""

from __future__ import annotations

import threading

import pendulum
import pytest

from preopen.clock import SimulatedClock
from preopen.errors import PreopenError
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.store import open_store


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"calendar": "XNYS"}, "calendar"),
        ({"store": object()}, "store"),
        ({"store": "sqlite:///x.db"}, "store"),
        ({"clock": "now"}, "clock"),
        ({"settings": {"loaders": 2}}, "settings"),
        ({"timeout": "10"}, "timeout"),
    ],
)
def test_start_refuses_a_wrong_type_before_starting_anything(arguments, name):
    before = set(threading.enumerate())
    with pytest.raises(TypeError) as info:  # ArgumentTypeError
        Runtime.start(**arguments)
    assert isinstance(info.value, PreopenError)
    assert info.value.name == name
    assert f"{name}=" in str(info.value)
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0])
def test_start_refuses_a_timeout_that_is_no_duration(timeout):
    with pytest.raises(ValueError) as info:  # ArgumentValueError
        Runtime.start(timeout=timeout)
    assert isinstance(info.value, PreopenError)
    assert info.value.name == "timeout"


def test_wait_for_refuses_a_timeout_that_is_no_duration(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url, create=True).close()
    store = open_store(url)
    clock = SimulatedClock(pendulum.datetime(2024, 11, 27, 18, tz="America/New_York"))
    runtime = Runtime.start(Settings(store=url), clock=clock, store=store, timeout=20.0)
    try:
        for timeout in (float("nan"), float("inf"), -0.5, None, True):
            with pytest.raises((ValueError, TypeError)) as info:
                # Nothing is ever served: without the check nan waits forever.
                runtime.wait_for(lambda status: status.serving is not None, timeout=timeout)
            assert isinstance(info.value, PreopenError)
            assert info.value.name == "timeout"
    finally:
        runtime.stop(20.0)
        store.close()
