"""MultiLabelHead on hand-chosen logits.

Per element, sigmoid cross entropy loss(y, z) = max(z, 0) - z * y + log(1 + exp(-|z|)):

    logits = [[-1, 1], [-1.5, 1.5]]     labels = [[1, 0], [0, 1]]
    loss   = [[1 + log(1 + e^-1), 1 + log(1 + e^-1)], [log(1 + e^-1.5), log(1 + e^-1.5)]]
           = [[1.313262, 1.313262], [0.201413, 0.201413]]
    per example (mean over classes) = [1.313262, 0.201413]     mean 0.757338
    probabilities = [[0.268941, 0.731059], [0.182426, 0.817574]]
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import MultiLabelHead

from .conftest import metric_values

LOGITS = torch.tensor([[-1.0, 1.0], [-1.5, 1.5]])
LABELS = torch.tensor([[1, 0], [0, 1]])


def test_loss():
    assert float(MultiLabelHead(2).loss(LABELS, LOGITS)) == pytest.approx(0.757338, abs=1e-6)
    # weights [2, 1]: (2 * 1.313262 + 0.201413) / 2 examples = 2.827937 / 2
    head = MultiLabelHead(2, weight_column="w")
    assert float(head.loss(LABELS, LOGITS, {"w": torch.tensor([2.0, 1.0])})) == pytest.approx(1.413968, abs=1e-6)


def test_metrics():
    head = MultiLabelHead(2, thresholds=[0.25, 0.5], classes_for_class_based_metrics=[0, 1])
    assert metric_values(head.eval_metric_ops(None, LOGITS, LABELS)) == pytest.approx({
        "average_loss": 0.757338,
        # all classes together: positives 0.2689, 0.8176; negatives 0.7311, 0.1824: 3 of 4 pairs right
        "auc": 0.75,
        # descending: 0.8176 (+) gives recall 1/2 at precision 1: 0.5; then 0.2689 (+), from (tp 1,
        # predicted 2) to (2, 3): (1 - ln(3/2)) / 2 = 0.297267
        "auc_precision_recall": 0.797267,
        # decisions > 0.25: [[1, 1], [0, 1]] vs [[1, 0], [0, 1]]: 3 of 4 right, 2 of 3 predicted, 2 of 2 found
        "accuracy/positive_threshold_0.25": 0.75,
        "precision/positive_threshold_0.25": 2 / 3,
        "recall/positive_threshold_0.25": 1.0,
        # decisions > 0.5: [[0, 1], [0, 1]]: 2 of 4 right, 1 of 2 predicted, 1 of 2 found
        "accuracy/positive_threshold_0.5": 0.5,
        "precision/positive_threshold_0.5": 0.5,
        "recall/positive_threshold_0.5": 0.5,
        "probability_mean/class0": 0.225684,  # (0.268941 + 0.182426) / 2
        "auc/class0": 1.0,                     # class 0: the positive (0.2689) outranks the negative (0.1824)
        "auc_precision_recall/class0": 1.0,
        "probability_mean/class1": 0.774317,  # (0.731059 + 0.817574) / 2
        "auc/class1": 1.0,
        "auc_precision_recall/class1": 1.0,
    }, abs=1e-5)


def test_weighted_metrics():
    head = MultiLabelHead(2, weight_column="w")
    values = metric_values(head.eval_metric_ops({"w": torch.tensor([[2.0], [1.0]])}, LOGITS, LABELS))
    assert values == pytest.approx({
        "average_loss": 2.827937 / 3,  # weights broadcast per class: (2 * 1.313262 * 2 + 0.201413 * 2) / 6
        # pairs weighted (w+ * w-): right (0.2689, 0.1824) 2 * 1, (0.8176, 0.7311) 1 * 2, (0.8176, 0.1824) 1;
        # wrong (0.2689, 0.7311) 2 * 2: 5 / 9
        "auc": 5 / 9,
        # 0.8176 (+, w 1): 1/3; then 0.2689 (+, w 2) from (tp 1, predicted 3) to (3, 5):
        # (2 - 2 ln(5/3)) / 3 = 0.326116
        "auc_precision_recall": 0.659450,
    }, abs=1e-5)


def test_label_vocabulary_takes_padded_rows_of_names():
    head = MultiLabelHead(2, label_vocabulary=["news", "sport"], classes_for_class_based_metrics=["sport"])
    assert float(head.loss(np.array([["news", ""], ["sport", ""]]), LOGITS)) == pytest.approx(0.757338, abs=1e-6)
    assert float(head.loss(np.array(["news", "sport"]), LOGITS)) == pytest.approx(0.757338, abs=1e-6)
    both = head.loss(np.array([["news", "sport"], ["", ""]]), LOGITS)
    # labels [[1, 1], [0, 0]]: [(1.313262 + 0.313262) / 2, (0.201413 + 1.701413) / 2] -> mean 0.882338
    assert float(both) == pytest.approx(0.882338, abs=1e-6)
    values = metric_values(head.eval_metric_ops(None, LOGITS, [["news", ""], ["sport", ""]]))
    assert values["probability_mean/sport"] == pytest.approx(0.774317, abs=1e-6)
    assert {"auc/sport", "auc_precision_recall/sport"} <= set(values)
    assert head.predictions(LOGITS)["classes"].tolist() == [["news", "sport"]] * 2


def test_predictions_and_spec():
    head = MultiLabelHead(2)
    predictions = head.predictions(LOGITS)
    assert list(predictions) == ["logits", "probabilities", "classes"]
    torch.testing.assert_close(predictions["probabilities"], torch.tensor([[0.268941, 0.731059], [0.182426, 0.817574]]))
    assert predictions["classes"].tolist() == [["0", "1"]] * 2
    spec = head.create_estimator_spec({}, est.ModeKeys.PREDICT, LOGITS)
    assert list(spec.export_outputs) == ["serving_default", "classification", "predict"]
    torch.testing.assert_close(spec.export_outputs["classification"].outputs["classes"], torch.tensor([[0, 1]] * 2))
    spec = head.create_estimator_spec({}, est.ModeKeys.EVAL, LOGITS, LABELS)
    assert sorted(spec.eval_metric_ops) == ["auc", "auc_precision_recall", "average_loss"]
    spec = head.create_estimator_spec({}, est.ModeKeys.TRAIN, LOGITS, LABELS, optimizer="Adagrad")
    assert list(spec.predictions) == ["logits", "probabilities"]


def test_loss_fn_gets_float_multi_hot_labels():
    def loss_fn(labels, logits):
        return labels.sum(-1, keepdim=True)  # one label per row -> loss 1 each

    assert float(MultiLabelHead(2, loss_fn=loss_fn).loss(LABELS, LOGITS)) == 1.0


def test_errors():
    with pytest.raises(ValueError, match=r"n_classes must be > 1 for multi-label classification\. .*Received: "
                                         r"n_classes=1\. Use BinaryClassHead"):
        MultiLabelHead(1)
    with pytest.raises(ValueError, match=r"label_vocabulary must be provided when classes_for_class_based_metrics "
                                         r"are strings\. Received: classes_for_class_based_metrics=\['a'\]"):
        MultiLabelHead(2, classes_for_class_based_metrics=["a"])
    with pytest.raises(ValueError, match=r"All classes_for_class_based_metrics must be in range \[0, 1\]\. .*Received: "
                                         r"invalid=\[2\]"):
        MultiLabelHead(2, classes_for_class_based_metrics=[0, 2])
    with pytest.raises(ValueError, match=r"classes_for_class_based_metrics are not in label_vocabulary\. Expected "
                                         r"names from \['a', 'b'\]\. Received: unknown=\['c'\]"):
        MultiLabelHead(2, label_vocabulary=["a", "b"], classes_for_class_based_metrics=["c"])
    with pytest.raises(ValueError, match=r"^labels must be an integer indicator Tensor with values in \[0, 1\]\. "
                                         r"Expected values in \[0, 1\]\. Received: invalid_labels=\[2\]"):
        MultiLabelHead(2).loss(torch.tensor([[2, 0], [0, 1]]), LOGITS)
    with pytest.raises(ValueError, match=r"^labels shape must be \[D0, D1, \.\.\. DN, 2\]\. Expected labels of shape "
                                         r"\[2, 2\] to match logits of shape \[2, 2\]\. Received: "
                                         r"labels_shape=\[2, 3\]"):
        MultiLabelHead(2).loss(torch.zeros(2, 3), LOGITS)
    with pytest.raises(ValueError, match=r"^labels must have one row of classes per example\. Expected \[2\] rows"
                                         r" to match the logits\. Received: labels_rows=3\. Give every example a row"):
        MultiLabelHead(2, label_vocabulary=["a", "b"]).loss(np.array(["a", "b", "a"]), LOGITS)


MULTI_HOT = [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


@pytest.mark.parametrize("labels", [
    [[0, 2], [], [1]],  # ragged id lists
    [[2, 0], [], [1, 1]],  # order and repeats do not matter
    torch.sparse_coo_tensor([[0, 0, 2], [0, 1, 0]], [0, 2, 1], (3, 2)),  # TF's SparseTensor of ids
])
def test_class_id_lists_are_multi_hot_rows(labels):
    head = MultiLabelHead(3)
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.5]])
    expected = head.loss(torch.tensor(MULTI_HOT), logits)
    assert torch.equal(head.loss(labels, logits), expected)


def test_rectangular_lists_are_matrices_and_a_narrow_one_is_refused():
    head = MultiLabelHead(3)
    logits = torch.zeros(2, 3)
    assert torch.equal(head.loss([[1, 0, 1], [0, 1, 0]], logits), head.loss(torch.tensor([[1, 0, 1], [0, 1, 0]]), logits))
    with pytest.raises(ValueError, match=r"^Integer labels of the wrong width: a dense label matrix is read as multi-hot\. "
                                         r"Expected multi-hot rows 3 wide\. Received: labels_shape=\[2, 1\]\. "
                                         r"For class-id lists feed a torch\.sparse_coo_tensor"):
        head.loss([[2], [0]], logits)


def test_ragged_name_lists_with_a_vocabulary():
    head = MultiLabelHead(3, label_vocabulary=["news", "sport", "tech"])
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.5]])
    names = [["news", "tech"], [], ["sport"]]
    assert torch.equal(head.loss(names, logits), MultiLabelHead(3).loss(torch.tensor(MULTI_HOT), logits))


def test_class_id_list_errors():
    head = MultiLabelHead(3)
    with pytest.raises(ValueError, match=r"Class-id labels must be integers in \[0, n_classes\)\. "
                                         r"Expected ids in \[0, 3\)\. Received: bad_ids=\[3, -1\]"):
        head.loss([[0, 3], [-1]], torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"labels must have one row of classes per example.*labels_rows=3"):
        head.loss([[0], [1, 2], []], torch.zeros(2, 3))
