"""Compiled Keras metrics as streaming ``eval_metric_ops``, under TensorFlow's long names.

Each compiled metric is computed by a fresh copy of the Keras metric itself (its own
``update_state``/``result``), so values equal ``model.evaluate``'s. The copy lives in a
``torchmetrics.Metric`` whose states mirror the Keras metric's variables with a sum
reduction: every built-in Keras metric keeps totals and counts (means, confusion counts, AUC
buckets), so under ``torch.distributed`` the value covers all processes' batches. A new copy
is made for every evaluation (Keras shares one metric object between ``fit`` and
``evaluate``; here no training batch leaks into an evaluation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torchmetrics

from torch_estimator.errors import message
from torch_estimator.metrics import MetricOp

#: Name of a metric given as an accuracy string, as tf.keras reported it.
_ACCURACY_NAMES = {"acc": "accuracy", "accuracy": "accuracy"}


class KerasMetric(torchmetrics.Metric):
    """A Keras metric object, streamed: its variables are this accumulator's (summed) states."""

    full_state_update = False

    def __init__(self, keras_metric: Any) -> None:
        super().__init__()
        self.keras_metric = keras_metric
        self.keras_metric.reset_state()
        for index, variable in enumerate(keras_metric.variables):
            self.add_state(f"v{index}", default=torch.zeros_like(_tensor(variable)), dist_reduce_fx="sum")

    def update(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
        self.keras_metric.update_state(y_true, y_pred)
        for index, variable in enumerate(self.keras_metric.variables):
            setattr(self, f"v{index}", _tensor(variable).clone())

    def compute(self) -> torch.Tensor:
        # After a distributed sync the states hold the sums over processes: hand them back.
        for index, variable in enumerate(self.keras_metric.variables):
            variable.assign(getattr(self, f"v{index}"))
        return torch.as_tensor(self.keras_metric.result()).detach().float()


def _tensor(variable: Any) -> torch.Tensor:
    return variable.value.detach()


def metric_name(identifier: Any) -> str:
    """TensorFlow's name for a compiled metric: ``'mae'`` -> ``'mean_absolute_error'``.

    Strings name the function Keras resolves them to (so aliases get the long name), the
    accuracy strings are ``'accuracy'``, functions their ``__name__`` and metric objects their
    ``name``.
    """
    if isinstance(identifier, str):
        if identifier.lower() in _ACCURACY_NAMES:
            return _ACCURACY_NAMES[identifier.lower()]
        import keras

        identifier = keras.metrics.get(identifier)
    if hasattr(identifier, "update_state"):
        return identifier.name
    return identifier.__name__


def _fresh(identifier: Any, y_true: torch.Tensor, y_pred: torch.Tensor) -> Any:
    """A new Keras metric for ``identifier``, never the compiled object itself (its state is shared)."""
    from keras.src.trainers.compile_utils import get_metric  # Keras's own resolution of 'acc' etc.

    if hasattr(identifier, "update_state"):
        try:
            return type(identifier).from_config(identifier.get_config())
        except (TypeError, ValueError, NotImplementedError):
            return copy.deepcopy(identifier)
    return get_metric(identifier, y_true, y_pred)


def _per_output(metrics: Any, output_names: tuple[str, ...]) -> list[tuple[str | None, Any]]:
    """(output name or None, identifier) pairs from compile's ``metrics`` (a list or a dict)."""
    if metrics is None:
        return []
    if isinstance(metrics, Mapping):
        unknown = sorted(set(metrics) - set(output_names))
        if unknown:
            raise ValueError(message("compile(metrics=...) names outputs the model does not have",
                                     expected=f"keys among {list(output_names)}",
                                     fix="Key the metrics by output layer names", unknown=unknown))
        return [(name, m) for name in output_names for m in _as_list(metrics.get(name))]
    if len(output_names) > 1:  # a list applies to every output (Keras's rule)
        return [(name, m) for name in output_names for m in _as_list(metrics)]
    return [(None, m) for m in _as_list(metrics)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class CompiledMetrics:
    """The compiled metrics of a model, named once, turned into ``eval_metric_ops`` per batch.

    Args:
        metrics: ``compile(metrics=...)`` as the user gave it (strings, functions, metric
            objects; a list, or a dict by output name).
        weighted_metrics: ``compile(weighted_metrics=...)``; without sample weights these are
            plain metrics.
        output_names: The model's output names.
        names_map: ``metric_names_map``: metric name -> name to report it under.

    Raises:
        ValueError: when two metrics get the same name, or a dict names unknown outputs.
    """

    def __init__(self, metrics: Any, weighted_metrics: Any, output_names: tuple[str, ...],
                 names_map: Mapping[str, str] | None) -> None:
        self.entries: list[tuple[str, str, Any]] = []  # (reported name, output name, identifier)
        for output, identifier in _per_output(metrics, output_names) + _per_output(weighted_metrics, output_names):
            name = metric_name(identifier)
            if output is not None:
                name = f"{output}_{name}"
            name = (names_map or {}).get(name, name)
            if name in {entry[0] for entry in self.entries}:
                raise ValueError(message(f"Two compiled metrics are both reported as {name!r}",
                                         expected="distinct metric names",
                                         fix="Rename one with metric_names_map={...}", name=name))
            self.entries.append((name, output or output_names[0], identifier))

    def ops(self, labels: Mapping[str, torch.Tensor], predictions: Mapping[str, torch.Tensor]) -> dict[str, MetricOp]:
        """Name -> MetricOp for one batch (labels and predictions by output name)."""
        ops = {}
        for name, output, identifier in self.entries:
            y_true, y_pred = labels[output].detach(), predictions[output].detach()
            ops[name] = MetricOp(_factory(identifier, y_true, y_pred), (y_true, y_pred))
        return ops


def _factory(identifier: Any, y_true: torch.Tensor, y_pred: torch.Tensor) -> Callable[[], KerasMetric]:
    return lambda: KerasMetric(_fresh(identifier, y_true, y_pred))
