"""The server's Prometheus metrics, rendered in the text exposition format (``GET /metrics``).

Counters and histograms are small thread-safe objects here rather than the
``prometheus_client`` package: the server needs four metrics, and a registry that is not a
process-wide global keeps two apps in one process (tests, embedding) from sharing counts.

Metrics:
    ``torch_estimator_serving_requests_total{route, method, status}``: requests answered.
    ``torch_estimator_serving_request_duration_seconds{route}``: latency histogram.
    ``torch_estimator_serving_batch_size{model}``: rows per model call (one call runs one
    dynamic batch, or one request when batching is off).
    ``torch_estimator_serving_model_loads_total{model, outcome}``: version loads, ``ok`` or ``error``.
    ``torch_estimator_serving_model_version{model}``: the version being served.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Counter:
    """A monotonically increasing count per label values.

    Example:
        >>> requests = Counter("requests_total", "Requests.", ("status",))
        >>> requests.inc("200"); requests.inc("200"); requests.inc("404")
        >>> print("\\n".join(requests.render()))
        # HELP requests_total Requests.
        # TYPE requests_total counter
        requests_total{status="200"} 2
        requests_total{status="404"} 1
    """

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name, self.documentation, self.labels = name, documentation, labels
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        return self._values.get(label_values, 0.0)

    def render(self) -> list[str]:
        with self._lock:
            values = sorted(self._values.items())
        return _header(self.name, self.documentation, "counter") + [
            f"{self.name}{_labels(self.labels, key)} {_number(value)}" for key, value in values]


class Histogram:
    """Observations counted into cumulative buckets per label values, with their sum.

    Example:
        >>> sizes = Histogram("batch_size", "Rows per call.", ("model",), buckets=(1, 4))
        >>> sizes.observe(3, "m"); sizes.observe(9, "m")
        >>> print("\\n".join(sizes.render()[2:]))
        batch_size_bucket{model="m",le="1"} 0
        batch_size_bucket{model="m",le="4"} 1
        batch_size_bucket{model="m",le="+Inf"} 2
        batch_size_sum{model="m"} 12
        batch_size_count{model="m"} 2
    """

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...], buckets: Iterable[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, labels
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], list[float]] = {}  # per-bucket counts, then +Inf count, then sum
        self._lock = threading.Lock()

    def observe(self, value: float, *label_values: str) -> None:
        with self._lock:
            series = self._series.get(label_values)
            if series is None:
                series = self._series[label_values] = [0.0] * (len(self.buckets) + 2)
            series[bisect.bisect_left(self.buckets, value)] += 1  # le is inclusive
            series[-1] += value

    def count(self, *label_values: str) -> int:
        series = self._series.get(label_values)
        return 0 if series is None else int(sum(series[:-1]))

    def render(self) -> list[str]:
        with self._lock:
            series = sorted((key, list(values)) for key, values in self._series.items())
        lines = _header(self.name, self.documentation, "histogram")
        for key, values in series:
            cumulative = 0.0
            for bound, count in zip((*self.buckets, "+Inf"), values[:-1]):
                cumulative += count
                le = bound if isinstance(bound, str) else _number(bound)
                lines.append(f"{self.name}_bucket{_labels((*self.labels, 'le'), (*key, le))} {_number(cumulative)}")
            lines.append(f"{self.name}_sum{_labels(self.labels, key)} {_number(values[-1])}")
            lines.append(f"{self.name}_count{_labels(self.labels, key)} {_number(cumulative)}")
        return lines


class ServingMetrics:
    """The server's metrics; one instance per app.

    Args:
        versions: Called at render time for ``{model name: version served or None}``.
    """

    def __init__(self, versions: Callable[[], dict[str, int | None]] = dict) -> None:
        prefix = "torch_estimator_serving_"
        self.requests = Counter(prefix + "requests_total", "HTTP requests answered, by route template, method and "
                                "status.", ("route", "method", "status"))
        self.latency = Histogram(prefix + "request_duration_seconds", "Time from request start to the end of the "
                                 "response, by route template.", ("route",), LATENCY_BUCKETS)
        self.batch_size = Histogram(prefix + "batch_size", "Rows per model call (a dynamic batch, or one request "
                                    "when batching is off).", ("model",), BATCH_BUCKETS)
        self.loads = Counter(prefix + "model_loads_total", "Model version loads, by outcome (ok or error).",
                             ("model", "outcome"))
        self._versions = versions

    def render(self) -> str:
        """The exposition text, ending in a newline."""
        lines = self.requests.render() + self.latency.render() + self.batch_size.render() + self.loads.render()
        name = "torch_estimator_serving_model_version"
        lines += _header(name, "The model version being served (absent while none is loaded).", "gauge")
        lines += [f"{name}{_labels(('model',), (model,))} {version}"
                  for model, version in sorted(self._versions().items()) if version is not None]
        return "\n".join(lines) + "\n"


def _header(name: str, documentation: str, kind: str) -> list[str]:
    return [f"# HELP {name} {documentation}", f"# TYPE {name} {kind}"]


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{name}="{_escape(str(value))}"' for name, value in zip(names, values))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
