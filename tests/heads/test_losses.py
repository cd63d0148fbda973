"""est.losses: Reduction values, weighted-loss arithmetic by hand, loss_fn validation."""

from __future__ import annotations

import pytest
import torch

from torch_estimator.heads.losses import (
    Reduction,
    call_loss_fn,
    compute_weighted_loss,
    validate_loss_fn_args,
    validate_loss_reduction,
)

LOSSES = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
WEIGHTS = torch.tensor([[2.0], [0.0], [1.0], [0.5]])
# weighted: [2, 0, 3, 2], sum 7; weights sum 3.5; 3 non-zero weights; 4 elements.


def test_values_are_tensorflows():
    assert (Reduction.AUTO, Reduction.NONE, Reduction.SUM, Reduction.SUM_OVER_BATCH_SIZE) == (
        "auto", "none", "sum", "sum_over_batch_size")
    assert (Reduction.MEAN, Reduction.SUM_BY_NONZERO_WEIGHTS) == ("weighted_mean", "weighted_sum_by_nonzero_weights")
    assert Reduction.SUM_OVER_NONZERO_WEIGHTS == Reduction.SUM_BY_NONZERO_WEIGHTS
    assert len(Reduction.all()) == 6


@pytest.mark.parametrize("reduction, expected", [
    (Reduction.SUM, 7.0),                      # 2 + 0 + 3 + 2
    (Reduction.SUM_OVER_BATCH_SIZE, 1.75),     # 7 / 4 elements
    (Reduction.AUTO, 1.75),                    # AUTO means SUM_OVER_BATCH_SIZE
    (Reduction.MEAN, 2.0),                     # 7 / (2 + 0 + 1 + 0.5)
    (Reduction.SUM_BY_NONZERO_WEIGHTS, 7 / 3),  # 7 / 3 non-zero weights
])
def test_weighted_reductions(reduction, expected):
    assert float(compute_weighted_loss(LOSSES, WEIGHTS, reduction)) == pytest.approx(expected)


def test_none_keeps_the_weighted_losses():
    torch.testing.assert_close(compute_weighted_loss(LOSSES, WEIGHTS, Reduction.NONE),
                               torch.tensor([[2.0], [0.0], [3.0], [2.0]]))


def test_unweighted_and_zero_weight_cases():
    assert float(compute_weighted_loss(LOSSES)) == 2.5                      # (1 + 2 + 3 + 4) / 4
    assert float(compute_weighted_loss(LOSSES, None, Reduction.MEAN)) == 2.5
    zeros = torch.zeros(4, 1)
    assert float(compute_weighted_loss(LOSSES, zeros, Reduction.MEAN)) == 0.0  # 0 / 0 is 0, not NaN
    assert float(compute_weighted_loss(LOSSES, zeros, Reduction.SUM_BY_NONZERO_WEIGHTS)) == 0.0
    assert float(compute_weighted_loss(torch.zeros(0, 1))) == 0.0


def test_gradients_flow_through_the_reduction():
    losses = LOSSES.clone().requires_grad_()
    compute_weighted_loss(losses, WEIGHTS, Reduction.SUM).backward()
    torch.testing.assert_close(losses.grad, WEIGHTS)


def test_unknown_reduction_message():
    with pytest.raises(ValueError, match=r"^Invalid Reduction Key\. Expected one of \('auto', .*Received: "
                                         r"key='mean'\. Use est\.losses\.Reduction\.SUM_OVER_BATCH_SIZE"):
        compute_weighted_loss(LOSSES, reduction="mean")


def test_heads_reject_none_reduction():
    assert validate_loss_reduction(Reduction.MEAN) == Reduction.MEAN
    with pytest.raises(ValueError, match=r"^Invalid loss_reduction\. Expected one of est\.losses\.Reduction except "
                                         r"NONE .*Received: loss_reduction='none'\. Pass e\.g\. loss_reduction="):
        validate_loss_reduction(Reduction.NONE)


def test_loss_fn_arguments():
    assert validate_loss_fn_args(lambda labels, logits, features, loss_reduction: 0) == (
        "labels", "logits", "features", "loss_reduction")
    with pytest.raises(ValueError, match=r"^loss_fn has the wrong arguments\. Expected arguments named labels and "
                                         r"logits.*Received: arguments=\['labels', 'predictions'\], "
                                         r"missing=\['logits'\], unexpected=\['predictions'\]\. Define it as"):
        validate_loss_fn_args(lambda labels, predictions: 0)
    with pytest.raises(TypeError, match=r"^loss_fn must be callable\. .*Received: loss_fn='str'"):
        validate_loss_fn_args("mse")


def test_call_loss_fn_passes_arguments_by_name_and_checks_the_shape():
    seen = {}

    def loss_fn(logits, labels, loss_reduction, features):
        seen.update(features=features, loss_reduction=loss_reduction)
        return (labels - logits).abs()

    loss = call_loss_fn(loss_fn, torch.ones(2, 1), torch.zeros(2, 1), {"f": 1}, Reduction.SUM, 1)
    assert loss.shape == (2, 1) and seen == {"features": {"f": 1}, "loss_reduction": "sum"}
    with pytest.raises(ValueError, match=r"^loss_fn must return Tensor of shape \[D0, D1, \.\.\. DN, 1\]\. Expected "
                                         r"the unreduced loss, one value per example: shape \[2, 1\]\. Received: "
                                         r"logits_shape=\[2, 1\], loss_shape=\[\]\. Return the per-example loss"):
        call_loss_fn(lambda labels, logits: (labels - logits).mean(), torch.ones(2, 1), torch.zeros(2, 1), None,
                     Reduction.SUM, 1)
    with pytest.raises(ValueError, match=r"Received: logits_shape=\[2, 1\], loss_shape='float'"):
        call_loss_fn(lambda labels, logits: 1.0, torch.ones(2, 1), torch.zeros(2, 1), None, Reduction.SUM, 1)
