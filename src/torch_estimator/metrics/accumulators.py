"""Accumulators for the scalar metrics: a weighted mean and a weighted sum.

Nearly every ``tf.compat.v1.metrics`` scalar is one of two things. A weighted mean,
``sum(w * x) / sum(w)`` and ``0`` when ``sum(w) <= 0`` (TensorFlow's ``div_no_nan``): ``mean``,
``accuracy``, the errors, and also ``precision`` (the mean of labels weighted by
``w * prediction``) and ``recall`` (the mean of predictions weighted by ``w * label``). Or a
weighted sum: ``true_positives`` and friends.

torchmetrics' own classes do not fit: ``MeanMetric`` returns NaN for a zero total weight (TF
returns 0) and its NaN check synchronises the device on every update, and its classification
metrics take no sample weights. Both classes here register their states with
``dist_reduce_fx="sum"``, so torchmetrics sums them over processes on ``compute()``. States are
float32, like TensorFlow's metric variables and torchmetrics' defaults, and so work on every
device (MPS has no float64).
"""

from __future__ import annotations

import functools

import torch
import torchmetrics

from torch_estimator.metrics.metric_op import MetricOp


class WeightedMean(torchmetrics.Metric):
    """Streams ``sum(w * x) / sum(w)``; ``0.0`` while ``sum(w) <= 0``, as TensorFlow does.

    Args:
        root: Report the square root of the mean (``root_mean_squared_error``).

    Example:
        >>> acc = WeightedMean()
        >>> acc.update(torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0]))
        >>> acc.compute()  # (1*3 + 3*1) / (3 + 1)
        tensor(1.5000)
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self, root: bool = False) -> None:
        super().__init__()
        self.root = root
        self.add_state("total", torch.zeros((), dtype=torch.float32), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float32), dist_reduce_fx="sum")

    def update(self, values: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """Adds a batch of float ``values`` with matching ``weights`` (default: all 1)."""
        if weights is None:
            self.total += values.sum()
            self.count += values.numel()
        else:
            self.total += (values * weights).sum()
            self.count += weights.sum()

    def compute(self) -> torch.Tensor:
        """The weighted mean (or its square root)."""
        positive = self.count > 0
        mean = torch.where(positive, self.total / torch.where(positive, self.count, 1.0), 0.0)
        return mean.sqrt() if self.root else mean


class WeightedSum(torchmetrics.Metric):
    """Streams ``sum(w * x)``.

    Example:
        >>> acc = WeightedSum()
        >>> acc.update(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.5, 2.0, 2.0]))
        >>> acc.compute()
        tensor(2.5000)
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float32), dist_reduce_fx="sum")

    def update(self, values: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """Adds a batch of float ``values`` with matching ``weights`` (default: all 1)."""
        self.total += values.sum() if weights is None else (values * weights).sum()

    def compute(self) -> torch.Tensor:
        """The weighted sum."""
        return self.total


def mean_op(values: torch.Tensor, weights: torch.Tensor | None, root: bool = False) -> MetricOp:
    """A :class:`MetricOp` that streams the weighted mean of flat ``values``.

    Example:
        >>> op = mean_op(torch.tensor([1.0, 4.0]), None, root=True)
        >>> acc = op.create(); op.update(acc); acc.compute()  # sqrt((1 + 4) / 2)
        tensor(1.5811)
    """
    create = functools.partial(WeightedMean, root=True) if root else WeightedMean
    return MetricOp(create, _args(values, weights))


def sum_op(values: torch.Tensor, weights: torch.Tensor | None) -> MetricOp:
    """A :class:`MetricOp` that streams the weighted sum of flat ``values``.

    Example:
        >>> op = sum_op(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.5]))
        >>> acc = op.create(); op.update(acc); acc.compute()
        tensor(2.5000)
    """
    return MetricOp(WeightedSum, _args(values, weights))


def _args(values: torch.Tensor, weights: torch.Tensor | None) -> tuple:
    # Leaving weights out when there are none saves a ones-tensor per batch.
    return (values,) if weights is None else (values, weights)
