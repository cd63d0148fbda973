"""``tf.compat.v1.metrics.auc``: the area under the ROC or PR curve, from thresholded counts.

The numbers follow TensorFlow's ``metrics_impl.auc``:

* thresholds ``[-1e-7, 1/(n-1), ..., (n-2)/(n-1), 1 + 1e-7]`` (or the given ``thresholds``,
  sorted, with the same two end points added), so predictions of exactly 0 and 1 count;
* weighted tp/fp/tn/fn at each threshold (:class:`.thresholds.ConfusionAtThresholds`);
* ``recall = (tp + 1e-6) / (tp + fn + 1e-6)``, ``fp_rate = fp / (fp + tn + 1e-6)``,
  ``precision = (tp + 1e-6) / (tp + fp + 1e-6)``;
* a Riemann sum over the thresholds: midpoint heights for ``'trapezoidal'`` (and for ROC with
  ``'careful_interpolation'``), the lower or higher end for ``'minoring'`` / ``'majoring'``;
* PR with ``'careful_interpolation'``: TensorFlow's closed form that interpolates true and
  false positives linearly between thresholds rather than precision (Davis & Goadrich, 2006),
  the method ``tf.keras.metrics.AUC(curve='PR')`` uses.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.errors import message
from torch_estimator.metrics.metric_op import MetricOp
from torch_estimator.metrics.thresholds import Counts, check_thresholds, confusion_op

_END_EPSILON = 1e-7  # TF's kepsilon: the end thresholds sit just outside [0, 1].
_RATE_EPSILON = 1e-6  # TF's guard against 0/0 in the rates.
_CURVES = ("ROC", "PR")
_HEIGHTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "trapezoidal": lambda left, right: (left + right) / 2.0,
    "careful_interpolation": lambda left, right: (left + right) / 2.0,
    "minoring": torch.minimum,
    "majoring": torch.maximum,
}


def auc(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    num_thresholds: int = 200,
    curve: str = "ROC",
    summation_method: str = "trapezoidal",
    thresholds: Any = None,
) -> MetricOp:
    """The approximate area under the ROC or PR curve (``tf.compat.v1.metrics.auc``).

    Cost per batch is ``O(batch * log(num_thresholds))``; the accumulator holds
    ``2 * (num_thresholds + 1)`` floats. More thresholds approximate the exact AUC better;
    predictions spread evenly over ``[0, 1]`` approximate it best.

    Args:
        labels: Ground truth, cast to bool.
        predictions: Scores in ``[0, 1]`` (not checked: out-of-range values count as if
            clipped to just below 0 or above 1). Positive at a threshold when greater.
        weights: Optional weights, a scalar or broadcastable to ``labels``.
        num_thresholds: Number of evenly spaced thresholds, at least 2. Ignored when
            ``thresholds`` is given.
        curve: ``'ROC'`` (true positive rate against false positive rate) or ``'PR'``
            (precision against recall).
        summation_method: ``'trapezoidal'`` (TF's default; TensorFlow warns that it overstates
            PR AUC), ``'careful_interpolation'`` (preferred for PR), ``'minoring'`` (a lower
            bound) or ``'majoring'`` (an upper bound).
        thresholds: Optional list of thresholds in ``[0, 1]`` used instead of the even grid.

    Returns:
        A :class:`MetricOp` whose value is the AUC as a float.

    Raises:
        ValueError: For an unknown ``curve`` or ``summation_method``, ``num_thresholds < 2``,
            empty or NaN ``thresholds``, or mismatched shapes.
        TypeError: If ``thresholds`` is not a list of numbers.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.auc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.0, 0.5, 0.3, 0.9]),
        ...                      num_thresholds=3)
        >>> acc = op.create(); op.update(acc)
        >>> round(est.metrics.compute_value(acc), 4)  # TPR [1, 0.5, 0] over FPR [1, 0, 0]
        0.75
    """
    _check_options(num_thresholds, curve, summation_method, thresholds)
    if curve == "PR" and summation_method == "trapezoidal":
        warnings.warn(
            "The trapezoidal rule is known to overstate PR AUCs; TensorFlow recommends "
            "summation_method='careful_interpolation'.",
            UserWarning,
            stacklevel=2,
        )
    given = None if thresholds is None else tuple(sorted(check_thresholds(thresholds)))
    grid = _thresholds(num_thresholds, given)
    summarize = functools.partial(area_under_curve, curve=curve, summation_method=summation_method)
    return confusion_op(labels, predictions, weights, grid, summarize, value_is_list=False)


def area_under_curve(counts: Counts, curve: str = "ROC", summation_method: str = "trapezoidal") -> torch.Tensor:
    """TensorFlow's AUC from confusion counts at increasing thresholds.

    Args:
        counts: Weighted counts, one entry per threshold, thresholds increasing.
        curve: ``'ROC'`` or ``'PR'``.
        summation_method: One of ``'trapezoidal'``, ``'careful_interpolation'``,
            ``'minoring'``, ``'majoring'``.

    Example:
        >>> counts = Counts(tp=torch.tensor([2.0, 1.0, 0.0]), fp=torch.tensor([2.0, 0.0, 0.0]),
        ...                 tn=torch.tensor([0.0, 2.0, 2.0]), fn=torch.tensor([0.0, 1.0, 2.0]))
        >>> round(float(area_under_curve(counts)), 4)
        0.75
    """
    tp, fp, tn, fn = counts
    if curve == "PR" and summation_method == "careful_interpolation":
        return _interpolated_pr_auc(tp, fp, fn)
    recall = (tp + _RATE_EPSILON) / (tp + fn + _RATE_EPSILON)
    if curve == "ROC":
        x, y = fp / (fp + tn + _RATE_EPSILON), recall
    else:
        x, y = recall, (tp + _RATE_EPSILON) / (tp + fp + _RATE_EPSILON)
    heights = _HEIGHTS[summation_method](y[:-1], y[1:])
    # x decreases as the threshold rises, so each width x[i] - x[i+1] is non-negative.
    return torch.sum((x[:-1] - x[1:]) * heights)


def _interpolated_pr_auc(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """PR AUC with tp and p = tp + fp linear between thresholds (TF's ``interpolate_pr_auc``).

    Within one interval precision is ``(tp_b + slope * (p - p_b)) / p``; integrating it over
    recall gives ``slope * (dtp + intercept * log(p_a / p_b)) / (tp_b + fn_b)`` in closed form,
    with ``intercept = tp_b - slope * p_b``. An end with no predicted positives contributes
    ``log(1) = 0``, i.e. constant precision over that interval.
    """
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = _divide_no_nan(dtp, torch.clamp(p[:-1] - p[1:], min=0))
    intercept = tp[1:] - slope * p[1:]
    both_positive = (p[:-1] > 0) & (p[1:] > 0)
    p_ratio = torch.where(both_positive, _divide_no_nan(p[:-1], torch.clamp(p[1:], min=0)), 1.0)
    increments = _divide_no_nan(slope * (dtp + intercept * torch.log(p_ratio)), torch.clamp(tp[1:] + fn[1:], min=0))
    return increments.sum()


def _divide_no_nan(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, and 0 where the denominator is 0 (TF's ``div_no_nan``)."""
    zero = denominator == 0
    return torch.where(zero, 0.0, numerator / torch.where(zero, 1.0, denominator))


@functools.lru_cache(maxsize=32)
def _thresholds(num_thresholds: int, given: tuple[float, ...] | None) -> tuple[float, ...]:
    # Cached: auc() runs once per batch with the same arguments.
    if given is None:
        given = tuple((i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2))
    return (0.0 - _END_EPSILON, *given, 1.0 + _END_EPSILON)


def _check_options(num_thresholds: Any, curve: Any, summation_method: Any, thresholds: Any) -> None:
    problems = []
    if curve not in _CURVES:
        problems.append(
            message("Unknown curve", expected="'ROC' or 'PR'", fix="Use curve='ROC' or curve='PR'", curve=curve)
        )
    if summation_method not in _HEIGHTS:
        problems.append(
            message(
                "Unknown summation_method",
                expected="one of " + ", ".join(repr(name) for name in _HEIGHTS),
                fix="Use summation_method='careful_interpolation' for PR curves",
                summation_method=summation_method,
            )
        )
    valid_count = isinstance(num_thresholds, int) and not isinstance(num_thresholds, bool) and num_thresholds > 1
    if thresholds is None and not valid_count:
        problems.append(
            message(
                "num_thresholds must be an integer greater than 1",
                expected="e.g. num_thresholds=200 (TensorFlow's default)",
                fix="Pass more thresholds, or a list in thresholds=",
                num_thresholds=num_thresholds,
            )
        )
    if problems:
        raise ValueError(" ".join(problems))
