"""Canned workload: ``DNNRegressor`` over 8 numeric feature columns against the hand-written floor.

The core benchmark's data (200,000 rows, 8 features) fed as 8 ``numeric_column``s, hidden units
[64, 32], batch 256, 3,000 steps, one thread, Adam 1e-3 (the floor's optimizer, so both do the
same arithmetic; the canned default would be Adagrad 0.05), default RunConfig. The floor is
benchmarks/core_mlp.py's hand-written loop over one [B, 8] tensor; the Estimator additionally
runs the feature-column layer (8 columns -> one [B, 8] input) every step. Floor and Estimator
alternate for ``--repeats`` rounds; medians reported. As in core_mlp.py, ``same_update_floor``
is the floor clearing gradients the Estimator's way (the ratio against it is the machinery's
cost). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time

import torch

import torch_estimator as est
from core_mlp import BATCH, FEATURES, floor_loop, make_data


def estimator_run(columns: dict, y, steps: int) -> float:
    feature_columns = [est.feature_column.numeric_column(name) for name in columns]
    regressor = est.DNNRegressor([64, 32], feature_columns, model_dir=tempfile.mkdtemp(prefix="bench-dnn-"),
                                 optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
                                 config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    input_fn = est.inputs.numpy_input_fn(columns, y, batch_size=BATCH, num_epochs=None, shuffle=False)
    started = time.perf_counter()
    regressor.train(input_fn, steps=steps)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    x, y = make_data()
    columns = {f"x{i}": x[:, i].copy() for i in range(FEATURES)}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    floor_loop(tx, ty, 50)
    estimator_run(columns, y, 50)  # warm-up: first-use imports (checkpointing, summaries)
    floor_times, same_update_times, estimator_times = [], [], []
    for _ in range(args.repeats):
        floor_times.append(floor_loop(tx, ty, args.steps))
        same_update_times.append(floor_loop(tx, ty, args.steps, zero_grad=False))
        estimator_times.append(estimator_run(columns, y, args.steps))
    floor_s, estimator_s = statistics.median(floor_times), statistics.median(estimator_times)
    same_update_s = statistics.median(same_update_times)
    print(json.dumps({
        "workload": "canned_dnn",
        "steps": args.steps, "batch_size": BATCH, "threads": torch.get_num_threads(), "feature_columns": FEATURES,
        "floor_examples_per_sec": round(args.steps * BATCH / floor_s),
        "estimator_examples_per_sec": round(args.steps * BATCH / estimator_s),
        "estimator_over_floor_time_ratio": round(estimator_s / floor_s, 4),
        "estimator_overhead_pct": round(100 * (estimator_s / floor_s - 1), 2),
        "estimator_over_same_update_floor_time_ratio": round(estimator_s / same_update_s, 4),
        "floor_seconds": [round(t, 3) for t in floor_times],
        "same_update_floor_seconds": [round(t, 3) for t in same_update_times],
        "estimator_seconds": [round(t, 3) for t in estimator_times],
    }, indent=2))


if __name__ == "__main__":
    main()
