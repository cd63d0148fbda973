"""The whole pipeline (``make demo``): stream a CSV, train and export, serve over HTTP, ask it.

1. Stream the course's California-housing CSVs with ``est.data.make_csv_dataset`` (pyarrow,
   background prefetch; the files are never loaded whole): train on the 17,000-row train file,
   evaluate on the 3,000-row held-out test file.
2. Train a canned ``DNNRegressor`` with ``est.train_and_evaluate`` and a ``LatestExporter``:
   checkpoints, TensorBoard summaries, evaluation and a verified export under
   ``model_dir/export/houses/<timestamp>/``.
3. Start the model server on that export (``torch-estimator serve``, TensorFlow Serving's REST
   API on 127.0.0.1), send one prediction request over HTTP, print the answer, stop the server.

Run: ``make demo`` (or ``python examples/pipeline.py [--model-dir DIR] [--steps N]``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np
import torch

import torch_estimator as est

DATA = pathlib.Path(__file__).resolve().parent / "data"
TRAIN, TEST = DATA / "california_housing_train.csv", DATA / "california_housing_test.csv"
FEATURES = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms", "population",
            "households", "median_income"]
LABEL, SCALE = "median_house_value", 1e5
# Per-feature mean and standard deviation of the training file (rounded), for normalizer_fn.
STATS = {"longitude": (-119.56, 2.01), "latitude": (35.63, 2.14), "housing_median_age": (28.59, 12.59),
         "total_rooms": (2643.7, 2179.9), "total_bedrooms": (539.4, 421.5), "population": (1429.6, 1147.9),
         "households": (501.2, 384.5), "median_income": (3.88, 1.91)}


def feature_columns() -> list:
    return [est.feature_column.numeric_column(name, normalizer_fn=lambda x, m=mean, s=std: (x - m) / s)
            for name, (mean, std) in STATS.items()]


def input_fn(path: pathlib.Path, num_epochs: int | None, shuffle: bool):
    """Streams the CSV; labels in units of 100,000 USD (the course's scaling)."""
    def scaled():
        dataset = est.data.make_csv_dataset(str(path), batch_size=128, label_name=LABEL, select_columns=FEATURES + [LABEL],
                                            num_epochs=num_epochs, shuffle=shuffle, shuffle_seed=0)
        for features, labels in dataset:
            yield features, labels / SCALE

    return scaled


def serving_input_fn():
    return est.export.build_raw_serving_input_receiver_fn(
        {name: est.export.TensorSpec([None], torch.float32) for name in FEATURES})()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(url: str, body: dict | None = None, timeout: float = 5.0) -> dict:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=timeout) as response:
        return json.loads(response.read())


def serve_and_ask(export_base: str, instance: dict) -> dict:
    """Starts ``torch-estimator serve`` on ``export_base``, sends ``instance``, stops the server."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "torch_estimator.cli", "serve", "--model_name", "houses",
                               "--model_base_path", export_base, "--port", str(port), "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/v1/models/houses"
    try:
        deadline = time.monotonic() + 60
        while True:  # ready once the newest version is AVAILABLE
            try:
                if request(base)["model_version_status"][0]["state"] == "AVAILABLE":
                    break
            except (urllib.error.URLError, ConnectionError, KeyError, IndexError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the model server did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.2)
        return request(f"{base}:predict", {"instances": [instance]})
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(model_dir: str | None = None, steps: int = 2000) -> dict:
    model_dir = model_dir or tempfile.mkdtemp(prefix="pipeline-")
    regressor = est.DNNRegressor([64, 32], feature_columns(), model_dir=model_dir,
                                 optimizer=lambda params: torch.optim.Adam(params, lr=0.01),
                                 config=est.RunConfig(tf_random_seed=42, save_checkpoints_steps=500))
    exporter = est.LatestExporter("houses", serving_input_fn)
    metrics, exports = est.train_and_evaluate(
        regressor, est.TrainSpec(input_fn(TRAIN, num_epochs=None, shuffle=True), max_steps=steps),
        est.EvalSpec(input_fn(TEST, num_epochs=1, shuffle=False), steps=None, exporters=[exporter], throttle_secs=0))
    rmse_usd = SCALE * metrics["average_loss"] ** 0.5
    instance = {"longitude": -122.25, "latitude": 37.85, "housing_median_age": 52.0, "total_rooms": 1274.0,
                "total_bedrooms": 235.0, "population": 558.0, "households": 219.0, "median_income": 5.6431}
    served = serve_and_ask(str(pathlib.Path(exports[0]).parent), instance)
    price = SCALE * float(np.ravel(served["predictions"][0])[0])
    local = SCALE * float(next(regressor.predict(lambda: {k: np.array([v], np.float32) for k, v in instance.items()}))
                          ["predictions"][0])
    print(f"\nEvaluation on the held-out file after {metrics['global_step']} steps: rmse = {rmse_usd:,.0f} USD")
    print(f"Export: {exports[0]}")
    print(f"HTTP POST /v1/models/houses:predict -> {served}")
    print(f"Predicted median house value: {price:,.0f} USD (Estimator.predict: {local:,.0f} USD)")
    return {"metrics": metrics, "rmse_usd": rmse_usd, "served_price": price, "local_price": local,
            "export_dir": exports[0]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
