"""The contract between metric functions and the evaluation loop.

A ``model_fn`` runs once per batch and returns ``eval_metric_ops={name: MetricOp}``. The loop
builds one accumulator per name from the first batch's op, feeds it every batch, and reads one
number at the end:

.. code-block:: python

    acc = accumulators.get(name)
    if acc is None:
        acc = accumulators[name] = op.create().to(device)
    op.update(acc)
    ...
    value = compute_value(acc)        # after the last batch

This replaces TensorFlow's ``(value_tensor, update_op)`` pair: ``update_args`` is the batch's
part of ``update_op`` and ``create`` builds what TF kept in local variables. Accumulators are
``torchmetrics.Metric`` objects, so their states are summed across processes when
``torch.distributed`` is initialised, and the value is exact over the whole evaluation set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torchmetrics

from torch_estimator.errors import message


@dataclasses.dataclass(frozen=True)
class MetricOp:
    """One batch's update of a streaming metric (TensorFlow's ``update_op``, made explicit).

    Every ``est.metrics`` function returns one. To stream any other torchmetrics metric, build
    one yourself; ``update_args`` are passed positionally to the metric's ``update``, so they
    follow torchmetrics' ``(preds, target)`` order, not TensorFlow's ``(labels, predictions)``.

    Attributes:
        create: Builds a fresh accumulator. Called once per evaluation, on the first batch;
            later batches' ``create`` are ignored, so the metric's configuration must not
            depend on the batch.
        update_args: Tensors passed as ``accumulator.update(*update_args)``.

    Raises:
        TypeError: If ``create`` is not a zero-argument factory (a metric *instance* is a
            common slip: it would be shared between evaluations) or ``update_args`` is not a
            tuple or list.

    Example:
        >>> import torchmetrics
        >>> import torch_estimator as est
        >>> preds, labels = torch.tensor([0.9, 0.2, 0.8]), torch.tensor([1, 0, 0])
        >>> op = est.metrics.MetricOp(lambda: torchmetrics.classification.BinaryF1Score(), (preds, labels))
        >>> f1 = op.create()
        >>> op.update(f1)
        >>> est.metrics.compute_value(f1)  # precision 1/2, recall 1/1
        0.6666666865348816
    """

    create: Callable[[], torchmetrics.Metric]
    update_args: tuple

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.create, torchmetrics.Metric) or not callable(self.create):
            problems.append(
                message(
                    "MetricOp.create must be a function that builds a new metric",
                    expected="a zero-argument callable returning a torchmetrics.Metric",
                    fix="Wrap the constructor, e.g. create=lambda: BinaryF1Score()",
                    create=type(self.create).__name__,
                )
            )
        if isinstance(self.update_args, list):
            object.__setattr__(self, "update_args", tuple(self.update_args))
        elif not isinstance(self.update_args, tuple):
            problems.append(
                message(
                    "MetricOp.update_args must be a tuple of the arguments of metric.update",
                    expected="a tuple, e.g. (preds, target)",
                    fix="Wrap a single tensor in a tuple: update_args=(values,)",
                    update_args=type(self.update_args).__name__,
                )
            )
        if problems:
            raise TypeError(" ".join(problems))

    def update(self, metric: torchmetrics.Metric) -> None:
        """Adds this batch to ``metric`` (an accumulator built by :attr:`create`).

        Example:
            >>> op = MetricOp(torchmetrics.aggregation.SumMetric, (torch.tensor([1.0, 2.0]),))
            >>> total = op.create()
            >>> op.update(total); op.update(total)
            >>> compute_value(total)
            6.0
        """
        metric.update(*self.update_args)


def compute_value(metric: torchmetrics.Metric) -> float | list[float]:
    """Reads an accumulator's value as plain Python numbers, for summaries and return values.

    Under ``torch.distributed`` every process must call this (it all-reduces the states); every
    process then gets the value over all processes' batches.

    Args:
        metric: An accumulator built by :attr:`MetricOp.create` and fed with
            :meth:`MetricOp.update`.

    Returns:
        A float for scalar metrics, a list of floats for per-threshold or per-class metrics.
        An accumulator with a true ``value_is_list`` attribute always gives a list, even of
        one value (torchmetrics squeezes one-element results to scalars).

    Raises:
        ValueError: If the metric's value has more than one dimension.
        TypeError: If the metric's value is neither a tensor nor a number.

    Example:
        >>> import torch_estimator as est
        >>> op = est.metrics.mean(torch.tensor([1.0, 2.0, 6.0]))
        >>> acc = op.create()
        >>> op.update(acc)
        >>> est.metrics.compute_value(acc)
        3.0
    """
    value = metric.compute()
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dim() == 0 and not getattr(metric, "value_is_list", False):
            return float(value)
        if value.dim() == 0:
            # torchmetrics squeezes one-element results; a one-threshold metric is still a list.
            return [float(value)]
        if value.dim() == 1:
            return value.double().tolist()
        raise ValueError(
            message(
                f"The value of {type(metric).__name__} has more than one dimension",
                expected="a scalar or a 1-D tensor",
                fix="Reduce it in a torchmetrics.Metric subclass, or report each row as its "
                "own metric",
                shape=tuple(value.shape),
            )
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        message(
            f"The value of {type(metric).__name__} is not a number or a tensor",
            expected="compute() to return a tensor or a Python number",
            fix="Return a tensor from compute(), or pick one entry of a dict-valued metric",
            value_type=type(value).__name__,
        )
    )

