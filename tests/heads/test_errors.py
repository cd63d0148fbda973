"""Every user-facing error the heads share, with its message (TensorFlow's wording where it had one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import (
    BinaryClassHead,
    Head,
    LogisticRegressionHead,
    MultiClassHead,
    MultiHead,
    MultiLabelHead,
    PoissonRegressionHead,
    RegressionHead,
)

LOGITS = torch.tensor([[0.0], [1.0]])
LABELS = torch.tensor([[0], [1]])
TRAIN, EVAL = est.ModeKeys.TRAIN, est.ModeKeys.EVAL


def spec(mode=TRAIN, labels=LABELS, **kwargs):
    return BinaryClassHead().create_estimator_spec({}, mode, LOGITS, labels, **kwargs)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: spec("predict"), ValueError,
     r"^mode unrecognized\. Expected one of \('train', 'eval', 'infer'\)\. Received: mode='predict'\. Pass the mode"),
    (lambda: spec(optimizer="Adagrad", train_op_fn=lambda loss: None), ValueError,
     r"^train_op_fn and optimizer cannot both be set\. Expected exactly one of them\. Received: optimizer='Adagrad'"),
    (lambda: spec(), ValueError,
     r"^train_op_fn and optimizer cannot both be None\. Expected one of them in TRAIN mode\. Received: "
     r"optimizer=None, train_op_fn=None\. Pass e\.g\. optimizer='Adagrad'"),
    (lambda: spec(optimizer="Adagrad", update_ops=lambda: None), ValueError,
     r"^update_ops should be a list or a tuple\. Received: update_ops_type='function'\. Wrap it in a list"),
    (lambda: spec(optimizer="Adagrad", update_ops=[1]), TypeError,
     r"^update_ops must be zero-argument callables\. .*Received: update_ops=\['int'\]"),
    (lambda: spec(train_op_fn=lambda loss: 3), TypeError,
     r"^train_op_fn must return a train op\. .*Received: returned='int'\. Return est\.train\.minimize"),
    (lambda: spec(labels=None, optimizer="Adagrad"), ValueError,
     r"^You must provide a labels Tensor\. Expected labels in TRAIN and EVAL modes\. Received: labels=None\. Check "
     r"that your data contains your label feature"),
    (lambda: spec(EVAL, regularization_losses=torch.tensor(1.0)), ValueError,
     r"^regularization_losses must be a non-empty list of scalar tensors\. Received: "
     r"regularization_losses='Tensor'\. Pass e\.g\. regularization_losses=\["),
    (lambda: spec(EVAL, regularization_losses=[torch.ones(2)]), ValueError,
     r"^regularization_losses must be scalar tensors\. Received: total=\[2\]\. Reduce each"),
    (lambda: BinaryClassHead().predictions(LOGITS, ["probability"]), ValueError,
     r"^Prediction key must be in PredictionKeys\. Expected some of \['logits', 'logistic', .*\]\. Received: "
     r"keys=\['probability'\]\. Ask for one of this head's prediction keys"),
    (lambda: BinaryClassHead().loss(LABELS, [[0.0], [1.0]]), TypeError,
     r"^logits must be a floating-point torch\.Tensor\. Expected the network's output\. Received: logits='list'"),
    (lambda: BinaryClassHead().loss(LABELS, torch.tensor([[0], [1]])), TypeError,
     r"Received: logits='Tensor\(torch\.int64, shape=\[2, 1\]\)'"),
    (lambda: MultiClassHead(3).loss(LABELS, LOGITS), ValueError,
     r"^logits shape must be \[D0, D1, \.\.\. DN, logits_dimension\]\. Expected logits_dimension=3, e\.g\. "
     r"\[batch_size, 3\]\. Received: logits_shape=\[2, 1\]\. Make the last layer output 3 value\(s\)"),
    (lambda: RegressionHead().loss(torch.tensor([1j, 2j]), LOGITS), TypeError,
     r"^labels must be real numbers\. .*Received: labels_dtype='torch\.complex64'"),
    (lambda: BinaryClassHead(weight_column="w").loss(LABELS, LOGITS, {"x": 1}), KeyError,
     r"^The weight column 'w' is not in the features\. .*Received: weight_column='w', features=\['x'\]\. Return the "
     r"weights from input_fn as features\['w'\]"),
    (lambda: BinaryClassHead(weight_column="w").loss(LABELS, LOGITS, torch.zeros(2, 1)), KeyError,
     r"Received: weight_column='w', features='Tensor'"),
    (lambda: BinaryClassHead(weight_column="w").loss(LABELS, LOGITS, {"w": torch.tensor([True, False])}),
     ValueError, r"^Weight column should be castable to float\. Received: weights_dtype='torch\.bool'"),
    (lambda: BinaryClassHead(weight_column="w").loss(LABELS, LOGITS, {"w": torch.ones(2, 2)}), ValueError,
     r"^weights shape must be \[D0, D1, \.\.\. DN\] or \[D0, D1, \.\.\. DN, 1\]\. Expected one of \[\[2\], \[2, 1\]\]\."
     r" Received: weights_shape=\[2, 2\], logits_shape=\[2, 1\]\. Feed one weight per example"),
    (lambda: RegressionHead(weight_column="w").loss(LABELS, LOGITS, {"w": torch.ones(3)}), ValueError,
     r"^weights shape must be \[D0, D1, \.\.\. DN\], \[D0, D1, \.\.\. DN, 1\] or \[D0, D1, \.\.\. DN, "
     r"logits_dimension\]\. Expected one of \[\[2\], \[2, 1\], \[2, 1\]\]"),
])
def test_runtime_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("make, pattern", [
    (lambda: BinaryClassHead(weight_column=3), r"Weight column must be either a string or NumericColumn\. .*Received: "
                                               r"weight_column_type='int'"),
    (lambda: BinaryClassHead(thresholds=[0.5, 1.0, 0.0]),
     r"thresholds not in \(0, 1\)\. Expected every threshold strictly between 0 and 1\. Received: "
     r"thresholds=\[1\.0, 0\.0\]"),
    (lambda: BinaryClassHead(thresholds=["high"]), r"thresholds must be numbers\. .*Received: thresholds=\['high'\]"),
    (lambda: BinaryClassHead(label_vocabulary="no,yes"), r"label_vocabulary should be a list or a tuple\. .*Received: "
                                                         r"label_vocabulary_type='str'"),
    (lambda: BinaryClassHead(label_vocabulary=[0, 1]), r"label_vocabulary must hold strings\. Received: "
                                                       r"label_vocabulary=\[0, 1\]\. Convert the class names"),
    (lambda: BinaryClassHead(label_vocabulary=["a", "a"]), r"label_vocabulary has duplicate names\. .*Received: "
                                                           r"label_vocabulary=\['a', 'a'\]"),
    (lambda: BinaryClassHead(label_vocabulary=["a", "b", "c"]), r'"label_vocabulary" does not have "n_classes" items\. '
                                                                r"Expected 2 class names\. Received: n_classes=2"),
    (lambda: BinaryClassHead(loss_fn=lambda y, z: 0), r"loss_fn has the wrong arguments\."),
    (lambda: BinaryClassHead(loss_reduction="mean"), r"Invalid loss_reduction\. .*Received: loss_reduction='mean'"),
    (lambda: BinaryClassHead(name="a/b"), r"A head's name must be a non-empty string without '/'\. .*Received: "
                                          r"name='a/b'"),
])
def test_constructor_errors(make, pattern):
    with pytest.raises(ValueError, match=r"^Invalid BinaryClassHead arguments: .*" + pattern):
        make()


def test_constructor_reports_every_problem_at_once():
    with pytest.raises(ValueError) as raised:
        BinaryClassHead(weight_column=3, thresholds=[2.0], name="")
    assert str(raised.value).count("Received:") == 3


def test_every_head_is_a_head():
    heads = [BinaryClassHead(), MultiClassHead(3), MultiLabelHead(2), RegressionHead(), PoissonRegressionHead(),
             LogisticRegressionHead(), MultiHead([RegressionHead(name="a")])]
    assert all(isinstance(head, Head) for head in heads)


def test_a_numeric_column_like_weight_column_is_read_by_key_and_normalized():
    class Column:  # what est.feature_column.numeric_column will return
        key = "w"

        @staticmethod
        def normalizer_fn(x):
            return x * 2

    head = RegressionHead(weight_column=Column(), loss_reduction="sum")
    # weights 2 * [1, 0.5] = [2, 1] on squared errors [1, 0]
    assert float(head.loss(torch.tensor([1.0, 1.0]), LOGITS, {"w": np.array([1.0, 0.5])})) == 2.0
