"""Our canned estimators against TF Estimator's own, run by TensorFlow 2.15.

data/tf_estimator/<name>/ holds what TF Estimator did (data/make_tf_estimator_models.py, run by
hand; TensorFlow is not a dependency): its initial weights (step 0), its weights after 5 steps
with the default optimizer on the 16 rows below (batches of 8, in order), and evaluate's results.
Here the same estimator starts from TF's step 0 (warm-started from TF's checkpoint, read
without TensorFlow), trains the same 5 steps and evaluates: every weight must land on TF's
step 5, and every metric must be TF's. This checks the heads' losses and metrics, the default
optimizers and learning rates, feature columns and the checkpoint names in one go.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.checkpoint.tf_checkpoint import read_tf_checkpoint, tf_variable_name

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tf_estimator")
fc = est.feature_column


def _load_rows():
    """data/rows.py: the rows TensorFlow was trained on (a file beside the generator, not a package)."""
    spec = importlib.util.spec_from_file_location("tf_fidelity_rows", os.path.join(HERE, os.pardir, "rows.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.data


_data = _load_rows()


def _tf2_dnn(name: str):
    """What TF 2's canned DNN really ran for an optimizer name: its v2 model_fn built the
    optimizer without the canned rate (``get_optimizer_instance_v2(optimizer)``), so Keras's
    default rate applied (0.001; SGD 0.01), not the documented 0.05 that TF 1 used and ours
    keeps. ``make_optimizer`` without a rate uses those Keras defaults."""
    return lambda params: est.train.make_optimizer(name, params)


_tf2_dnn_adagrad = _tf2_dnn("Adagrad")


KIND = fc.categorical_column_with_vocabulary_list("kind", ["u", "v", "w"])
TAGS = fc.categorical_column_with_vocabulary_list("tags", ["u", "v", "w"])


def _more_columns() -> list:
    """Identity (an out-of-range id takes the default), vocabulary-file and weighted columns."""
    ids = fc.categorical_column_with_identity("id", num_buckets=4, default_value=0)
    names = fc.categorical_column_with_vocabulary_file("kind", os.path.join(HERE, os.pardir, "vocabulary.txt"),
                                                       num_oov_buckets=1)
    return [fc.numeric_column("a"), fc.indicator_column(fc.weighted_categorical_column(KIND, "w")),
            fc.embedding_column(ids, 2), fc.embedding_column(names, 2)]
NUMERIC = [fc.numeric_column("a"), fc.numeric_column("b")]
ESTIMATORS = {
    "dnn_binary": ("binary", lambda model_dir, warm: est.DNNClassifier(
        [4], NUMERIC + [fc.indicator_column(KIND)], model_dir=model_dir, warm_start_from=warm,
        optimizer=_tf2_dnn_adagrad)),
    "dnn_multiclass": ("multiclass", lambda model_dir, warm: est.DNNClassifier(
        [4], NUMERIC + [fc.embedding_column(KIND, 2)], model_dir=model_dir, n_classes=3, warm_start_from=warm,
        optimizer=_tf2_dnn_adagrad)),
    "dnn_regressor": ("regression", lambda model_dir, warm: est.DNNRegressor(
        [4, 3], NUMERIC + [fc.embedding_column(KIND, 2)], model_dir=model_dir, warm_start_from=warm,
        optimizer=_tf2_dnn_adagrad)),
    "linear_regressor": ("regression", lambda model_dir, warm: est.LinearRegressor(
        NUMERIC + [KIND], model_dir=model_dir, warm_start_from=warm)),
    "linear_classifier": ("binary", lambda model_dir, warm: est.LinearClassifier(
        NUMERIC + [KIND], model_dir=model_dir, warm_start_from=warm)),
    # TensorFlow's baseline takes no warm_start_from; both start from a zero bias.
    "baseline_classifier": ("multiclass", lambda model_dir, warm: est.BaselineClassifier(
        model_dir=model_dir, n_classes=3)),
    "dnn_weighted_names": ("names", lambda model_dir, warm: est.DNNClassifier(
        [4], NUMERIC + [fc.indicator_column(KIND)], model_dir=model_dir, n_classes=3, weight_column="w",
        label_vocabulary=["lo", "mid", "hi"], warm_start_from=warm, optimizer=_tf2_dnn_adagrad)),
    "linear_bucketized": ("binary", lambda model_dir, warm: est.LinearClassifier(
        [fc.bucketized_column(NUMERIC[0], [-1.0, 0.0, 1.0]), NUMERIC[1], KIND], model_dir=model_dir,
        weight_column="w", warm_start_from=warm)),
    "dnn_multilabel": ("multilabel", lambda model_dir, warm: est.DNNEstimator(
        est.MultiLabelHead(3), [4], NUMERIC + [fc.indicator_column(KIND)], model_dir=model_dir,
        warm_start_from=warm, optimizer=_tf2_dnn_adagrad)),
    "dnn_poisson": ("counts", lambda model_dir, warm: est.DNNEstimator(
        est.PoissonRegressionHead(), [4], NUMERIC, model_dir=model_dir, warm_start_from=warm,
        optimizer=_tf2_dnn_adagrad)),
    "dnn_two_labels": ("pair", lambda model_dir, warm: est.DNNRegressor(
        [4], NUMERIC, model_dir=model_dir, label_dimension=2, warm_start_from=warm, optimizer=_tf2_dnn_adagrad)),
    **{f"dnn_{name.lower()}": ("regression", lambda model_dir, warm, name=name: est.DNNRegressor(
        [4], NUMERIC, model_dir=model_dir, warm_start_from=warm, optimizer=_tf2_dnn(name)))
       for name in ("Adam", "RMSProp", "SGD")},
    "linear_adagrad": ("regression", lambda model_dir, warm: est.LinearRegressor(
        NUMERIC + [KIND], model_dir=model_dir, optimizer="Adagrad", warm_start_from=warm)),
    "wide_deep_classifier": ("binary", lambda model_dir, warm: est.DNNLinearCombinedClassifier(
        model_dir=model_dir, linear_feature_columns=[KIND], dnn_feature_columns=NUMERIC, dnn_hidden_units=[4],
        warm_start_from=warm)),
    "dnn_more_columns": ("multiclass", lambda model_dir, warm: est.DNNClassifier(
        [4], _more_columns(), model_dir=model_dir, n_classes=3, warm_start_from=warm, optimizer=_tf2_dnn_adagrad)),
    # Multi-valued string input, "" for missing values, each sparse combiner.
    **{f"linear_tags_{combiner}": ("regression", lambda model_dir, warm, combiner=combiner: est.LinearRegressor(
        [TAGS, NUMERIC[0]], model_dir=model_dir, sparse_combiner=combiner, warm_start_from=warm))
       for combiner in ("sum", "mean", "sqrtn")},
    "dnn_thresholds": ("binary", lambda model_dir, warm: est.DNNEstimator(
        est.BinaryClassHead(thresholds=[0.3, 0.7]), [4], NUMERIC, model_dir=model_dir, warm_start_from=warm,
        optimizer=_tf2_dnn_adagrad)),
    "linear_sum_loss": ("regression", lambda model_dir, warm: est.LinearEstimator(
        est.RegressionHead(loss_reduction=est.losses.Reduction.SUM), NUMERIC + [KIND], model_dir=model_dir,
        warm_start_from=warm)),
    "baseline_regressor_weighted": ("regression", lambda model_dir, warm: est.BaselineRegressor(
        model_dir=model_dir, weight_column="w")),
    "linear_multiclass_names": ("names", lambda model_dir, warm: est.LinearClassifier(
        NUMERIC + [KIND], model_dir=model_dir, n_classes=3, label_vocabulary=["lo", "mid", "hi"],
        warm_start_from=warm)),
    "dnn_tanh": ("regression", lambda model_dir, warm: est.DNNRegressor(
        [4, 3], NUMERIC, model_dir=model_dir, activation_fn=torch.tanh, warm_start_from=warm,
        optimizer=_tf2_dnn_adagrad)),
    "wide_deep_weighted": ("regression", lambda model_dir, warm: est.DNNLinearCombinedRegressor(
        model_dir, linear_feature_columns=NUMERIC + [KIND], dnn_feature_columns=NUMERIC, dnn_hidden_units=[4],
        weight_column="w", warm_start_from=warm)),
    "dnn_tags": ("regression", lambda model_dir, warm: est.DNNRegressor(
        [4], [fc.embedding_column(TAGS, 2, combiner="sqrtn"), fc.indicator_column(KIND)], model_dir=model_dir,
        warm_start_from=warm, optimizer=_tf2_dnn_adagrad)),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_from_tensorflows_initial_weights_five_steps_land_on_tensorflows_weights_and_metrics(name):
    problem, make = ESTIMATORS[name]
    tf_dir = os.path.join(HERE, name)
    x, labels = _data()
    estimator = make(tempfile.mkdtemp(), est.WarmStartSettings(os.path.join(tf_dir, "model.ckpt-0")))
    estimator.train(est.inputs.numpy_input_fn(x, labels[problem], batch_size=8, num_epochs=None, shuffle=False),
                    steps=5)
    tf_start, tf_end = read_tf_checkpoint(os.path.join(tf_dir, "model.ckpt-0")), read_tf_checkpoint(tf_dir)
    compared, moved = [], 0.0
    for variable in estimator.get_variable_names():
        tf_name = tf_variable_name(variable)
        if tf_name == "global_step" or tf_name not in tf_end:
            continue
        theirs, start = tf_end[tf_name], tf_start[tf_name]
        if tf_name.endswith("/kernel"):
            theirs, start = theirs.T, start.T
        moved = max(moved, float(np.abs(theirs - start).max()))
        np.testing.assert_allclose(estimator.get_variable_value(variable), theirs, rtol=0, atol=2e-6,
                                   err_msg=variable)
        compared.append(variable)
    trainable = [v for v in estimator.get_variable_names() if not v.startswith(("optimizer.", "rng.", "global_step"))]
    assert sorted(compared) == sorted(trainable)  # every weight of ours has its TensorFlow twin
    assert moved > 1e-3  # TF's 5 steps changed the weights: landing on step 5 is not landing on step 0
    metrics = estimator.evaluate(est.inputs.numpy_input_fn(x, labels[problem], batch_size=16, shuffle=False))
    with open(os.path.join(tf_dir, "eval.json")) as file:
        expected = json.load(file)
    assert sorted(metrics) == sorted(expected)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    # In batches of 5 (5, 5, 5, 1): TF's `loss` is the mean of the batches' losses, the rest per example.
    batched = estimator.evaluate(est.inputs.numpy_input_fn(x, labels[problem], batch_size=5, shuffle=False))
    with open(os.path.join(tf_dir, "eval_batches_of_5.json")) as file:
        expected = json.load(file)
    for key, value in expected.items():
        assert batched[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    _check_predictions(estimator, x, tf_dir)


def _check_predictions(estimator: est.Estimator, x: dict, tf_dir: str) -> None:
    """predict's dicts for the first 4 rows: TensorFlow's keys and values (classes as text)."""
    with open(os.path.join(tf_dir, "predictions.json")) as file:
        expected = json.load(file)
    rows = list(estimator.predict(est.inputs.numpy_input_fn({k: v[:4] for k, v in x.items()}, batch_size=4,
                                                            shuffle=False)))
    assert len(rows) == len(expected)
    for ours, theirs in zip(rows, expected):
        assert sorted(ours) == sorted(theirs)
        for key, value in theirs.items():
            if key in ("classes", "all_classes"):
                assert [str(item) for item in np.ravel(ours[key])] == value, key
            else:
                np.testing.assert_allclose(np.asarray(ours[key], np.float64), value, rtol=1e-5, atol=1e-6,
                                           err_msg=key)


def test_a_linear_model_takes_optimizer_none_as_tensorflows_default_ftrl():
    x, labels = _data()
    regressor = est.LinearRegressor(NUMERIC + [KIND], model_dir=tempfile.mkdtemp(), optimizer=None,
                                    warm_start_from=os.path.join(HERE, "linear_regressor", "model.ckpt-0"))
    regressor.train(est.inputs.numpy_input_fn(x, labels["regression"], batch_size=8, num_epochs=None, shuffle=False),
                    steps=5)
    tf_end = read_tf_checkpoint(os.path.join(HERE, "linear_regressor"))  # TF's 'Ftrl' at 0.2 = min(0.2, 1/sqrt(3))
    np.testing.assert_allclose(regressor.get_variable_value("linear/linear_model.a/weights"),
                               tf_end["linear/linear_model/a/weights"], atol=2e-6)
