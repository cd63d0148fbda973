"""Every canned estimator honours the contract (train, evaluate, predict, export, reload, same
predictions) for regression, binary and multi-class data; TensorFlow's defaults and labs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_estimator as est

fc = est.feature_column
COLUMNS = [fc.numeric_column("x", shape=(3,))]
RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype(np.float32)
LABELS = {
    "regression": (X @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32),
    "binary": (X[:, 0] > 0).astype(np.int64),
    "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]).astype(np.int64),
}


def build(family: str, problem: str, model_dir: str) -> est.Estimator:
    config = est.RunConfig(tf_random_seed=0, progress_bar=False)
    classes = {"binary": 2, "multiclass": 3}.get(problem)
    kind = "Regressor" if problem == "regression" else "Classifier"
    target = {} if classes is None else {"n_classes": classes}
    if family == "dnn":
        return getattr(est, f"DNN{kind}")([8, 4], COLUMNS, model_dir=model_dir, config=config, **target)
    if family == "linear":
        return getattr(est, f"Linear{kind}")(COLUMNS, model_dir=model_dir, config=config, **target)
    if family == "combined":
        return getattr(est, f"DNNLinearCombined{kind}")(model_dir=model_dir, config=config, linear_feature_columns=COLUMNS,
                                                          dnn_feature_columns=COLUMNS, dnn_hidden_units=[4], **target)
    return getattr(est, f"Baseline{kind}")(model_dir=model_dir, config=config, **target)


@pytest.mark.parametrize("problem", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("family", ["dnn", "linear", "combined", "baseline"])
def test_canned_estimator_contract(family, problem, tmp_path):
    estimator = build(family, problem, str(tmp_path))
    receiver = est.export.build_raw_serving_input_receiver_fn({"x": torch.from_numpy(X[:2])})
    result = est.testing.assert_estimator_contract(estimator, lambda: ({"x": X}, LABELS[problem]), receiver,
                                                   {"x": X[:5]})
    expected = {"regression": {"average_loss", "label/mean", "prediction/mean"},
                "binary": {"accuracy", "auc", "precision", "recall", "accuracy_baseline"},
                "multiclass": {"accuracy", "average_loss"}}[problem]
    assert expected <= set(result["metrics"])


@pytest.mark.parametrize("family", ["dnn", "linear"])
def test_canned_models_learn(family, tmp_path):
    estimator = build(family, "binary", str(tmp_path))
    estimator.train(lambda: ({"x": X}, LABELS["binary"]), steps=300)
    assert estimator.evaluate(lambda: ({"x": X}, LABELS["binary"]))["accuracy"] > 0.9


def test_wide_and_deep_learns_with_optimizers_given_as_callables(tmp_path):
    # TF's wide & deep defaults (learning rates 0.005 and 0.001) need ~3,000 steps here.
    sgd = lambda params: torch.optim.SGD(params, lr=0.1)  # noqa: E731
    estimator = est.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path), linear_feature_columns=COLUMNS, dnn_feature_columns=COLUMNS, dnn_hidden_units=[4],
        linear_optimizer=sgd, dnn_optimizer=sgd, config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(lambda: ({"x": X}, LABELS["binary"]), steps=300)
    assert estimator.evaluate(lambda: ({"x": X}, LABELS["binary"]))["accuracy"] > 0.95


def test_baseline_learns_the_label_prior(tmp_path):
    labels = np.array([0, 0, 0, 1] * 8)
    baseline = est.BaselineClassifier(model_dir=str(tmp_path), config=est.RunConfig(progress_bar=False))
    baseline.train(lambda: ({"x": X}, labels), steps=300)
    probabilities = next(baseline.predict(lambda: {"x": X[:1]}))["probabilities"]
    np.testing.assert_allclose(probabilities, [0.75, 0.25], atol=0.03)


def test_house_price_lab_restores_and_predicts(tmp_path):
    # estimator.ipynb: LinearRegressor on two houses, a new estimator on the same model_dir predicts.
    columns = [fc.numeric_column("sq_footage")]
    config = est.RunConfig(progress_bar=False)
    est.LinearRegressor(columns, model_dir=str(tmp_path), config=config).train(
        lambda: ({"sq_footage": np.array([1000.0, 2000.0])}, np.array([50.0, 100.0])), steps=100)
    restored = est.LinearRegressor(columns, model_dir=str(tmp_path), config=config)
    predictions = [p["predictions"][0] for p in restored.predict(lambda: {"sq_footage": np.array([1500.0, 1800.0])})]
    np.testing.assert_allclose(predictions, [75.0, 90.0], rtol=0.02)


def test_house_price_lab_with_a_type_column_and_pandas(tmp_path):
    import pandas as pd
    columns = [fc.numeric_column("sq_footage"),
               fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])]
    frame = pd.DataFrame({"sq_footage": [1000.0, 2000.0, 3000.0, 1000.0, 2000.0, 3000.0],
                          "type": ["house", "house", "house", "apt", "apt", "apt"]})
    prices = pd.Series([500.0, 1000.0, 1500.0, 700.0, 1300.0, 1900.0])
    regressor = est.LinearRegressor(columns, model_dir=str(tmp_path), config=est.RunConfig(progress_bar=False))
    regressor.train(est.inputs.pandas_input_fn(frame, prices, batch_size=6, num_epochs=None, shuffle=False), steps=300)
    query = pd.DataFrame({"sq_footage": [2000.0, 2000.0], "type": ["house", "apt"]})
    house, apt = (p["predictions"][0] for p in regressor.predict(
        est.inputs.pandas_input_fn(query, batch_size=2, shuffle=False)))
    assert apt > house  # the type column is used


def test_named_optimizers_get_tensorflows_canned_learning_rates(tmp_path):
    def learning_rates(estimator):
        estimator.train(lambda: ({"x": X}, LABELS["regression"]), steps=1)
        return {name: opt.param_groups[0]["lr"] for name, opt in estimator._state.optimizers.items()}

    config = est.RunConfig(progress_bar=False)
    assert learning_rates(est.DNNRegressor([4], COLUMNS, model_dir=str(tmp_path / "a"), config=config)) == {
        "optimizer": 0.05}
    assert learning_rates(est.LinearRegressor(COLUMNS, model_dir=str(tmp_path / "b"), config=config)) == {
        "optimizer": 0.2}  # min(0.2, 1 / sqrt(1 column))
    assert learning_rates(est.DNNLinearCombinedRegressor(
        model_dir=str(tmp_path / "c"), config=config, linear_feature_columns=COLUMNS, dnn_feature_columns=COLUMNS,
        dnn_hidden_units=[4])) == {"linear_optimizer": 0.005, "dnn_optimizer": 0.001}
    assert isinstance(est.DNNRegressor([4], COLUMNS, model_dir=str(tmp_path / "d"), config=config)
                      .head, est.RegressionHead)


def test_wide_and_deep_towers_have_their_own_optimizers(tmp_path):
    estimator = build("combined", "regression", str(tmp_path))
    estimator.train(lambda: ({"x": X}, LABELS["regression"]), steps=2)
    names = estimator.get_variable_names()
    assert any(n.startswith("optimizer.linear_optimizer.state.linear/linear_model") for n in names)
    assert any(n.startswith("optimizer.dnn_optimizer.state.dnn.") for n in names)


def test_add_metrics_returns_a_new_estimator_reporting_them(tmp_path):
    regressor = build("linear", "regression", str(tmp_path))

    def rmse_in_dollars(labels, predictions):
        return {"rmse_usd": est.metrics.root_mean_squared_error(labels * 1e5, predictions["predictions"] * 1e5)}

    extended = est.add_metrics(regressor, rmse_in_dollars)
    assert extended is not regressor and extended.model_dir == regressor.model_dir
    results = extended.train(lambda: ({"x": X}, LABELS["regression"]), steps=3).evaluate(
        lambda: ({"x": X}, LABELS["regression"]))
    assert results["rmse_usd"] == pytest.approx(1e5 * results["average_loss"] ** 0.5, rel=1e-3)
    with pytest.raises(ValueError, match="metric_fn .* has following not expected args: \\['weights'\\]"):
        est.add_metrics(regressor, lambda weights: {})


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        est.DNNClassifier([4], COLUMNS, n_classes=1, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="feature_columns must not be empty"):
        est.LinearRegressor([], model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="hidden_units must be a non-empty list of positive ints"):
        est.DNNRegressor([], COLUMNS, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="dropout must be None or in \\[0, 1\\)"):
        est.DNNRegressor([4], COLUMNS, dropout=1.5, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Either linear_feature_columns or dnn_feature_columns must be defined"):
        est.DNNLinearCombinedRegressor(model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="dnn_hidden_units must be defined"):
        est.DNNLinearCombinedRegressor(model_dir=str(tmp_path), dnn_feature_columns=COLUMNS)


def test_the_dnns_batch_norm_keeps_tensorflows_moving_statistics():
    from torch_estimator.canned.dnn import BatchNorm

    torch.manual_seed(0)
    norm, batch = BatchNorm(3), torch.randn(4, 3) * 2 + 1
    output = norm(batch)
    # Moving averages with momentum 0.999 of the batch's mean and *biased* variance (Keras's
    # rule; torch's BatchNorm1d would take the unbiased variance, 4/3 of it here).
    assert torch.allclose(norm.running_mean, 0.001 * batch.mean(0))
    assert torch.allclose(norm.running_var, 0.999 + 0.001 * batch.var(0, correction=0))
    assert norm.num_batches_tracked.item() == 1
    expected = (batch - batch.mean(0)) / torch.sqrt(batch.var(0, correction=0) + 1e-3)
    assert torch.allclose(output, expected, atol=1e-6)  # training: the batch's statistics
    norm.eval()
    assert torch.allclose(norm(batch), (batch - norm.running_mean) / torch.sqrt(norm.running_var + 1e-3), atol=1e-6)
