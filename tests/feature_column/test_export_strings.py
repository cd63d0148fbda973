"""Exports of feature-column models: strings at the receiver, ids computed by the exported preprocessing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator import export
from torch_estimator import feature_column as fc
from torch_estimator.export import ServingInputReceiver, TensorSpec

TYPE = fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])
CITY = fc.categorical_column_with_hash_bucket("city", 20)
TAGS = fc.categorical_column_with_vocabulary_list("tags", ["pool", "garden", "garage"], num_oov_buckets=2)
COLUMNS = [fc.numeric_column("sq_footage"), fc.indicator_column(TYPE), fc.embedding_column(CITY, 3),
           fc.embedding_column(TAGS, 2, combiner="sum")]
# What a client sends, and what Estimator.predict gets: OOV values ('tent', 'Paris', 'sauna') and
# missing ones ('') included.
RAW = {"sq_footage": np.array([1.2, 1.8, 1.5, 0.7], np.float32),
       "type": np.array(["house", "tent", "apt", ""]),
       "city": np.array(["Oslo", "Paris", "", "Lima"]),
       "tags": np.array([["pool", "garage"], ["sauna", ""], ["", ""], ["garden", "pool"]])}


def model_fn(features, labels, mode):
    net = est.get_module("net", lambda: torch.nn.Linear(1 + 2 + 3 + 2, 1))
    y = net(fc.input_layer(features, COLUMNS)) + fc.linear_model(features, [TYPE, CITY])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"price": y})
    loss = torch.nn.functional.mse_loss(y, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "Adam", learning_rate=0.05))


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = 64
    features = {"sq_footage": rng.uniform(0.5, 2.0, rows).astype(np.float32),
                "type": rng.choice(["house", "apt"], rows), "city": rng.choice(["Oslo", "Lima", "Rome"], rows),
                "tags": rng.choice(["pool", "garden", "garage", ""], (rows, 2))}
    labels = (2 * features["sq_footage"] + (features["type"] == "house")).astype(np.float32)[:, None]
    estimator = est.Estimator(model_fn, model_dir=str(tmp_path_factory.mktemp("model")),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=None, shuffle=True),
                    steps=30)
    return estimator


def receiver_fn():
    """Strings at the receiver; 'prop_type' feeds the feature 'type' (the course lab's renaming)."""
    tensors = {"sq_footage": TensorSpec([None], torch.float32), "prop_type": TensorSpec([None], "string"),
               "city": TensorSpec([None], "string"), "tags": TensorSpec([None, 2], "string")}
    features = {"sq_footage": tensors["sq_footage"], "type": tensors["prop_type"], "city": tensors["city"],
                "tags": tensors["tags"]}
    return ServingInputReceiver(features, tensors)


@pytest.fixture(scope="module")
def exported(estimator, tmp_path_factory):
    return export.export_saved_model(estimator, str(tmp_path_factory.mktemp("export")), receiver_fn)


def served(features):
    return {"sq_footage": features["sq_footage"], "prop_type": features["type"], "city": features["city"],
            "tags": features["tags"]}


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_predictions_from_raw_strings_equal_estimator_predict(estimator, exported, backend):
    expected = np.concatenate([p["price"] for p in estimator.predict(lambda: (RAW, None),
                                                                     yield_single_examples=False)])
    predictor = export.load(exported, backend)
    np.testing.assert_allclose(predictor(served(RAW))["price"], expected, rtol=1e-5, atol=1e-6)
    one = predictor({"sq_footage": [1.2], "prop_type": ["house"], "city": [b"Oslo"], "tags": [["pool", "garage"]]})
    np.testing.assert_allclose(one["price"], expected[:1], rtol=1e-5, atol=1e-6)


def test_the_preprocessing_is_written_as_json(exported):
    with open(os.path.join(exported, "preprocessing.json")) as f:
        transforms = json.load(f)["transforms"]
    assert transforms == {"model": {
        "city/hash_bucket": {"kind": "hash_bucket", "key": "city", "num_buckets": 20, "dtype": "string",
                             "hash": "fingerprint64-v1"},
        "prop_type/vocabulary": {"kind": "vocabulary", "key": "prop_type", "vocabulary": ["house", "apt"],
                                 "num_oov_buckets": 0, "default_value": -1},
        "tags/vocabulary": {"kind": "vocabulary", "key": "tags", "vocabulary": ["pool", "garden", "garage"],
                            "num_oov_buckets": 2, "default_value": -1, "hash": "fingerprint64-v1"},
    }}


def test_clients_see_strings_and_the_program_takes_ids(exported):
    with open(os.path.join(exported, "signature.json")) as f:
        document = json.load(f)
    assert document["signatures"]["serving_default"]["inputs"] == {
        "sq_footage": {"dtype": "float32", "shape": [-1]}, "prop_type": {"dtype": "string", "shape": [-1]},
        "city": {"dtype": "string", "shape": [-1]}, "tags": {"dtype": "string", "shape": [-1, 2]}}
    # numeric serving inputs, then one input of ids per transform, in the order model_fn first used them
    # (input_layer's columns by name: city_embedding, sq_footage, tags_embedding, type_indicator)
    assert document["programs"]["model"]["inputs"] == [
        {"name": "sq_footage", "dtype": "float32", "shape": [-1]},
        {"name": "city/hash_bucket", "dtype": "int64", "shape": [-1, 1]},
        {"name": "tags/vocabulary", "dtype": "int64", "shape": [-1, 2]},
        {"name": "prop_type/vocabulary", "dtype": "int64", "shape": [-1, 1]}]
    assert export.load(exported).signatures["serving_default"].inputs["prop_type"].describe() == "string[batch]"


def test_the_predictor_checks_string_inputs(exported):
    predictor = export.load(exported)
    with pytest.raises(TypeError, match=r"Signature 'serving_default' needs strings for input 'prop_type'\. "
                                        r".* Received: prop_type='int64'"):
        predictor({**served(RAW), "prop_type": np.array([1, 2, 3, 4])})
    with pytest.raises(ValueError, match=r"got a misshaped input 'tags'"):
        predictor({**served(RAW), "tags": RAW["tags"][:, :1]})


def test_bucketized_and_crossed_numeric_inputs_are_preprocessed_too(tmp_path):
    x_buckets = fc.bucketized_column(fc.numeric_column("x"), [0.0, 1.0])
    cross = fc.crossed_column([x_buckets, "kind"], 10)
    day = fc.categorical_column_with_identity("day", 7)

    def cross_model_fn(features, labels, mode):
        y = fc.linear_model(features, [x_buckets, cross, day]) + fc.input_layer(features, [fc.numeric_column("x")])
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions={"y": y})
        loss = torch.nn.functional.mse_loss(y, labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.1))

    features = {"x": np.array([-1.0, 0.5, 2.0], np.float32), "kind": np.array(["a", "b", "a"]),
                "day": np.array([0, 3, 6])}
    estimator = est.Estimator(cross_model_fn, model_dir=str(tmp_path / "m"), config=est.RunConfig(progress_bar=False))
    estimator.train(lambda: (features, np.array([[1.0], [2.0], [3.0]], np.float32)), steps=5)
    path = export.export_saved_model(estimator, str(tmp_path / "e"),
                                     export.build_raw_serving_input_receiver_fn(features))
    expected = next(estimator.predict(lambda: (features, None), yield_single_examples=False))["y"]
    for backend in ("torch", "onnx"):
        np.testing.assert_allclose(export.load(path, backend)(features)["y"], expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"categorical_column_with_identity 'day' got ids outside \[0, 7\)"):
        export.load(path)({**features, "day": np.array([0, 3, 9])})


