"""MultiClassHead on hand-chosen logits: logits are logs of unnormalised probabilities.

    logits = log([[1, 2, 1], [1, 1, 1], [2, 1, 1]])
    probabilities = [[1/4, 1/2, 1/4], [1/3, 1/3, 1/3], [1/2, 1/4, 1/4]]
    labels = [1, 2, 2]
    loss = -log p[label] = [ln 2, ln 3, ln 4] = [0.693147, 1.098612, 1.386294]    sum ln 24 = 3.178054
    class_ids = [1, 0, 0]    (row 1 is a three-way tie: argmax picks the first class)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import MultiClassHead, Reduction

from .conftest import metric_values

LOGITS = torch.log(torch.tensor([[1.0, 2.0, 1.0], [1.0, 1.0, 1.0], [2.0, 1.0, 1.0]]))
LABELS = torch.tensor([1, 2, 2])
WEIGHTS = {"w": torch.tensor([[3.0], [1.0], [0.0]])}
# weighted loss = [3 ln 2, ln 3, 0]: sum ln 8 + ln 3 = ln 24 again; weights sum 4


def test_loss():
    assert float(MultiClassHead(3).loss(LABELS, LOGITS)) == pytest.approx(math.log(24) / 3)  # 1.059351


@pytest.mark.parametrize("reduction, expected", [
    (Reduction.SUM_OVER_BATCH_SIZE, math.log(24) / 3),
    (Reduction.SUM, math.log(24)),
    (Reduction.MEAN, math.log(24) / 4),
])
def test_weighted_loss(reduction, expected):
    head = MultiClassHead(3, weight_column="w", loss_reduction=reduction)
    assert float(head.loss(LABELS.reshape(3, 1), LOGITS, WEIGHTS)) == pytest.approx(expected, rel=1e-6)


def test_predictions():
    predictions = MultiClassHead(3).predictions(LOGITS)
    assert list(predictions) == ["logits", "probabilities", "class_ids", "classes", "all_class_ids", "all_classes"]
    torch.testing.assert_close(predictions["probabilities"],
                               torch.tensor([[0.25, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.25, 0.25]]))
    torch.testing.assert_close(predictions["class_ids"], torch.tensor([[1], [0], [0]]))
    assert predictions["classes"].tolist() == [["1"], ["0"], ["0"]]
    torch.testing.assert_close(predictions["all_class_ids"], torch.tensor([[0, 1, 2]] * 3))
    assert predictions["all_classes"].tolist() == [["0", "1", "2"]] * 3


def test_metrics():
    assert metric_values(MultiClassHead(3).eval_metric_ops(None, LOGITS, LABELS)) == pytest.approx({
        "average_loss": math.log(24) / 3,
        "accuracy": 1 / 3,                # class_ids [1, 0, 0] vs labels [1, 2, 2]
    })
    head = MultiClassHead(3, weight_column="w", name="kind")
    values = metric_values(head.eval_metric_ops(WEIGHTS, LOGITS, LABELS, [torch.tensor(0.25)]))
    assert values == pytest.approx({
        "average_loss/kind": math.log(24) / 4,  # (3 ln 2 + ln 3) / (3 + 1 + 0)
        "accuracy/kind": 0.75,                  # right only at #0, weight 3 of 4
        "regularization_loss/kind": 0.25,
    })


def test_label_vocabulary():
    head = MultiClassHead(3, label_vocabulary=["a", "b", "c"])
    labels = np.array([["b"], ["c"], ["c"]])
    assert float(head.loss(labels, LOGITS)) == pytest.approx(math.log(24) / 3)
    predictions = head.predictions(LOGITS)
    assert predictions["classes"].tolist() == [["b"], ["a"], ["a"]]
    assert predictions["all_classes"].tolist() == [["a", "b", "c"]] * 3
    with pytest.raises(ValueError, match=r"Received: unknown_labels=\['d', 'e'\]"):
        head.loss(np.array(["e", "d", "a"]), LOGITS)


def test_loss_fn_gets_integer_label_ids():
    def loss_fn(labels, logits):
        assert labels.dtype == torch.int64 and labels.shape == (3, 1)
        return labels.float()  # the loss is the label: [1, 2, 2]

    assert float(MultiClassHead(3, loss_fn=loss_fn).loss(LABELS, LOGITS)) == pytest.approx(5 / 3)


def test_spec_in_every_mode():
    head = MultiClassHead(3)
    spec = head.create_estimator_spec({}, est.ModeKeys.PREDICT, LOGITS)
    assert list(spec.export_outputs) == ["serving_default", "classification", "predict"]
    torch.testing.assert_close(spec.export_outputs["classification"].outputs["classes"], torch.tensor([[0, 1, 2]] * 3))
    spec = head.create_estimator_spec({}, est.ModeKeys.EVAL, LOGITS, LABELS)
    assert sorted(spec.eval_metric_ops) == ["accuracy", "average_loss"]
    assert list(spec.predictions) == ["logits", "probabilities", "class_ids", "all_class_ids"]
    spec = head.create_estimator_spec({}, est.ModeKeys.TRAIN, LOGITS, LABELS, optimizer="Adam")
    assert spec.train_op.optimizer == "Adam" and float(spec.loss) == pytest.approx(math.log(24) / 3)


def test_errors():
    with pytest.raises(ValueError, match=r"^Invalid MultiClassHead arguments: n_classes must be > 2\. Expected an "
                                         r"integer above 2\. Received: n_classes=2\. Use BinaryClassHead"):
        MultiClassHead(2)
    with pytest.raises(ValueError, match=r'"label_vocabulary" does not have "n_classes" items\. Expected 3 class '
                                         r"names\. Received: n_classes=3, label_vocabulary=\['a', 'b'\]"):
        MultiClassHead(3, label_vocabulary=["a", "b"])
    with pytest.raises(ValueError, match=r"^Labels must be <= n_classes - 1 and >= 0\. Expected values in \[0, 2\]\. "
                                         r"Received: invalid_labels=\[-1, 3\]"):
        MultiClassHead(3).loss(torch.tensor([3, -1, 0]), LOGITS)
    with pytest.raises(ValueError, match=r"^Labels dtype should be integer\. Expected class ids in \[0, n_classes\)\. "
                                         r"Received: labels_dtype='torch\.float32'\. Cast the labels to int64"):
        MultiClassHead(3).loss(torch.tensor([1.0, 2.0, 2.0]), LOGITS)
