"""Straightforward numpy re-implementations of TensorFlow's thresholded metrics, for comparison.

Written from ``tensorflow/python/ops/metrics_impl.py`` (``_confusion_matrix_at_thresholds``,
``auc`` and its ``interpolate_pr_auc``) in the most literal form: a ``[T, N]`` comparison matrix
and a Python loop over intervals, deliberately unlike the package's bucketed, vectorised code.
"""

from __future__ import annotations

import math

import numpy as np


def numpy_counts(labels, predictions, thresholds, weights=None) -> dict[str, np.ndarray]:
    """Weighted tp/fp/tn/fn per threshold; predictions and thresholds in float32 like TF."""
    labels = np.asarray(labels).astype(bool).reshape(1, -1)
    predictions = np.asarray(predictions, dtype=np.float32).reshape(1, -1)
    if weights is None:
        weights = np.ones(labels.shape, np.float64)
    weights = np.asarray(weights, np.float64).reshape(1, -1)
    above = predictions > np.asarray(thresholds, dtype=np.float32).reshape(-1, 1)
    return {
        "tp": ((above & labels) * weights).sum(1),
        "fp": ((above & ~labels) * weights).sum(1),
        "tn": ((~above & ~labels) * weights).sum(1),
        "fn": ((~above & labels) * weights).sum(1),
    }


def numpy_auc(
    labels,
    predictions,
    weights=None,
    num_thresholds=200,
    curve="ROC",
    summation_method="trapezoidal",
    thresholds=None,
) -> float:
    """tf.compat.v1.metrics.auc."""
    if thresholds is None:
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    else:
        inner = sorted(thresholds)
    c = numpy_counts(labels, predictions, [0.0 - 1e-7] + inner + [1.0 + 1e-7], weights)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    if curve == "PR" and summation_method == "careful_interpolation":
        return _careful_pr_auc(tp, fp, fn)
    eps = 1e-6
    recall = (tp + eps) / (tp + fn + eps)
    if curve == "ROC":
        x, y = fp / (fp + tn + eps), recall
    else:
        x, y = recall, (tp + eps) / (tp + fp + eps)
    total = 0.0
    for i in range(len(x) - 1):
        if summation_method in ("trapezoidal", "careful_interpolation"):
            height = (y[i] + y[i + 1]) / 2
        elif summation_method == "minoring":
            height = min(y[i], y[i + 1])
        else:
            height = max(y[i], y[i + 1])
        total += (x[i] - x[i + 1]) * height
    return total


def _careful_pr_auc(tp, fp, fn) -> float:
    """Interval by interval: precision (tp_b + slope * (p - p_b)) / p integrated over recall."""
    total = 0.0
    for i in range(len(tp) - 1):
        p_a, p_b = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        dtp = tp[i] - tp[i + 1]
        slope = dtp / (p_a - p_b) if p_a - p_b > 0 else 0.0
        intercept = tp[i + 1] - slope * p_b
        log_ratio = math.log(p_a / p_b) if p_a > 0 and p_b > 0 else 0.0
        positives = tp[i + 1] + fn[i + 1]
        if positives > 0:
            total += slope * (dtp + intercept * log_ratio) / positives
    return total
