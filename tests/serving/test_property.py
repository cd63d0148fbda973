"""Property: no request body, however odd, makes the predict endpoints answer 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torch_estimator import serving

from .conftest import TestClient, add_version

KEYS = st.sampled_from(["instances", "inputs", "signature_name", "x", "y", "b64", "id", "name", "shape", "datatype",
                        "data", "parameters", "outputs", "examples", "context"])
SCALARS = st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True) | \
    st.text(max_size=5) | st.sampled_from(["serving_default", "FP32", "x"])
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4) |
                    st.dictionaries(KEYS | st.text(max_size=3), children, max_size=4), max_leaves=30)
BODIES = (st.fixed_dictionaries({}, optional={"instances": JSON, "inputs": JSON, "signature_name": JSON})
          .map(lambda body: json.dumps(body).encode())
          | JSON.map(lambda value: json.dumps(value).encode())
          | st.binary(max_size=40))
PATHS = st.sampled_from(["/v1/models/linear:predict", "/v1/models/linear:regress", "/v2/models/linear/infer",
                         "/v1/models/heads:predict", "/v1/models/heads:classify", "/v1/models/heads:regress",
                         "/v2/models/heads/infer"])
HEADS_BODIES = st.fixed_dictionaries({}, optional={
    "signature_name": st.sampled_from(["serving_default", "classification", "regression", "predict", "x"]),
    "examples": st.lists(st.dictionaries(st.sampled_from(["dense", "cat", "z"]), JSON, max_size=3), max_size=3),
    "context": st.dictionaries(st.sampled_from(["dense", "cat"]), JSON, max_size=2),
    "instances": st.lists(st.fixed_dictionaries({"dense": st.lists(SCALARS, max_size=4), "cat": SCALARS}),
                          max_size=3)}).map(lambda body: json.dumps(body).encode())


@pytest.fixture(scope="module")
def client(tmp_path_factory, linear_export, heads_export):
    root = tmp_path_factory.mktemp("property")
    models = []
    for name, export_dir in (("linear", linear_export), ("heads", heads_export)):
        (root / name).mkdir()
        add_version(root / name, export_dir, 1)
        models.append(serving.ModelConfig(name, str(root / name)))
    app = serving.create_app(config=serving.ServingConfig(tuple(models), file_system_poll_wait_seconds=0))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=PATHS, body=BODIES | HEADS_BODIES)
def test_random_bodies_never_get_a_server_error(client, path, body):
    response = client.post(path, content=body)
    assert response.status_code < 500, (body, response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
                     min_size=1, max_size=5))
def test_any_float_rows_are_predicted(client, rows):
    response = client.post("/v1/models/linear:predict", json={"instances": rows})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == len(rows)
