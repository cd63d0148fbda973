"""model_to_estimator: train/evaluate/predict, names, weights both ways, argument errors."""

from __future__ import annotations

from keras_setup import lecture_model, quiet_config, regression_data  # first: sets KERAS_BACKEND=torch
import keras
import numpy as np
import pytest
import torch

import torch_estimator as est


def _input(features, labels=None, batch_size=32, epochs=1):
    return est.inputs.numpy_input_fn(features, labels, batch_size=batch_size, num_epochs=epochs, shuffle=False)


def test_trains_evaluates_with_long_metric_names_and_weights_go_back(tmp_path):
    x, y = regression_data()
    model = lecture_model()
    before = [w.copy() for w in model.get_weights()]
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config())
    initial = estimator.evaluate(_input({"rawdata_input": x}, y))
    estimator.train(_input({"rawdata_input": x}, y, epochs=None), steps=60)
    metrics = estimator.evaluate(_input({"rawdata_input": x}, y))
    assert set(metrics) >= {"loss", "mean_absolute_error", "mean_absolute_percentage_error", "global_step"}
    assert metrics["loss"] < 0.5 * initial["loss"]
    # Training does not touch the user's model; load_weights brings the trained weights back.
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    est.keras.load_weights(model, estimator)
    keras_metrics = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert keras_metrics["loss"] == pytest.approx(metrics["loss"], rel=1e-5)
    assert keras_metrics["mae"] == pytest.approx(metrics["mean_absolute_error"], rel=1e-5)
    assert keras_metrics["mape"] == pytest.approx(metrics["mean_absolute_percentage_error"], rel=1e-5)
    predictions = next(estimator.predict(_input({"rawdata_input": x[:4]}), yield_single_examples=False))
    np.testing.assert_allclose(predictions["out"], model.predict(x[:4], verbose=0), rtol=1e-5, atol=1e-6)


def test_feature_names_bare_tensor_and_extra_keys(tmp_path):
    x, y = regression_data()
    estimator = est.keras.model_to_estimator(keras_model=lecture_model(), model_dir=str(tmp_path), config=quiet_config())
    by_name = estimator.evaluate(_input({"rawdata_input": x, "unused": x[:, :1]}, y))
    bare = estimator.evaluate(lambda: (torch.from_numpy(x), torch.from_numpy(y)), steps=1)
    assert bare["loss"] == pytest.approx(by_name["loss"], rel=1e-5)


def test_wrong_feature_key_lists_expected_given_and_missing(tmp_path):
    x, y = regression_data()
    estimator = est.keras.model_to_estimator(keras_model=lecture_model(), model_dir=str(tmp_path), config=quiet_config())
    with pytest.raises(KeyError) as raised:
        estimator.train(_input({"rawdata": x}, y), steps=1)
    text = str(raised.value)
    assert text.startswith("The features do not match the Keras model's inputs. Expected a features dict with the "
                           "keys 'rawdata_input' or ")
    assert "given_keys=['rawdata']" in text and "missing=['rawdata_input']" in text
    assert "Rename the keys in input_fn" in text


def test_metric_names_map_renames(tmp_path):
    x, y = regression_data()
    estimator = est.keras.model_to_estimator(keras_model=lecture_model(metrics=["mae", keras.metrics.RootMeanSquaredError()]),
                                             model_dir=str(tmp_path), config=quiet_config(),
                                             metric_names_map={"mean_absolute_error": "mae"})
    metrics = estimator.evaluate(_input({"rawdata_input": x}, y))
    assert "mae" in metrics and "root_mean_squared_error" in metrics
    assert metrics["root_mean_squared_error"] == pytest.approx(metrics["loss"] ** 0.5, rel=1e-5)


def test_duplicate_metric_names_are_an_error():
    with pytest.raises(ValueError, match=r"^Two compiled metrics are both reported as 'mean_absolute_error'\. "
                                         r"Expected distinct metric names\. Received: name='mean_absolute_error'\. "
                                         r"Rename one with metric_names_map"):
        est.keras.model_to_estimator(keras_model=lecture_model(metrics=["mae", "mean_absolute_error"]),
                                     config=quiet_config())


