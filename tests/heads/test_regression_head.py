"""RegressionHead, PoissonRegressionHead and LogisticRegressionHead on hand-chosen logits."""

from __future__ import annotations


import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import LogisticRegressionHead, PoissonRegressionHead, Reduction, RegressionHead

from .conftest import metric_values

# logits [45, 41] against labels [43, 44]: squared errors [4, 9]
LOGITS = torch.tensor([[45.0], [41.0]])
LABELS = torch.tensor([[43.0], [44.0]])
WEIGHTS = {"w": torch.tensor([1.0, 0.5])}  # weighted errors [4, 4.5]: sum 8.5; weights sum 1.5


def test_loss():
    assert float(RegressionHead().loss(LABELS, LOGITS)) == 6.5                   # (4 + 9) / 2
    assert float(RegressionHead().loss(torch.tensor([43, 44]), LOGITS)) == 6.5  # [batch] int labels are fine
    head = RegressionHead(weight_column="w", loss_reduction=Reduction.SUM)
    assert float(head.loss(LABELS, LOGITS, WEIGHTS)) == 8.5
    assert float(RegressionHead(weight_column="w").loss(LABELS, LOGITS, WEIGHTS)) == 4.25  # 8.5 / 2


def test_metrics():
    head = RegressionHead(weight_column="w")
    values = metric_values(head.eval_metric_ops(WEIGHTS, LOGITS, LABELS, [torch.tensor(1.0), torch.tensor(2.0)]))
    assert values == pytest.approx({
        "average_loss": 8.5 / 1.5,             # 5.666667
        "label/mean": (43 + 0.5 * 44) / 1.5,   # 43.333333
        "prediction/mean": (45 + 0.5 * 41) / 1.5,  # 43.666667
        "regularization_loss": 3.0,
    })


def test_label_dimension_with_weights_per_value():
    # errors [[0, 4], [9, 0]]; weights [[1, 0], [1, 2]] -> weighted [[0, 0], [9, 0]]
    head = RegressionHead(label_dimension=2, weight_column="w")
    logits, labels = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 4.0], [0.0, 4.0]])
    features = {"w": torch.tensor([[1.0, 0.0], [1.0, 2.0]])}
    assert float(head.loss(labels, logits, features)) == 9 / 4  # divided by batch 2 * label_dimension 2
    assert metric_values(head.eval_metric_ops(features, logits, labels)) == pytest.approx({
        "average_loss": 9 / 4,                              # 9 / (1 + 0 + 1 + 2)
        "label/mean": (1 * 1 + 0 * 4 + 1 * 0 + 2 * 4) / 4,  # 2.25
        "prediction/mean": (1 * 1 + 0 * 2 + 1 * 3 + 2 * 4) / 4,  # 3
    })
    assert float(RegressionHead(label_dimension=2).loss(labels, logits)) == 13 / 4


def test_predictions_inverse_link_and_spec():
    head = RegressionHead(inverse_link_fn=torch.exp, name="price")
    logits = torch.log(torch.tensor([[2.0], [4.0]]))
    predictions = head.predictions(logits)
    assert list(predictions) == ["predictions", "logits"]
    torch.testing.assert_close(predictions["predictions"], torch.tensor([[2.0], [4.0]]))
    # the loss is on the logits: (ln 2 - 1)^2 and (ln 4 - 1)^2 = 0.094159 and 0.149223, mean 0.121691
    values = metric_values(head.eval_metric_ops(None, logits, torch.tensor([1.0, 1.0])))
    assert values == pytest.approx({"average_loss/price": 0.121691, "label/mean/price": 1.0,
                                    "prediction/mean/price": 3.0}, abs=1e-6)  # (2 + 4) / 2
    spec = head.create_estimator_spec({}, est.ModeKeys.PREDICT, logits)
    assert list(spec.export_outputs) == ["serving_default", "regression", "predict"]
    assert spec.export_outputs["serving_default"] is spec.export_outputs["regression"]
    torch.testing.assert_close(spec.export_outputs["regression"].outputs["outputs"], torch.tensor([[2.0], [4.0]]))
    assert list(spec.export_outputs["predict"].outputs) == ["predictions", "logits"]
    spec = head.create_estimator_spec({}, est.ModeKeys.EVAL, logits, torch.tensor([1.0, 1.0]))
    assert sorted(spec.eval_metric_ops) == ["average_loss/price", "label/mean/price", "prediction/mean/price"]
    spec = head.create_estimator_spec({}, est.ModeKeys.TRAIN, logits, torch.tensor([1.0, 1.0]), optimizer="SGD")
    assert float(spec.loss) == pytest.approx(0.121691, abs=1e-6) and spec.train_op.optimizer == "SGD"
    assert list(RegressionHead().predictions(logits)) == ["predictions"]


