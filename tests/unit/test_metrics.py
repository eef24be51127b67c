"""preopen.metrics: a prometheus-client collector that reads RuntimeStatus, and nothing else.

A simulated session (SQLite, SimulatedClock) is scraped through a registry
and read back with prometheus-client's own parser. The session is XNYS
Friday 2024-11-29 (09:30-13:00 New York time, EST = UTC-5).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pendulum
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from preopen.calendar import get_calendar
from preopen.calendar.timing import Phase
from preopen.clock import SimulatedClock
from preopen.errors import MissingExtraError, RuntimeStoppedError, StoreConnectionError
from preopen.metrics import METRICS, PreopenCollector, start_metrics_server
from preopen.runtime import Runtime
from preopen.settings import Settings
from preopen.status import LatencyHistogram, RuntimeStatus
from preopen.store import open_store
from preopen.store.synthetic import seed_store

XNYS = get_calendar("XNYS")
DAY = dt.date(2024, 11, 29)
OPEN = pendulum.datetime(2024, 11, 29, 9, 30, tz="America/New_York")
SYMBOLS = ("AAA", "BBB", "CCC")
WAIT = 20.0
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'bars.db'}"
    store = open_store(url, create=True)
    seed_store(store, XNYS, list(SYMBOLS), XNYS.trailing_sessions(DAY, 3), ["1m", "1d"])
    store.close()
    return url


def settings(url, **overrides):
    values = {"store": url, "symbols": SYMBOLS, "trailing_days": 3, "loaders": 2,
              "batch_size": 2, "max_attempts": 3}
    return Settings(**{**values, **overrides})


def scrape(source) -> dict:
    registry = CollectorRegistry()
    registry.register(PreopenCollector(source))
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families, name, suffix="", **labels):
    family = families[name]
    found = [s.value for s in family.samples
             if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, suffix, labels, family.samples)
    return found[0]


def test_a_simulated_session_scraped_and_parsed(store_url):
    clock = SimulatedClock(OPEN.subtract(hours=2))
    store = open_store(store_url)
    try:
        with Runtime.start(settings(store_url), clock=clock, store=store) as runtime:
            clock.advance(dt.timedelta(0))
            before = scrape(runtime)
            assert value(before, "preopen_phase", phase="idle") == 1.0
            assert value(before, "preopen_activations", "_total") == 0.0
            assert before["preopen_serving_info"].samples == []
            assert before["preopen_serving_age_seconds"].samples == []
            clock.advance_to(OPEN)
            runtime.wait_for(lambda s: s.serving == DAY, timeout=WAIT)
            clock.advance_to(OPEN.add(minutes=10))
            status = runtime.status()
            snapshot = runtime.snapshot()
            families = scrape(runtime)
    finally:
        store.close()
    # Every family the collector declares, with its type (counters drop their _total).
    assert {name: family.type for name, family in families.items()} == {
        name: kind for name, (kind, _) in METRICS.items()}
    assert value(families, "preopen_up") == 1.0
    assert value(families, "preopen_phase", phase="open") == 1.0
    assert sum(s.value for s in families["preopen_phase"].samples) == 1.0
    assert value(families, "preopen_session_open_timestamp_seconds") == OPEN.timestamp()
    # The window is 60 minutes: the prefetch started at 08:30 New York time.
    assert value(families, "preopen_prefetch_start_timestamp_seconds") == \
        OPEN.subtract(hours=1).timestamp()
    assert value(families, "preopen_prefetch_keys", state="done") == 6.0
    assert value(families, "preopen_prefetch_keys", state="pending") == 0.0
    assert value(families, "preopen_prefetch_progress_ratio") == 1.0
    assert value(families, "preopen_loaded_bars", "_total") == snapshot.nbars
    assert value(families, "preopen_loaded_bytes", "_total") == snapshot.nbytes
    assert value(families, "preopen_prefetch_duration_seconds") == status.prefetch_seconds
    assert value(families, "preopen_activations", "_total") == 1.0
    assert value(families, "preopen_fallbacks", "_total") == 0.0
    assert value(families, "preopen_serving_info", session="2024-11-29") == 1.0
    assert value(families, "preopen_serving_symbols") == 3.0
    assert value(families, "preopen_serving_activated_timestamp_seconds") == OPEN.timestamp()
    assert value(families, "preopen_serving_age_seconds") == 600.0   # ten simulated minutes
    latency = status.activation_latency_s
    assert value(families, "preopen_activation_latency_seconds", "_count") == 1.0
    assert value(families, "preopen_activation_latency_seconds", "_sum") == pytest.approx(latency)
    assert value(families, "preopen_activation_latency_seconds", "_bucket", le="+Inf") == 1.0
    below = [s for s in families["preopen_activation_latency_seconds"].samples
             if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"]
    for sample in below:
        assert sample.value == (1.0 if latency <= float(sample.labels["le"]) else 0.0)


class FlakyStore:
    """A real store whose first ``failures`` loads lose the connection."""

    def __init__(self, store, failures):
        self._store = store
        self.url = store.url
        self._left = failures
        self._lock = threading.Lock()

    def load(self, symbols, interval, start, end):
        with self._lock:
            self._left -= 1
            fail = self._left >= 0
        if fail:
            raise StoreConnectionError("connection lost", host="127.0.0.1", port=1, database="x")
        return self._store.load(symbols, interval, start, end)

    def symbols(self):
        return self._store.symbols()

    def write(self, interval, bars):
        return 0

    def close(self):
        self._store.close()


def test_load_retries_are_counted_in_the_status_and_the_metric(store_url):
    clock = SimulatedClock(OPEN.subtract(minutes=61))
    store = FlakyStore(open_store(store_url), failures=2)
    try:
        with Runtime.start(settings(store_url), clock=clock, store=store) as runtime:
            clock.advance(dt.timedelta(0))
            clock.advance_to(OPEN.subtract(minutes=60))
            # A lost connection is store-wide: the two batches fail whole (no
            # split, no retry in place) and are retried on the backoff, 1 s on.
            failed = runtime.wait_for(lambda s: s.prefetch_seconds is not None, timeout=WAIT)
            # Which two batches met the two failures depends on the loaders' order.
            assert failed.progress.failed in (2, 3, 4)
            assert failed.progress.done + failed.progress.failed == 6
            clock.advance(dt.timedelta(seconds=1))
            status = runtime.wait_for(lambda s: s.progress.done == 6, timeout=WAIT)
            families = scrape(runtime)
    finally:
        store.close()
    assert status.progress.done == 6
    assert status.loads_retried == 2   # each lost batch is sent once more
    assert value(families, "preopen_load_retries", "_total") == 2.0


def test_an_escalation_is_counted(store_url):
    class BrokenStore:
        url = "sqlite:///broken"

        def load(self, symbols, interval, start, end):
            return None  # breaks the contract: the loader crashes

        def symbols(self):
            return SYMBOLS

        def close(self):
            pass

    clock = SimulatedClock(OPEN.subtract(minutes=61))
    runtime = Runtime.start(settings(store_url, restart_intensity=2, restart_period_s=600.0),
                            clock=clock, store=BrokenStore())
    try:
        with pytest.raises(RuntimeStoppedError):
            clock.advance_to(OPEN.subtract(minutes=60))
        runtime.wait_for(lambda s: not s.running, timeout=WAIT)
        families = scrape(runtime)
    finally:
        runtime.stop(WAIT)
    assert value(families, "preopen_escalations", "_total") == 1.0
    assert value(families, "preopen_up") == 0.0
    assert value(families, "preopen_restarts", "_total") >= 2.0


def test_the_histogram_keeps_every_observation_in_le_buckets():
    h = LatencyHistogram()
    for seconds in (0.00005, 0.0001, 0.0004, 0.003, 7.0):
        h = h.observe(seconds)
    assert h.count == 5
    assert h.total_s == pytest.approx(7.00355)
    by_bound = dict(zip((*h.bounds, "inf"), h.counts, strict=True))
    assert by_bound[0.0001] == 2   # le: 0.0001 falls in its own bound's bucket
    assert by_bound[0.0005] == 1
    assert by_bound[0.005] == 1
    assert by_bound["inf"] == 1
    assert LatencyHistogram().count == 0   # observe returns a new value
    assert RuntimeStatus().activation_latencies.count == 0


class Fixed:
    """A status source with a status written by hand."""

    def __init__(self, status, now):
        self._status = status
        self.clock = SimulatedClock(now)

    def status(self):
        return self._status


def test_unknown_values_are_absent_not_zero():
    families = scrape(Fixed(RuntimeStatus(phase=Phase.PREFETCHING), OPEN))
    for name in ("preopen_session_open_timestamp_seconds", "preopen_prefetch_duration_seconds",
                 "preopen_fallback_duration_seconds", "preopen_serving_age_seconds"):
        assert families[name].samples == [], name
    assert value(families, "preopen_phase", phase="prefetching") == 1.0
    assert value(families, "preopen_prefetch_progress_ratio") == 0.0


def test_a_library_host_registers_it_and_the_server_binds_a_free_port():
    source = Fixed(RuntimeStatus(serving=DAY, serving_symbols=7, served_at=OPEN), OPEN.add(hours=1))
    server = start_metrics_server(source, port=0)
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(server.url, timeout=10) as reply:  # noqa: S310 - loopback
            text = reply.read().decode()
    finally:
        server.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert value(families, "preopen_serving_age_seconds") == 3600.0
    assert value(families, "preopen_serving_symbols") == 7.0
    assert "process_cpu_seconds" in families  # the process collector rides along
    with pytest.raises(OSError):  # the port is closed after stop
        urllib.request.urlopen(server.url, timeout=2)  # noqa: S310 - loopback


def test_a_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client.core", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'preopen\[metrics\]'") as caught:
        PreopenCollector(Fixed(RuntimeStatus(), OPEN))
    assert isinstance(caught.value, ImportError)
    assert caught.value.extra == "metrics"


def test_prometheus_client_is_not_imported_at_start_up():
    code = ("import sys, preopen, preopen.runtime, preopen.cli; "
            "from preopen import Runtime, Settings; "
            "print('prometheus_client' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "False"


# --- the settings -----------------------------------------------------------------------

@pytest.mark.parametrize(("key", "bad", "accepted"), [
    ("metrics_port", 65_536, "a number from 0 to 65535"),
    ("metrics_port", -1, "a number from 0 to 65535"),
    ("metrics_port", "9464", "a whole number"),
    ("metrics_host", "not a host", "an IP address or a host name"),
    ("metrics_host", "", "an IP address or a host name"),
    ("log_format", "xml", "text or json"),
])
def test_bad_metrics_and_log_settings_are_refused_naming_what_is_accepted(key, bad, accepted):
    from preopen.errors import SettingsError  # noqa: PLC0415

    with pytest.raises(SettingsError, match=accepted) as caught:
        Settings.load(env={}, **{key: bad})
    assert (caught.value.key, caught.value.value) == (key, bad)


def test_metrics_settings_from_the_environment():
    loaded = Settings.load(env={"PREOPEN_METRICS_PORT": "0", "PREOPEN_METRICS_HOST": "::1",
                                "PREOPEN_LOG_FORMAT": "json"})
    assert (loaded.metrics_port, loaded.metrics_host, loaded.log_format) == (0, "::1", "json")
    assert Settings().metrics_port is None   # no metrics server unless asked for


def test_stalled_loads_and_publications_are_counters_read_from_the_status():
    status = RuntimeStatus(loads_stalled=3, snapshots_published=2, publish_failures=1)
    families = scrape(Fixed(status, OPEN))
    for name in ("preopen_loads_stalled", "preopen_snapshots_published",
                 "preopen_publish_failures"):
        assert families[name].type == "counter", name
    assert value(families, "preopen_loads_stalled", "_total") == 3.0
    assert value(families, "preopen_snapshots_published", "_total") == 2.0
    assert value(families, "preopen_publish_failures", "_total") == 1.0
    fresh = scrape(Fixed(RuntimeStatus(), OPEN))
    assert value(fresh, "preopen_loads_stalled", "_total") == 0.0
