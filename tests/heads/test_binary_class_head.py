"""BinaryClassHead on hand-chosen logits, with every number worked out in the comments.

Sigmoid cross entropy, written stably: loss(y, z) = max(z, 0) - z * y + log(1 + exp(-|z|)).
The batch used throughout:

    logits  z = [0, 2, -1, 1]      labels y = [0, 1, 1, 0]
    logistic  = [0.5, 0.880797, 0.268941, 0.731059]
    loss      = [log 2, log(1 + e^-2), 1 + log(1 + e^-1), 1 + log(1 + e^-1)]
              = [0.693147, 0.126928, 1.313262, 1.313262]      sum 3.446599
    class_ids = [0, 1, 0, 1]   (z = 0 is a tie between the classes; argmax picks class 0)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import BinaryClassHead, Reduction
from torch_estimator.train import TrainOp

from .conftest import metric_values

LOGITS = torch.tensor([[0.0], [2.0], [-1.0], [1.0]])
LABELS = torch.tensor([[0], [1], [1], [0]])
WEIGHTS = {"w": torch.tensor([1.0, 2.0, 0.5, 0.0])}
# weighted loss = [0.693147, 0.253856, 0.656631, 0]: sum 1.603634, weights sum 3.5


def test_loss_is_the_mean_sigmoid_cross_entropy():
    assert float(BinaryClassHead().loss(LABELS, LOGITS)) == pytest.approx(3.446599 / 4, abs=1e-6)  # 0.861650


@pytest.mark.parametrize("reduction, expected", [
    (Reduction.SUM_OVER_BATCH_SIZE, 1.603634 / 4),  # 0.400909
    (Reduction.SUM, 1.603634),
    (Reduction.MEAN, 1.603634 / 3.5),               # 0.458181
    (Reduction.SUM_BY_NONZERO_WEIGHTS, 1.603634 / 3),
])
def test_weighted_loss_follows_the_reduction(reduction, expected):
    head = BinaryClassHead(weight_column="w", loss_reduction=reduction)
    assert float(head.loss(LABELS, LOGITS, WEIGHTS)) == pytest.approx(expected, abs=1e-6)


def test_labels_of_shape_batch_and_numpy_work_too():
    expected = BinaryClassHead().loss(LABELS, LOGITS)
    torch.testing.assert_close(BinaryClassHead().loss(np.array([0, 1, 1, 0]), LOGITS), expected)
    torch.testing.assert_close(BinaryClassHead().loss([0.0, 1.0, 1.0, 0.0], LOGITS), expected)


def test_regularization_losses_are_added():
    loss = BinaryClassHead().loss(LABELS, LOGITS, regularization_losses=[torch.tensor(0.1), torch.tensor(0.2)])
    assert float(loss) == pytest.approx(0.861650 + 0.3, abs=1e-6)


def test_predictions():
    predictions = BinaryClassHead().predictions(LOGITS)
    assert list(predictions) == ["logits", "logistic", "probabilities", "class_ids", "classes", "all_class_ids",
                                 "all_classes"]
    torch.testing.assert_close(predictions["logistic"], torch.tensor([[0.5], [0.880797], [0.268941], [0.731059]]))
    # probabilities = [1 - logistic, logistic]
    torch.testing.assert_close(predictions["probabilities"][1], torch.tensor([0.119203, 0.880797]))
    torch.testing.assert_close(predictions["class_ids"], torch.tensor([[0], [1], [0], [1]]))
    assert predictions["classes"].tolist() == [["0"], ["1"], ["0"], ["1"]]  # str, where TF had bytes
    torch.testing.assert_close(predictions["all_class_ids"], torch.tensor([[0, 1]] * 4))
    assert predictions["all_classes"].tolist() == [["0", "1"]] * 4
    assert list(BinaryClassHead().predictions(LOGITS, ["logistic", "classes"])) == ["logistic", "classes"]


def test_metrics_unweighted():
    values = metric_values(BinaryClassHead(thresholds=[0.3, 0.75]).eval_metric_ops(None, LOGITS, LABELS))
    assert values == pytest.approx({
        "average_loss": 0.861650,      # 3.446599 / 4
        "accuracy": 0.5,               # class_ids [0, 1, 0, 1] vs labels [0, 1, 1, 0]
        "precision": 0.5,              # predicted positive: #1 (y=1), #3 (y=0)
        "recall": 0.5,                 # positives: #1 (found), #2 (missed)
        "prediction/mean": 0.595199,   # (0.5 + 0.880797 + 0.268941 + 0.731059) / 4
        "label/mean": 0.5,
        "accuracy_baseline": 0.5,      # max(0.5, 1 - 0.5)
        # positives score 0.8808 and 0.2689, negatives 0.5 and 0.7311: 2 of 4 pairs ranked right
        "auc": 0.5,
        # PR, interpolated (Davis & Goadrich): recall 0 -> 1/2 at precision 1 gives 1/2; the step from
        # (tp 1, predicted 3) to (tp 2, predicted 4) gives (1 - 2 * ln(4/3)) / 2 = 0.212318
        "auc_precision_recall": 0.712318,
        # decisions at 0.3: [1, 1, 0, 1]: right only at #1; precision 1/3; recall 1/2
        "accuracy/positive_threshold_0.3": 0.25,
        "precision/positive_threshold_0.3": 1 / 3,
        "recall/positive_threshold_0.3": 0.5,
        # decisions at 0.75: [0, 1, 0, 0]: wrong only at #2; precision 1/1; recall 1/2
        "accuracy/positive_threshold_0.75": 0.75,
        "precision/positive_threshold_0.75": 1.0,
        "recall/positive_threshold_0.75": 0.5,
    }, abs=1e-5)


def test_metrics_weighted():
    values = metric_values(BinaryClassHead(weight_column="w").eval_metric_ops(WEIGHTS, LOGITS, LABELS))
    assert values == pytest.approx({
        "average_loss": 0.458181,      # 1.603634 / 3.5
        "accuracy": 3 / 3.5,           # right at #0 (w 1) and #1 (w 2); #2 (w 0.5) and #3 (w 0) wrong
        "precision": 1.0,              # predicted positive: #1 (w 2, right), #3 (w 0)
        "recall": 0.8,                 # positives: #1 (w 2, found), #2 (w 0.5, missed): 2 / 2.5
        "prediction/mean": 0.684590,   # (0.5 * 1 + 0.880797 * 2 + 0.268941 * 0.5) / 3.5
        "label/mean": 2.5 / 3.5,       # 0.714286
        "accuracy_baseline": 2.5 / 3.5,
        # weighted pairs: (#1, #0) right with weight 2 * 1; (#2, #0) wrong; #3 weighs 0: 2 / (2.5 * 1)
        "auc": 0.8,
        # tp 0 -> 2 over predicted 0 -> 2 gives 2 / 2.5 = 0.8; then tp 2 -> 2.5 over predicted 3 -> 3.5:
        # (0.5 - ln(3.5 / 3)) / 2.5 = 0.138340
        "auc_precision_recall": 0.938340,
    }, abs=1e-5)


def test_label_vocabulary():
    head = BinaryClassHead(label_vocabulary=["no", "yes"])
    labels = np.array(["no", "yes", "yes", "no"])
    assert float(head.loss(labels, LOGITS)) == pytest.approx(0.861650, abs=1e-6)
    assert float(head.loss(["no", "yes", "yes", "no"], LOGITS)) == pytest.approx(0.861650, abs=1e-6)
    assert float(head.loss(np.array([b"no", b"yes", b"yes", b"no"]), LOGITS)) == pytest.approx(0.861650, abs=1e-6)
    predictions = head.predictions(LOGITS)
    assert predictions["classes"].tolist() == [["no"], ["yes"], ["no"], ["yes"]]
    assert predictions["all_classes"].tolist() == [["no", "yes"]] * 4
    assert metric_values(head.eval_metric_ops(None, LOGITS, labels))["accuracy"] == 0.5


def test_unknown_and_numeric_labels_with_a_vocabulary():
    head = BinaryClassHead(label_vocabulary=["no", "yes"])
    with pytest.raises(ValueError, match=r"^Labels contain values that are not in label_vocabulary\. Expected every "
                                         r"label in \['no', 'yes'\]\. Received: unknown_labels=\['maybe'\]\. Add the "
                                         r"missing names to label_vocabulary"):
        head.loss(np.array(["no", "maybe", "yes", "no"]), LOGITS)
    with pytest.raises(ValueError, match=r"^Labels dtype should be string if there is a vocabulary\. .*Received: "
                                         r"labels_dtype='torch\.int64'\. Feed the class names"):
        head.loss(LABELS, LOGITS)
    with pytest.raises(ValueError, match=r"Received: labels_dtype='int64'"):
        head.loss(np.array([0, 1, 1, 0]), LOGITS)


def test_string_labels_without_a_vocabulary():
    with pytest.raises(ValueError, match=r"^Labels are strings but the head has no label_vocabulary\. .*Received: "
                                         r"labels_dtype='<U3'\. Pass label_vocabulary="):
        BinaryClassHead().loss(np.array(["no", "yes", "yes", "no"]), LOGITS)


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"^Labels must be in \[0, 1\] \(n_classes - 1 = 1\)\. Expected values in "
                                         r"\[0, 1\]\. Received: invalid_labels=\[2\]\. Fix the labels"):
        BinaryClassHead().loss(torch.tensor([0, 1, 2, 0]), LOGITS)


def test_name_suffixes_every_metric_key():
    head = BinaryClassHead(thresholds=[0.5], name="churn")
    keys = set(head.eval_metric_ops(None, LOGITS, LABELS, [torch.tensor(0.1)]))
    assert keys == {"accuracy/churn", "accuracy_baseline/churn", "auc/churn", "auc_precision_recall/churn",
                    "average_loss/churn", "label/mean/churn", "prediction/mean/churn", "precision/churn",
                    "recall/churn", "regularization_loss/churn", "accuracy/positive_threshold_0.5/churn",
                    "precision/positive_threshold_0.5/churn", "recall/positive_threshold_0.5/churn"}
    assert head.name == "churn" and head.logits_dimension == 1 and head.loss_reduction == "sum_over_batch_size"


def test_loss_fn_replaces_the_cross_entropy():
    def loss_fn(labels, logits, features):
        return features["scale"] * (labels - logits).abs()  # |y - z| = [0, 1, 2, 1]

    head = BinaryClassHead(loss_fn=loss_fn)
    features = {"scale": torch.tensor(2.0)}
    assert float(head.loss(LABELS, LOGITS, features)) == 2.0  # 2 * (0 + 1 + 2 + 1) / 4
    assert metric_values(head.eval_metric_ops(features, LOGITS, LABELS))["average_loss"] == 2.0


def test_metrics_and_update_metrics_accumulate_batches():
    head = BinaryClassHead()
    eval_metrics = head.metrics()
    head.update_metrics(eval_metrics, None, LOGITS[:2], LABELS[:2])
    head.update_metrics(eval_metrics, None, LOGITS[2:], LABELS[2:])
    assert est.metrics.compute_value(eval_metrics["accuracy"]) == 0.5
    assert est.metrics.compute_value(eval_metrics["average_loss"]) == pytest.approx(0.861650, abs=1e-6)


def test_create_estimator_spec_predict():
    spec = BinaryClassHead(label_vocabulary=["no", "yes"]).create_estimator_spec({}, est.ModeKeys.PREDICT, LOGITS)
    assert spec.predictions["classes"].tolist() == [["no"], ["yes"], ["no"], ["yes"]]
    assert list(spec.export_outputs) == ["serving_default", "classification", "predict", "regression"]
    classification = spec.export_outputs["serving_default"]
    assert classification is spec.export_outputs["classification"]
    torch.testing.assert_close(classification.outputs["scores"], spec.predictions["probabilities"])
    torch.testing.assert_close(classification.outputs["classes"], torch.tensor([[0, 1]] * 4))
    torch.testing.assert_close(spec.export_outputs["regression"].outputs["outputs"], spec.predictions["logistic"])
    # the string predictions cannot be exported: predict has the tensor ones
    assert list(spec.export_outputs["predict"].outputs) == ["logits", "logistic", "probabilities", "class_ids",
                                                            "all_class_ids"]


def test_create_estimator_spec_eval():
    spec = BinaryClassHead().create_estimator_spec({}, est.ModeKeys.EVAL, LOGITS, LABELS,
                                                   regularization_losses=[torch.tensor(0.5)])
    assert float(spec.loss) == pytest.approx(0.861650 + 0.5, abs=1e-6)
    assert sorted(spec.eval_metric_ops) == [
        "accuracy", "accuracy_baseline", "auc", "auc_precision_recall", "average_loss", "label/mean",
        "precision", "prediction/mean", "recall", "regularization_loss"]
    assert metric_values(spec.eval_metric_ops)["regularization_loss"] == 0.5
    assert list(spec.predictions) == ["logits", "logistic", "probabilities", "class_ids", "all_class_ids"]


def test_create_estimator_spec_train_with_an_optimizer_name():
    logits = LOGITS.clone().requires_grad_()
    spec = BinaryClassHead().create_estimator_spec({}, est.ModeKeys.TRAIN, logits, LABELS, optimizer="Adagrad",
                                                   trainable_variables=[logits])
    assert isinstance(spec.train_op, TrainOp)
    assert (spec.train_op.optimizer, spec.train_op.var_list) == ("Adagrad", [logits])
    assert float(spec.loss.detach()) == pytest.approx(0.861650, abs=1e-6)


def test_create_estimator_spec_train_with_train_op_fn_and_update_ops():
    calls = []

    def train_op_fn(loss):
        calls.append("train_op_fn")
        assert float(loss) == pytest.approx(0.861650, abs=1e-6)
        return lambda: calls.append("train_op")

    spec = BinaryClassHead().create_estimator_spec({}, est.ModeKeys.TRAIN, LOGITS, LABELS, train_op_fn=train_op_fn,
                                                   update_ops=[lambda: calls.append("update_op")])
    spec.train_op()
    assert calls == ["train_op_fn", "train_op", "update_op"]
