"""Columns inside a model_fn run by an Estimator: weights persist, train, checkpoint and restore."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator import feature_column as fc

TYPE = fc.categorical_column_with_vocabulary_list("type", ["house", "apt", "flat"], num_oov_buckets=1)
CITY = fc.categorical_column_with_hash_bucket("city", 50)
PRICE_PER_TYPE = {"house": 3.0, "apt": 1.0, "flat": 2.0}
BONUS_PER_CITY = {"Oslo": 1.0, "Lima": -1.0, "Rome": 0.0}


def make_data(rows: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    types = rng.choice(list(PRICE_PER_TYPE), rows)
    cities = rng.choice(list(BONUS_PER_CITY), rows)
    size = rng.uniform(0.5, 1.5, rows).astype(np.float32)
    label = size + np.vectorize(PRICE_PER_TYPE.get)(types) + np.vectorize(BONUS_PER_CITY.get)(cities)
    return {"size": size, "type": types, "city": cities}, label.astype(np.float32)[:, None]


SEEN_TABLES: list = []  # the embedding table of every call (params are copied by the Estimator)


def model_fn(features, labels, mode):
    columns = [fc.numeric_column("size"), fc.indicator_column(TYPE), fc.embedding_column(CITY, 4)]
    variables: dict = {}
    net = est.get_module("net", lambda: torch.nn.Linear(1 + 4 + 4, 1))
    y = net(fc.input_layer(features, columns, cols_to_vars=variables)) + fc.linear_model(features, [TYPE])
    SEEN_TABLES.append(variables[columns[2]][0])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": y})
    loss = torch.nn.functional.mse_loss(y, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "Adam", learning_rate=0.05),
                             eval_metric_ops={"rmse": est.metrics.root_mean_squared_error(labels, y)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("model"))
    features, labels = make_data(512, seed=0)
    SEEN_TABLES.clear()
    estimator = est.Estimator(model_fn, model_dir=model_dir, config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=64, num_epochs=None, shuffle=True),
                    steps=300)
    return estimator, list(SEEN_TABLES)


def predict(estimator, features):
    return np.concatenate([p["y"] for p in estimator.predict(lambda: (features, None), yield_single_examples=False)])


def test_a_categorical_problem_is_learned(trained):
    estimator, _ = trained
    features, labels = make_data(256, seed=1)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn(features, labels, batch_size=64, shuffle=False))
    assert metrics["rmse"] < 0.1, metrics  # the label's spread is ~1.2


def test_the_same_weights_are_used_on_every_call(trained):
    _, seen = trained
    assert len(seen) >= 300 and all(table is seen[0] for table in seen)


def test_weights_are_checkpointed_under_tensorflow_like_names_and_restored(trained, tmp_path):
    estimator, _ = trained
    names = estimator.get_variable_names()
    for name in ("input_layer.city_embedding/embedding_weights", "linear_model.type/weights",
                 "linear_model.bias_weights", "net.weight"):
        assert name in names
    assert estimator.get_variable_value("linear_model.type/weights").shape == (4, 1)
    restored = est.Estimator(model_fn, model_dir=estimator.model_dir, config=est.RunConfig(progress_bar=False))
    features = {"size": np.array([1.0, 1.0, 1.0], np.float32), "type": np.array(["house", "apt", "castle"]),
                "city": np.array(["Oslo", "Lima", "Paris"])}
    predictions = predict(restored, features)
    np.testing.assert_allclose(predictions, predict(estimator, features), rtol=1e-6)
    assert predictions[:2, 0] == pytest.approx([1 + 3 + 1, 1 + 1 - 1], abs=0.2)


def test_multi_valued_features_train(tmp_path):
    tags = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])

    def tags_model_fn(features, labels, mode):
        y = fc.linear_model(features, [tags])
        loss = torch.nn.functional.mse_loss(y, labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.2))

    features = {"tags": np.array([["a", "b"], ["c", ""], ["a", "c"], ["", ""]])}
    labels = np.array([[3.0], [5.0], [6.0], [0.0]], np.float32)  # a=1, b=2, c=5, nothing=0
    estimator = est.Estimator(tags_model_fn, model_dir=str(tmp_path), config=est.RunConfig(progress_bar=False))
    estimator.train(lambda: (features, labels), steps=300)
    weights = estimator.get_variable_value("linear_model.tags/weights").ravel()
    bias = estimator.get_variable_value("linear_model.bias_weights")
    assert (weights + bias).tolist() == pytest.approx([1.0, 2.0, 5.0], abs=0.05) and bias == pytest.approx(0, abs=0.05)


def test_a_layer_name_is_bound_to_its_columns(tmp_path):
    def two_column_sets(features, labels, mode):
        fc.input_layer(features, [fc.numeric_column("size")])
        y = fc.input_layer(features, [fc.indicator_column(TYPE)])
        return est.EstimatorSpec(mode, loss=y.sum(), train_op=est.train.minimize(y.sum(), "SGD"))

    estimator = est.Estimator(two_column_sets, model_dir=str(tmp_path), config=est.RunConfig(progress_bar=False))
    with pytest.raises(ValueError) as error:
        estimator.train(lambda: make_data(4, 0), steps=1)
    assert str(error.value) == ("The module 'input_layer' was made with other feature columns. Expected the columns "
                                "['size']. Received: feature_columns=['type_indicator']. Pass the same columns on "
                                "every call, or give each set of columns its own name=.")


def test_input_layer_outside_a_model_fn_is_an_error():
    with pytest.raises(RuntimeError, match="est.get_module can only be called inside a model_fn"):
        fc.input_layer({"size": torch.ones(1)}, [fc.numeric_column("size")])
