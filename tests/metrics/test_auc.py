"""auc against TensorFlow's formula (numpy re-implementation), exact AUCs, and hand arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

import torch_estimator.metrics as metrics

from .tf_reference import numpy_auc

METHODS = ["trapezoidal", "careful_interpolation", "minoring", "majoring"]
pytestmark = pytest.mark.filterwarnings("ignore:The trapezoidal rule is known to overstate PR AUCs")


def scored_batch(n: int, seed: int):
    """Labels, informative scores in [0, 1] (some exactly 0 and 1), and weights with zeros."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.rand(n, generator=g) < 0.4
    scores = torch.sigmoid(torch.randn(n, generator=g) * 1.5 + 1.5 * labels)
    scores[:4] = torch.tensor([0.0, 1.0, 0.0, 1.0])
    weights = torch.rand(n, generator=g) * 2 * (torch.rand(n, generator=g) > 0.1)
    return labels, scores, weights


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation_method", METHODS)
def test_matches_tensorflow_formula(stream, curve, summation_method):
    labels, scores, weights = scored_batch(500, seed=1 if curve == "PR" else 2)
    options = dict(num_thresholds=50, curve=curve, summation_method=summation_method)
    got = stream(metrics.auc(labels, scores, weights, **options))
    expected = numpy_auc(labels.numpy(), scores.numpy(), weights.numpy(), **options)
    assert got == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_given_thresholds_match_tensorflow_formula(stream, curve):
    labels, scores, _ = scored_batch(300, seed=7)
    thresholds = [0.9, 0.2, 0.5, 0.35, 0.7]  # unsorted: TF sorts them
    options = dict(thresholds=thresholds, curve=curve, summation_method="careful_interpolation")
    got = stream(metrics.auc(labels, scores, **options))
    expected = numpy_auc(labels.numpy(), scores.numpy(), **options)
    assert got == pytest.approx(expected, abs=2e-6)


def test_roc_auc_approximates_exact_auc_on_2000_points(stream):
    labels, scores, _ = scored_batch(2000, seed=11)
    exact = float(binary_auroc(scores, labels.long()))
    assert stream(metrics.auc(labels, scores)) == pytest.approx(exact, abs=1e-2)


def test_careful_pr_auc_approximates_average_precision_on_2000_points(stream):
    labels, scores, _ = scored_batch(2000, seed=12)
    exact = float(binary_average_precision(scores, labels.long()))
    op = metrics.auc(labels, scores, curve="PR", summation_method="careful_interpolation")
    assert stream(op) == pytest.approx(exact, abs=1e-2)


def test_hand_computed_roc_auc(stream):
    # Thresholds [-1e-7, 0.5, 1 + 1e-7] for labels [0, 0, 1, 1], scores [0, 0.5, 0.3, 0.9]:
    # tp = [2, 1, 0], fp = [2, 0, 0], tn = [0, 2, 2], fn = [0, 1, 2]
    # TPR = [1, 0.5, 0], FPR = [1, 0, 0] -> (1 - 0) * (1 + 0.5) / 2 + 0 = 0.75 (up to TF's 1e-6s).
    op = metrics.auc([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9], num_thresholds=3)
    assert stream(op) == pytest.approx(0.75, abs=1e-6)
    # Weights [1, 0, 0, 1] keep scores 0 (negative) and 0.9 (positive): perfectly separated.
    op = metrics.auc([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9], [1.0, 0.0, 0.0, 1.0], num_thresholds=3)
    assert stream(op) == pytest.approx(1.0, abs=1e-6)


def test_hand_computed_careful_pr_auc(stream):
    # One positive at 0.9, one negative at 0.4, thresholds [-1e-7, 0.5, 1 + 1e-7]:
    # tp = [1, 1, 0], fp = [1, 0, 0], fn = [0, 0, 1]; p = tp + fp = [2, 1, 0].
    # Interval 0: dtp = 0 -> slope 0 -> 0. Interval 1: dtp = 1, dp = 1, slope 1, p_b = 0 so the
    # log term is log(1) = 0; increment = 1 * (1 + 0) / (tp_b + fn_b = 1) = 1. PR AUC = 1.
    op = metrics.auc([1, 0], [0.9, 0.4], num_thresholds=3, curve="PR", summation_method="careful_interpolation")
    assert stream(op) == pytest.approx(1.0, abs=1e-6)


