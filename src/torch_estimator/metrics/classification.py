"""Counts and rates of binary decisions: accuracy, precision, recall, and the four counts.

As in ``tf.compat.v1.metrics``: ``accuracy`` compares predictions with labels after casting
predictions to the labels' dtype (so class ids of any integer dtype work); the other metrics
cast both to bool (non-zero is positive), so pass thresholded predictions, not probabilities.
For probabilities use the ``*_at_thresholds`` metrics or :func:`~torch_estimator.metrics.auc`.

``precision`` and ``recall`` are weighted means (see :mod:`.accumulators`), and report ``0.0``
while nothing was predicted positive / labelled positive, as TensorFlow does.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.metrics.accumulators import mean_op, sum_op
from torch_estimator.metrics.metric_op import MetricOp
from torch_estimator.metrics.shapes import Inputs, flatten_inputs


def accuracy(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """How often ``predictions`` equals ``labels``, weighted (``tf.compat.v1.metrics.accuracy``).

    Args:
        labels: Ground-truth values, e.g. class ids of shape ``[B]`` or ``[B, 1]``.
        predictions: Predicted values of the same shape, e.g. ``logits.argmax(-1)``. Cast to
            the labels' dtype before comparing, as TensorFlow does (float predictions against
            integer labels are truncated).
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Returns:
        A :class:`MetricOp`; its value is ``0.0`` when the weights sum to zero.

    Raises:
        ValueError: If the shapes of labels, predictions and weights do not match.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # 3 of 4 equal
        0.75
    """
    labels, predictions, weights = flatten_inputs(labels, predictions, weights)
    if predictions.dtype != labels.dtype:
        predictions = predictions.to(labels.dtype)
    return mean_op((predictions == labels).to(torch.float32), weights)


def precision(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """``tp / (tp + fp)`` with weighted counts; ``0.0`` while ``tp + fp`` is 0 (TF's ``precision``).

    Args:
        labels: Ground truth, cast to bool.
        predictions: Decisions (0/1 or bool), cast to bool.
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.precision(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 0, 1]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # tp=2, fp=1
        0.6666666865348816
    """
    labels, predictions, weights = _as_bool(flatten_inputs(labels, predictions, weights))
    # The mean of the labels over the predicted positives.
    return mean_op(labels.to(torch.float32), _times(weights, predictions))


def recall(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """``tp / (tp + fn)`` with weighted counts; ``0.0`` while ``tp + fn`` is 0 (TF's ``recall``).

    Args:
        labels: Ground truth, cast to bool.
        predictions: Decisions (0/1 or bool), cast to bool.
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.recall(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 0, 1]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # tp=2, fn=1
        0.6666666865348816
    """
    labels, predictions, weights = _as_bool(flatten_inputs(labels, predictions, weights))
    # The mean of the predictions over the labelled positives.
    return mean_op(predictions.to(torch.float32), _times(weights, labels))


def true_positives(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The weighted count of ``labels & predictions`` (TF's ``true_positives``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.true_positives(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 1]),
        ...                                 weights=torch.tensor([2.0, 1.0, 0.5]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # 2 + 0.5
        2.5
    """
    labels, predictions, weights = _as_bool(flatten_inputs(labels, predictions, weights))
    return sum_op((labels & predictions).to(torch.float32), weights)


def false_positives(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The weighted count of ``~labels & predictions`` (TF's ``false_positives``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.false_positives(torch.tensor([1, 0, 0]), torch.tensor([1, 1, 1]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        2.0
    """
    labels, predictions, weights = _as_bool(flatten_inputs(labels, predictions, weights))
    return sum_op((~labels & predictions).to(torch.float32), weights)


def true_negatives(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The weighted count of ``~labels & ~predictions`` (TF's ``true_negatives``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.true_negatives(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        1.0
    """
    labels, predictions, weights = _as_bool(flatten_inputs(labels, predictions, weights))
    return sum_op((~labels & ~predictions).to(torch.float32), weights)


def false_negatives(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The weighted count of ``labels & ~predictions`` (TF's ``false_negatives``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.false_negatives(torch.tensor([1, 1, 0]), torch.tensor([0, 1, 0]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        1.0
    """
    labels, predictions, weights = _as_bool(flatten_inputs(labels, predictions, weights))
    return sum_op((labels & ~predictions).to(torch.float32), weights)


def _as_bool(inputs: Inputs) -> Inputs:
    return Inputs(inputs.labels.to(torch.bool), inputs.predictions.to(torch.bool), inputs.weights)


def _times(weights: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
    """``weights * mask``; the mask alone when unweighted."""
    mask = mask.to(torch.float32)
    return mask if weights is None else weights * mask
