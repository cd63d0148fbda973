"""Confusion counts at thresholds, and the ``*_at_thresholds`` metrics built on them.

A prediction is positive at threshold ``t`` when ``prediction > t``, as in TensorFlow's
``_confusion_matrix_at_thresholds``. TensorFlow compares every prediction with every threshold
(a ``[T, B]`` matrix per batch). Here each prediction is put into the bucket between two
consecutive sorted thresholds (``searchsorted``, ``O(B log T)``) and its weight is added to a
per-bucket histogram, separately for positive and negative labels. The counts at every threshold
are cumulative sums of that histogram, taken once in ``compute()``; the numbers are the same.

The histogram is the accumulator's only state (``dist_reduce_fx="sum"``), so distributed
evaluation sums it over processes and is exact. ``scatter_add_`` on a 1-D tensor has a
deterministic CUDA implementation, so ``torch.use_deterministic_algorithms(True)`` is honoured.
Predictions are compared in float32, as TensorFlow casts them. They are not checked to lie in
``[0, 1]``: checking would synchronise the device every batch.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torchmetrics

from torch_estimator.errors import message
from torch_estimator.metrics.metric_op import MetricOp
from torch_estimator.metrics.shapes import flatten_inputs

# TensorFlow's guard against 0/0 in precision_at_thresholds and recall_at_thresholds.
_EPSILON = 1e-7


class Counts(NamedTuple):
    """Weighted confusion counts, one entry per threshold."""

    tp: torch.Tensor
    fp: torch.Tensor
    tn: torch.Tensor
    fn: torch.Tensor


class ConfusionAtThresholds(torchmetrics.Metric):
    """Streams weighted tp/fp/tn/fn at each threshold and reports ``summarize(counts)``.

    Args:
        thresholds: The thresholds, in the order results are reported.
        summarize: Turns :class:`Counts` (each of shape ``[len(thresholds)]``) into the
            reported value, e.g. precision per threshold or an AUC.
        value_is_list: Whether the value is one entry per threshold, so that
            :func:`~torch_estimator.metrics.compute_value` returns a list even for one threshold.

    Example:
        >>> acc = ConfusionAtThresholds([0.5, 0.0], summarize=operator.attrgetter("tp"))
        >>> acc.update(torch.tensor([True, False, True]), torch.tensor([0.7, 0.6, 0.2]))
        >>> acc.compute()  # above 0.5: 0.7 (positive); above 0.0: 0.7 and 0.2
        tensor([1., 2.])
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(
        self, thresholds: Sequence[float], summarize: Callable[[Counts], torch.Tensor], value_is_list: bool = True
    ) -> None:
        super().__init__()
        self.value_is_list = value_is_list
        values = torch.tensor(list(thresholds), dtype=torch.float32)
        boundaries, order = torch.sort(values)
        self.register_buffer("boundaries", boundaries, persistent=False)
        # Maps sorted positions back to the caller's order.
        self.register_buffer("unsort", torch.argsort(order), persistent=False)
        self.summarize = summarize
        self.num_thresholds = len(values)
        # Buckets 0..T for positive labels, then T+1..2T+1 for negative ones: one flat tensor,
        # because scatter_add_ is deterministic on CUDA only for 1-D inputs.
        self.add_state(
            "histogram", torch.zeros(2 * (self.num_thresholds + 1), dtype=torch.float32), dist_reduce_fx="sum"
        )

    def update(self, labels: torch.Tensor, predictions: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """Adds a batch of flat bool ``labels``, float ``predictions`` and optional ``weights``."""
        predictions = predictions.to(self.boundaries.dtype).contiguous()
        # The number of thresholds strictly below each prediction: positive at exactly those.
        buckets = torch.searchsorted(self.boundaries, predictions)
        # NaN > t is false for every t in TensorFlow: a NaN prediction is negative everywhere.
        buckets = buckets.masked_fill(torch.isnan(predictions), 0)
        index = torch.where(labels, buckets, buckets + (self.num_thresholds + 1))
        if weights is None:
            weights = torch.ones_like(predictions, dtype=self.histogram.dtype)
        self.histogram.scatter_add_(0, index, weights.to(self.histogram.dtype))

    def counts(self) -> Counts:
        """The confusion counts at each threshold, in the order the thresholds were given."""
        positives, negatives = self.histogram.view(2, self.num_thresholds + 1)
        # Two cumulative sums rather than "total - cumsum" keep empty ends exactly 0.
        fn, tn = positives.cumsum(0)[:-1], negatives.cumsum(0)[:-1]
        tp = positives.flip(0).cumsum(0).flip(0)[1:]
        fp = negatives.flip(0).cumsum(0).flip(0)[1:]
        return Counts(tp[self.unsort], fp[self.unsort], tn[self.unsort], fn[self.unsort])

    def compute(self) -> torch.Tensor:
        """``summarize(self.counts())``."""
        return self.summarize(self.counts())


def confusion_op(
    labels: Any,
    predictions: Any,
    weights: Any,
    thresholds: Sequence[float],
    summarize: Callable[[Counts], torch.Tensor],
    value_is_list: bool = True,
) -> MetricOp:
    """A :class:`MetricOp` that streams one batch into a :class:`ConfusionAtThresholds`.

    Example:
        >>> op = confusion_op([1, 0], [0.9, 0.3], None, [0.5, 0.2], operator.attrgetter("fp"))
        >>> acc = op.create(); op.update(acc); acc.compute()
        tensor([0., 1.])
    """
    labels, predictions, weights = flatten_inputs(labels, predictions, weights)
    args = (labels.to(torch.bool), predictions.to(torch.float32))
    create = functools.partial(ConfusionAtThresholds, tuple(thresholds), summarize, value_is_list)
    return MetricOp(create, args if weights is None else (*args, weights))


def check_thresholds(thresholds: Any) -> tuple[float, ...]:
    """Validates user thresholds: a non-empty list of numbers, none NaN.

    Raises:
        TypeError: If ``thresholds`` is not a list (or 1-D array) of numbers.
        ValueError: If it is empty or contains NaN.

    Example:
        >>> check_thresholds([0.5, 1])
        (0.5, 1.0)
    """
    if isinstance(thresholds, torch.Tensor):
        thresholds = thresholds.detach().cpu().reshape(-1).tolist()
    try:
        values = tuple(float(t) for t in thresholds)
    except TypeError:
        raise TypeError(
            message(
                "thresholds must be a list of numbers",
                expected="a list, tuple or 1-D array of floats",
                fix="Wrap a single threshold in a list, e.g. thresholds=[0.5]",
                thresholds=thresholds,
            )
        ) from None
    if not values or any(math.isnan(t) for t in values):
        raise ValueError(
            message(
                "thresholds must be a non-empty list of numbers without NaN",
                expected="at least one threshold, e.g. [0.25, 0.5, 0.75]",
                fix="Pass the decision thresholds to evaluate",
                thresholds=list(values),
            )
        )
    return values


def precision_at_thresholds(labels: Any, predictions: Any, thresholds: Any, weights: Any = None) -> MetricOp:
    """Precision at each threshold: ``tp / (tp + fp + 1e-7)`` (TF's ``precision_at_thresholds``).

    Args:
        labels: Ground truth, cast to bool.
        predictions: Scores, usually probabilities in ``[0, 1]``; positive where ``> threshold``.
        thresholds: A list of floats. The value is a list in the same order.
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Raises:
        ValueError: If the shapes do not match, or ``thresholds`` is empty or has NaN.
        TypeError: If ``thresholds`` is not a list of numbers.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.precision_at_thresholds(
        ...     torch.tensor([1, 0, 1, 0]), torch.tensor([0.9, 0.8, 0.3, 0.1]), thresholds=[0.5, 0.0])
        >>> acc = op.create(); op.update(acc)
        >>> [round(v, 4) for v in est.metrics.compute_value(acc)]  # 1/2 above 0.5, 2/4 above 0
        [0.5, 0.5]
    """
    return confusion_op(labels, predictions, weights, check_thresholds(thresholds), _precision)


def recall_at_thresholds(labels: Any, predictions: Any, thresholds: Any, weights: Any = None) -> MetricOp:
    """Recall at each threshold: ``tp / (tp + fn + 1e-7)`` (TF's ``recall_at_thresholds``).

    Args:
        labels: Ground truth, cast to bool.
        predictions: Scores; positive where ``> threshold``.
        thresholds: A list of floats. The value is a list in the same order.
        weights: Optional weights, a scalar or broadcastable to ``labels``.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.recall_at_thresholds(
        ...     torch.tensor([1, 0, 1, 0]), torch.tensor([0.9, 0.8, 0.3, 0.1]), thresholds=[0.5, 0.0])
        >>> acc = op.create(); op.update(acc)
        >>> [round(v, 4) for v in est.metrics.compute_value(acc)]  # 1 of 2 positives, then 2 of 2
        [0.5, 1.0]
    """
    return confusion_op(labels, predictions, weights, check_thresholds(thresholds), _recall)


def true_positives_at_thresholds(labels: Any, predictions: Any, thresholds: Any, weights: Any = None) -> MetricOp:
    """Weighted true positives at each threshold (TF's ``true_positives_at_thresholds``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.true_positives_at_thresholds([1, 1, 0], [0.9, 0.4, 0.7], [0.5, 0.1])
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        [1.0, 2.0]
    """
    return confusion_op(labels, predictions, weights, check_thresholds(thresholds), operator.attrgetter("tp"))


def false_positives_at_thresholds(labels: Any, predictions: Any, thresholds: Any, weights: Any = None) -> MetricOp:
    """Weighted false positives at each threshold (TF's ``false_positives_at_thresholds``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.false_positives_at_thresholds([1, 1, 0], [0.9, 0.4, 0.7], [0.5, 0.8])
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        [1.0, 0.0]
    """
    return confusion_op(labels, predictions, weights, check_thresholds(thresholds), operator.attrgetter("fp"))


def true_negatives_at_thresholds(labels: Any, predictions: Any, thresholds: Any, weights: Any = None) -> MetricOp:
    """Weighted true negatives at each threshold (TF's ``true_negatives_at_thresholds``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.true_negatives_at_thresholds([1, 0, 0], [0.9, 0.4, 0.7], [0.5, 0.8])
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        [1.0, 2.0]
    """
    return confusion_op(labels, predictions, weights, check_thresholds(thresholds), operator.attrgetter("tn"))


def false_negatives_at_thresholds(labels: Any, predictions: Any, thresholds: Any, weights: Any = None) -> MetricOp:
    """Weighted false negatives at each threshold (TF's ``false_negatives_at_thresholds``).

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.false_negatives_at_thresholds([1, 1, 0], [0.9, 0.4, 0.7], [0.5, 0.95])
        >>> acc = op.create(); op.update(acc)
        >>> est.metrics.compute_value(acc)
        [1.0, 2.0]
    """
    return confusion_op(labels, predictions, weights, check_thresholds(thresholds), operator.attrgetter("fn"))


def _precision(counts: Counts) -> torch.Tensor:
    return counts.tp / (_EPSILON + counts.tp + counts.fp)


def _recall(counts: Counts) -> torch.Tensor:
    return counts.tp / (_EPSILON + counts.tp + counts.fn)
