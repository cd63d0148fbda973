"""KServe V2 / Open Inference Protocol: health, metadata, infer (nested and flat data)."""

from __future__ import annotations

import numpy as np
import pytest

from torch_estimator import export, serving

from .conftest import TestClient

ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]


def test_health_and_server_metadata(linear_client):
    assert linear_client.get("/v2/health/live").json() == {"live": True}
    ready = linear_client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert linear_client.get("/v2").json() == {"name": "torch-estimator", "version": "0.1.0", "extensions": []}
    assert linear_client.get("/v2/models/linear/ready").json() == {"name": "linear", "ready": True}
    assert linear_client.get("/v2/models/linear/versions/1/ready").status_code == 200
    assert linear_client.get("/v2/models/other/ready").status_code == 404


def test_model_metadata(heads_base):
    app = serving.create_app(heads_base, model_name="heads", backend="onnx", file_system_poll_wait_seconds=0)
    with TestClient(app) as client:
        assert client.get("/v2/models/heads").json() == {
            "name": "heads", "versions": ["7"], "platform": "onnx_onnxv1",
            "inputs": [{"name": "dense", "datatype": "FP32", "shape": [-1, 3]},
                       {"name": "cat", "datatype": "INT64", "shape": [-1]}],
            "outputs": [{"name": "classes", "datatype": "INT64", "shape": [-1, 1]},
                        {"name": "scores", "datatype": "FP32", "shape": [-1, 2]}]}


@pytest.mark.parametrize("data", [ROWS, [value for row in ROWS for value in row]], ids=["nested", "flat"])
def test_infer(linear_client, linear_export, data):
    response = linear_client.post("/v2/models/linear/infer", json={
        "id": "req-1", "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": data}]})
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("model_name", "model_version", "id")} == {
        "model_name": "linear", "model_version": "1", "id": "req-1"}
    [output] = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("y", "FP32", [2, 1])
    expected = export.load(linear_export)({"x": np.array(ROWS, np.float32)})["y"]
    np.testing.assert_allclose(output["data"], expected.ravel(), rtol=1e-6)


def test_infer_signature_parameter_and_output_selection(heads_client):
    response = heads_client.post("/v2/models/heads/versions/7/infer", json={
        "parameters": {"signature_name": "predict"}, "outputs": [{"name": "prob"}],
        "inputs": [{"name": "dense", "shape": [1, 3], "datatype": "FP32", "data": [ROWS[0]]},
                   {"name": "cat", "shape": [1], "datatype": "INT64", "data": [3]}]})
    assert response.status_code == 200
    assert [output["name"] for output in response.json()["outputs"]] == ["prob"]
    assert "id" not in response.json()


@pytest.mark.parametrize("inputs, text", [
    ([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}],
     "Input 'x' has the wrong datatype. Expected FP32 (the input is float32[batch, 3]). Received: datatype='FP64'."),
    ([{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}],
     "Input 'x' has 3 values, which do not fill its shape. Expected 4 values for shape [1, 4]."),
    ([{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": ["a", 2, 3]}],
     "Input 'x' holds a string where float32 numbers are expected"),
    ([{"name": "z", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
     "Unexpected input 'z'. Expected each of ['x'] once."),
    ([{"name": "x", "shape": [1, -3], "datatype": "FP32", "data": [1, 2, 3]}],
     "Input 'x' needs 'shape', a list of non-negative integers"),
    ([], "'inputs' must be a non-empty list of tensors"),
])
def test_infer_errors(linear_client, inputs, text):
    response = linear_client.post("/v2/models/linear/infer", json={"inputs": inputs})
    assert response.status_code == 400
    assert response.json()["error"].startswith(text)


def test_unknown_model_and_version(linear_client):
    response = linear_client.post("/v2/models/nope/infer", json={"inputs": []})
    assert response.status_code == 404
    assert response.json()["error"].startswith("Servable not found for request: Latest(nope).")
    response = linear_client.get("/v2/models/linear/versions/9")
    assert response.status_code == 404
    assert response.json()["error"].startswith("Servable not found for request: Specific(linear, 9).")
