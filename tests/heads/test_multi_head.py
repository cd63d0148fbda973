"""MultiHead on TensorFlow's own docstring example, whose printed metric values we reproduce.

For large |logits| the sigmoid cross entropy is |logit| when the sign is wrong and ~0 when right:

    head1 (2 labels): logits [[-10, 10], [-15, 10]], labels [[1, 0], [1, 1]]
        losses [[10, 10], [15, 0]] -> per example [10, 7.5] -> loss1 = 8.75
    head2 (3 labels): logits [[20, -20, 20], [-30, 20, -20]], labels [[0, 1, 0], [1, 1, 0]]
        losses [[20, 20, 20], [30, 0, 0]] -> per example [20, 10] -> loss2 = 15
"""

from __future__ import annotations

import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import BinaryClassHead, MultiHead, MultiLabelHead, Reduction, RegressionHead

from .conftest import metric_values

LOGITS = {"head1": torch.tensor([[-10.0, 10.0], [-15.0, 10.0]]),
          "head2": torch.tensor([[20.0, -20.0, 20.0], [-30.0, 20.0, -20.0]])}
LABELS = {"head1": torch.tensor([[1, 0], [1, 1]]), "head2": torch.tensor([[0, 1, 0], [1, 1, 0]])}


def make_head(head_weights=None):
    return MultiHead([MultiLabelHead(2, name="head1"), MultiLabelHead(3, name="head2")], head_weights)


def test_loss_is_the_weighted_sum():
    assert float(make_head().loss(LABELS, LOGITS)) == pytest.approx(23.75, abs=1e-4)          # 8.75 + 15
    assert float(make_head([1.0, 2.0]).loss(LABELS, LOGITS)) == pytest.approx(38.75, abs=1e-4)  # 8.75 + 2 * 15
    loss = make_head().loss(LABELS, LOGITS, regularization_losses=[torch.tensor(0.25)])
    assert float(loss) == pytest.approx(24.0, abs=1e-4)


def test_one_logits_tensor_is_split_in_head_order():
    logits = torch.cat([LOGITS["head1"], LOGITS["head2"]], dim=-1)
    head = make_head()
    assert head.logits_dimension == 5 and head.name == "head1_head2"
    assert float(head.loss(LABELS, logits)) == pytest.approx(23.75, abs=1e-4)


def test_metrics_match_tensorflows_docstring():
    values = metric_values(make_head().eval_metric_ops({}, LOGITS, LABELS, [torch.tensor(0.5)]))
    # TensorFlow prints auc/head1 0.17, auc/head2 0.33, auc_precision_recall/head1 0.60, .../head2 0.40.
    # auc/head1: positives 4.5e-5, 3.1e-7, 0.99995 against the negative 0.99995: 0 + 0 + 1/2 (a tie) of 3
    assert values == pytest.approx({
        "loss/head1": 8.75, "average_loss/head1": 8.75, "auc/head1": 1 / 6, "auc_precision_recall/head1": 0.60,
        "loss/head2": 15.0, "average_loss/head2": 15.0, "auc/head2": 1 / 3, "auc_precision_recall/head2": 0.40,
        "regularization_loss/head1_head2": 0.5,
    }, abs=5e-3)


def test_predictions_are_keyed_head_slash_key():
    predictions = make_head().predictions(LOGITS)
    assert list(predictions) == ["head1/logits", "head1/probabilities", "head1/classes", "head2/logits",
                                 "head2/probabilities", "head2/classes"]
    torch.testing.assert_close(predictions["head1/logits"], LOGITS["head1"])
    assert list(make_head().predictions(LOGITS, ["logits"])) == ["head1/logits", "head2/logits"]


def test_spec_predict_signatures_follow_tensorflow():
    head = MultiHead([BinaryClassHead(name="churn"), RegressionHead(name="spend")])
    logits = torch.tensor([[1.0, 5.0], [-1.0, 7.0]])
    spec = head.create_estimator_spec({}, est.ModeKeys.PREDICT, logits)
    assert list(spec.export_outputs) == ["serving_default", "churn", "churn/classification", "churn/predict",
                                         "churn/regression", "spend", "spend/regression", "spend/predict", "predict"]
    assert spec.export_outputs["serving_default"] is spec.export_outputs["churn"]  # the first head's default
    assert list(spec.export_outputs["predict"].outputs) == [
        "churn/logits", "churn/logistic", "churn/probabilities", "churn/class_ids", "churn/all_class_ids",
        "spend/predictions"]
    assert spec.predictions["churn/classes"].tolist() == [["1"], ["0"]]
    torch.testing.assert_close(spec.predictions["spend/predictions"], torch.tensor([[5.0], [7.0]]))


