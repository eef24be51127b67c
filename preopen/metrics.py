"""Prometheus metrics of a runtime, read from its :class:`~preopen.RuntimeStatus`.

The collector keeps nothing of its own: each scrape reads the status the
runtime publishes (one attribute read, no message, no lock) and the
runtime's clock (for the served snapshot's age), so the metrics can never
disagree with what :meth:`Runtime.status` says. A library host registers it
in its own registry::

    from prometheus_client import CollectorRegistry
    from preopen.metrics import PreopenCollector

    registry = CollectorRegistry()
    registry.register(PreopenCollector(runtime))

``serve --metrics-port N`` does the same in a registry of its own (with the
process and GC collectors) served by prometheus_client's HTTP server, see
:func:`start_metrics_server`.

prometheus-client is an optional extra (``pip install 'preopen[metrics]'``);
this module is never imported at start-up, and building a collector without
it raises :class:`~preopen.errors.MissingExtraError`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from preopen.calendar.timing import Phase
from preopen.errors import MissingExtraError

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator
    from wsgiref.simple_server import WSGIServer

    import pendulum
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

    from preopen.status import RuntimeStatus

__all__ = ["METRICS", "MetricsServer", "PreopenCollector", "start_metrics_server"]

#: Every metric the collector exposes: name -> (type, help). The README's table
#: and the tests follow it.
METRICS: dict[str, tuple[str, str]] = {
    "preopen_up": ("gauge", "1 while the runtime runs, 0 once it stopped or gave up."),
    "preopen_phase": ("gauge", "1 for the calendar phase the runtime is in (label phase)."),
    "preopen_session_open_timestamp_seconds": (
        "gauge", "Open of the session in progress, else of the next one (Unix time)."),
    "preopen_prefetch_start_timestamp_seconds": (
        "gauge", "When that session's prefetch starts: its open minus the window (Unix time)."),
    "preopen_prefetch_keys": (
        "gauge", "The current load's (symbol, interval) keys by state (done, failed, pending)."),
    "preopen_prefetch_progress_ratio": (
        "gauge", "Keys done over keys wanted in the current load (0 when nothing is wanted)."),
    "preopen_prefetch_duration_seconds": (
        "gauge", "How long the last load took, first batch to last reply."),
    "preopen_fallback_duration_seconds": (
        "gauge", "The last session that opened without a complete prefetch: open to activation."),
    "preopen_loaded_bars": ("counter", "Bars received from the store since the start."),
    "preopen_loaded_bytes": ("counter", "Bytes of the bars received since the start."),
    "preopen_symbols_failed": ("gauge", "Symbols given up on in the current load."),
    "preopen_load_retries": (
        "counter", "Load batches queued again: retries, split halves, a dead loader's batches."),
    "preopen_loads_stalled": (
        "counter", "Load batches seen waiting on the store past a quarter of load_timeout_s."),
    "preopen_snapshots_published": (
        "counter", "Snapshots written to publish_dir for other processes."),
    "preopen_publish_failures": (
        "counter", "Publications to publish_dir that failed (serving went on)."),
    "preopen_activation_latency_seconds": (
        "histogram", "From the activation's trigger to the new snapshot being served."),
    "preopen_activations": ("counter", "Snapshots activated (follow-ups included)."),
    "preopen_fallbacks": ("counter", "Sessions that opened without a complete prefetch."),
    "preopen_restarts": ("counter", "Actors restarted by the supervisor."),
    "preopen_escalations": ("counter", "Times the supervisor gave up (restarts past intensity)."),
    "preopen_serving_info": ("gauge", "1, labelled with the session of the snapshot served."),
    "preopen_serving_symbols": ("gauge", "Symbols in the snapshot served."),
    "preopen_serving_activated_timestamp_seconds": (
        "gauge", "When the snapshot served was activated (Unix time, the runtime's clock)."),
    "preopen_serving_age_seconds": (
        "gauge", "Seconds since the snapshot served was activated (the runtime's clock)."),
}


class StatusSource(Protocol):
    """What the collector reads: a :class:`~preopen.Runtime` is one."""

    @property
    def clock(self) -> Any:  # noqa: ANN401 - any object with now() (the Clock protocol)
        """The runtime's clock."""
        ...

    def status(self) -> RuntimeStatus:
        """The status now."""
        ...


def _prometheus(what: str) -> Any:  # noqa: ANN401 - the prometheus_client.core module
    try:
        return importlib.import_module("prometheus_client.core")
    except ImportError as exc:
        raise MissingExtraError("prometheus_client", "metrics", what) from exc


def _unix(instant: pendulum.DateTime | None) -> float | None:
    return None if instant is None else instant.timestamp()