def test_features_computed_inside_the_receiver_cannot_be_preprocessed(estimator, tmp_path):
    tensors = {"sq_footage": TensorSpec([None], torch.float32), "type": TensorSpec([None], "string"),
               "city": TensorSpec([None], "string"), "tags": TensorSpec([None, 2], "string")}

    def callable_receiver():
        return ServingInputReceiver(lambda inputs: {**inputs, "sq_footage": inputs["sq_footage"] * 2}, tensors)

    # The callable passes the string inputs through unchanged: their ids are still computed outside.
    path = export.export_saved_model(estimator, str(tmp_path / "a"), callable_receiver)
    doubled = {**RAW, "sq_footage": RAW["sq_footage"] * 2}
    expected = next(estimator.predict(lambda: (doubled, None), yield_single_examples=False))["price"]
    np.testing.assert_allclose(export.load(path)(RAW)["price"], expected, rtol=1e-5, atol=1e-6)

    bucketized = fc.bucketized_column(fc.numeric_column("x"), [0.0])

    def bucket_model_fn(features, labels, mode):
        y = fc.linear_model(features, [bucketized])
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions={"y": y})
        return est.EstimatorSpec(mode, loss=y.sum(), train_op=est.train.minimize(y.sum(), "SGD"))

    bucket_estimator = est.Estimator(bucket_model_fn, model_dir=str(tmp_path / "b"),
                                     config=est.RunConfig(progress_bar=False))
    bucket_estimator.train(lambda: ({"x": np.array([1.0], np.float32)}, None), steps=1)
    scaled = lambda: ServingInputReceiver(lambda inputs: {"x": inputs["raw"] / 10}, {"raw": TensorSpec([None])})
    with pytest.raises(ValueError) as error:
        export.export_saved_model(bucket_estimator, str(tmp_path / "e"), scaled)
    assert str(error.value) == (
        "A feature column turns feature 'x' into ids, but the serving receiver computes that feature. Expected "
        "features that are serving inputs unchanged (the ids are computed before the exported program, from the "
        "serving inputs). Received: feature='x'. Map 'x' to a receiver input (features={'x': receiver_tensors[...]}) "
        "and move the computation into model_fn or a numeric_column normalizer_fn.")


