"""Training-mode layers behave as in model.fit: BatchNorm statistics, Dropout only in training."""

from __future__ import annotations

from keras_setup import quiet_config, regression_data  # first: sets KERAS_BACKEND=torch
import keras
import numpy as np
import pytest
import torch

import torch_estimator as est


def _model(middle):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((9,)), keras.layers.Dense(16, name="hidden"), middle,
                              keras.layers.Activation("relu"), keras.layers.Dense(1, name="out")])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.05), metrics=["mae"])
    return model


def test_batch_norm_statistics_match_fit_and_evaluate(tmp_path):
    x, y = regression_data()
    model = _model(keras.layers.BatchNormalization(momentum=0.5, name="norm"))
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config())
    estimator.train(est.inputs.numpy_input_fn({"hidden_input": x}, y, batch_size=32, num_epochs=1, shuffle=False))
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    expected = model.get_weights()
    trained = est.keras.load_weights(keras.models.clone_model(model), estimator).get_weights()
    moving_mean = [id(w) for w in model.weights].index(id(model.get_layer("norm").moving_mean))
    assert not np.allclose(expected[moving_mean], 0.0)  # the statistics did move
    for ours, theirs in zip(trained, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn({"hidden_input": x}, y, batch_size=32, shuffle=False))
    keras_metrics = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert metrics["loss"] == pytest.approx(keras_metrics["loss"], rel=1e-4)
    assert metrics["mean_absolute_error"] == pytest.approx(keras_metrics["mae"], rel=1e-4)
    # Evaluation used (and did not update) the moving statistics.
    after_eval = est.keras.load_weights(keras.models.clone_model(model), estimator).get_weights()
    np.testing.assert_array_equal(after_eval[moving_mean], trained[moving_mean])


def test_dropout_only_in_training(tmp_path, loss_recorder):
    x, y = regression_data()
    batch = lambda: ({"hidden_input": torch.from_numpy(x)}, torch.from_numpy(y))  # noqa: E731
    model = _model(keras.layers.Dropout(0.5, name="drop"))
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.0))  # weights stay put: losses comparable
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config())
    recorder = loss_recorder()
    estimator.train(batch, steps=3, hooks=[recorder])
    first, second = estimator.evaluate(batch, steps=1), estimator.evaluate(batch, steps=1)
    assert first["loss"] == second["loss"]  # deterministic: no dropout in evaluation
    assert first["loss"] == pytest.approx(model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)["loss"], rel=1e-5)
    assert all(abs(loss - first["loss"]) > 1e-4 for loss in recorder.losses)  # dropout in training
    assert len(set(recorder.losses)) == 3  # a new mask every step
    predictions = [next(estimator.predict(batch, yield_single_examples=False))["out"] for _ in range(2)]
    np.testing.assert_array_equal(*predictions)
