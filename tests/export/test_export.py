"""export_saved_model end to end: layout, signatures, fidelity to Estimator.predict, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator import export
from torch_estimator.export import TensorSpec, program

from .conftest import estimator_predictions, make_features, two_input_model_fn

BACKENDS = ("torch", "onnx")


def read_json(path, name):
    with open(os.path.join(path, name), encoding="utf-8") as f:
        return json.load(f)


def test_the_export_directory_layout(exported):
    base, name = os.path.split(exported)
    assert isinstance(exported, str) and len(name) == 10 and name.isdigit()
    assert sorted(os.listdir(base)) == [name]  # no temp-* directory left
    assert sorted(os.listdir(exported)) == ["assets.extra", "model.onnx", "model.pt2", "preprocessing.json",
                                            "signature.json"]
    with open(os.path.join(exported, "assets.extra", "vocab", "words.txt")) as f:
        assert f.read() == "a\nb\n"


def test_signature_file_describes_inputs_outputs_and_methods(exported):
    document = read_json(exported, "signature.json")
    assert document["format"] == "torch_estimator/export" and document["format_version"] == 1
    assert document["global_step"] == 20 and document["checkpoint"] == "model.ckpt-20"
    assert list(document["signatures"]) == ["serving_default", "predict_export_outputs"]
    default = document["signatures"]["serving_default"]
    assert default["method"] == "predict" and default["program"] == "model"
    assert default["inputs"] == {"dense": {"dtype": "float32", "shape": [-1, 3]},
                                 "cat": {"dtype": "int64", "shape": [-1]}}
    assert default["outputs"] == {"y": {"name": "y", "dtype": "float32", "shape": [-1, 1]},
                                  "prob": {"name": "prob", "dtype": "float32", "shape": [-1, 1]}}
    assert document["programs"]["model"]["files"] == {"torch": "model.pt2", "onnx": "model.onnx"}
    # The same description travels inside the .pt2.
    extra = {"signature.json": ""}
    torch.export.load(os.path.join(exported, "model.pt2"), extra_files=extra)
    assert json.loads(extra["signature.json"]) == document


def test_preprocessing_file_records_the_receiver_and_nothing_else(exported):
    assert read_json(exported, "preprocessing.json") == {
        "format": "torch_estimator/preprocessing", "format_version": 1,
        "programs": {"model": {"receiver": "ServingInputReceiver", "inputs": ["dense", "cat"],
                               "features_from": "receiver_tensors", "features": {"dense": "dense", "cat": "cat"}}},
        "transforms": {},
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_loaded_export_reproduces_estimator_predict(exported, estimator_for, backend):
    features = make_features(rows=300, seed=7)
    expected = estimator_predictions(estimator_for(), features)
    predictor = export.load(exported, backend=backend)
    assert sorted(predictor.signatures) == ["predict_export_outputs", "serving_default"]
    for rows in (1, 7, 300):
        batch = {name: value[:rows] for name, value in features.items()}
        for signature in ("serving_default", "predict_export_outputs"):
            outputs = predictor(batch, signature=signature)
            assert outputs.keys() == {"y", "prob"}
            for key, value in outputs.items():
                np.testing.assert_allclose(value, expected[key][:rows], rtol=1e-5, atol=1e-5)


def test_a_second_export_gets_a_later_timestamp_directory(exported, estimator_for, receiver_fn):
    base = os.path.dirname(exported)
    second = export.export_saved_model(estimator_for(), base, receiver_fn)
    assert second != exported and os.path.dirname(second) == base
    assert int(os.path.basename(second)) > int(os.path.basename(exported))
    assert not [name for name in os.listdir(base) if name.startswith("temp-")]


def test_timestamps_bump_past_existing_directories(tmp_path):
    from torch_estimator.export.writer import _reserve_directory

    future = 9_000_000_000
    (tmp_path / str(future)).mkdir()
    temp, final = _reserve_directory(str(tmp_path))
    assert (temp, final) == (str(tmp_path / f"temp-{future + 1}"), str(tmp_path / str(future + 1)))
    temp2, final2 = _reserve_directory(str(tmp_path))  # temp-<future+1> is taken by the first exporter
    assert final2 == str(tmp_path / str(future + 2)) and os.path.isdir(temp2)


def test_a_failure_midway_leaves_no_timestamp_directory(estimator_for, receiver_fn, tmp_path, monkeypatch):
    def broken_onnx(*args, **kwargs):
        raise RuntimeError("disk full while writing model.onnx")

    monkeypatch.setattr(program, "to_onnx", broken_onnx)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_saved_model(estimator_for(), str(tmp_path / "exports"), receiver_fn)
    assert os.listdir(tmp_path / "exports") == []


def test_loading_needs_no_training_code(exported, estimator_for):
    features = make_features(rows=5, seed=3)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from torch_estimator.export import load
        rows = json.loads(sys.stdin.read())
        inputs = {{"dense": np.asarray(rows["dense"], np.float32), "cat": np.asarray(rows["cat"], np.int64)}}
        result = {{backend: load({exported!r}, backend)(inputs, "predict_export_outputs")["y"].tolist()
                  for backend in ("torch", "onnx")}}
        assert not [name for name in sys.modules if "conftest" in name or name.startswith("tests")]
        print(json.dumps(result))
    """)
    source_root = os.path.dirname(os.path.dirname(est.__file__))  # src/, wherever the package lives
    env = {**os.environ, "PYTHONPATH": source_root}
    rows = json.dumps({name: value.tolist() for name, value in features.items()})
    completed = subprocess.run([sys.executable, "-c", script], input=rows, capture_output=True, text=True, env=env,
                               cwd=os.path.dirname(exported), check=False)
    assert completed.returncode == 0, completed.stderr
    expected = estimator_predictions(estimator_for(), features)["y"]
    for backend, values in json.loads(completed.stdout.strip().splitlines()[-1]).items():
        np.testing.assert_allclose(np.asarray(values, np.float32), expected, rtol=1e-5, atol=1e-5, err_msg=backend)


