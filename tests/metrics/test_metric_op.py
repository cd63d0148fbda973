"""The MetricOp contract and compute_value's conversion to plain Python numbers."""

from __future__ import annotations

import pytest
import torch
import torchmetrics

import torch_estimator.metrics as metrics
from torch_estimator.metrics import MetricOp, compute_value


def test_metric_op_streams_any_torchmetrics_metric(stream):
    # Batch 1: preds [0.9, 0.2], target [1, 1] -> tp=1, fn=1.
    # Batch 2: preds [0.8, 0.7], target [0, 1] -> tp=1, fp=1.
    # precision 2/3, recall 2/3 -> F1 = 2/3.
    ops = [
        MetricOp(lambda: torchmetrics.classification.BinaryF1Score(), (torch.tensor(p), torch.tensor(t)))
        for p, t in [([0.9, 0.2], [1, 1]), ([0.8, 0.7], [0, 1])]
    ]
    assert stream(*ops) == pytest.approx(2 / 3)


def test_update_calls_metric_update_with_the_args_in_order():
    received = []

    class Recorder(torchmetrics.Metric):
        def __init__(self):
            super().__init__()
            self.add_state("n", torch.zeros(()), dist_reduce_fx="sum")

        def update(self, *args):
            received.append(args)

        def compute(self):
            return self.n

    a, b = torch.tensor([1.0]), torch.tensor([2.0])
    MetricOp(Recorder, (a, b)).update(Recorder())
    assert received == [(a, b)]


def test_update_args_list_becomes_tuple():
    op = MetricOp(torchmetrics.aggregation.SumMetric, [torch.tensor([1.0])])
    assert isinstance(op.update_args, tuple)


def test_metric_instance_instead_of_factory_is_rejected_with_fix():
    with pytest.raises(TypeError, match=r"MetricOp.create must be a function that builds a new metric.*lambda"):
        MetricOp(torchmetrics.classification.BinaryF1Score(), (torch.ones(1), torch.ones(1)))


def test_single_tensor_update_args_is_rejected_with_fix():
    with pytest.raises(TypeError, match=r"update_args must be a tuple.*update_args='Tensor'.*\(values,\)"):
        MetricOp(torchmetrics.aggregation.SumMetric, torch.ones(1))


def test_all_problems_are_reported_at_once():
    with pytest.raises(TypeError) as info:
        MetricOp("not callable", torch.ones(1))
    assert "MetricOp.create" in str(info.value)
    assert "MetricOp.update_args" in str(info.value)


def test_compute_value_returns_float_for_scalars_and_list_for_vectors():
    scalar = torchmetrics.aggregation.SumMetric()
    scalar.update(torch.tensor([1, 2]))
    assert compute_value(scalar) == 3.0
    assert type(compute_value(scalar)) is float

    per_class = torchmetrics.classification.MulticlassRecall(num_classes=3, average=None)
    per_class.update(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
    value = compute_value(per_class)
    assert value == [1.0, 1.0, 0.5]
    assert all(type(v) is float for v in value)


def test_one_threshold_metric_is_still_a_list(stream):
    # torchmetrics squeezes one-element results to scalars; the value_is_list flag undoes it.
    op = metrics.true_positives_at_thresholds([1, 1, 0], [0.9, 0.2, 0.8], thresholds=[0.5])
    assert stream(op) == [1.0]


def test_compute_value_rejects_matrices():
    matrix = torchmetrics.classification.BinaryConfusionMatrix()
    matrix.update(torch.tensor([0.9, 0.1]), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"BinaryConfusionMatrix has more than one dimension.*shape=\(2, 2\)"):
        compute_value(matrix)


def test_compute_value_rejects_non_numeric_values():
    class Named(torchmetrics.Metric):
        def __init__(self):
            super().__init__()
            self.add_state("n", torch.zeros(()), dist_reduce_fx="sum")

        def update(self):
            self.n += 1

        def compute(self):
            return {"n": self.n}

    metric = Named()
    metric.update()
    with pytest.raises(TypeError, match=r"The value of Named is not a number or a tensor.*value_type='dict'"):
        compute_value(metric)
