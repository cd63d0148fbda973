"""``make_csv_dataset`` as an ``input_fn`` result in Estimator.train/evaluate/predict, sharded by
the Estimator's ``input_context``, and wrapped in a ``torch.utils.data.DataLoader``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import torch_estimator as est
from torch_estimator.data import make_csv_dataset


@pytest.fixture
def linear_csv(tmp_path):
    """y = 2a - b + 0.5 over 64 rows, plus a string column the model ignores."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    lines = "".join(f"{x:.6f},{z:.6f},r{i},{2 * x - z + 0.5:.6f}\n" for i, (x, z) in enumerate(zip(a, b)))
    path = tmp_path / "train.csv"
    path.write_text("a,b,tag,y\n" + lines)
    return str(path)


def model_fn(features, labels, mode):
    assert isinstance(features["tag"], np.ndarray)  # strings reach model_fn as arrays of str
    net = est.get_module("net", lambda: torch.nn.Linear(2, 1))
    predictions = net(torch.stack([features["a"], features["b"]], dim=1))[:, 0]
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": predictions})
    loss = torch.nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "Adam", learning_rate=0.1),
                             eval_metric_ops={"rmse": est.metrics.root_mean_squared_error(labels, predictions)})


def test_train_evaluate_predict_from_csv(linear_csv, make_estimator):
    def input_fn(mode, input_context):
        training = mode == est.ModeKeys.TRAIN
        return make_csv_dataset(linear_csv, 16, label_name="y", num_epochs=None if training else 1,
                                shuffle=training, input_context=input_context)

    estimator = make_estimator(model_fn=model_fn)
    estimator.train(input_fn, steps=200)
    metrics = estimator.evaluate(input_fn)
    assert metrics["rmse"] < 0.05 and metrics["global_step"] == 200
    predictions = list(estimator.predict(input_fn))
    assert len(predictions) == 64


def test_train_until_a_finite_csv_is_exhausted(linear_csv, make_estimator):
    estimator = make_estimator(model_fn=model_fn)
    estimator.train(lambda: make_csv_dataset(linear_csv, 16, label_name="y", num_epochs=3, shuffle=False))
    evaluation = estimator.evaluate(lambda: make_csv_dataset(linear_csv, 64, label_name="y", num_epochs=1))
    assert evaluation["global_step"] == 12  # 3 epochs of 64 rows in batches of 16


def test_a_dataloader_around_the_dataset(linear_csv, make_estimator):
    dataset = make_csv_dataset(linear_csv, 16, label_name="y", num_epochs=1, shuffle=False)
    loader = DataLoader(dataset, batch_size=None)
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [16] * 4
    features, labels = batches[0]
    assert features["a"].dtype == torch.float32 and list(features["tag"][:2]) == ["r0", "r1"]
    estimator = make_estimator(model_fn=model_fn)
    estimator.train(lambda: DataLoader(make_csv_dataset(linear_csv, 16, label_name="y", shuffle=True),
                                       batch_size=None), steps=5)
    assert estimator.evaluate(lambda: loader)["global_step"] == 5