def test_classification_and_regression_signatures(estimator_for, receiver_fn, tmp_path):
    path = export.export_saved_model(estimator_for("heads", echo=True), str(tmp_path), receiver_fn)
    features = make_features(rows=9, seed=5)
    prob = estimator_predictions(estimator_for("heads"), features)["prob"]
    document = read_json(path, "signature.json")
    methods = {name: entry["method"] for name, entry in document["signatures"].items()}
    assert methods == {"serving_default": "classify", "classification": "classify", "regression": "regress",
                       "predict": "predict"}
    for backend in BACKENDS:
        predictor = export.load(path, backend)
        classified = predictor(features)  # classify takes the raw inputs (TensorFlow wanted tf.Examples)
        np.testing.assert_allclose(classified["scores"], np.concatenate([1 - prob, prob], axis=1), atol=1e-6)
        np.testing.assert_array_equal(classified["classes"], (prob > 0.5).astype(np.int64))
        np.testing.assert_allclose(predictor(features, "regression")["outputs"], prob, atol=1e-6)
        predicted = predictor(features, "predict")
        assert predicted.keys() == {"y", "prob", "cat_echo"}
        np.testing.assert_array_equal(predicted["cat_echo"], features["cat"])  # passes through ONNX's Identity


def test_renamed_receiver_inputs_and_an_alternative(estimator_for, tmp_path):
    def receiver_fn():  # served names differ from the feature names; the alternative renames again
        tensors = {"measurements": TensorSpec([None, 3]), "prop_type": TensorSpec([None], torch.int64)}
        return export.ServingInputReceiver(
            {"dense": tensors["measurements"], "cat": tensors["prop_type"]}, tensors,
            receiver_tensors_alternatives={"short": {"m": tensors["measurements"], "t": tensors["prop_type"]}})

    path = export.export_saved_model(estimator_for(), str(tmp_path), receiver_fn)
    document = read_json(path, "signature.json")
    assert list(document["signatures"]) == ["serving_default", "predict_export_outputs", "short:serving_default",
                                            "short:predict_export_outputs"]
    assert sorted(os.listdir(path)) == ["model-short.onnx", "model-short.pt2", "model.onnx", "model.pt2",
                                        "preprocessing.json", "signature.json"]
    assert read_json(path, "preprocessing.json")["programs"] == {
        "model": {"receiver": "ServingInputReceiver", "inputs": ["measurements", "prop_type"],
                  "features_from": "receiver_tensors", "features": {"dense": "measurements", "cat": "prop_type"}},
        "model-short": {"receiver": "ServingInputReceiver", "inputs": ["m", "t"],
                        "features_from": "receiver_tensors", "features": {"dense": "m", "cat": "t"}}}
    features = make_features(rows=6, seed=4)
    expected = estimator_predictions(estimator_for(), features)["y"]
    for backend in BACKENDS:
        predictor = export.load(path, backend)
        main = predictor({"measurements": features["dense"], "prop_type": features["cat"]})
        short = predictor({"m": features["dense"], "t": features["cat"]}, signature="short:predict_export_outputs")
        np.testing.assert_allclose(main["y"], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(short["y"], expected, rtol=1e-5, atol=1e-5)


def test_a_features_callable_is_traced_into_the_program(estimator_for, tmp_path):
    def receiver_fn():  # centimetres in, the model's units out: the division runs inside the program
        return export.ServingInputReceiver(
            lambda inputs: {"dense": inputs["dense_cm"] / 100.0, "cat": inputs["prop_type"]},
            {"dense_cm": TensorSpec([None, 3]), "prop_type": TensorSpec([None], torch.int64)})

    path = export.export_saved_model(estimator_for(), str(tmp_path), receiver_fn)
    record = read_json(path, "preprocessing.json")["programs"]["model"]
    assert record["features_from"] == "callable" and record["features"] is None
    features = make_features(rows=6, seed=4)
    expected = estimator_predictions(estimator_for(), features)["y"]
    for backend in BACKENDS:
        got = export.load(path, backend)({"dense_cm": features["dense"] * 100, "prop_type": features["cat"]})
        np.testing.assert_allclose(got["y"], expected, rtol=1e-4, atol=1e-4)


def test_a_fixed_batch_and_warm_start_weights(trained_model_dir, estimator_for, tmp_path):
    # No checkpoint of its own, but warm-started: TensorFlow exports the warm-start weights.
    estimator = est.Estimator(two_input_model_fn, model_dir=str(tmp_path / "fresh"), params={},
                              warm_start_from=trained_model_dir, config=est.RunConfig(progress_bar=False))
    receiver_fn = export.build_raw_serving_input_receiver_fn(make_features(rows=4, seed=1), default_batch_size=2)
    path = export.export_saved_model(estimator, str(tmp_path / "exports"), receiver_fn)
    document = read_json(path, "signature.json")
    assert document["checkpoint"] is None and document["global_step"] == 0
    assert document["signatures"]["serving_default"]["inputs"]["dense"]["shape"] == [2, 3]
    features = make_features(rows=2, seed=8)
    expected = estimator_predictions(estimator_for(), features)["y"]
    for backend in BACKENDS:
        predictor = export.load(path, backend)
        np.testing.assert_allclose(predictor(features)["y"], expected, rtol=1e-5, atol=1e-5)
        with pytest.raises(ValueError, match=r"got a wrong batch size. Expected inputs \{dense: float32\[2, 3\]"):
            predictor(make_features(rows=3))


def bare_model_fn(features, labels, mode, params):
    """The two-input model fed one [batch, 4] tensor (TensorServingInputReceiver's bare features)."""
    return two_input_model_fn({"dense": features[:, :3], "cat": features[:, 3].long()}, labels, mode, params)


def test_tensor_receiver_and_an_older_checkpoint(estimator_for, trained_model_dir, tmp_path):
    features = make_features(rows=5, seed=2)
    x = np.concatenate([features["dense"], features["cat"][:, None].astype(np.float32)], axis=1)
    spec = TensorSpec.from_example(x)  # example rows: column 3 holds valid category ids

    def receiver_fn():
        return export.TensorServingInputReceiver(spec, {"x": spec})

    checkpoint = os.path.join(trained_model_dir, "model.ckpt-0")
    path = export.export_saved_model(estimator_for(model_fn=bare_model_fn), str(tmp_path), receiver_fn,
                                     checkpoint_path=checkpoint)
    assert read_json(path, "signature.json")["global_step"] == 0
    input_fn = est.inputs.numpy_input_fn(features, batch_size=5, shuffle=False)
    expected = next(estimator_for().predict(input_fn, checkpoint_path=checkpoint, yield_single_examples=False))
    latest = estimator_predictions(estimator_for(), features)
    for backend in BACKENDS:
        got = export.load(path, backend)(x)  # one input: a bare batch is accepted
        np.testing.assert_allclose(got["y"], expected["y"], rtol=1e-5, atol=1e-5)
        assert not np.allclose(got["y"], latest["y"], atol=1e-3)


# -- bad input ---------------------------------------------------------------------------------
def test_no_checkpoint(tmp_path, receiver_fn):
    model_dir = str(tmp_path / "empty")
    estimator = est.Estimator(two_input_model_fn, model_dir=model_dir, params={},
                              config=est.RunConfig(progress_bar=False))
    with pytest.raises(ValueError) as error:
        export.export_saved_model(estimator, str(tmp_path / "exports"), receiver_fn)
    assert str(error.value) == (
        f"Couldn't find trained model at {model_dir}. Expected a checkpoint in model_dir. Received: "
        f"model_dir={model_dir!r}. Train the estimator first, or pass checkpoint_path.")
    assert os.listdir(tmp_path / "exports") == []
    with pytest.raises(ValueError, match="Couldn't find trained model at /nowhere/model.ckpt-3"):
        export.export_saved_model(estimator, str(tmp_path / "exports"), receiver_fn,
                                  checkpoint_path="/nowhere/model.ckpt-3")


def test_unwritable_export_dir(estimator_for, receiver_fn, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    base = str(blocker / "exports")
    with pytest.raises(ValueError) as error:
        export.export_saved_model(estimator_for(), base, receiver_fn)
    assert str(error.value).startswith(
        f"export_dir_base is not writable. Expected a directory this process can create and write. "
        f"Received: export_dir_base={base!r}, error='NotADirectoryError: Not a directory'.")
    assert str(error.value).endswith("Choose another export_dir_base or fix its permissions.")


def test_a_receiver_without_a_feature_that_model_fn_reads(estimator_for, tmp_path):
    receiver_fn = export.build_raw_serving_input_receiver_fn({"dense": TensorSpec([None, 3]),
                                                              "category": TensorSpec([None], torch.int64)})
    with pytest.raises(KeyError) as error:
        export.export_saved_model(estimator_for(), str(tmp_path), receiver_fn)
    assert str(error.value) == (
        "model_fn read the feature 'cat', which the serving input receiver does not provide. Expected model_fn "
        "to read only the receiver's features ['category', 'dense']. Received: missing='cat', features=['category', "
        "'dense'], receiver_tensors=['dense', 'category']. Add 'cat' to the receiver's features (features={'cat': "
        "receiver_tensors[...]}), or map a receiver input to it with a features callable.")
    assert os.listdir(tmp_path) == []


def test_an_export_that_disagrees_with_the_eager_model_fails(estimator_for, receiver_fn, tmp_path):
    with pytest.raises(export.ExportVerificationError) as error:
        export.export_saved_model(estimator_for(offset_when_exporting=True), str(tmp_path), receiver_fn)
    text = str(error.value)
    assert text.startswith("The exported program's outputs differ from the eager model's on the same inputs. "
                           "Expected equal shapes and dtypes, values within rtol=atol=1e-5. Received: backend='torch', "
                           "signature='serving_default', output='y', batch_size=3, difference=")
    assert "no Python branching on tensor values or on torch.compiler.is_exporting()" in text
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind, error_type, text", [
    ("not_export_output", TypeError, "Values in export_outputs must be ExportOutput objects"),
    ("several", ValueError, "Multiple export_outputs were provided, but none of them is specified as the default"),
])
def test_export_outputs_of_the_wrong_kind(estimator_for, receiver_fn, tmp_path, kind, error_type, text):
    with pytest.raises(error_type, match=text):
        export.export_saved_model(estimator_for(kind), str(tmp_path), receiver_fn)


