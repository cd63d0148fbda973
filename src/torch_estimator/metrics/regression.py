"""Weighted means of values and of errors: ``tf.compat.v1.metrics.mean`` and the error metrics.

All of them stream ``sum(w * x) / sum(w)`` and report ``0.0`` while no weight has been seen.
Inputs of any numeric dtype are computed in float32 (float64 stays float64). Labels and
predictions follow :mod:`torch_estimator.metrics.shapes`: ``[B]`` against ``[B, 1]`` works,
other shape differences are an error, never a silent broadcast.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.metrics.accumulators import mean_op
from torch_estimator.metrics.metric_op import MetricOp
from torch_estimator.metrics.shapes import (
    as_float,
    broadcast_weights,
    flatten_inputs,
    flatten_values,
    squeeze_to_match,
    to_tensor,
)


def mean(values: Any, weights: Any = None) -> MetricOp:
    """The (weighted) mean of ``values`` over the evaluation (``tf.compat.v1.metrics.mean``).

    Args:
        values: A tensor of any shape.
        weights: Optional weights, a scalar or broadcastable to ``values`` (one trailing
            dimension of size 1 more or less is allowed, as TensorFlow does).

    Returns:
        A :class:`MetricOp` whose value is ``sum(weights * values) / sum(weights)``, or ``0.0``
        when the weights sum to zero.

    Raises:
        ValueError: If ``weights`` cannot be broadcast to ``values``.
        TypeError: If an input is not numeric.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.mean(torch.tensor([1.0, 2.0, 4.0]), weights=torch.tensor([1, 1, 0]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # (1 + 2) / 2
        1.5
    """
    values, weights = flatten_values(values, weights)
    return mean_op(as_float(values), weights)


def mean_squared_error(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The weighted mean of ``(labels - predictions) ** 2`` (TF's ``mean_squared_error``).

    Args:
        labels: Tensor of the same shape as ``predictions`` (up to a trailing dim of size 1).
        predictions: Tensor of any shape.
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Returns:
        A :class:`MetricOp`; its value is ``0.0`` when the weights sum to zero.

    Raises:
        ValueError: If the shapes of labels, predictions and weights do not match.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.mean_squared_error(torch.tensor([1.0, 2.0]), torch.tensor([[1.0], [4.0]]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # (0 + 4) / 2
        2.0
    """
    labels, predictions, weights = flatten_inputs(labels, predictions, weights)
    return mean_op(torch.square(as_float(labels) - as_float(predictions)), weights)


def root_mean_squared_error(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The square root of the streamed :func:`mean_squared_error` (TF's RMSE).

    The root is taken once, of the mean over the whole evaluation, not per batch.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.root_mean_squared_error(torch.tensor([0.0, 0.0]), torch.tensor([3.0, -3.0]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # sqrt((9 + 9) / 2)
        3.0
    """
    labels, predictions, weights = flatten_inputs(labels, predictions, weights)
    return mean_op(torch.square(as_float(labels) - as_float(predictions)), weights, root=True)


def mean_absolute_error(labels: Any, predictions: Any, weights: Any = None) -> MetricOp:
    """The weighted mean of ``|labels - predictions|`` (TF's ``mean_absolute_error``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.mean_absolute_error(torch.tensor([1, 2]), torch.tensor([2.0, 0.0]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # (1 + 2) / 2
        1.5
    """
    labels, predictions, weights = flatten_inputs(labels, predictions, weights)
    return mean_op(torch.abs(as_float(labels) - as_float(predictions)), weights)


def mean_relative_error(
    labels: Any, predictions: Any, normalizer: Any, weights: Any = None
) -> MetricOp:
    """The weighted mean of ``|labels - predictions| / normalizer`` (TF's ``mean_relative_error``).

    Where ``normalizer`` is 0 the relative error counts as 0 (its weight still counts), as in
    TensorFlow.

    Args:
        labels: Tensor of the same shape as ``predictions``.
        predictions: Tensor of any shape.
        normalizer: Tensor of the same shape as ``predictions`` (up to a trailing dim of 1).
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Raises:
        ValueError: If the shapes of labels, predictions, normalizer and weights do not match.

    Example:
        >>> import torch_estimator as est
        >>> labels, predictions = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 5.0])
        >>> op = est.metrics.mean_relative_error(labels, predictions, normalizer=torch.tensor([2.0, 1.0, 0.0]))
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)  # (1/2 + 0/1 + 0) / 3
        0.1666666716337204
    """
    labels_t = to_tensor(labels, "labels")
    predictions_t = to_tensor(predictions, "predictions", labels_t.device)
    labels_t, predictions_t = squeeze_to_match(labels_t, predictions_t)
    normalizer_t = to_tensor(normalizer, "normalizer", predictions_t.device)
    # Only element order matters from here on: everything is flattened, and squeezing a
    # trailing dimension of size 1 does not change the order.
    matched, normalizer_t = squeeze_to_match(predictions_t, normalizer_t, ("predictions", "normalizer"))
    flat_weights = None
    if weights is not None:
        flat_weights = broadcast_weights(to_tensor(weights, "weights", labels_t.device), matched)
        flat_weights = flat_weights.reshape(-1)
    normalizer_t = as_float(normalizer_t).reshape(-1)
    errors = torch.abs(as_float(labels_t) - as_float(predictions_t)).reshape(-1)
    relative = torch.where(normalizer_t == 0, 0.0, errors / normalizer_t)
    return mean_op(relative, flat_weights)
