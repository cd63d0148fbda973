"""accuracy, precision, recall and the four counts against hand arithmetic."""

from __future__ import annotations

import pytest
import torch

import torch_estimator.metrics as metrics

T = torch.tensor
# Per element:      tp  fp  fn  tn  tp  fn
LABELS = T([1, 0, 1, 0, 1, 1])
PREDS = T([1, 1, 0, 0, 1, 0])
W = T([1.0, 2.0, 0.5, 3.0, 0.0, 4.0])
# Unweighted: tp=2 fp=1 fn=2 tn=1. Weighted: tp=1+0=1, fp=2, fn=0.5+4=4.5, tn=3.

CASES = [
    ("accuracy", metrics.accuracy, None, 3 / 6),  # tp + tn = 3 of 6
    ("accuracy weighted", metrics.accuracy, W, (1 + 3 + 0) / (1 + 2 + 0.5 + 3 + 0 + 4)),
    ("precision", metrics.precision, None, 2 / (2 + 1)),
    ("precision weighted", metrics.precision, W, 1 / (1 + 2)),
    ("recall", metrics.recall, None, 2 / (2 + 2)),
    ("recall weighted", metrics.recall, W, 1 / (1 + 4.5)),
    ("tp", metrics.true_positives, None, 2.0),
    ("tp weighted", metrics.true_positives, W, 1.0),
    ("fp", metrics.false_positives, None, 1.0),
    ("fp weighted", metrics.false_positives, W, 2.0),
    ("fn", metrics.false_negatives, None, 2.0),
    ("fn weighted", metrics.false_negatives, W, 4.5),
    ("tn", metrics.true_negatives, None, 1.0),
    ("tn weighted", metrics.true_negatives, W, 3.0),
]


@pytest.mark.parametrize("name, fn, weights, expected", CASES, ids=[c[0] for c in CASES])
def test_values_match_hand_arithmetic(stream, name, fn, weights, expected):
    assert stream(fn(LABELS, PREDS, weights)) == pytest.approx(expected, rel=1e-6)


FUNCTIONS = [
    metrics.accuracy,
    metrics.precision,
    metrics.recall,
    metrics.true_positives,
    metrics.false_positives,
    metrics.true_negatives,
    metrics.false_negatives,
]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_streaming_over_batches_equals_one_batch(stream, fn):
    g = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 2, (40,), generator=g)
    preds = torch.randint(0, 2, (40,), generator=g)
    weights = torch.rand(40, generator=g) * (torch.rand(40, generator=g) > 0.3)
    cuts = [0, 1, 17, 40]
    batched = [fn(labels[a:b], preds[a:b], weights[a:b]) for a, b in zip(cuts, cuts[1:])]
    assert stream(*batched) == pytest.approx(stream(fn(labels, preds, weights)), rel=1e-5)


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.precision, metrics.recall], ids=lambda f: f.__name__)
def test_rates_are_zero_without_any_weight(stream, fn):
    assert stream(fn(T([1, 1]), T([1, 1]), T([0.0, 0.0]))) == 0.0


def test_precision_is_zero_when_nothing_is_predicted_positive(stream):
    assert stream(metrics.precision(T([1, 1, 0]), T([0, 0, 0]))) == 0.0


def test_recall_is_zero_when_nothing_is_labelled_positive(stream):
    assert stream(metrics.recall(T([0, 0]), T([1, 0]))) == 0.0


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_column_predictions_against_flat_labels(stream, fn):
    flat = stream(fn(LABELS, PREDS, W))
    assert stream(fn(LABELS, PREDS.reshape(-1, 1), W.reshape(-1, 1))) == pytest.approx(flat)
    assert stream(fn(LABELS.reshape(-1, 1), PREDS, W)) == pytest.approx(flat)


def test_bool_and_float_decisions_are_cast_to_bool(stream):
    # Non-zero is positive, as TensorFlow's cast to bool: preds [0.7, 0.0, 2.0] -> [T, F, T].
    op = metrics.precision(T([True, False, False]), T([0.7, 0.0, 2.0]))
    assert stream(op) == pytest.approx(1 / 2)


def test_accuracy_casts_predictions_to_label_dtype(stream):
    # TF casts predictions to the labels' dtype: 1.9 -> 1 (int truncation) equals label 1.
    assert stream(metrics.accuracy(T([1, 2]), T([1.9, 2.0]))) == pytest.approx(1.0)
    # Float labels against int predictions compare in float.
    assert stream(metrics.accuracy(T([1.0, 2.5]), T([1, 2]))) == pytest.approx(0.5)


def test_accuracy_of_class_ids(stream):
    # 2 of 4 class ids equal.
    assert stream(metrics.accuracy(T([0, 3, 2, 1]), T([0, 3, 1, 2]))) == pytest.approx(0.5)


def test_multilabel_accuracy_with_per_example_weights(stream):
    # [3, 3] labels and predictions; [3] weights weigh rows (TF expands to [3, 1]).
    # Row correct counts: 3, 1, 0 -> weighted (3*1 + 1*1 + 0*5) / (3*1 + 3*1 + 3*5) = 4 / 21.
    labels = T([[1, 0, 1], [1, 1, 1], [0, 0, 0]])
    preds = T([[1, 0, 1], [1, 0, 0], [1, 1, 1]])
    assert stream(metrics.accuracy(labels, preds, T([1.0, 1.0, 5.0]))) == pytest.approx(4 / 21)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"labels and predictions have incompatible shapes.*\(3,\).*\(3, 2\)"):
        metrics.accuracy(torch.zeros(3), torch.zeros(3, 2))
