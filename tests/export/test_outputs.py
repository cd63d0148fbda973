"""Export outputs and TensorFlow's signature rules; flattening signatures into program outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_estimator.export import ClassificationOutput, PredictOutput, RegressionOutput
from torch_estimator.export.outputs import plan_outputs, signature_outputs

Y = torch.zeros(2, 1)


def test_predict_output_keys_a_single_tensor_output():
    assert list(PredictOutput(Y).outputs) == ["output"]
    assert PredictOutput({"a": Y, "b": Y}).method == "predict"


def test_predict_output_rejects_non_tensors():
    with pytest.raises(ValueError) as error:
        PredictOutput({"y": np.zeros(2)})
    assert str(error.value) == (
        "PredictOutput['y'] must be a torch.Tensor computed from the features. Expected a tensor (exported programs "
        "cannot return other objects). Received: value='ndarray'. Compute it with torch operations on the features.")
    with pytest.raises(ValueError, match="PredictOutput keys must be non-empty strings"):
        PredictOutput({"": Y})


def test_classification_output_checks_its_dtypes():
    output = ClassificationOutput(scores=torch.rand(2, 3))
    assert list(output.outputs) == ["scores"] and output.method == "classify"
    with pytest.raises(ValueError, match="ClassificationOutput needs scores or classes"):
        ClassificationOutput()
    with pytest.raises(ValueError, match="Classification scores must be a float tensor. Received: dtype='torch.int64'"):
        ClassificationOutput(scores=torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="Classification classes must be an integer tensor of class ids"):
        ClassificationOutput(classes=torch.zeros(2, 3))


def test_regression_output_is_keyed_outputs_and_float():
    assert list(RegressionOutput(Y).outputs) == ["outputs"]
    with pytest.raises(ValueError, match="Regression output value must be a float tensor"):
        RegressionOutput(torch.zeros(2, 1, dtype=torch.int32))


def test_without_export_outputs_the_predictions_are_the_default_signature():
    outputs = signature_outputs(None, {"y": Y})
    assert list(outputs) == ["serving_default"] and outputs["serving_default"].outputs == {"y": Y}
    assert list(signature_outputs(None, Y)["serving_default"].outputs) == ["output"]


def test_a_single_export_output_is_also_serving_default():
    predict = PredictOutput(Y)
    outputs = signature_outputs({"predict_export_outputs": predict}, None)
    assert list(outputs) == ["serving_default", "predict_export_outputs"]
    assert outputs["serving_default"] is predict


def test_several_export_outputs_need_a_default():
    with pytest.raises(ValueError) as error:
        signature_outputs({"a": PredictOutput(Y), "b": PredictOutput(Y)}, None)
    assert str(error.value) == (
        "Multiple export_outputs were provided, but none of them is specified as the default. Expected one of them "
        "named 'serving_default'. Received: export_outputs=['a', 'b']. Name the default signature 'serving_default'.")
    named = signature_outputs({"a": PredictOutput(Y), "serving_default": PredictOutput(Y)}, None)
    assert list(named) == ["serving_default", "a"]


def test_export_outputs_of_the_wrong_type():
    with pytest.raises(TypeError) as error:
        signature_outputs({"predict": {"y": Y}}, None)
    assert str(error.value) == (
        "Values in export_outputs must be ExportOutput objects. Expected est.export.PredictOutput, "
        "ClassificationOutput or RegressionOutput. Received: export_outputs={'predict': 'dict'}. Wrap the tensors, "
        "e.g. {'predict': est.export.PredictOutput({'y': y})}.")
    with pytest.raises(TypeError, match="export_outputs must be dict"):
        signature_outputs([PredictOutput(Y)], None)
    with pytest.raises(ValueError, match="export_outputs needs at least one signature"):
        signature_outputs({}, None)


def test_plan_outputs_each_distinct_tensor_once_named_by_its_key():
    prob = torch.rand(2, 1)
    scores, classes = torch.rand(2, 2), torch.zeros(2, 1, dtype=torch.int64)
    classification = ClassificationOutput(scores=scores, classes=classes)
    plan = plan_outputs(signature_outputs({
        "serving_default": classification, "classification": classification,
        "regression": RegressionOutput(prob), "predict": PredictOutput({"prob": prob, "scores": prob * 2})}, None))
    # 'scores' means two tensors (classification's, predict's): those names carry the signature.
    assert plan.names == ("classes", "serving_default/scores", "outputs", "predict/scores")
    assert plan.signatures["serving_default"] == ("classify", {"classes": "classes",
                                                               "scores": "serving_default/scores"})
    assert plan.signatures["predict"] == ("predict", {"prob": "outputs", "scores": "predict/scores"})
    assert plan.sources[2] == ("regression", "outputs")