def test_loss_fn():
    def absolute(labels, logits):
        return (labels - logits).abs()  # [2, 3]

    assert float(RegressionHead(loss_fn=absolute).loss(LABELS, LOGITS)) == 2.5


def test_poisson():
    labels, logits = torch.tensor([[1.0], [3.0]]), torch.log(torch.tensor([[1.0], [2.0]]))
    # exp(z) - y z = [1 - 0, 2 - 3 ln 2] = [1, -0.079442]
    assert float(PoissonRegressionHead(compute_full_loss=False).loss(labels, logits)) == pytest.approx(
        (1 - 0.079442) / 2, abs=1e-6)
    # full: + Stirling's y ln y - y + ln(2 pi y) / 2 for y > 1: 3 ln 3 - 3 + ln(6 pi) / 2
    # = 0.295837 + 2.936489 / 2 = 1.764082
    head = PoissonRegressionHead()
    assert float(head.loss(labels, logits)) == pytest.approx((1 + (-0.079442 + 1.764082)) / 2, abs=1e-6)
    predictions = head.predictions(logits)
    torch.testing.assert_close(predictions["predictions"], torch.tensor([[1.0], [2.0]]))  # exp(logits)
    assert metric_values(head.eval_metric_ops(None, logits, labels))["prediction/mean"] == pytest.approx(1.5)
    assert isinstance(head, RegressionHead) and head.logits_dimension == 1


def test_logistic():
    head = LogisticRegressionHead()
    labels, logits = torch.tensor([0.5, 1.0]), torch.tensor([[0.0], [2.0]])
    # sigmoid cross entropy: [log 2, log(1 + e^-2)] = [0.693147, 0.126928]
    assert float(head.loss(labels, logits)) == pytest.approx((0.693147 + 0.126928) / 2, abs=1e-6)
    torch.testing.assert_close(head.predictions(logits)["predictions"], torch.tensor([[0.5], [0.880797]]))
    spec = head.create_estimator_spec({}, est.ModeKeys.PREDICT, logits)
    assert list(spec.export_outputs) == ["serving_default", "regression", "predict"]
    with pytest.raises(ValueError, match=r"^Labels must be in range \[0, 1\]\. Expected values in \[0, 1\]\. "
                                         r"Received: invalid_labels=\[1\.5\]"):
        head.loss(torch.tensor([0.5, 1.5]), logits)


def test_errors():
    with pytest.raises(ValueError, match=r"^Invalid RegressionHead arguments: Invalid label_dimension\. Expected an "
                                         r"integer >= 1\. Received: label_dimension=0\..* inverse_link_fn must be "
                                         r"callable\. .*Received: inverse_link_fn_type='str'"):
        RegressionHead(label_dimension=0, inverse_link_fn="exp")
    with pytest.raises(ValueError, match=r"^Invalid PoissonRegressionHead arguments: Invalid loss_reduction"):
        PoissonRegressionHead(loss_reduction="none")
    with pytest.raises(ValueError, match=r"^labels shape must be \[D0, D1, \.\.\. DN, 1\]\. Expected labels of shape "
                                         r"\[2, 1\] to match logits of shape \[2, 1\] \(or \[2\]\)\. Received: "
                                         r"labels_shape=\[3\]\. Check the head's"):
        RegressionHead().loss(torch.zeros(3), LOGITS)


def test_plain_mse_path_matches_the_general_loss_and_keeps_its_checks():
    head = RegressionHead(label_dimension=2)
    logits = torch.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    labels = torch.tensor([[1.5, 2.0], [2.0, 1.0]])
    plain = head.loss(labels, logits)  # float32 tensors shaped like the logits: one mse_loss
    general = head.loss(labels.numpy(), logits)  # numpy labels go through the full path
    torch.testing.assert_close(plain, general)
    assert plain.item() == pytest.approx((0.25 + 0 + 1 + 16) / 4)
    plain.backward()
    assert logits.grad is not None
    with pytest.raises(ValueError, match=r"logits shape must be \[D0, D1, \.\.\. DN, logits_dimension\]"):
        RegressionHead().loss(labels, logits)
