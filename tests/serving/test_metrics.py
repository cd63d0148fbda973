"""/metrics in Prometheus text format, and one JSON access-log line per request."""

from __future__ import annotations

import json
import logging
import re

from torch_estimator import serving

from .conftest import TestClient

GOOD = {"instances": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}


def test_metrics_count_requests_latencies_batches_and_versions(linear_client):
    for _ in range(3):
        assert linear_client.post("/v1/models/linear:predict", json=GOOD).status_code == 200
    linear_client.post("/v1/models/linear:predict", json={"instances": [[1.0]]})
    linear_client.get("/no/such/path")
    response = linear_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    for line in (
            'torch_estimator_serving_requests_total{route="/v1/models/{name}:predict",method="POST",status="200"} 3',
            'torch_estimator_serving_requests_total{route="/v1/models/{name}:predict",method="POST",status="400"} 1',
            'torch_estimator_serving_requests_total{route="<unmatched>",method="GET",status="404"} 1',
            'torch_estimator_serving_request_duration_seconds_count{route="/v1/models/{name}:predict"} 4',
            'torch_estimator_serving_request_duration_seconds_bucket{route="/v1/models/{name}:predict",le="+Inf"} 4',
            'torch_estimator_serving_batch_size_bucket{model="linear",le="1"} 0',
            'torch_estimator_serving_batch_size_bucket{model="linear",le="2"} 3',  # 3 calls of 2 rows
            'torch_estimator_serving_batch_size_sum{model="linear"} 6',
            'torch_estimator_serving_model_loads_total{model="linear",outcome="ok"} 1',
            'torch_estimator_serving_model_version{model="linear"} 1',
            "# TYPE torch_estimator_serving_request_duration_seconds histogram"):
        assert line in text.splitlines(), line
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? [0-9.e+-]+$')
    assert all(sample.match(line) for line in text.splitlines() if not line.startswith("#"))


def test_access_log_is_one_json_line_per_request(linear_base, caplog):
    app = serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="torch_estimator.serving.access"):
        client.post("/v1/models/linear/versions/1:predict", json=GOOD)
        client.get("/v1/models/nope/metadata")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "torch_estimator.serving.access"]
    assert [(line["method"], line["path"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/v1/models/linear/versions/1:predict", "/v1/models/{name}:predict", 200),
        ("GET", "/v1/models/nope/metadata", "/v1/models/{name}/metadata", 404)]
    assert set(lines[0]) == {"time", "client", "method", "path", "route", "status", "bytes", "ms"}
    assert lines[0]["bytes"] > 0 and lines[0]["ms"] > 0


def test_access_log_can_be_switched_off(linear_base, caplog):
    app = serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0, access_log=False)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="torch_estimator.serving.access"):
        client.post("/v1/models/linear:predict", json=GOOD)
    assert not [r for r in caplog.records if r.name == "torch_estimator.serving.access"]
