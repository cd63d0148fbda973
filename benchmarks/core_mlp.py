"""Core workload: Estimator overhead against a hand-written PyTorch loop (the floor).

MLP 8 -> 64 -> 32 -> 1 (ReLU), Adam 1e-3, MSE, batch 256, 200,000 synthetic rows, 3,000 steps,
one thread. The Estimator runs at default settings: checkpoints (at the start and the end, every
600 s), summaries every 100 steps, a log line every 100 steps, the NaN check every step.
The floor and the Estimator alternate for ``--repeats`` rounds; medians are reported.

Two floors. ``floor`` is the loop as it is usually written (``optimizer.zero_grad()``): the
issue's reference, and what a user would otherwise run. ``same_update_floor`` clears the
gradients the way the Estimator's update does (``param.grad = None`` for each parameter, which
is what ``zero_grad(set_to_none=True)`` does, without its profiler range and dynamo guard; see
``est.train.minimize``): the ratio against it is the cost of the Estimator's own machinery.

Also measured: ``evaluate`` over 50,000 rows, ``predict(yield_single_examples=False)`` rows/sec,
``model_dir`` size after training, all on the same model.

Prints one JSON object. Run: ``python benchmarks/core_mlp.py`` (or ``make bench``).
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
from torch import nn

import torch_estimator as est

ROWS, FEATURES, BATCH = 200_000, 8, 256


def make_net() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    w = rng.normal(size=(FEATURES, 1)).astype(np.float32)
    y = (np.tanh(x @ w) + 0.1 * rng.normal(size=(ROWS, 1))).astype(np.float32)
    return x, y


def floor_loop(x: torch.Tensor, y: torch.Tensor, steps: int, zero_grad: bool = True) -> float:
    """The hand-written loop: contiguous batches cycling through the in-memory tensors.

    ``zero_grad=False`` clears the gradients by setting them to None directly (the Estimator's way).
    """
    torch.manual_seed(0)
    net = make_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    params = list(net.parameters())
    batches_per_epoch = ROWS // BATCH
    started = time.perf_counter()
    for step in range(steps):
        start = (step % batches_per_epoch) * BATCH
        features, labels = x[start:start + BATCH], y[start:start + BATCH]
        loss = nn.functional.mse_loss(net(features), labels)
        if zero_grad:
            optimizer.zero_grad(set_to_none=True)
        else:
            for param in params:
                param.grad = None
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def model_fn(features, labels, mode):
    net = est.get_module("net", make_net)
    predictions = net(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions=predictions)
    loss = nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(mode, loss=loss, predictions=predictions,
                             train_op=est.train.minimize(loss, "Adam", learning_rate=1e-3))


def estimator_run(x: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, est.Estimator]:
    model_dir = tempfile.mkdtemp(prefix="bench-core-")
    estimator = est.Estimator(model_fn, model_dir=model_dir,
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    input_fn = est.inputs.numpy_input_fn({"x": x}, y, batch_size=BATCH, num_epochs=None, shuffle=False)
    started = time.perf_counter()
    estimator.train(input_fn, steps=steps)
    return time.perf_counter() - started, estimator


def directory_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def time_best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)  # the run logs 30 lines; keep stdout pure JSON
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    x, y = make_data()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    floor_loop(tx, ty, 50)  # warm-up: allocator, kernels
    estimator_run(x, y, 50)  # warm-up: first-use imports (checkpointing, summaries)
    floor_times, same_update_times, estimator_times = [], [], []
    estimator = None
    for _ in range(args.repeats):
        floor_times.append(floor_loop(tx, ty, args.steps))
        same_update_times.append(floor_loop(tx, ty, args.steps, zero_grad=False))
        elapsed, estimator = estimator_run(x, y, args.steps)
        estimator_times.append(elapsed)
    floor_s, estimator_s = statistics.median(floor_times), statistics.median(estimator_times)
    same_update_s = statistics.median(same_update_times)

    eval_rows = 50_000
    eval_256 = est.inputs.numpy_input_fn({"x": x[:eval_rows]}, y[:eval_rows], batch_size=BATCH, shuffle=False)
    eval_big = est.inputs.numpy_input_fn({"x": x[:eval_rows]}, y[:eval_rows], batch_size=eval_rows, shuffle=False)
    eval_256_s = time_best(lambda: estimator.evaluate(eval_256), 5)
    eval_big_s = time_best(lambda: estimator.evaluate(eval_big), 5)
    net = estimator._state.registry.net
    with torch.no_grad():
        eager_eval_s = time_best(lambda: [nn.functional.mse_loss(net(tx[i:i + BATCH]), ty[i:i + BATCH])
                                          for i in range(0, eval_rows, BATCH)], 5)

    predict_fn = est.inputs.numpy_input_fn({"x": x}, batch_size=10_000, shuffle=False)
    predict_256 = est.inputs.numpy_input_fn({"x": x}, batch_size=BATCH, shuffle=False)
    predict_s = time_best(lambda: sum(len(b) for b in estimator.predict(predict_fn, yield_single_examples=False)), 3)
    predict_256_s = time_best(lambda: sum(len(b) for b in estimator.predict(predict_256, yield_single_examples=False)), 3)

    result = {
        "workload": "core_mlp",
        "steps": args.steps,
        "batch_size": BATCH,
        "threads": torch.get_num_threads(),
        "floor_examples_per_sec": round(args.steps * BATCH / floor_s),
        "estimator_examples_per_sec": round(args.steps * BATCH / estimator_s),
        "estimator_over_floor_time_ratio": round(estimator_s / floor_s, 4),
        "estimator_overhead_pct": round(100 * (estimator_s / floor_s - 1), 2),
        "same_update_floor_examples_per_sec": round(args.steps * BATCH / same_update_s),
        "estimator_over_same_update_floor_time_ratio": round(estimator_s / same_update_s, 4),
        "floor_seconds": [round(t, 3) for t in floor_times],
        "same_update_floor_seconds": [round(t, 3) for t in same_update_times],
        "estimator_seconds": [round(t, 3) for t in estimator_times],
        "evaluate_50k_rows_batch256_s": round(eval_256_s, 4),
        "evaluate_50k_rows_one_batch_s": round(eval_big_s, 4),
        "eager_eval_50k_rows_batch256_s": round(eager_eval_s, 4),
        "predict_rows_per_sec_batch10000": round(ROWS / predict_s),
        "predict_rows_per_sec_batch256": round(ROWS / predict_256_s),
        "model_dir_bytes": directory_size(estimator.model_dir),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