def test_a_model_fn_reading_strings_directly_gets_a_clear_error(tmp_path):
    def raw_model_fn(features, labels, mode):
        embed = est.get_module("embed", lambda: torch.nn.Embedding(3, 1))
        y = embed(features["type"])  # strings are not tensors
        return est.EstimatorSpec(mode, predictions={"y": y}, loss=y.sum(), train_op=est.train.minimize(y.sum(), "SGD"))

    estimator = est.Estimator(raw_model_fn, model_dir=str(tmp_path / "m"), config=est.RunConfig(progress_bar=False))
    estimator.train(lambda: ({"type": torch.tensor([1])}, None), steps=1)
    receiver = export.build_raw_serving_input_receiver_fn({"type": TensorSpec([None], "string")})
    with pytest.raises(ValueError) as error:
        export.export_saved_model(estimator, str(tmp_path / "e"), receiver)
    assert str(error.value).startswith(
        "Serving input 'type' is a string; exports cannot take string inputs yet, except through feature columns, "
        "which turn them into ids before the exported program runs. Expected model_fn to read string features only "
        "through est.feature_column (input_layer, linear_model, DenseFeatures). Received: input='type'.")


def test_a_transform_missing_from_the_probe_is_reported_while_tracing():
    from torch_estimator.export import preprocessing

    with preprocessing.replaying({}), pytest.raises(RuntimeError) as error:
        preprocessing.apply(CITY.transform, {"city": np.array(["Oslo"])})
    assert str(error.value) == (
        "model_fn applied a feature column transform while tracing the export that it did not apply while probing "
        "it. Expected the same feature columns on every PREDICT-mode call. Received: transform={'kind': "
        "'hash_bucket', 'key': 'city', 'num_buckets': 20, 'dtype': 'string', 'hash': 'fingerprint64-v1'}. Build the "
        "feature columns the same way on every call.")
