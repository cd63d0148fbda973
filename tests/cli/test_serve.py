"""``torch-estimator serve``: flags, and one run of the real server (uvicorn, in a subprocess)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

import torch_estimator
from torch_estimator import export, serving
from torch_estimator.cli.main import main

SRC = str(pathlib.Path(torch_estimator.__file__).resolve().parents[1])


@pytest.fixture
def captured(monkeypatch):
    """Replaces serving.serve: records what the CLI would serve instead of serving it."""
    calls = []
    monkeypatch.setattr(serving, "serve", lambda config, host, port, log_level: calls.append((config, host, port)))
    return calls


def test_tf_serving_flags(export_base, captured, tmp_path):
    batching = tmp_path / "batching.config"
    batching.write_text("max_batch_size { value: 16 }")
    assert main(["serve", "--model_name=housing", f"--model_base_path={export_base[0]}", "--port=8500",
                 "--rest_api_port=9001", f"--batching_parameters_file={batching}", "--batch_timeout_micros=200",
                 "--file_system_poll_wait_seconds=5", "--backend=onnx"]) == 0
    [(config, host, port)] = captured
    assert (host, port) == ("127.0.0.1", 9001)
    assert config.models == (serving.ModelConfig("housing", str(export_base[0])),)
    assert config.batching == serving.BatchingParameters(max_batch_size=16, batch_timeout_micros=200)
    assert (config.backend, config.file_system_poll_wait_seconds, config.freeze_heap) == ("onnx", 5.0, True)
    assert main(["serve", f"--model_base_path={export_base[0]}", "--enable_batching=false", "--host=0.0.0.0"]) == 0
    config, host, port = captured[1]
    assert (config.batching, host, port, config.models[0].name) == (None, "0.0.0.0", 8501, "default")


def test_serve_errors(export_base, tmp_path, capsys):
    assert main(["serve", "--model_base_path", str(tmp_path / "nope")]) == 1
    assert "Model base paths must be existing directories" in capsys.readouterr().err
    assert main(["serve", "--model_base_path", str(export_base[0]), "--model_config_file", "x"]) == 1
    assert "Pass --model_base_path or --model_config_file (exactly one)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--enable_batching=maybe"])
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_real_server_serves_and_stops(export_base, tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "torch_estimator.cli", "serve", "--model_name=linear",
               f"--model_base_path={export_base[0]}", f"--port={port}", "--file_system_poll_wait_seconds=0.5"]
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not become ready: " + log.read_text()
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        rows = [[1.0, 2.0, 3.0]]
        response = httpx.post(f"{url}/v1/models/linear:predict", json={"instances": rows}, timeout=10)
        assert response.status_code == 200
        expected = export.load(export_base[1])({"x": np.array(rows, np.float32)})["y"]
        np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    text = log.read_text()
    assert server.returncode == 130, text  # graceful shutdown on Ctrl-C; the exit status says why, as shells expect
    assert "Application shutdown complete." in text
    assert f"Exporting HTTP/REST API at http://127.0.0.1:{port}" in text
    access = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {"method": "POST", "path": "/v1/models/linear:predict", "status": 200}.items() <= access[-1].items()
