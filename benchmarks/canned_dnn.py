"""Canned workload: ``DNNRegressor`` over 8 numeric feature columns against the hand-written floor.

The core benchmark's data (200,000 rows, 8 features) fed as 8 ``numeric_column``s, hidden units
[64, 32], batch 256, 3,000 steps, one thread, Adam 1e-3 (the floor's optimizer, so both do the
same arithmetic; the canned default would be Adagrad 0.05), default RunConfig. The floor is
benchmarks/core_mlp.py's hand-written loop over one [B, 8] tensor; the Estimator additionally
runs the feature-column layer (8 columns -> one [B, 8] input) every step. Floor and Estimator
alternate for ``--repeats`` rounds; medians reported. As in core_mlp.py, ``same_update_floor``
is the floor clearing gradients the Estimator's way (the ratio against it is the machinery's
cost). Prints one JSON object.

``--breakdown`` adds variants to the alternation, to show where the time goes: the core
workload's ``Estimator`` (one ``[batch, 8]`` tensor, ``nn.Sequential``), the canned network and
head on that one tensor, and ``DNNRegressor`` with its ``model_fn`` wrapped so that it gets an
ordinary features dict per batch instead of ``LazyFeatures``; and ``LinearRegressor`` over the
same 8 columns against its own floor, a hand-written loop over ``nn.Linear(8, 1)``.
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
from core_mlp import model_fn as core_model_fn
from torch_estimator.canned.base import canned_model_fn, update
from torch_estimator.canned.dnn import DNN


def adam(params):
    return torch.optim.Adam(params, lr=1e-3)


def config() -> est.RunConfig:
    return est.RunConfig(tf_random_seed=0, progress_bar=False)


def regressor(columns: dict) -> est.DNNRegressor:
    feature_columns = [est.feature_column.numeric_column(name) for name in columns]
    return est.DNNRegressor([64, 32], feature_columns, model_dir=tempfile.mkdtemp(prefix="bench-dnn-"),
                            optimizer=adam, config=config())


def timed_train(estimator: est.Estimator, x, y, steps: int) -> float:
    input_fn = est.inputs.numpy_input_fn(x, y, batch_size=BATCH, num_epochs=None, shuffle=False)
    started = time.perf_counter()
    estimator.train(input_fn, steps=steps)
    return time.perf_counter() - started


def estimator_run(columns: dict, y, steps: int) -> float:
    return timed_train(regressor(columns), columns, y, steps)


def breakdown_runs(x, columns: dict, y) -> dict:
    """The --breakdown variants: name -> run(steps) -> seconds."""
    def core(steps: int) -> float:
        return timed_train(est.Estimator(core_model_fn, tempfile.mkdtemp(prefix="bench-dnn-"), config()),
                           {"x": x}, y, steps)

    def network_and_head(steps: int) -> float:
        def logit_fn(features, mode):
            return est.get_module("dnn", lambda: DNN(FEATURES, [64, 32], 1, torch.relu, None, False))(features["x"])

        model_fn = canned_model_fn(est.RegressionHead(), logit_fn, update(adam, 0.05))
        return timed_train(est.Estimator(model_fn, tempfile.mkdtemp(prefix="bench-dnn-"), config()), {"x": x}, y, steps)

    def plain_features_dict(steps: int) -> float:
        canned = regressor(columns).model_fn  # wrapped: not marked lazy_features
        return timed_train(est.Estimator(lambda features, labels, mode: canned(features, labels, mode),
                                         tempfile.mkdtemp(prefix="bench-dnn-"), config()), columns, y, steps)

    def linear_regressor(steps: int) -> float:
        linear = est.LinearRegressor([est.feature_column.numeric_column(name) for name in columns], optimizer=adam,
                                     model_dir=tempfile.mkdtemp(prefix="bench-dnn-"), config=config())
        return timed_train(linear, columns, y, steps)

    def linear_floor(steps: int) -> float:
        """A hand-written loop over nn.Linear(8, 1): the floor for linear_regressor."""
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        torch.manual_seed(0)
        net = torch.nn.Linear(FEATURES, 1)
        optimizer = adam(net.parameters())
        started = time.perf_counter()
        for step in range(steps):
            start = (step % (len(tx) // BATCH)) * BATCH
            loss = torch.nn.functional.mse_loss(net(tx[start:start + BATCH]), ty[start:start + BATCH])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    return {"core_estimator": core, "canned_network_and_head_on_one_tensor": network_and_head,
            "dnn_regressor_with_a_plain_features_dict": plain_features_dict, "linear_regressor": linear_regressor,
            "linear_floor": linear_floor}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true", help="also time the variants that show where time goes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    x, y = make_data()
    columns = {f"x{i}": x[:, i].copy() for i in range(FEATURES)}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    floor_loop(tx, ty, 50)
    estimator_run(columns, y, 50)  # warm-up: first-use imports (checkpointing, summaries)
    variants = breakdown_runs(x, columns, y) if args.breakdown else {}
    for run in variants.values():
        run(50)
    floor_times, same_update_times, estimator_times = [], [], []
    variant_times = {name: [] for name in variants}
    for _ in range(args.repeats):
        floor_times.append(floor_loop(tx, ty, args.steps))
        same_update_times.append(floor_loop(tx, ty, args.steps, zero_grad=False))
        estimator_times.append(estimator_run(columns, y, args.steps))
        for name, run in variants.items():
            variant_times[name].append(run(args.steps))
    floor_s, estimator_s = statistics.median(floor_times), statistics.median(estimator_times)
    same_update_s = statistics.median(same_update_times)
    breakdown = {f"{name}_over_floor_time_ratio": round(statistics.median(times) / floor_s, 4)
                 for name, times in variant_times.items() if not name.startswith("linear")}
    if variant_times:
        breakdown["linear_regressor_over_linear_floor_time_ratio"] = round(
            statistics.median(variant_times["linear_regressor"]) / statistics.median(variant_times["linear_floor"]), 4)
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
        **breakdown,
    }, indent=2))


if __name__ == "__main__":
    main()