def test_keras_model_path_with_custom_objects(tmp_path):
    x, y = regression_data()

    @keras.saving.register_keras_serializable(package="tests")
    def scaled_relu(values):
        return keras.ops.relu(values) * 0.5

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((9,)), keras.layers.Dense(4, activation=scaled_relu, name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(loss="mse", optimizer="sgd")
    path = str(tmp_path / "saved.keras")
    model.save(path)
    estimator = est.keras.model_to_estimator(keras_model_path=path, custom_objects={"scaled_relu": scaled_relu},
                                             model_dir=str(tmp_path / "model"), config=quiet_config(),
                                             checkpoint_format="saver")
    metrics = estimator.evaluate(_input({"hidden_input": x}, y))
    assert metrics["loss"] == pytest.approx(model.evaluate(x, y, batch_size=32, verbose=0), rel=1e-5)


@pytest.mark.parametrize("kwargs, error, text", [
    ({}, ValueError, "Either `keras_model` or `keras_model_path` needs to be provided. Expected exactly one of "
                     "them. Received: keras_model=None, keras_model_path=None. Pass keras_model=model."),
    ({"keras_model_path": "m.keras", "model": True}, ValueError,
     "Please specify either `keras_model` or `keras_model_path`, but not both. Expected exactly one of them. "
     "Received: keras_model_path='m.keras'. Drop one of the two arguments."),
    ({"checkpoint_format": "h5", "model": True}, ValueError,
     "Unknown checkpoint_format. Expected one of ['checkpoint', 'saver']. Received: checkpoint_format='h5'. "
     "Pass checkpoint_format='checkpoint' (both values write this project's checkpoints)."),
    ({"export_outputs": {"serving_default": "predict"}, "model": True}, ValueError,
     "export_outputs['serving_default'] must be an export output class. Expected est.export.PredictOutput, "
     "RegressionOutput or ClassificationOutput (the class). Received: value='predict'. Pass e.g. "
     "export_outputs={'serving_default': est.export.PredictOutput}."),
])
def test_argument_errors(kwargs, error, text):
    kwargs = dict(kwargs)
    if kwargs.pop("model", False):
        kwargs["keras_model"] = lecture_model()
    with pytest.raises(error) as raised:
        est.keras.model_to_estimator(config=quiet_config(), **kwargs)
    assert str(raised.value) == text


def test_model_errors():
    with pytest.raises(TypeError, match=r"^keras_model must be a Keras model\. Expected a keras\.Model .*"
                                        r"Received: keras_model='Linear'\. Pass the model object\.$"):
        est.keras.model_to_estimator(keras_model=torch.nn.Linear(2, 1), config=quiet_config())
    uncompiled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="plain")
    with pytest.raises(ValueError, match=r"^The given keras model has not been compiled yet\. .*"
                                         r"Received: keras_model='plain'\. Compile the model"):
        est.keras.model_to_estimator(keras_model=uncompiled, config=quiet_config())
    unbuilt = keras.Sequential([keras.layers.Dense(1)], name="unbuilt")
    unbuilt.compile(loss="mse", optimizer="sgd")
    with pytest.raises(ValueError, match=r"^The given keras model is not built: its inputs are unknown\. .*"
                                         r"Received: keras_model='unbuilt'\. Give the first layer an input shape"):
        est.keras.model_to_estimator(keras_model=unbuilt, config=quiet_config())

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="custom")
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    subclassed = Subclassed()
    subclassed(torch.zeros(2, 3))
    subclassed.compile(loss="mse", optimizer="sgd")
    with pytest.raises(ValueError, match=r"^The given keras model has no named inputs and outputs \(a subclassed "
                                         r"keras\.Model\)\. .* Received: keras_model='custom'\. Build the model with"):
        est.keras.model_to_estimator(keras_model=subclassed, config=quiet_config())


