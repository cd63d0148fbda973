"""Functional models: named inputs, several outputs with dict labels, loss_weights, export without Keras."""

from __future__ import annotations

from keras_setup import quiet_config  # first: sets KERAS_BACKEND=torch
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.keras.backend import _FIX


def _two_in_two_out(outputs_as_dict=False):
    keras.utils.set_random_seed(2)
    age, city = keras.Input((3,), name="age"), keras.Input((2,), name="city")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(keras.layers.Concatenate()([age, city]))
    price = keras.layers.Dense(1, name="price")(hidden)
    sold = keras.layers.Dense(1, activation="sigmoid", name="sold")(hidden)
    outputs = {"price": price, "sold": sold} if outputs_as_dict else [price, sold]
    model = keras.Model(inputs={"age": age, "city": city}, outputs=outputs)
    model.compile(optimizer="adam", loss={"price": "mse", "sold": "binary_crossentropy"},
                  loss_weights={"price": 1.0, "sold": 0.5}, metrics={"price": ["mae"], "sold": ["acc"]})
    return model


def _data(rows=64):
    rng = np.random.default_rng(3)
    features = {"age": rng.normal(size=(rows, 3)).astype(np.float32),
                "city": rng.normal(size=(rows, 2)).astype(np.float32)}
    labels = {"price": features["age"][:, :1] * 2.0, "sold": (features["city"][:, :1] > 0).astype(np.float32)}
    return features, labels


@pytest.mark.parametrize("outputs_as_dict", [False, True])
def test_dict_labels_loss_weights_and_per_output_metrics(tmp_path, outputs_as_dict):
    features, labels = _data()
    model = _two_in_two_out(outputs_as_dict)
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config())
    train = est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=None, shuffle=False)
    estimator.train(train, steps=5)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn(features, labels, batch_size=16, shuffle=False))
    assert {"price_mean_absolute_error", "sold_accuracy"} <= set(metrics)
    est.keras.load_weights(model, estimator)
    keras_metrics = model.evaluate(features, labels, batch_size=16, verbose=0, return_dict=True)
    assert metrics["loss"] == pytest.approx(keras_metrics["loss"], rel=1e-5)  # 1.0 * mse + 0.5 * bce
    assert metrics["price_mean_absolute_error"] == pytest.approx(keras_metrics["price_mae"], rel=1e-5)
    assert metrics["sold_accuracy"] == pytest.approx(keras_metrics["sold_acc"], rel=1e-5)
    predictions = next(estimator.predict(est.inputs.numpy_input_fn(features, shuffle=False, batch_size=4),
                                         yield_single_examples=False))
    assert sorted(predictions) == ["price", "sold"]


def test_missing_label_key_is_an_error(tmp_path):
    features, labels = _data()
    estimator = est.keras.model_to_estimator(keras_model=_two_in_two_out(), model_dir=str(tmp_path), config=quiet_config())
    with pytest.raises(KeyError) as raised:
        estimator.evaluate(lambda: (features, {"price": labels["price"]}), steps=1)
    assert str(raised.value) == ("The labels do not match the Keras model's outputs. Expected a labels dict keyed by "
                                 "the output names ['price', 'sold']. Received: given_keys=['price'], "
                                 "missing=['sold']. Key the labels by the names of the model's output layers.")
    with pytest.raises(TypeError, match=r"^A model with several inputs needs a dict of features\. .* "
                                        r"Received: features='Tensor'\. Return features as a dict"):
        estimator.predict(lambda: torch.zeros(2, 3)).__next__()


def test_export_serves_by_input_names_without_keras_and_missing_keras_error(tmp_path):
    features, labels = _data()
    model = _two_in_two_out()
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path / "model"),
                                             config=quiet_config(), export_outputs={"serving_default": est.export.PredictOutput})
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=None, shuffle=False), steps=2)
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), est.keras.build_serving_input_receiver_fn(model))
    signature = json.load(open(f"{export_dir}/signature.json"))["signatures"]["serving_default"]
    assert sorted(signature["inputs"]) == ["age", "city"] and sorted(signature["outputs"]) == ["price", "sold"]
    rows = {name: value[:3].tolist() for name, value in features.items()}
    # One interpreter checks three things: the package alone does not import Keras, the served
    # model needs no Keras, and without Keras est.keras says how to install it.
    script = ("import json, sys, numpy as np, torch_estimator as est\n"
              f"served = est.export.load({export_dir!r})({{k: np.asarray(v, np.float32) for k, v in {rows!r}.items()}})\n"
              "imported = 'keras' in sys.modules\n"
              "sys.modules['keras'] = None\n"
              "try:\n    est.keras.model_to_estimator(keras_model_path='m.keras')\n"
              "except ImportError as error:\n    missing = str(error)\n"
              "print(json.dumps({'keras': imported, 'price': served['price'].tolist(), 'missing': missing}))\n")
    result = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                       timeout=120).stdout.strip().splitlines()[-1])
    assert result["keras"] is False
    assert result["missing"] == (
        "est.keras needs Keras 3, which is not installed. Expected the keras package (version 3.10 or newer) running "
        "on the torch backend. Received: error='import of keras halted; None in sys.modules'. Install it with `pip "
        "install 'torch_estimator[keras]'` (or `pip install keras`). " + _FIX + ".")
    est.keras.load_weights(model, estimator)
    expected = model.predict({k: v[:3] for k, v in features.items()}, verbose=0)[0]
    np.testing.assert_allclose(result["price"], expected, rtol=1e-5, atol=1e-6)


def test_single_output_export_classes_need_one_output():
    with pytest.raises(ValueError) as raised:
        est.keras.model_to_estimator(keras_model=_two_in_two_out(), config=quiet_config(),
                                     export_outputs={"regress": est.export.RegressionOutput})
    assert str(raised.value) == ("export_outputs['regress'] needs a model with one output. Expected PredictOutput "
                                 "for a model with several outputs. Received: outputs=['price', 'sold']. Use "
                                 "est.export.PredictOutput.")


def test_receiver_needs_fixed_shapes():
    sequence = keras.Input((None,), name="tokens", dtype="int32")
    model = keras.Model(sequence, keras.layers.Dense(1)(keras.layers.Embedding(10, 2)(sequence)))
    with pytest.raises(ValueError, match=r"^The Keras input 'tokens' has a dimension of unknown size\. .*"
                                         r"Received: shape=\(None, None\)\. Build the receiver yourself"):
        est.keras.build_serving_input_receiver_fn(model)