def test_other_bad_arguments(estimator_for, receiver_fn, tmp_path):
    estimator = estimator_for()
    with pytest.raises(ValueError, match="Only PREDICT-mode exports are supported"):
        export.export_saved_model(estimator, str(tmp_path), receiver_fn, experimental_mode=est.ModeKeys.TRAIN)
    with pytest.raises(TypeError, match="serving_input_receiver_fn must return a ServingInputReceiver. Expected "
                                        "est.export.ServingInputReceiver or TensorServingInputReceiver. "
                                        "Received: returned='dict'"):
        export.export_saved_model(estimator, str(tmp_path), lambda: {"dense": TensorSpec([None, 3])})
    with pytest.raises(ValueError, match=r"Invalid assets_extra.*'\.\./x': 'destination must be a relative path"):
        export.export_saved_model(estimator, str(tmp_path), receiver_fn, assets_extra={"../x": __file__})
    with pytest.raises(ValueError, match=r"Invalid assets_extra.*source '/missing' is not a file"):
        export.export_saved_model(estimator, str(tmp_path), receiver_fn, assets_extra={"x": "/missing"})
    strings = export.build_raw_serving_input_receiver_fn({"dense": TensorSpec([None, 3]),
                                                         "cat": TensorSpec([None], "string")})
    with pytest.raises(ValueError, match="Serving input 'cat' is a string; exports cannot take string "
                                                  "inputs yet"):
        export.export_saved_model(estimator, str(tmp_path), strings)
    assert os.listdir(tmp_path) == []
