"""mean and the error metrics against hand arithmetic, streaming, weights and shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_estimator.metrics as metrics

T = torch.tensor
LABELS = T([1.0, 2.0, 3.0, 4.0])
PREDS = T([2.0, 2.0, 1.0, 8.0])  # errors: 1, 0, -2, 4
W = T([1.0, 2.0, 0.0, 1.0])

CASES = [
    # (name, op, expected with the arithmetic)
    ("mean", lambda: metrics.mean(LABELS), (1 + 2 + 3 + 4) / 4),
    ("mean weighted", lambda: metrics.mean(LABELS, W), (1 * 1 + 2 * 2 + 3 * 0 + 4 * 1) / (1 + 2 + 0 + 1)),
    ("mse", lambda: metrics.mean_squared_error(LABELS, PREDS), (1 + 0 + 4 + 16) / 4),
    ("mse weighted", lambda: metrics.mean_squared_error(LABELS, PREDS, W), (1 * 1 + 0 * 2 + 4 * 0 + 16 * 1) / 4),
    ("rmse", lambda: metrics.root_mean_squared_error(LABELS, PREDS), math.sqrt(21 / 4)),
    ("rmse weighted", lambda: metrics.root_mean_squared_error(LABELS, PREDS, W), math.sqrt(17 / 4)),
    ("mae", lambda: metrics.mean_absolute_error(LABELS, PREDS), (1 + 0 + 2 + 4) / 4),
    ("mae weighted", lambda: metrics.mean_absolute_error(LABELS, PREDS, W), (1 * 1 + 0 * 2 + 2 * 0 + 4 * 1) / 4),
    # |l - p| / normalizer with normalizer [2, 1, 0, 8]: 1/2, 0/1, 0 (normalizer 0), 4/8.
    ("mre", lambda: metrics.mean_relative_error(LABELS, PREDS, T([2.0, 1.0, 0.0, 8.0])), (0.5 + 0 + 0 + 0.5) / 4),
    (
        "mre weighted",
        lambda: metrics.mean_relative_error(LABELS, PREDS, T([2.0, 1.0, 0.0, 8.0]), W),
        (0.5 * 1 + 0 * 2 + 0 * 0 + 0.5 * 1) / 4,
    ),
]


@pytest.mark.parametrize("name, make_op, expected", CASES, ids=[c[0] for c in CASES])
def test_values_match_hand_arithmetic(stream, name, make_op, expected):
    assert stream(make_op()) == pytest.approx(expected, rel=1e-6)


STREAMED = {
    "mean": lambda l, p, w: metrics.mean(p, w),
    "mse": metrics.mean_squared_error,
    "rmse": metrics.root_mean_squared_error,
    "mae": metrics.mean_absolute_error,
    "mre": lambda l, p, w: metrics.mean_relative_error(l, p, l.abs() + (l > 0), w),
}


@pytest.mark.parametrize("name", STREAMED)
def test_streaming_over_batches_equals_one_batch(stream, name):
    fn = STREAMED[name]
    g = torch.Generator().manual_seed(1)
    labels, preds = torch.randn(50, generator=g), torch.randn(50, generator=g)
    weights = torch.rand(50, generator=g) * (torch.rand(50, generator=g) > 0.2)  # some zeros
    cuts = [0, 7, 8, 30, 50]  # uneven batches, one of size 1
    batched = [fn(labels[a:b], preds[a:b], weights[a:b]) for a, b in zip(cuts, cuts[1:])]
    assert stream(*batched) == pytest.approx(stream(fn(labels, preds, weights)), rel=1e-5)


def test_streamed_rmse_is_root_of_overall_mean_not_mean_of_roots(stream):
    # Batch errors 0 and 2 -> sqrt((0 + 4) / 2) = sqrt(2), not (0 + 2) / 2 = 1.
    ops = [metrics.root_mean_squared_error(T([0.0]), T([0.0])), metrics.root_mean_squared_error(T([0.0]), T([2.0]))]
    assert stream(*ops) == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize(
    "make_op",
    [
        lambda: metrics.mean(T([1.0, 2.0]), T([0.0, 0.0])),
        lambda: metrics.mean(T([])),
        lambda: metrics.mean_squared_error(T([1.0]), T([3.0]), 0.0),
        lambda: metrics.root_mean_squared_error(T([1.0]), T([3.0]), T([0.0])),
        lambda: metrics.mean_relative_error(T([1.0]), T([3.0]), T([1.0]), T([0.0])),
    ],
)
def test_zero_total_weight_gives_zero_not_nan(stream, make_op):
    assert stream(make_op()) == 0.0


def test_negative_total_weight_gives_zero_as_tf_div_no_nan(stream):
    # TF: div_no_nan(total, maximum(count, 0)) -> 0 when the weights sum below zero.
    assert stream(metrics.mean(T([1.0, 2.0]), T([-1.0, -1.0]))) == 0.0


@pytest.mark.parametrize(
    "labels_shape, preds_shape, weights_shape",
    [((4,), (4, 1), (4,)), ((4, 1), (4,), (4, 1)), ((4,), (4, 1), (4, 1)), ((4, 1), (4, 1), (4,))],
)
def test_trailing_unit_dimensions_are_squeezed(stream, labels_shape, preds_shape, weights_shape):
    op = metrics.mean_squared_error(LABELS.reshape(labels_shape), PREDS.reshape(preds_shape), W.reshape(weights_shape))
    assert stream(op) == pytest.approx(17 / 4)


def test_per_example_weights_apply_to_every_column(stream):
    # labels/preds [2, 2]; weights [2] weigh rows: row 0 errors (1, 1) * 1, row 1 errors (3, 3) * 0.
    # MAE = (1 + 1) / (1 + 1) = 1. Broadcasting [2] along columns instead would give (1+3)/2 = 2.
    op = metrics.mean_absolute_error(T([[0.0, 0.0], [0.0, 0.0]]), T([[1.0, 1.0], [3.0, 3.0]]), T([1.0, 0.0]))
    assert stream(op) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "labels, preds",
    [
        (torch.tensor([1, 2, 3], dtype=torch.int64), torch.tensor([1.5, 2.5, 3.5], dtype=torch.float16)),
        (torch.tensor([1, 2, 3], dtype=torch.int32), torch.tensor([1.5, 2.5, 3.5], dtype=torch.bfloat16)),
        (np.array([1.0, 2.0, 3.0]), [1.5, 2.5, 3.5]),
        (torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor([1.5, 2.5, 3.5])),
    ],
)
def test_any_numeric_dtype_is_accepted(stream, labels, preds):
    assert stream(metrics.mean_absolute_error(labels, preds)) == pytest.approx(0.5)


def test_bool_values_average_as_zero_one(stream):
    assert stream(metrics.mean(T([True, False, True, True]))) == pytest.approx(0.75)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"labels_shape=\(4,\), predictions_shape=\(4, 2\)"):
        metrics.mean_squared_error(torch.zeros(4), torch.zeros(4, 2))


def test_weights_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"weights cannot be broadcast.*weights_shape=\(3,\), values_shape=\(4,\)"):
        metrics.mean(torch.zeros(4), torch.ones(3))


def test_normalizer_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"predictions and normalizer.*normalizer_shape=\(3,\)"):
        metrics.mean_relative_error(torch.zeros(4), torch.zeros(4), torch.ones(3))


def test_normalizer_with_trailing_unit_dimension_is_squeezed(stream):
    op = metrics.mean_relative_error(LABELS, PREDS.reshape(4, 1), T([[2.0], [1.0], [0.0], [8.0]]))
    assert stream(op) == pytest.approx(0.25)
