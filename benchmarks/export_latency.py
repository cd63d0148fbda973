"""Serving latency of an export: ``est.export.load`` (both backends) against the eager module (the floor).

The core benchmark's MLP (8 -> 64 -> 32 -> 1, ``core_mlp.make_net``) is trained for a few steps
through an Estimator and exported with a raw receiver. Then, with one thread:

* floor: the trained ``nn.Module`` called directly on a torch tensor under ``torch.no_grad``;
* torch: ``est.export.load(path)`` (the ``torch.export`` program) on a numpy batch;
* onnx: ``est.export.load(path, backend="onnx", num_threads=1)`` (onnxruntime, CPU) on a numpy batch.

The predictors take and return numpy arrays, so their times include the conversions and
input validation a server pays. Each call is timed alone; the three take turns for
``--rounds`` rounds of ``--calls`` calls each, and the median call is reported. Targets (issue 4):
within 3x of the floor for one row, 1.5x for 1,000 rows.

Prints one JSON object. Run: ``python benchmarks/export_latency.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time

import numpy as np
import torch

import torch_estimator as est
from torch_estimator import export

from core_mlp import BATCH, make_data, model_fn

TARGETS = {1: 3.0, 1000: 1.5}


def trained_estimator(x: np.ndarray, y: np.ndarray, steps: int) -> est.Estimator:
    estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(prefix="bench-export-"),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(est.inputs.numpy_input_fn({"x": x}, y, batch_size=BATCH, num_epochs=None, shuffle=False),
                    steps=steps)
    return estimator


def time_calls(fn, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def measure(candidates: dict, calls: int, rounds: int) -> dict[str, float]:
    """Median seconds per call of each candidate, taking turns so drift hits all alike."""
    for fn in candidates.values():
        time_calls(fn, 200)  # warm-up: allocator, caches, lazy initialisation
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name] += time_calls(fn, calls)
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)  # keep stdout pure JSON
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    x, y = make_data()
    estimator = trained_estimator(x, y, args.train_steps)

    started = time.perf_counter()
    path = export.export_saved_model(estimator, tempfile.mkdtemp(prefix="bench-exports-"),
                                     export.build_raw_serving_input_receiver_fn({"x": x[:8]}))
    export_s = time.perf_counter() - started
    net = estimator._state.registry.net
    by_torch, by_onnx = export.load(path), export.load(path, backend="onnx", num_threads=1)

    result = {"workload": "export_latency", "model": "core_mlp MLP 8-64-32-1", "train_steps": args.train_steps,
              "threads": torch.get_num_threads(), "calls_per_round": args.calls, "rounds": args.rounds,
              "export_s": round(export_s, 3),
              "export_bytes": {name: os.path.getsize(os.path.join(path, name)) for name in ("model.pt2", "model.onnx")}}
    for rows, target in TARGETS.items():
        batch = np.ascontiguousarray(x[:rows])
        tensor = torch.from_numpy(batch)
        with torch.no_grad():
            eager = net(tensor).numpy()
        for predictor in (by_torch, by_onnx):  # same numbers, or the timing means nothing
            # core_mlp's predictions are one tensor: PredictOutput keys it 'output'.
            np.testing.assert_allclose(predictor({"x": batch})["output"], eager, rtol=1e-5, atol=1e-5)

        def floor(tensor=tensor):
            with torch.no_grad():
                return net(tensor)

        medians = measure({"eager": floor, "torch": lambda b=batch: by_torch({"x": b}),
                           "onnx": lambda b=batch: by_onnx({"x": b})}, args.calls, args.rounds)
        label = f"{rows}_row" + ("s" if rows > 1 else "")
        for name, seconds in medians.items():
            result[f"{name}_{label}_us"] = round(seconds * 1e6, 2)
        for name in ("torch", "onnx"):
            ratio = medians[name] / medians["eager"]
            result[f"{name}_{label}_over_eager"] = round(ratio, 3)
            result[f"{name}_{label}_target_met"] = ratio <= target
        result[f"target_{label}_over_eager"] = target
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
