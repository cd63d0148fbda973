"""The package as a whole: its public names, its docstring examples, and no device syncs."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

import torch_estimator.metrics as metrics

MODULES = ["metric_op", "shapes", "accumulators", "regression", "classification", "thresholds", "auc"]


@pytest.mark.parametrize("name", MODULES)
def test_every_metrics_module_has_examples(name):
    # tests/test_docstrings.py runs them; here: none of these modules may lack one.
    module = importlib.import_module(f"torch_estimator.metrics.{name}")
    assert any(test.examples for test in doctest.DocTestFinder().find(module)), f"{name} has no examples"


def test_every_public_function_has_an_example():
    for name in metrics.__all__:
        assert ">>> " in (getattr(metrics, name).__doc__ or ""), name


B = 6
LABELS, SCORES, WEIGHTS = torch.zeros(B), torch.zeros(B), torch.ones(B, 1)
CALLS = {
    "accuracy": lambda l, p, w: metrics.accuracy(l, p, w),
    "auc": lambda l, p, w: metrics.auc(l, p, w, curve="PR", summation_method="careful_interpolation"),
    "precision": metrics.precision,
    "recall": metrics.recall,
    "mean": lambda l, p, w: metrics.mean(p, w),
    "mean_squared_error": metrics.mean_squared_error,
    "root_mean_squared_error": metrics.root_mean_squared_error,
    "mean_absolute_error": metrics.mean_absolute_error,
    "mean_relative_error": lambda l, p, w: metrics.mean_relative_error(l, p, p, w),
    "true_positives": metrics.true_positives,
    "false_positives": metrics.false_positives,
    "true_negatives": metrics.true_negatives,
    "false_negatives": metrics.false_negatives,
    "precision_at_thresholds": lambda l, p, w: metrics.precision_at_thresholds(l, p, [0.5], w),
    "recall_at_thresholds": lambda l, p, w: metrics.recall_at_thresholds(l, p, [0.5], w),
    "true_positives_at_thresholds": lambda l, p, w: metrics.true_positives_at_thresholds(l, p, [0.5], w),
    "false_positives_at_thresholds": lambda l, p, w: metrics.false_positives_at_thresholds(l, p, [0.5], w),
    "true_negatives_at_thresholds": lambda l, p, w: metrics.true_negatives_at_thresholds(l, p, [0.5], w),
    "false_negatives_at_thresholds": lambda l, p, w: metrics.false_negatives_at_thresholds(l, p, [0.5], w),
}


def test_every_metric_function_is_covered_here():
    assert set(CALLS) == set(metrics.__all__) - {"MetricOp", "compute_value"}


@pytest.mark.parametrize("name", CALLS)
def test_per_batch_work_never_reads_tensor_values(name):
    # Meta tensors have shapes but no data: any .item(), bool(tensor) or data-dependent shape in
    # the metric function or the accumulator's update raises. On a GPU such reads would be
    # a host synchronisation per batch.
    meta = [t.to("meta") for t in (LABELS, SCORES, WEIGHTS)]
    op = CALLS[name](*meta)
    accumulator = op.create().to("meta")
    op.update(accumulator)
    for state in accumulator.metric_state.values():
        assert state.device.type == "meta"


def test_public_api_is_exactly_the_documented_names():
    assert sorted(metrics.__all__) == sorted(
        [
            "MetricOp",
            "compute_value",
            "accuracy",
            "auc",
            "precision",
            "recall",
            "mean",
            "mean_squared_error",
            "root_mean_squared_error",
            "mean_absolute_error",
            "mean_relative_error",
            "true_positives",
            "false_positives",
            "true_negatives",
            "false_negatives",
            "precision_at_thresholds",
            "recall_at_thresholds",
            "true_positives_at_thresholds",
            "false_positives_at_thresholds",
            "true_negatives_at_thresholds",
            "false_negatives_at_thresholds",
        ]
    )
    for name in metrics.__all__:
        assert callable(getattr(metrics, name))
