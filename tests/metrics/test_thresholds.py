"""Confusion counts at thresholds against a brute-force numpy version of TensorFlow's algorithm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator.metrics as metrics
from torch_estimator.metrics.thresholds import ConfusionAtThresholds, Counts

from .tf_reference import numpy_counts


def numpy_metric(name, labels, predictions, thresholds, weights=None):
    c = numpy_counts(labels, predictions, thresholds, weights)
    if name == "precision":
        return c["tp"] / (1e-7 + c["tp"] + c["fp"])
    if name == "recall":
        return c["tp"] / (1e-7 + c["tp"] + c["fn"])
    return c[name]


FUNCTIONS = {
    "precision": metrics.precision_at_thresholds,
    "recall": metrics.recall_at_thresholds,
    "tp": metrics.true_positives_at_thresholds,
    "fp": metrics.false_positives_at_thresholds,
    "tn": metrics.true_negatives_at_thresholds,
    "fn": metrics.false_negatives_at_thresholds,
}
# Unsorted, duplicated, outside [0, 1], and equal to some predictions below.
THRESHOLDS = [0.5, 0.1, 0.9, 0.5, -1.0, 0.25, 1.5, 0.0, 1.0]


def random_batch(seed: int, n: int = 300):
    g = torch.Generator().manual_seed(seed)
    labels = torch.rand(n, generator=g) < 0.4
    predictions = torch.rand(n, generator=g)
    predictions[:20] = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.1] * 4)  # exactly on thresholds
    weights = torch.rand(n, generator=g) * (torch.rand(n, generator=g) > 0.2)
    return labels, predictions, weights


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_brute_force_tensorflow_algorithm(stream, name, weighted):
    labels, predictions, weights = random_batch(3)
    weights = weights if weighted else None
    got = stream(FUNCTIONS[name](labels, predictions, THRESHOLDS, weights))
    numpy_weights = None if weights is None else weights.numpy()
    expected = numpy_metric(name, labels.numpy(), predictions.numpy(), THRESHOLDS, numpy_weights)
    assert isinstance(got, list) and len(got) == len(THRESHOLDS)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_hand_computed_counts(stream):
    # predictions 0.2 (pos), 0.5 (neg), 0.8 (pos), weights 1, 2, 3; thresholds 0.5 and 0.1.
    # > 0.5: only 0.8 -> tp=3, fp=0, fn=1, tn=2 (0.5 is not > 0.5).
    # > 0.1: all -> tp=1+3=4, fp=2, fn=0, tn=0.
    labels, preds, weights = [1, 0, 1], [0.2, 0.5, 0.8], [1.0, 2.0, 3.0]
    assert stream(metrics.true_positives_at_thresholds(labels, preds, [0.5, 0.1], weights)) == [3.0, 4.0]
    assert stream(metrics.false_positives_at_thresholds(labels, preds, [0.5, 0.1], weights)) == [0.0, 2.0]
    assert stream(metrics.false_negatives_at_thresholds(labels, preds, [0.5, 0.1], weights)) == [1.0, 0.0]
    assert stream(metrics.true_negatives_at_thresholds(labels, preds, [0.5, 0.1], weights)) == [2.0, 0.0]
    # precision 3 / 3 and 4 / 6; recall 3 / 4 and 4 / 4 (each with TF's 1e-7 in the denominator).
    precision = stream(metrics.precision_at_thresholds(labels, preds, [0.5, 0.1], weights))
    recall = stream(metrics.recall_at_thresholds(labels, preds, [0.5, 0.1], weights))
    assert precision == pytest.approx([1.0, 4 / 6], rel=1e-6)
    assert recall == pytest.approx([3 / 4, 1.0], rel=1e-6)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_streaming_over_batches_equals_one_batch(stream, name):
    labels, predictions, weights = random_batch(4, n=97)
    cuts = [0, 1, 50, 97]
    fn = FUNCTIONS[name]
    batched = [fn(labels[a:b], predictions[a:b], THRESHOLDS, weights[a:b]) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_allclose(stream(*batched), stream(fn(labels, predictions, THRESHOLDS, weights)), rtol=1e-5)


def test_no_data_gives_zero_precision_and_recall(stream):
    assert stream(metrics.precision_at_thresholds([1, 0], [0.9, 0.9], [0.5], [0.0, 0.0])) == [0.0]
    assert stream(metrics.recall_at_thresholds(torch.zeros(0), torch.zeros(0), [0.5, 0.7])) == [0.0, 0.0]


def test_nan_predictions_are_negative_at_every_threshold(stream):
    # In TF, NaN > t is false: a NaN prediction with a positive label is a false negative.
    op = metrics.false_negatives_at_thresholds([1, 1], [float("nan"), 0.9], [-1.0, 0.5])
    assert stream(op) == [1.0, 1.0]


def test_column_predictions_and_weights_against_flat_labels(stream):
    labels, predictions, weights = random_batch(5, n=30)
    flat = stream(metrics.true_positives_at_thresholds(labels, predictions, [0.3], weights))
    column = stream(metrics.true_positives_at_thresholds(labels, predictions[:, None], [0.3], weights[:, None]))
    assert column == pytest.approx(flat)


def test_thresholds_may_be_a_tensor_or_array(stream):
    labels, preds = [1, 0, 1], [0.2, 0.6, 0.8]
    for thresholds in (torch.tensor([0.5, 0.1]), np.array([0.5, 0.1])):
        assert stream(metrics.true_positives_at_thresholds(labels, preds, thresholds)) == [1.0, 2.0]


def test_counts_keep_exact_zeros_at_the_ends():
    # Sums of empty buckets must be exactly 0, not rounding residue of total - cumsum.
    acc = ConfusionAtThresholds([-0.5, 0.3, 2.0], summarize=lambda c: torch.stack(list(c)))
    acc.update(torch.tensor([True, False, True]), torch.tensor([0.1, 0.7, 0.3]), torch.tensor([0.1, 0.2, 0.3]))
    counts: Counts = acc.counts()
    assert counts.tp[2] == 0 and counts.fp[2] == 0  # nothing above 2.0
    assert counts.fn[0] == 0 and counts.tn[0] == 0  # nothing at or below -0.5


def test_scalar_threshold_is_rejected_with_fix():
    with pytest.raises(TypeError, match=r"thresholds must be a list of numbers.*thresholds=\[0.5\]"):
        metrics.precision_at_thresholds([1], [0.5], 0.5)


@pytest.mark.parametrize("thresholds", [[], [0.5, float("nan")]])
def test_empty_or_nan_thresholds_are_rejected(thresholds):
    with pytest.raises(ValueError, match="thresholds must be a non-empty list of numbers without NaN"):
        metrics.recall_at_thresholds([1], [0.5], thresholds)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"labels_shape=\(2,\), predictions_shape=\(3,\)"):
        metrics.true_positives_at_thresholds([1, 0], [0.1, 0.2, 0.3], [0.5])
