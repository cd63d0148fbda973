"""TensorFlow Serving's REST API: paths, request formats and response shapes, against real exports."""

from __future__ import annotations

import numpy as np
import pytest

from torch_estimator import export

ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]


def expected_linear(linear_export, rows=ROWS):
    return export.load(linear_export)({"x": np.array(rows, np.float32)})["y"]


def test_predict_row_format_unwraps_a_single_output(linear_client, linear_export):
    response = linear_client.post("/v1/models/linear:predict", json={"instances": ROWS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["predictions"]
    np.testing.assert_allclose(body["predictions"], expected_linear(linear_export), rtol=1e-6)
    assert np.array(body["predictions"]).shape == (2, 1)


def test_predict_columnar_format(linear_client, linear_export):
    for inputs in ({"x": ROWS}, ROWS):
        body = linear_client.post("/v1/models/linear:predict", json={"inputs": inputs}).json()
        assert list(body) == ["outputs"]
        np.testing.assert_allclose(body["outputs"], expected_linear(linear_export), rtol=1e-6)


def test_predict_by_version_and_named_instances(linear_client, linear_export):
    body = linear_client.post("/v1/models/linear/versions/1:predict",
                              json={"signature_name": "serving_default", "instances": [{"x": row} for row in ROWS]})
    np.testing.assert_allclose(body.json()["predictions"], expected_linear(linear_export), rtol=1e-6)


def test_several_outputs_come_back_per_instance_or_per_name(heads_client, heads_export):
    features = {"dense": np.array(ROWS, np.float32), "cat": np.array([2, 4])}
    expected = export.load(heads_export)(features, "predict")
    rows = heads_client.post("/v1/models/heads:predict", json={
        "signature_name": "predict", "instances": [{"dense": ROWS[0], "cat": 2}, {"dense": ROWS[1], "cat": 4}]}).json()
    assert [sorted(row) for row in rows["predictions"]] == [["prob", "y"], ["prob", "y"]]
    np.testing.assert_allclose([row["prob"] for row in rows["predictions"]], expected["prob"], rtol=1e-6)
    columns = heads_client.post("/v1/models/heads:predict", json={
        "signature_name": "predict", "inputs": {"dense": ROWS, "cat": [2, 4]}}).json()
    assert sorted(columns["outputs"]) == ["prob", "y"]
    np.testing.assert_allclose(columns["outputs"]["y"], expected["y"], rtol=1e-6)


def test_classify_results_pair_labels_and_scores(heads_client, heads_export):
    features = {"dense": np.array(ROWS, np.float32), "cat": np.array([2, 2])}
    scores = export.load(heads_export)(features, "classification")["scores"]
    response = heads_client.post("/v1/models/heads:classify", json={
        "signature_name": "classification", "context": {"cat": 2},
        "examples": [{"dense": ROWS[0]}, {"dense": ROWS[1]}]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [[label for label, _ in example] for example in results] == [["0", "1"], ["0", "1"]]
    np.testing.assert_allclose([[score for _, score in example] for example in results], scores, rtol=1e-6)


def test_regress_results_are_one_number_per_example(heads_client, heads_export):
    features = {"dense": np.array(ROWS, np.float32), "cat": np.array([1, 3])}
    expected = export.load(heads_export)(features, "regression")["outputs"].reshape(-1)
    response = heads_client.post("/v1/models/heads:regress", json={
        "signature_name": "regression", "examples": [{"dense": ROWS[0], "cat": 1}, {"dense": ROWS[1], "cat": [3]}]})
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["results"], expected, rtol=1e-6)


def test_regress_needs_a_regression_signature(heads_client):
    response = heads_client.post("/v1/models/heads:regress", json={"examples": [{"dense": ROWS[0], "cat": 1}]})
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "Expected regress signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify.")


def test_model_status(linear_client):
    expected = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}
    assert linear_client.get("/v1/models/linear").json() == expected
    assert linear_client.get("/v1/models/linear/versions/1").json() == expected
    missing = linear_client.get("/v1/models/linear/versions/2")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("Could not find version 2 of model linear.")


def test_metadata_has_tf_serving_shape(heads_client):
    body = heads_client.get("/v1/models/heads/metadata").json()
    assert body["model_spec"] == {"name": "heads", "signature_name": "", "version": "7"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["classification", "predict", "regression", "serving_default"]
    assert signatures["regression"]["method_name"] == "tensorflow/serving/regress"
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/classify"
    assert signatures["predict"]["inputs"]["dense"] == {
        "dtype": "DT_FLOAT", "name": "dense",
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}], "unknown_rank": False}}
    assert signatures["predict"]["inputs"]["cat"]["dtype"] == "DT_INT64"
    assert sorted(signatures["predict"]["outputs"]) == ["prob", "y"]


@pytest.mark.parametrize("path, status, text", [
    ("/v1/models/linear/labels/stable:predict", 404, "Unrecognized servable version label: stable"),
    ("/v1/models/linear/versions/one:predict", 400, "Malformed request: POST /v1/models/linear/versions/one:predict"),
    ("/v1/models/linear:explain", 400, "Malformed request: POST /v1/models/linear:explain"),
])
def test_malformed_paths(linear_client, path, status, text):
    response = linear_client.post(path, json={"instances": ROWS})
    assert response.status_code == status
    assert response.json()["error"].startswith(text)


def test_wrong_methods_are_405(linear_client):
    response = linear_client.get("/v1/models/linear:predict")
    assert response.status_code == 405
    assert response.json() == {"error": "Malformed request: GET /v1/models/linear:predict. Expected POST for this path."}
    assert linear_client.put("/v1/models/linear").status_code == 405
