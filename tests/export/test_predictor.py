"""est.export.load: the Predictor's input handling, its errors, and its refusal to unpickle."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest
import torch

from torch_estimator import export

from .conftest import make_features

EXPECTED_INPUTS = "Expected inputs {dense: float32[batch, 3], cat: int64[batch]}."


@pytest.fixture(scope="module", params=["torch", "onnx"])
def predictor(request, exported):
    return export.load(exported, backend=request.param, num_threads=1)


def test_signatures_describe_inputs_and_outputs(predictor):
    signature = predictor.signatures["predict_export_outputs"]
    assert signature.method == "predict"
    assert {name: info.describe() for name, info in signature.inputs.items()} == {
        "dense": "float32[batch, 3]", "cat": "int64[batch]"}
    assert {key: (info.name, info.shape) for key, info in signature.outputs.items()} == {
        "y": ("y", (-1, 1)), "prob": ("prob", (-1, 1))}
    assert predictor.global_step == 20


def test_lists_tensors_and_castable_dtypes_are_accepted(predictor):
    features = make_features(rows=2, seed=9)
    expected = predictor(features)["y"]
    as_lists = {name: value.tolist() for name, value in features.items()}
    np.testing.assert_allclose(predictor(as_lists)["y"], expected, rtol=1e-6)
    as_tensors = {name: torch.from_numpy(value) for name, value in features.items()}
    np.testing.assert_allclose(predictor(as_tensors)["y"], expected, rtol=1e-6)
    wider = {"dense": features["dense"].astype(np.float64), "cat": features["cat"].astype(np.int32)}
    np.testing.assert_allclose(predictor(wider)["y"], expected, rtol=1e-6)
    strided = {"dense": np.asfortranarray(features["dense"]), "cat": features["cat"]}
    np.testing.assert_allclose(predictor(strided)["y"], expected, rtol=1e-6)
    assert predictor(features)["y"].dtype == np.float32


def test_missing_and_extra_inputs(predictor):
    features = make_features(rows=2)
    with pytest.raises(ValueError) as error:
        predictor({"dense": features["dense"], "category": features["cat"]})
    assert str(error.value) == (
        f"Signature 'serving_default' got the wrong input names. {EXPECTED_INPUTS} Received: missing=['cat'], "
        "unexpected=['category']. Pass every input by name with the batch dimension first.")
    with pytest.raises(ValueError, match="^" + re.escape("Signature 'serving_default' needs a dict of inputs. "
                                                         + EXPECTED_INPUTS + " Received: inputs='ndarray'.")):
        predictor(features["dense"])


def test_misshaped_inputs(predictor):
    features = make_features(rows=2)
    with pytest.raises(ValueError) as error:
        predictor({"dense": features["dense"][0], "cat": features["cat"]})
    assert str(error.value) == (
        "Signature 'serving_default' got a misshaped input 'dense' (a batch dimension is required: pass [row] for one "
        f"example). {EXPECTED_INPUTS} Received: dense=(3,). Pass every input by name with the batch dimension first.")
    with pytest.raises(ValueError, match=r"got a misshaped input 'dense'.*Received: dense=\(2, 4\)"):
        predictor({"dense": np.zeros((2, 4), np.float32), "cat": features["cat"]})
    with pytest.raises(ValueError, match=r"got inputs with different batch sizes.*batch_sizes=\{'dense': \(2,\), "
                                         r"'cat': \(1,\)\}"):
        predictor({"dense": features["dense"], "cat": features["cat"][:1]})
    with pytest.raises(ValueError, match="got a wrong batch size.*Received: batch_size=0"):
        predictor({"dense": np.zeros((0, 3), np.float32), "cat": np.zeros(0, np.int64)})
    with pytest.raises(ValueError, match="got input 'dense' that is not a rectangular array"):
        predictor({"dense": [[1.0, 2.0, 3.0], [1.0]], "cat": [0, 1]})


def test_lossy_casts_are_refused(predictor):
    with pytest.raises(TypeError) as error:
        predictor({"dense": np.zeros((1, 3), np.float32), "cat": np.array([1.5])})
    assert str(error.value) == (
        "Signature 'serving_default' cannot take input 'cat' of dtype float64 without losing information. "
        f"{EXPECTED_INPUTS} Received: cat='float64'. Pass every input by name with the batch dimension first.")


def test_unknown_signature_and_backend(predictor, exported):
    with pytest.raises(ValueError) as error:
        predictor(make_features(rows=1), signature="predict")
    assert str(error.value) == (
        "The export has no signature 'predict'. Expected one of ['predict_export_outputs', 'serving_default']. "
        "Received: signature='predict'. Pass signature=<one of them>.")
    with pytest.raises(ValueError, match=r"Unknown export backend. Expected one of \('torch', 'onnx'\). "
                                         r"Received: backend='tflite'"):
        export.load(exported, backend="tflite")


def test_a_directory_that_is_not_an_export(tmp_path):
    with pytest.raises(ValueError, match="Not a torch_estimator export directory. Expected a readable signature.json"):
        export.load(str(tmp_path))
    (tmp_path / "signature.json").write_text(json.dumps({"format": "tf_saved_model"}))
    with pytest.raises(ValueError, match="Unsupported export format. Expected torch_estimator/export version 1"):
        export.load(str(tmp_path))


def test_a_pt2_that_would_unpickle_is_refused(exported, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    program = torch.export.load(os.path.join(exported, "model.pt2"))
    program.example_inputs = ((torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64)), {})  # stored with torch.save
    torch.export.save(program, str(copy / "model.pt2"))
    with pytest.raises(ValueError) as error:
        export.load(str(copy))
    assert str(error.value).startswith("The .pt2 program would unpickle data when loaded. Expected weights stored as "
                                       "raw tensors, no sample inputs or custom objects.")
    assert "pickled=['model/data/sample_inputs/model.pt']" in str(error.value)
    assert export.load(str(copy), backend="onnx").signatures  # the ONNX model has no such concern
