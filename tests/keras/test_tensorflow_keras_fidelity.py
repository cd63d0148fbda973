"""``est.keras.model_to_estimator`` against TensorFlow's own ``tf.keras.estimator.model_to_estimator``.

data/tf_keras_estimator.{npz,json} hold what TensorFlow 2.15 did (data/make_tf_keras_estimator.py,
run by hand; TensorFlow is not a dependency): a compiled Dense 3 -> 4 relu -> 1 model (Adam, mean
squared error, mae) converted, trained 5 steps on 16 rows in batches of 8, evaluated and asked for
predictions. The same model here, from the same initial weights, must end with TensorFlow's
weights, metrics and predictions: the compiled loss, optimizer and metrics carry over as TF's did.
"""

from __future__ import annotations

from keras_setup import quiet_config  # first: sets KERAS_BACKEND=torch
import json
import os
import tempfile

import keras
import numpy as np
import pytest

import torch_estimator as est

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def test_a_converted_keras_model_trains_evaluates_and_predicts_as_tensorflows_did():
    with np.load(os.path.join(HERE, "tf_keras_estimator.npz")) as saved:
        tf = {key: saved[key] for key in saved.files}
    with open(os.path.join(HERE, "tf_keras_estimator.json")) as file:
        expected = json.load(file)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.set_weights([tf[f"initial_{i}"] for i in range(4)])
    # TensorFlow 2.15 reported a compiled 'mae' as 'mae'; older TensorFlow (the course's) and ours by
    # default as 'mean_absolute_error' (issue #6): metric_names_map gives TF 2.15's name.
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=tempfile.mkdtemp(), config=quiet_config(),
                                             metric_names_map={"mean_absolute_error": "mae"})
    x, y = tf["x"], tf["y"]
    estimator.train(est.inputs.numpy_input_fn({"hidden_input": x}, y, batch_size=8, num_epochs=None, shuffle=False),
                    steps=5)
    trained = est.keras.load_weights(keras.models.clone_model(model), estimator).get_weights()
    moved = max(float(np.abs(tf[f"final_{i}"] - tf[f"initial_{i}"]).max()) for i in range(4))
    assert moved > 1e-3  # TensorFlow's 5 steps moved the weights
    for index, ours in enumerate(trained):
        np.testing.assert_allclose(ours, tf[f"final_{index}"], rtol=0, atol=2e-6, err_msg=f"weight {index}")
    metrics = estimator.evaluate(est.inputs.numpy_input_fn({"hidden_input": x}, y, batch_size=16, shuffle=False))
    assert set(metrics) - set(expected["eval"]) == {"average_loss"}  # ours adds the per-example mean (README)
    for key, value in expected["eval"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-5), key
    predictions = [p["out"].tolist() for p in estimator.predict(
        est.inputs.numpy_input_fn({"hidden_input": x[:4]}, batch_size=4, shuffle=False))]
    np.testing.assert_allclose(predictions, expected["predictions"], rtol=1e-5, atol=1e-6)
