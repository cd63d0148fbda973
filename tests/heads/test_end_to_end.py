"""Each head family in a custom model_fn, through est.Estimator: train, evaluate, predict, export.

The networks start at zero and the problems are separable, so the checks are about keys and
sensible values, not about exact numbers (the unit tests pin those down).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.heads import BinaryClassHead, MultiClassHead, MultiHead, MultiLabelHead, Reduction, RegressionHead

from .conftest import zero_linear

ROWS = 64


def make_x(columns: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(ROWS, columns)).astype(np.float32)


def head_model_fn(head, inputs: int, optimizer="Adagrad"):
    def model_fn(features, labels, mode):
        logits = est.get_module("net", lambda: zero_linear(inputs, head.logits_dimension))(features["x"])
        return head.create_estimator_spec(features, mode, logits, labels, optimizer=optimizer)

    return model_fn


def run(estimator, features, labels, steps=300):
    """Trains, evaluates, predicts and exports; returns (metrics, first prediction, predictor)."""
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=None, shuffle=True),
                    steps=steps)
    results = estimator.evaluate(est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=1,
                                                           shuffle=False))
    prediction = next(iter(estimator.predict(est.inputs.numpy_input_fn({"x": features["x"]}, batch_size=16,
                                                                       num_epochs=1, shuffle=False))))
    receiver_fn = est.export.build_raw_serving_input_receiver_fn({"x": features["x"][:4]})
    path = est.export.export_saved_model(estimator, estimator.model_dir + "/export", receiver_fn)
    return results, prediction, est.export.load(path)


def test_binary_class_head(make_estimator):
    x = make_x(2)
    labels = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    head = BinaryClassHead(weight_column="w", label_vocabulary=["no", "yes"], thresholds=[0.5])
    features = {"x": x, "w": np.ones(ROWS, np.float32)}
    results, prediction, predictor = run(make_estimator(head_model_fn(head, 2)), features, labels)
    assert sorted(results) == [
        "accuracy", "accuracy/positive_threshold_0.5", "accuracy_baseline", "auc", "auc_precision_recall",
        "average_loss", "global_step", "label/mean", "loss", "precision", "precision/positive_threshold_0.5",
        "prediction/mean", "recall", "recall/positive_threshold_0.5"]
    assert results["accuracy"] >= 0.9 and results["auc"] >= 0.95 and results["global_step"] == 300
    assert results["label/mean"] == pytest.approx(np.mean(labels == "yes"))
    assert results["accuracy"] > results["accuracy_baseline"]
    assert results["loss"] == pytest.approx(results["average_loss"], rel=1e-5)  # 4 full batches of 16
    assert sorted(prediction) == ["all_class_ids", "all_classes", "class_ids", "classes", "logistic", "logits",
                                  "probabilities"]
    assert prediction["classes"].tolist() == [labels[0]] and prediction["all_classes"].tolist() == ["no", "yes"]
    assert sorted(predictor.signatures) == ["classification", "predict", "regression", "serving_default"]
    served = predictor({"x": x[:3]}, "classification")
    assert served["classes"].tolist() == [[0, 1]] * 3
    np.testing.assert_array_equal(served["scores"].argmax(-1), (x[:3].sum(-1) > 0).astype(int))
    assert sorted(predictor({"x": x[:3]}, "predict")) == ["all_class_ids", "class_ids", "logistic", "logits",
                                                          "probabilities"]


def test_multi_class_head(make_estimator):
    ids = np.random.default_rng(1).integers(0, 3, ROWS)
    x = (3 * np.eye(3)[ids] + 0.5 * make_x(3)).astype(np.float32)  # clusters around 3 * one_hot(class)
    labels = np.array(["a", "b", "c"])[ids]
    head = MultiClassHead(3, label_vocabulary=["a", "b", "c"])
    results, prediction, predictor = run(make_estimator(head_model_fn(head, 3)), {"x": x}, labels)
    assert sorted(results) == ["accuracy", "average_loss", "global_step", "loss"]
    assert results["accuracy"] >= 0.9
    assert sorted(prediction) == ["all_class_ids", "all_classes", "class_ids", "classes", "logits", "probabilities"]
    assert prediction["classes"].tolist() == [labels[0]]
    assert sorted(predictor.signatures) == ["classification", "predict", "serving_default"]
    assert predictor({"x": x[:2]})["scores"].shape == (2, 3)


def test_multi_label_head(make_estimator):
    labels = np.random.default_rng(1).integers(0, 2, (ROWS, 3))
    x = (2 * (2 * labels - 1) + 0.5 * make_x(3)).astype(np.float32)  # around +2 for a label, -2 without
    head = MultiLabelHead(3, thresholds=[0.5], classes_for_class_based_metrics=[2])
    results, prediction, predictor = run(make_estimator(head_model_fn(head, 3)), {"x": x}, labels)
    assert sorted(results) == [
        "accuracy/positive_threshold_0.5", "auc", "auc/class2", "auc_precision_recall", "auc_precision_recall/class2",
        "average_loss", "global_step", "loss", "precision/positive_threshold_0.5", "probability_mean/class2",
        "recall/positive_threshold_0.5"]
    assert results["auc"] >= 0.95 and results["accuracy/positive_threshold_0.5"] >= 0.9
    assert sorted(prediction) == ["classes", "logits", "probabilities"]
    assert sorted(predictor.signatures) == ["classification", "predict", "serving_default"]


def test_regression_head(make_estimator):
    x = make_x(2)
    y = (2 * x[:, :1] - x[:, 1:] + 0.5).astype(np.float32)
    head = RegressionHead()
    model_fn = head_model_fn(head, 2, optimizer=lambda params: torch.optim.Adagrad(params, lr=0.5))
    results, prediction, predictor = run(make_estimator(model_fn), {"x": x}, y)
    assert sorted(results) == ["average_loss", "global_step", "label/mean", "loss", "prediction/mean"]
    assert results["average_loss"] < 0.01 * float(np.var(y))
    assert results["label/mean"] == pytest.approx(float(y.mean()), abs=1e-6)
    assert results["prediction/mean"] == pytest.approx(float(y.mean()), abs=0.05)
    assert sorted(prediction) == ["predictions"]
    assert sorted(predictor.signatures) == ["predict", "regression", "serving_default"]
    np.testing.assert_allclose(predictor({"x": x[:3]})["outputs"], y[:3], atol=0.2)


def test_multi_head(make_estimator):
    x = make_x(2)
    labels = {"churn": (x[:, :1] > 0).astype(np.int64), "spend": x[:, 1:] * 3}
    head = MultiHead([BinaryClassHead(name="churn"), RegressionHead(name="spend")])
    model_fn = head_model_fn(head, 2, optimizer=lambda params: torch.optim.Adagrad(params, lr=0.5))
    results, prediction, predictor = run(make_estimator(model_fn), {"x": x}, labels)
    assert {"loss", "loss/churn", "loss/spend", "accuracy/churn", "auc/churn", "average_loss/spend",
            "prediction/mean/spend"} <= set(results)
    assert results["accuracy/churn"] >= 0.9 and results["average_loss/spend"] < 0.1
    assert "churn/classes" in prediction and "spend/predictions" in prediction
    assert sorted(predictor.signatures) == ["churn", "churn/classification", "churn/predict", "churn/regression",
                                            "predict", "serving_default", "spend", "spend/predict", "spend/regression"]


@pytest.mark.parametrize("reduction, expected_loss", [
    # zero predictions, labels 1..6 in batches [1, 2, 3, 4] and [5, 6]: squared errors sum to 30 and 61
    (Reduction.SUM, (30 + 61) / 2),                      # the mean of the batch sums
    (Reduction.SUM_OVER_BATCH_SIZE, (30 / 4 + 61 / 2) / 2),  # the mean of the batch means: 19, not 91 / 6
])
def test_evaluate_reports_loss_by_the_reduction_and_the_exact_average_loss(make_estimator, reduction, expected_loss):
    head = RegressionHead(loss_reduction=reduction)

    def model_fn(features, labels, mode):
        logits = est.get_module("net", lambda: zero_linear(1, 1))(features["x"])
        return head.create_estimator_spec(features, mode, logits, labels, train_op_fn=lambda loss: lambda: None)

    features, labels = {"x": np.zeros((6, 1), np.float32)}, np.arange(1, 7, dtype=np.float32)
    estimator = make_estimator(model_fn)
    estimator.train(lambda: (features, labels), steps=1)
    results = estimator.evaluate(est.inputs.numpy_input_fn(features, labels, batch_size=4, num_epochs=1,
                                                           shuffle=False))
    assert results["loss"] == pytest.approx(expected_loss)
    assert results["average_loss"] == pytest.approx(91 / 6)  # (1 + 4 + 9 + 16 + 25 + 36) / 6, either way


def test_multi_label_estimator_takes_class_id_lists_as_multi_hot(tmp_path):
    """Ragged id lists and TF's SparseTensor counterpart (a sparse COO tensor of ids) train and
    evaluate exactly as the multi-hot matrix they stand for."""
    x = make_x(2)[:6]
    ragged = [[0, 2], [], [1], [0], [2, 1], []]
    multi_hot = np.zeros((6, 3), np.float32)
    for row, ids in enumerate(ragged):
        multi_hot[row, ids] = 1
    rows = [row for row, ids in enumerate(ragged) for _ in ids]
    positions = [position for ids in ragged for position in range(len(ids))]
    sparse = torch.sparse_coo_tensor([rows, positions], [i for ids in ragged for i in ids], (6, 2))
    results = []
    for name, labels in (("multi_hot", multi_hot), ("ragged", ragged), ("sparse", sparse)):
        estimator = est.Estimator(head_model_fn(MultiLabelHead(3), 2), model_dir=str(tmp_path / name),
                                  config=est.RunConfig(progress_bar=False, tf_random_seed=0))
        estimator.train(lambda: ({"x": x}, labels), steps=3)
        results.append(estimator.evaluate(lambda: ({"x": x}, labels)))
    assert results[0]["average_loss"] > 0
    assert results[1] == results[0] and results[2] == results[0]
