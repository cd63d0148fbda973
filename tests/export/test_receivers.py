"""TensorSpec and the serving input receivers: TensorFlow's wrapping rules, placeholders by identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator.export import (
    ServingInputReceiver,
    TensorServingInputReceiver,
    TensorSpec,
    build_raw_serving_input_receiver_fn,
)


def test_tensor_spec_normalises_the_shape_and_describes_itself():
    spec = TensorSpec([None, 8], torch.float32)
    assert spec.shape == (None, 8) and spec.batch_size is None
    assert spec.describe() == "float32[batch, 8]"
    assert spec.to_json() == {"dtype": "float32", "shape": [-1, 8]}
    assert TensorSpec((4, 2), torch.int64).batch_size == 4
    assert TensorSpec([None], "string").describe() == "string[batch]"
    assert TensorSpec([None, 3]) == TensorSpec((None, 3), torch.float32)  # value equality; receivers use identity


@pytest.mark.parametrize("shape, problem", [
    ((), "shape needs a batch dimension (rank >= 1)"),
    ((None, None), "only the batch dimension may be None (axis 1 is None)"),
    ((None, 0), "dimension 1 must be a positive int, not 0"),
    ((None, 2.5), "dimension 1 must be a positive int, not 2.5"),
    ((-1, 3), "dimension 0 must be a positive int or None, not -1"),
    ("batch,3", "shape must be a list or tuple, not str"),
])
def test_bad_shapes_are_reported(shape, problem):
    with pytest.raises(ValueError) as error:
        TensorSpec(shape, torch.float32)
    assert str(error.value).startswith(f"Invalid TensorSpec: {problem}. Expected a shape like [None, 8]")
    assert f"Received: shape={shape!r}, dtype=torch.float32. Fix the TensorSpec." in str(error.value)


@pytest.mark.parametrize("dtype, problem", [
    ("float32", "dtype must be a torch dtype or 'string', not 'float32'"),
    (np.float32, "dtype must be a torch dtype or 'string', not <class 'numpy.float32'>"),
    (torch.bfloat16, "dtype bfloat16 cannot be a serving input (numpy or ONNX cannot carry it)"),
    (torch.complex64, "dtype complex64 cannot be a serving input (numpy or ONNX cannot carry it)"),
])
def test_bad_dtypes_are_reported(dtype, problem):
    with pytest.raises(ValueError, match="^Invalid TensorSpec: ") as error:
        TensorSpec([None, 2], dtype)
    assert problem in str(error.value)
    assert "or 'string'" in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        TensorSpec([None, None, -2], "float")
    text = str(error.value)
    assert "axis 1 is None" in text and "dimension 2 must be a positive int" in text and "not 'float'" in text


def test_from_example_reads_dtype_and_shape_and_keeps_a_few_rows():
    spec = TensorSpec.from_example(np.arange(20, dtype=np.int32).reshape(10, 2))
    assert spec.describe() == "int32[batch, 2]"
    np.testing.assert_array_equal(spec.example, [[0, 1], [2, 3], [4, 5]])
    assert TensorSpec.from_example(torch.zeros(2, 3, dtype=torch.float64)).dtype == torch.float64
    assert TensorSpec.from_example([[1.5, 2.0]]).dtype == torch.float32  # Python floats: torch's default
    assert TensorSpec.from_example(np.array(["a", "b"])).dtype == "string"
    assert TensorSpec.from_example(np.zeros((5, 4)), batch_size=5).shape == (5, 4)
    with pytest.raises(ValueError, match="An example serving input needs a batch dimension"):
        TensorSpec.from_example(np.float32(1.0))


def test_features_refer_to_receiver_tensors_by_identity():
    receiver_tensors = {"prop_type": TensorSpec([None, 1], torch.int64), "x": TensorSpec([None, 1])}
    receiver = ServingInputReceiver({"type": receiver_tensors["prop_type"], "x": receiver_tensors["x"]},
                                    receiver_tensors)
    inputs = receiver.input_sets[0]
    assert inputs.feature_map == {"type": "prop_type", "x": "x"}
    ids, x = torch.tensor([[2]]), torch.tensor([[0.5]])
    features = inputs.build_features({"prop_type": ids, "x": x})
    assert features.keys() == {"type", "x"} and features["type"] is ids
    assert inputs.describe() == {"receiver": "ServingInputReceiver", "inputs": ["prop_type", "x"],
                                 "features_from": "receiver_tensors", "features": {"type": "prop_type", "x": "x"}}


def test_tensorflow_wrapping_rules_for_single_tensors():
    spec = TensorSpec([None, 3])
    receiver = ServingInputReceiver(spec, spec)  # features -> {'feature': t}, receiver -> {'input': t}
    assert list(receiver.receiver_tensors) == ["input"]
    assert receiver.input_sets[0].feature_map == {"feature": "input"}
    bare = TensorServingInputReceiver(spec, {"x": spec})
    t = torch.zeros(1, 3)
    assert bare.input_sets[0].build_features({"x": t}) is t


def test_example_arrays_work_as_placeholders():
    dense = np.zeros((4, 3), np.float32)
    receiver = ServingInputReceiver({"d": dense}, {"dense": dense})
    assert receiver.receiver_tensors["dense"].describe() == "float32[batch, 3]"
    assert receiver.input_sets[0].feature_map == {"d": "dense"}


def test_a_features_callable_renames_and_transforms():
    receiver = ServingInputReceiver(lambda inputs: {"type": inputs["prop_type"] + 1},
                                    {"prop_type": TensorSpec([None], torch.int64)})
    features = receiver.input_sets[0].build_features({"prop_type": torch.tensor([1, 2])})
    assert features["type"].tolist() == [2, 3]
    record = receiver.input_sets[0].describe()
    assert record["features_from"] == "callable" and record["features"] is None and "<lambda>" in record["callable"]
    single = ServingInputReceiver(lambda inputs: inputs["x"] * 2, {"x": TensorSpec([None, 1])})
    assert list(single.input_sets[0].build_features({"x": torch.ones(1, 1)})) == ["feature"]


def test_a_feature_that_is_not_a_receiver_tensor_is_an_error():
    receiver_tensors = {"x": TensorSpec([None, 3])}
    with pytest.raises(ValueError) as error:
        ServingInputReceiver({"x": TensorSpec([None, 3])}, receiver_tensors)  # equal, but another object
    assert str(error.value) == (
        "features['x'] is not one of the receiver_tensors. Expected one of the objects in receiver_tensors "
        "(inputs ['x']), used as a placeholder. Received: value='TensorSpec'. Write features={'name': "
        "receiver_tensors['input']}, or pass a callable receiver_inputs -> features to compute features.")


def test_one_spec_object_for_two_inputs_is_ambiguous():
    spec = TensorSpec([None, 1])
    with pytest.raises(ValueError, match=r"features\['a'\] is the same object as several inputs of "
                                         r"receiver_tensors: \['a', 'b'\]"):
        ServingInputReceiver({"a": spec}, {"a": spec, "b": spec})


def test_receiver_type_errors():
    spec = TensorSpec([None, 1])
    with pytest.raises(TypeError, match="TensorServingInputReceiver features must be one tensor, not a dict"):
        TensorServingInputReceiver({"x": spec}, {"x": spec})
    with pytest.raises(ValueError, match="ServingInputReceiver needs features"):
        ServingInputReceiver(None, {"x": spec})
    with pytest.raises(ValueError, match="receiver_tensors is empty"):
        ServingInputReceiver({}, {})
    with pytest.raises(TypeError, match=r"receiver_tensors\['x'\] must be a TensorSpec or example data"):
        ServingInputReceiver(lambda inputs: inputs, {"x": "float32"})


def test_alternatives_are_resolved_like_the_main_inputs():
    x = TensorSpec([None, 3])
    receiver = ServingInputReceiver({"x": x}, {"x_main": x}, receiver_tensors_alternatives={"raw": {"x": x}})
    assert [inputs.name for inputs in receiver.input_sets] == [None, "raw"]
    assert receiver.input_sets[1].feature_map == {"x": "x"}
    assert list(receiver.receiver_tensors_alternatives) == ["raw"]
    with pytest.raises(ValueError, match="receiver_tensors_alternatives names must be plain names"):
        ServingInputReceiver({"x": x}, {"x": x}, receiver_tensors_alternatives={"a/b": {"x": x}})
    with pytest.raises(ValueError, match=r"features\['x'\] is not one of the receiver_tensors_alternatives\['raw'\]"):
        ServingInputReceiver({"x": x}, {"x": x}, receiver_tensors_alternatives={"raw": {"y": TensorSpec([None, 3])}})


def test_build_raw_serving_input_receiver_fn():
    fn = build_raw_serving_input_receiver_fn({"x": np.zeros((2, 3), np.float32),
                                              "ids": TensorSpec([None], torch.int64)})
    first, second = fn(), fn()
    assert {name: spec.describe() for name, spec in first.receiver_tensors.items()} == {
        "x": "float32[batch, 3]", "ids": "int64[batch]"}
    assert first.input_sets[0].feature_map == {"x": "x", "ids": "ids"}
    assert first.receiver_tensors["ids"] is not second.receiver_tensors["ids"]  # fresh placeholders per call
    fixed = build_raw_serving_input_receiver_fn({"x": TensorSpec([None, 3])}, default_batch_size=8)()
    assert fixed.receiver_tensors["x"].shape == (8, 3)


def test_build_raw_serving_input_receiver_fn_rejects_bad_arguments():
    with pytest.raises(TypeError) as error:
        build_raw_serving_input_receiver_fn(np.zeros((2, 3)))
    assert str(error.value) == (
        "build_raw_serving_input_receiver_fn needs a non-empty dict of features. Expected {name: example array "
        "or est.export.TensorSpec}. Received: features='ndarray'. Wrap a single input as {'x': ...}, or use "
        "TensorServingInputReceiver.")
    with pytest.raises(ValueError, match="default_batch_size must be a positive int or None"):
        build_raw_serving_input_receiver_fn({"x": TensorSpec([None, 3])}, default_batch_size=0)
    with pytest.raises(TypeError, match=r"features\['x'\] must be a TensorSpec or example data"):
        build_raw_serving_input_receiver_fn({"x": 3.0})


def test_inputs_of_one_receiver_must_agree_on_the_batch():
    with pytest.raises(ValueError, match="must share one batch dimension"):
        ServingInputReceiver(lambda inputs: inputs, {"a": TensorSpec([None, 1]), "b": TensorSpec([4, 1])})