def test_no_positive_labels_follow_tf_v1_epsilons(stream):
    # tf.compat.v1.metrics.auc computes recall as (tp + 1e-6) / (tp + fn + 1e-6): with no
    # positives that is 1 at every threshold, so ROC AUC is the FPR span, 3 / (3 + 1e-6) - 0.
    # (tf.keras.metrics.AUC's divide_no_nan would give 0 instead.)
    op = metrics.auc([0, 0, 0], [0.2, 0.6, 0.9])
    assert stream(op) == pytest.approx(3 / (3 + 1e-6), abs=1e-7)
    assert numpy_auc([0, 0, 0], [0.2, 0.6, 0.9]) == pytest.approx(3 / (3 + 1e-6), abs=1e-7)


def test_integer_weights_equal_repeated_examples(stream):
    labels, scores, _ = scored_batch(200, seed=13)
    counts = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(1))
    weighted = stream(metrics.auc(labels, scores, counts, curve="PR", summation_method="careful_interpolation"))
    repeated = stream(
        metrics.auc(
            labels.repeat_interleave(counts),
            scores.repeat_interleave(counts),
            curve="PR",
            summation_method="careful_interpolation",
        )
    )
    assert weighted == pytest.approx(repeated, abs=1e-6)


def test_minoring_and_majoring_bound_the_trapezoid(stream):
    labels, scores, weights = scored_batch(400, seed=14)
    low, mid, high = (
        stream(metrics.auc(labels, scores, weights, num_thresholds=20, summation_method=m))
        for m in ("minoring", "trapezoidal", "majoring")
    )
    assert low < mid < high


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_streaming_over_batches_equals_one_batch(stream, curve):
    labels, scores, weights = scored_batch(301, seed=15)
    cuts = [0, 1, 100, 301]
    method = "careful_interpolation"
    batched = [
        metrics.auc(labels[a:b], scores[a:b], weights[a:b], curve=curve, summation_method=method)
        for a, b in zip(cuts, cuts[1:])
    ]
    whole = metrics.auc(labels, scores, weights, curve=curve, summation_method=method)
    assert stream(*batched) == pytest.approx(stream(whole), abs=1e-6)


def test_column_scores_against_flat_labels(stream):
    labels, scores, weights = scored_batch(100, seed=16)
    flat = stream(metrics.auc(labels, scores, weights))
    assert stream(metrics.auc(labels[:, None], scores, weights[:, None])) == pytest.approx(flat)
    assert stream(metrics.auc(labels, scores[:, None], weights)) == pytest.approx(flat)


def test_value_is_a_float(stream):
    assert type(stream(metrics.auc([1, 0], [0.8, 0.2]))) is float


def test_pr_with_trapezoidal_rule_warns_like_tensorflow():
    with pytest.warns(UserWarning, match="summation_method='careful_interpolation'"):
        metrics.auc([1, 0], [0.8, 0.2], curve="PR")


def test_unknown_curve_is_rejected():
    with pytest.raises(ValueError, match=r"Unknown curve\. Expected 'ROC' or 'PR'\. Received: curve='roc'"):
        metrics.auc([1], [0.5], curve="roc")


def test_unknown_summation_method_is_rejected_with_fix():
    # 'interpolation' is the Keras name; tf.compat.v1.metrics.auc calls it 'careful_interpolation'.
    with pytest.raises(ValueError, match=r"Unknown summation_method.*'minoring'.*summation_method='interpolation'"):
        metrics.auc([1], [0.5], summation_method="interpolation")


@pytest.mark.parametrize("num_thresholds", [1, 0, 2.5, True])
def test_too_few_thresholds_are_rejected(num_thresholds):
    with pytest.raises(ValueError, match=r"num_thresholds must be an integer greater than 1"):
        metrics.auc([1], [0.5], num_thresholds=num_thresholds)


def test_num_thresholds_is_ignored_when_thresholds_are_given(stream):
    assert stream(metrics.auc([1, 0], [0.8, 0.2], num_thresholds=1, thresholds=[0.5])) == pytest.approx(1.0, abs=1e-6)


def test_all_option_problems_are_reported_at_once():
    with pytest.raises(ValueError) as info:
        metrics.auc([1], [0.5], num_thresholds=1, curve="XY", summation_method="simpson")
    text = str(info.value)
    assert "Unknown curve" in text and "Unknown summation_method" in text and "num_thresholds" in text


def test_bad_thresholds_are_rejected():
    with pytest.raises(ValueError, match="thresholds must be a non-empty list"):
        metrics.auc([1], [0.5], thresholds=[])
    with pytest.raises(TypeError, match="thresholds must be a list of numbers"):
        metrics.auc([1], [0.5], thresholds=0.5)


def test_numpy_reference_agrees_with_keras_docstring_example():
    # Guards the reference itself: keras.metrics.AUC(num_thresholds=3) documents 0.75 here.
    value = numpy_auc(np.array([0, 0, 1, 1]), np.array([0, 0.5, 0.3, 0.9]), num_thresholds=3)
    assert value == pytest.approx(0.75, abs=1e-6)