class PreopenCollector:
    """A prometheus-client collector of a runtime's status.

    Args:
        runtime: the runtime (or anything with ``status()`` and ``clock``).

    Raises:
        MissingExtraError: prometheus-client is not installed.
    """

    def __init__(self, runtime: StatusSource) -> None:
        """Read ``runtime`` at each scrape."""
        self._core = _prometheus("PreopenCollector")
        self._runtime = runtime

    def describe(self) -> list[Metric]:
        """The families, for the registry's duplicate check (no status read)."""
        return [self._family(name) for name in METRICS]

    def _family(self, name: str, labels: tuple[str, ...] = ()) -> Any:  # noqa: ANN401 - a *MetricFamily
        kind, text = METRICS[name]
        core = self._core
        if kind == "counter":
            return core.CounterMetricFamily(name, text, labels=labels)
        if kind == "histogram":
            return core.HistogramMetricFamily(name, text, labels=labels)
        return core.GaugeMetricFamily(name, text, labels=labels)

    def collect(self) -> Iterator[Metric]:
        """Every metric of :data:`METRICS`, from one reading of the status."""
        status = self._runtime.status()
        yield self._gauge("preopen_up", 1.0 if status.running else 0.0)
        phase = self._family("preopen_phase", ("phase",))
        for each in Phase:
            phase.add_metric([each.value], 1.0 if status.phase is each else 0.0)
        yield phase
        yield self._gauge("preopen_session_open_timestamp_seconds", _unix(status.session_open))
        yield self._gauge("preopen_prefetch_start_timestamp_seconds",
                          _unix(status.prefetch_start))
        progress = status.progress
        keys = self._family("preopen_prefetch_keys", ("state",))
        for state, count in (("done", progress.done), ("failed", progress.failed),
                             ("pending", progress.pending)):
            keys.add_metric([state], float(count))
        yield keys
        ratio = progress.done / progress.total if progress.total else 0.0
        yield self._gauge("preopen_prefetch_progress_ratio", ratio)
        yield self._gauge("preopen_prefetch_duration_seconds", status.prefetch_seconds)
        yield self._gauge("preopen_fallback_duration_seconds", status.fallback_seconds)
        yield self._counter("preopen_loaded_bars", status.bars_loaded)
        yield self._counter("preopen_loaded_bytes", status.bytes_loaded)
        yield self._gauge("preopen_symbols_failed", float(len(status.failed_symbols)))
        yield self._counter("preopen_load_retries", status.loads_retried)
        yield self._counter("preopen_loads_stalled", status.loads_stalled)
        yield self._counter("preopen_snapshots_published", status.snapshots_published)
        yield self._counter("preopen_publish_failures", status.publish_failures)
        yield self._histogram(status)
        yield self._counter("preopen_activations", status.activations)
        yield self._counter("preopen_fallbacks", status.fallbacks)
        yield self._counter("preopen_restarts", status.restarts)
        yield self._counter("preopen_escalations", status.escalations)
        yield from self._serving(status)

    def _serving(self, status: RuntimeStatus) -> Iterator[Metric]:
        info = self._family("preopen_serving_info", ("session",))
        if status.serving is not None:
            info.add_metric([status.serving.isoformat()], 1.0)
        yield info
        yield self._gauge("preopen_serving_symbols", float(status.serving_symbols))
        served = _unix(status.served_at)
        yield self._gauge("preopen_serving_activated_timestamp_seconds", served)
        age = None
        if served is not None and status.serving is not None:
            age = max(0.0, self._runtime.clock.now().timestamp() - served)
        yield self._gauge("preopen_serving_age_seconds", age)

    def _gauge(self, name: str, value: float | None) -> Metric:
        family: GaugeMetricFamily = self._family(name)
        if value is not None:  # unknown: the family is exposed with no sample
            family.add_metric([], float(value))
        return family

    def _counter(self, name: str, value: int) -> Metric:
        family: CounterMetricFamily = self._family(name)
        family.add_metric([], float(value))
        return family

    def _histogram(self, status: RuntimeStatus) -> Metric:
        observed = status.activation_latencies
        buckets: list[tuple[str, float]] = []
        cumulative = 0
        for bound, count in zip((*observed.bounds, float("inf")), observed.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
        family: HistogramMetricFamily = self._family("preopen_activation_latency_seconds")
        family.add_metric([], buckets, observed.total_s)
        return family


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """prometheus_client's HTTP server for one runtime; :meth:`stop` ends it.

    Attributes:
        host: the address it is bound to.
        port: the port it is bound to (the one chosen when 0 was asked for).
        registry: the registry it serves.
    """

    host: str
    port: int
    registry: CollectorRegistry
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """``http://host:port/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, close the socket and join the server's thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)


def start_metrics_server(runtime: StatusSource, *, port: int,
                         host: str = "127.0.0.1") -> MetricsServer:
    """Serve the runtime's metrics (plus process and GC metrics) over HTTP.

    Args:
        runtime: the runtime.
        port: the port; 0 binds a free one (see :attr:`MetricsServer.port`).
        host: the address to bind (default: loopback only).

    Raises:
        MissingExtraError: prometheus-client is not installed.
        OSError: the address cannot be bound.
    """
    collector = PreopenCollector(runtime)
    prometheus = importlib.import_module("prometheus_client")
    registry = prometheus.CollectorRegistry()
    registry.register(collector)
    prometheus.ProcessCollector(registry=registry)
    prometheus.GCCollector(registry=registry)
    server, thread = prometheus.start_http_server(port, addr=host, registry=registry)
    bound = int(server.server_address[1])
    return MetricsServer(host, bound, registry, server, thread)