def test_spec_eval_and_train():
    head = make_head()
    spec = head.create_estimator_spec({}, est.ModeKeys.EVAL, LOGITS, LABELS)
    assert float(spec.loss) == pytest.approx(23.75, abs=1e-4)
    assert sorted(spec.eval_metric_ops) == [
        "auc/head1", "auc/head2", "auc_precision_recall/head1", "auc_precision_recall/head2", "average_loss/head1",
        "average_loss/head2", "loss/head1", "loss/head2"]
    assert list(spec.predictions) == ["head1/logits", "head1/probabilities", "head2/logits", "head2/probabilities"]
    spec = head.create_estimator_spec({}, est.ModeKeys.TRAIN, LOGITS, LABELS, optimizer="Adagrad")
    assert spec.train_op.optimizer == "Adagrad" and float(spec.loss) == pytest.approx(23.75, abs=1e-4)


def test_errors():
    with pytest.raises(ValueError, match=r"^Must specify heads\. .*Received: heads=\[\]"):
        MultiHead([])
    with pytest.raises(ValueError, match=r"^Invalid MultiHead arguments: All given heads must have name specified\. "
                                         r"Received: names=\['a', None\]\. Pass name= to every head\. heads and "
                                         r"head_weights must have the same size\. Expected 2 weights\. Received: "
                                         r"head_weights=\[1\.0\]"):
        MultiHead([RegressionHead(name="a"), RegressionHead()], [1.0])
    with pytest.raises(ValueError, match=r"Head names must be unique\. .*Received: names=\['a', 'a'\]"):
        MultiHead([RegressionHead(name="a"), RegressionHead(name="a")])
    with pytest.raises(ValueError, match=r"The loss_reduction must be the same for different heads\. Received: "
                                         r"loss_reductions=\['sum_over_batch_size', 'sum'\]"):
        MultiHead([RegressionHead(name="a"), RegressionHead(name="b", loss_reduction=Reduction.SUM)])
    head = make_head()
    with pytest.raises(ValueError, match=r"^labels must be a dict\. Expected labels keyed by head name\. Received: "
                                         r"labels_type='Tensor'"):
        head.loss(LABELS["head1"], LOGITS)
    with pytest.raises(ValueError, match=r"^labels has missing values for head\(s\)\. .*Received: missing=\['head2'\]"):
        head.loss({"head1": LABELS["head1"]}, LOGITS)
    with pytest.raises(ValueError, match=r"^logits has missing values for head\(s\)\. .*Received: missing=\['head1'\]"):
        head.loss(LABELS, {"head2": LOGITS["head2"]})
    with pytest.raises(ValueError, match=r"^Could not split logits among the heads\. Expected a dict keyed by head "
                                         r"name, or a tensor whose last dimension is 5 \(the heads' \[2, 3\]\)\. "
                                         r"Received: logits_shape=\[2, 4\]"):
        head.loss(LABELS, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"^mode unrecognized\. Expected one of \('train', 'eval', 'infer'\)\. "
                                         r"Received: mode='predict'"):
        head.create_estimator_spec({}, "predict", LOGITS)


def test_a_custom_head_without_a_default_signature():
    class NoDefault(RegressionHead):
        def create_estimator_spec(self, features, mode, logits, labels=None, **kwargs):
            spec = super().create_estimator_spec(features, mode, logits, labels, **kwargs)
            outputs = dict(spec.export_outputs)
            del outputs["serving_default"]
            return spec._replace(export_outputs=outputs)

    head = MultiHead([NoDefault(name="a")])
    with pytest.raises(ValueError, match=r"^Head 'a' did not specify default export_outputs\. Expected a "
                                         r"'serving_default' signature\. Received: export_outputs=\['regression', "
                                         r"'predict'\]"):
        head.create_estimator_spec({}, est.ModeKeys.PREDICT, torch.zeros(2, 1))
