"""Every kind of bad request from the issue gets a 4xx naming the problem, and the server keeps serving."""

from __future__ import annotations

import json

import pytest

from torch_estimator import serving

from .conftest import TestClient

GOOD = {"instances": [[1.0, 2.0, 3.0]]}
V2_GOOD = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}

# (method, path, body (bytes or JSON), status, the start of the error message)
CASES = [
    ("POST", "/v1/models/linear:predict", b"{not json", 400,
     "Malformed JSON in the request body: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)."),
    ("POST", "/v1/models/linear:predict", b"", 400, "The request body is empty."),
    ("POST", "/v1/models/linear:predict", [1, 2], 400,
     "The request body must be a JSON object. Expected {\"instances\": [...]} or {\"inputs\": ...}. "
     "Received: received='list'."),
    ("POST", "/v1/models/linear:predict", {"instances": [{"y": [1.0, 2.0, 3.0]}]}, 400,
     "instances[0] has the wrong input names for signature 'serving_default'. Expected exactly the inputs ['x']. "
     "Received: missing=['x'], unexpected=['y']."),
    ("POST", "/v1/models/linear:predict", {"instances": [{"x": [1.0, 2.0, 3.0]}, [1.0, 2.0, 3.0]]}, 400,
     "instances[1] must be an object of inputs"),
    ("POST", "/v1/models/linear:predict", {"inputs": {"y": [[1.0, 2.0, 3.0]]}}, 400,
     "inputs has the wrong input names for signature 'serving_default'. Expected exactly the inputs ['x']. "
     "Received: missing=['x'], unexpected=['y']."),
    ("POST", "/v1/models/linear:predict", {"instances": [[1.0, 2.0]]}, 400,
     "Input 'x' has the wrong shape. Expected float32[batch, 3], i.e. each example of shape [3]. "
     "Received: shape=[1, 2]."),
    ("POST", "/v1/models/linear:predict", {"instances": [1.0, 2.0, 3.0]}, 400,
     "Input 'x' has the wrong shape. Expected float32[batch, 3], i.e. each example of shape [3]. Received: shape=[3]."),
    ("POST", "/v1/models/linear:predict", {"instances": [[1.0, "2", 3.0]]}, 400,
     "Input 'x' holds a string where float32 numbers are expected. Expected float32[batch, 3]. Received: value='2'."),
    ("POST", "/v1/models/linear:predict", {"instances": [[1.0, True, 3.0]]}, 400,
     "Input 'x' holds a boolean where float32 numbers are expected."),
    ("POST", "/v1/models/linear:predict", {"instances": [[1.0, 2.0, 3.0]], "signature_name": "nope"}, 400,
     'Serving signature name: "nope" not found in signature def. Expected one of [\'serving_default\'].'),
    ("POST", "/v1/models/linear:predict", {"instances": [[1.0, 2.0, 3.0]], "signature_name": 3}, 400,
     "'signature_name' key must be a string value."),
    ("POST", "/v1/models/other:predict", GOOD, 404, "Servable not found for request: Latest(other)."),
    ("POST", "/v1/models/linear/versions/2:predict", GOOD, 404, "Servable not found for request: Specific(linear, 2)."),
    ("GET", "/v1/models/other", None, 404, "Could not find any versions of model other."),
    ("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", None, 400, "Malformed request: GET /v1/models/../../etc/passwd."),
    ("POST", "/v1/models/linear/versions/1%2F..%2F..%2Fx:predict", GOOD, 400, "Malformed request"),
    ("GET", "/nowhere", None, 404, "No such endpoint: GET /nowhere."),
    ("POST", "/v2/models/linear/infer", b"[", 400, "Malformed JSON in the request body"),
    ("POST", "/v2/models/linear/infer", {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                                                     "data": [1, 2, "x"]}]}, 400,
     "Input 'x' holds a string where float32 numbers are expected."),
    ("POST", "/v2/models/linear/versions/abc/infer", V2_GOOD, 404, "Unknown model version."),
    ("POST", "/v2/models/linear/infer", {"inputs": V2_GOOD["inputs"], "parameters": {"signature_name": "x"}}, 400,
     'Serving signature name: "x" not found in signature def.'),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory, linear_export):
    from .conftest import add_version

    base = tmp_path_factory.mktemp("bad-input") / "linear"
    base.mkdir()
    add_version(base, linear_export, 1)
    app = serving.create_app(base, model_name="linear", file_system_poll_wait_seconds=0, max_request_bytes=4096)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("method, path, body, status, text", CASES, ids=[f"{c[1]}-{str(c[2])[:30]}" for c in CASES])
def test_bad_request_is_refused_with_a_message_and_serving_goes_on(client, method, path, body, status, text):
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = client.request(method, path, content=content)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"].startswith(text), response.json()["error"]
    assert client.post("/v1/models/linear:predict", json=GOOD).status_code == 200


def test_oversized_payloads_are_413_declared_or_streamed(client):
    big = json.dumps({"instances": [[1.0, 2.0, 3.0]] * 1000}).encode()
    response = client.post("/v1/models/linear:predict", content=big)
    assert response.status_code == 413
    assert response.json()["error"] == (
        f"Request body too large. Expected at most 4096 bytes. Received: content_length={len(big)}. Send fewer "
        "instances per request, or start the server with a larger --max_request_bytes.")

    def chunks():  # no Content-Length: counted while read
        for start in range(0, len(big), 1000):
            yield big[start:start + 1000]

    streamed = client.post("/v2/models/linear/infer", content=chunks())
    assert streamed.status_code == 413
    assert "Received: received_at_least=" in streamed.json()["error"]
    assert client.post("/v1/models/linear:predict", json=GOOD).status_code == 200


def test_failed_requests_are_counted_by_status(client):
    client.post("/v1/models/linear:predict", content=b"{not json")
    metrics = client.get("/metrics").text
    assert 'torch_estimator_serving_requests_total{route="/v1/models/{name}:predict",method="POST",status="400"}' \
        in metrics
