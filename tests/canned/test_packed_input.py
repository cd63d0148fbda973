"""Canned estimators on packed numeric columns (numpy/pandas input): the same model as from plain dicts."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

import torch_estimator as est

fc = est.feature_column


def _data():
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=64), "b": rng.normal(size=64).astype(np.float32), "c": rng.normal(size=64),
         "kind": rng.choice(["u", "v"], size=64)}
    y = (x["a"] - 2 * x["b"] + (x["kind"] == "u")).astype(np.float32)[:, None]
    return x, y


COLUMNS = [fc.numeric_column("a"), fc.numeric_column("b"), fc.numeric_column("c")]
KIND = fc.indicator_column(fc.categorical_column_with_vocabulary_list("kind", ["u", "v"]))

ESTIMATORS = {
    "dnn": lambda d: est.DNNRegressor([8, 4], COLUMNS, model_dir=d, config=_config()),
    "dnn_with_strings": lambda d: est.DNNRegressor([8], [*COLUMNS, KIND], model_dir=d, config=_config()),
    "dnn_linear_combined": lambda d: est.DNNLinearCombinedRegressor(
        d, linear_feature_columns=[COLUMNS[0], KIND.categorical_column], dnn_feature_columns=COLUMNS[1:],
        dnn_hidden_units=[4], config=_config()),
    "linear_classifier": lambda d: est.LinearClassifier(COLUMNS, model_dir=d, config=_config()),
}


def _config():
    return est.RunConfig(tf_random_seed=1, progress_bar=False)


# Tolerance per estimator: 0 where only a DNN reads the packed columns.
TOLERANCES = {"dnn": 0.0, "dnn_with_strings": 0.0, "dnn_linear_combined": 1e-5, "linear_classifier": 1e-5}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_packed_batches_train_the_same_model_as_plain_dicts(name):
    make, tolerance = ESTIMATORS[name], TOLERANCES[name]
    x, y = _data()
    if make is ESTIMATORS["linear_classifier"]:
        y = (y > 0).astype(np.int64)
    input_fn = est.inputs.numpy_input_fn(x, y, batch_size=16, num_epochs=None, shuffle=True)
    packed = make(tempfile.mkdtemp()).train(input_fn, steps=12)
    # The same batches, read as plain dicts through iteration (no packed block, no laziness).
    plain = make(tempfile.mkdtemp()).train(lambda: iter(input_fn()), steps=12)

    names = packed.get_variable_names()
    assert names == plain.get_variable_names()
    # A linear model sums the packed columns' terms in one product, the plain path one column
    # at a time: the same sum up to float rounding. A DNN reads the very same input matrix.
    for name in names:
        ours, theirs = packed.get_variable_value(name), plain.get_variable_value(name)
        if isinstance(ours, np.ndarray) and ours.dtype.kind == "f":
            np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance, err_msg=name)
        else:
            assert np.array_equal(ours, theirs), name
    eval_fn = est.inputs.numpy_input_fn(x, y, batch_size=20, shuffle=False)
    packed_metrics, plain_metrics = packed.evaluate(eval_fn), plain.evaluate(lambda: iter(eval_fn()))
    assert packed_metrics.keys() == plain_metrics.keys()
    for key in packed_metrics:
        assert packed_metrics[key] == pytest.approx(plain_metrics[key], rel=tolerance, abs=tolerance), key
    predictions = [p for p in packed.predict(est.inputs.numpy_input_fn(x, batch_size=20, shuffle=False))]
    assert len(predictions) == 64


def test_the_canned_network_reads_the_packed_block_whole(monkeypatch):
    from torch_estimator.feature_column import layers

    x, y = _data()
    del x["kind"]
    regressor = est.DNNRegressor([4], COLUMNS, model_dir=tempfile.mkdtemp(), config=_config())
    monkeypatch.setattr(layers, "ColumnBatch", lambda *args: pytest.fail("took the per-column path"))
    monkeypatch.setattr(layers.DenseFeatures, "_stacked", lambda self, features: pytest.fail("stacked"))
    regressor.train(est.inputs.numpy_input_fn(x, y, batch_size=16, shuffle=True), steps=3)
    assert regressor.get_variable_value("global_step") == 3


CANNED = [est.LinearClassifier, est.LinearRegressor, est.DNNClassifier, est.DNNRegressor, est.BaselineClassifier,
          est.BaselineRegressor, est.DNNLinearCombinedClassifier, est.DNNLinearCombinedRegressor]


@pytest.mark.parametrize("kind", CANNED, ids=lambda kind: kind.__name__)
def test_every_canned_model_fn_takes_lazy_features(kind):
    arguments = {"dnn_feature_columns": COLUMNS, "dnn_hidden_units": [4]} if "Combined" in kind.__name__ else (
        {} if "Baseline" in kind.__name__ else {"feature_columns": COLUMNS})
    if kind.__name__.startswith("DNNClassifier") or kind.__name__.startswith("DNNRegressor"):
        arguments["hidden_units"] = [4]
    assert kind(model_dir=tempfile.mkdtemp(), **arguments).model_fn.lazy_features is True


def test_training_and_evaluating_a_numeric_network_makes_no_column_tensors(monkeypatch):
    from torch_estimator.loops.batches import LazyFeatures

    x, y = _data()
    del x["kind"]
    regressor = est.DNNRegressor([4], COLUMNS, model_dir=tempfile.mkdtemp(), config=_config())
    monkeypatch.setattr(LazyFeatures, "materialize", lambda self: pytest.fail("made the columns"))
    regressor.train(est.inputs.numpy_input_fn(x, y, batch_size=16, shuffle=True), steps=3)
    metrics = regressor.evaluate(est.inputs.numpy_input_fn(x, y, batch_size=20, shuffle=False))
    assert metrics["global_step"] == 3 and np.isfinite(metrics["average_loss"])
