"""Configuration: validation messages, TensorFlow Serving's config files, several models, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from torch_estimator import serving

from .conftest import TestClient


def test_serving_config_reports_every_problem_at_once():
    with pytest.raises(ValueError) as error:
        serving.ServingConfig((serving.ModelConfig("a", "/x"), serving.ModelConfig("a", "/y")), backend="tf",
                              max_request_bytes=0, file_system_poll_wait_seconds=-1)
    assert str(error.value) == (
        "Invalid ServingConfig: model names must be unique; backend must be one of ('torch', 'onnx'); "
        "file_system_poll_wait_seconds >= 0; max_request_bytes must be an int >= 1. Received: models=['a', 'a'], "
        "backend='tf', file_system_poll_wait_seconds=-1, max_request_bytes=0. Fix the listed fields.")


def test_model_config_file_text_and_json(tmp_path):
    text = tmp_path / "models.config"
    text.write_text("""
        # two models
        model_config_list {
          config { name: "housing" base_path: "/models/housing" model_platform: "tensorflow"
                   model_version_policy { latest { num_versions: 1 } } }
          config: { name: 'taxi', base_path: '/models/taxi' }
        }""")
    json_file = tmp_path / "models.json"
    json_file.write_text('{"model_config_list": {"config": [{"name": "housing", "base_path": "/models/housing"},'
                         '{"name": "taxi", "base_path": "/models/taxi"}]}}')
    expected = (serving.ModelConfig("housing", "/models/housing"), serving.ModelConfig("taxi", "/models/taxi"))
    assert serving.read_model_config_file(text) == expected
    assert serving.read_model_config_file(json_file) == expected


@pytest.mark.parametrize("content, fragment", [
    ("model_config_list { config { name: 'a' base_path: '/a' model_version_policy { all {} } } }",
     "unsupported=['model_version_policy (only the latest version is served)']"),
    ("model_config_list { config { name: 'a' base_path: '/a' version_labels { key: 's' value: 1 } } }",
     "unsupported=['version_labels']"),
    ("model_config_list { config { name: 'a' base_path: '/a' }", "Cannot read --model_config_file"),
    ("model_config_list { }", "The model config file lists no models"),
    ("model_config_list { config { name: 'a/b' base_path: '/a' } }", "Invalid ModelConfig: name must match"),
])
def test_model_config_file_errors(tmp_path, content, fragment):
    path = tmp_path / "models.config"
    path.write_text(content)
    with pytest.raises(ValueError, match=None) as error:
        serving.read_model_config_file(path)
    assert fragment in str(error.value)


def test_batching_parameters_file(tmp_path, caplog):
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 32 }\nbatch_timeout_micros { value: 1000 }\nnum_batch_threads { value: 4 }")
    assert serving.read_batching_parameters_file(path) == serving.BatchingParameters(32, 1000)
    assert "Ignoring batching parameters this server does not use: num_batch_threads" in caplog.text


def test_create_app_errors(tmp_path):
    with pytest.raises(ValueError, match="Pass either model_base_path .* or config. Expected exactly one of them"):
        serving.create_app()
    with pytest.raises(ValueError) as error:
        serving.create_app(tmp_path / "missing", model_name="m")
    assert str(error.value).startswith("Model base paths must be existing directories.")
    assert f"Received: missing={{'m': '{tmp_path / 'missing'}'}}" in str(error.value)
    with pytest.raises(ValueError, match="Invalid BatchingParameters: max_batch_size must be >= 1"):
        serving.create_app(tmp_path, batching=serving.BatchingParameters(max_batch_size=0))


def test_several_models_from_one_config(linear_base, heads_base):
    config = serving.ServingConfig((serving.ModelConfig("linear", str(linear_base)),
                                    serving.ModelConfig("heads", str(heads_base))),
                                   file_system_poll_wait_seconds=0)
    with TestClient(serving.create_app(config=config)) as client:
        assert client.post("/v1/models/linear:predict", json={"instances": [[1, 2, 3]]}).status_code == 200
        assert client.post("/v1/models/heads:predict", json={"instances": [{"dense": [1, 2, 3], "cat": 1}]}
                           ).status_code == 200
        assert client.get("/v2/health/ready").json() == {"ready": True}


def test_importing_the_package_does_not_import_the_server_dependencies():
    code = ("import sys, torch_estimator, torch_estimator.serving; "
            "print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_freeze_heap_hides_the_loaded_model_from_the_collector(linear_base):
    import gc

    try:
        serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0, freeze_heap=True)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