def test_load_weights_errors(tmp_path):
    estimator = est.keras.model_to_estimator(keras_model=lecture_model(), model_dir=str(tmp_path), config=quiet_config())
    with pytest.raises(est.CheckpointError, match=r"^There is no checkpoint to load Keras weights from\. "
                                                  r"Expected a checkpoint in .* Train the Estimator first"):
        est.keras.load_weights(lecture_model(), estimator)
    estimator.train(lambda: ({"rawdata_input": torch.zeros(2, 9)}, torch.zeros(2, 1)), steps=1)
    other = keras.Sequential([keras.Input((9,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"^The Keras model's weights do not match the Estimator's model\. "
                                         r"Expected 4 weights with shapes \[\(9, 32\), \(32,\), \(32, 1\), \(1,\)\]\. "
                                         r"Received: shapes=\[\(9, 2\), \(2,\)\]\. Pass a model with the architecture"):
        est.keras.load_weights(other, estimator)


def test_estimator_contract(tmp_path):
    x, y = regression_data()
    model = lecture_model()
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config())
    result = est.testing.assert_estimator_contract(
        estimator, _input({"rawdata_input": x}, y, epochs=None),
        est.keras.build_serving_input_receiver_fn(model), {"rawdata_input": x[:5]})
    assert result["metrics"]["global_step"] == 2


def test_restore_and_load_weights_do_not_depend_on_keras_name_counters(tmp_path):
    x, y = regression_data()

    def dropout_model():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((9,)), keras.layers.Dense(8, name="hidden"),
                                  keras.layers.Dropout(0.3, name="drop"), keras.layers.Dense(1, name="out")])
        model.compile(loss="mse", optimizer="sgd")
        return model

    first = est.keras.model_to_estimator(keras_model=dropout_model(), model_dir=str(tmp_path), config=quiet_config())
    first.train(_input({"hidden_input": x}, y, epochs=None), steps=3)
    keras.layers.Dropout(0.5)  # another seed generator: Keras numbers the next ones differently
    again = est.keras.model_to_estimator(keras_model=dropout_model(), model_dir=str(tmp_path), config=quiet_config())
    assert again.evaluate(_input({"hidden_input": x}, y))["global_step"] == 3
    assert any(key.endswith("seed_generator_0/seed_generator_state") for key in again.get_variable_names())
    model = est.keras.load_weights(dropout_model(), again)
    assert model.evaluate(x, y, batch_size=32, verbose=0) == pytest.approx(
        again.evaluate(_input({"hidden_input": x}, y))["loss"], rel=1e-5)


def test_metrics_for_unknown_outputs_are_an_error():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, {"price": keras.layers.Dense(1, name="price")(inputs)})
    model.compile(loss={"price": "mse"}, optimizer="sgd", metrics={"prices": ["mae"]})
    with pytest.raises(ValueError) as raised:
        est.keras.model_to_estimator(keras_model=model, config=quiet_config())
    assert str(raised.value) == ("compile(metrics=...) names outputs the model does not have. Expected keys among "
                                 "['price']. Received: unknown=['prices']. Key the metrics by output layer names.")


def test_export_outputs_classes_build_the_signatures(tmp_path):
    x, y = regression_data()
    model = lecture_model()
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=str(tmp_path), config=quiet_config(),
                                             export_outputs={"serving_default": est.export.RegressionOutput})
    estimator.train(_input({"rawdata_input": x}, y), steps=1)
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), est.keras.build_serving_input_receiver_fn(model))
    predictor = est.export.load(export_dir)
    signature = predictor.signatures["serving_default"]
    assert signature.method == "regress" and list(signature.outputs) == ["outputs"]
    served = predictor({"rawdata_input": x[:3]})["outputs"]
    expected = next(estimator.predict(_input({"rawdata_input": x[:3]}), yield_single_examples=False))["out"]
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)


def test_model_file_is_written_atomically(tmp_path, monkeypatch):
    from torch_estimator.keras import weights

    model = lecture_model()

    def failing_save(path):
        with open(path, "wb") as f:
            f.write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        weights.save_model_file(model, str(tmp_path))
    assert list((tmp_path / "keras").iterdir()) == []  # neither a partial file nor a temporary one
    monkeypatch.undo()
    path = weights.save_model_file(model, str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "keras").iterdir()) == ["keras_model.keras"] and path.endswith(".keras")
