"""Streaming evaluation metrics with TensorFlow's names and ``(labels, predictions, weights)`` order.

Each function mirrors ``tf.compat.v1.metrics`` (without ``metrics_collections``,
``updates_collections`` and ``name``). Call it in ``model_fn`` once per batch and put the result
in ``EstimatorSpec(eval_metric_ops=...)``; it returns a cheap :class:`MetricOp` instead of
TensorFlow's ``(value, update_op)`` pair:

.. code-block:: python

    def model_fn(features, labels, mode, params):
        predictions = model(features)
        ...
        return est.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "rmse": est.metrics.root_mean_squared_error(labels, predictions),
        })

The evaluation loop accumulates each op into a ``torchmetrics.Metric`` and reads the result with
:func:`compute_value` after the last batch; under ``torch.distributed`` the states are summed
over processes, so the value covers the whole evaluation set. Any torchmetrics metric can be
streamed the same way with ``MetricOp(create, update_args)``.

Semantics kept from TensorFlow: weighted means ``sum(w * x) / sum(w)`` that are ``0.0`` (not NaN)
for zero total weight; labels and predictions that may differ only by a trailing dimension of
size 1; weights that are a scalar or one per example (``[B]`` weights apply to every column of
``[B, C]`` values); ``prediction > threshold`` is positive.
"""

from torch_estimator.metrics.auc import auc
from torch_estimator.metrics.classification import (
    accuracy,
    false_negatives,
    false_positives,
    precision,
    recall,
    true_negatives,
    true_positives,
)
from torch_estimator.metrics.metric_op import MetricOp, compute_value
from torch_estimator.metrics.regression import (
    mean,
    mean_absolute_error,
    mean_relative_error,
    mean_squared_error,
    root_mean_squared_error,
)
from torch_estimator.metrics.thresholds import (
    false_negatives_at_thresholds,
    false_positives_at_thresholds,
    precision_at_thresholds,
    recall_at_thresholds,
    true_negatives_at_thresholds,
    true_positives_at_thresholds,
)

__all__ = [
    "MetricOp",
    "accuracy",
    "auc",
    "compute_value",
    "false_negatives",
    "false_negatives_at_thresholds",
    "false_positives",
    "false_positives_at_thresholds",
    "mean",
    "mean_absolute_error",
    "mean_relative_error",
    "mean_squared_error",
    "precision",
    "precision_at_thresholds",
    "recall",
    "recall_at_thresholds",
    "root_mean_squared_error",
    "true_negatives",
    "true_negatives_at_thresholds",
    "true_positives",
    "true_positives_at_thresholds",
]
