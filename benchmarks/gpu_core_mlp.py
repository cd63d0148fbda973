"""The core workload on one GPU: ``Estimator.train`` against a hand-written loop, same device.

Issue #7 asks for single-GPU throughput against the hand-written loop when a GPU machine is
available. Workload as ``core_mlp.py`` (MLP 8 -> 64 -> 32 -> 1, Adam 1e-3, batch 256, 200,000
rows in host memory); both loops copy each batch to the GPU (``numpy_input_fn`` data stays on
the host, so the floor does the same), synchronise once at the end, and alternate for
``--repeats`` rounds (medians). Prints one JSON object. Run: ``python benchmarks/gpu_core_mlp.py``
(on a machine with CUDA; ``--device cpu`` runs the same comparison on the CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time

import torch
from torch import nn

import torch_estimator as est
from core_mlp import BATCH, ROWS, make_data, make_net, model_fn


def floor_loop(x: torch.Tensor, y: torch.Tensor, steps: int, device: torch.device) -> float:
    torch.manual_seed(0)
    net = make_net().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches_per_epoch = ROWS // BATCH
    started = time.perf_counter()
    for step in range(steps):
        start = (step % batches_per_epoch) * BATCH
        features = x[start:start + BATCH].to(device, non_blocking=True)
        labels = y[start:start + BATCH].to(device, non_blocking=True)
        loss = nn.functional.mse_loss(net(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def estimator_run(x, y, steps: int, device: torch.device) -> float:
    estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(prefix="bench-gpu-"),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False, device=str(device)))
    input_fn = est.inputs.numpy_input_fn({"x": x}, y, batch_size=BATCH, num_epochs=None, shuffle=False)
    started = time.perf_counter()
    estimator.train(input_fn, steps=steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    est.logging.set_verbosity(est.logging.WARN)
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    x, y = make_data()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    floor_loop(tx, ty, 50, device)
    estimator_run(x, y, 50, device)
    floor_times, estimator_times = [], []
    for _ in range(args.repeats):
        floor_times.append(floor_loop(tx, ty, args.steps, device))
        estimator_times.append(estimator_run(x, y, args.steps, device))
    floor_s, estimator_s = statistics.median(floor_times), statistics.median(estimator_times)
    print(json.dumps({
        "workload": "gpu_core_mlp", "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "steps": args.steps, "batch_size": BATCH,
        "floor_examples_per_sec": round(args.steps * BATCH / floor_s),
        "estimator_examples_per_sec": round(args.steps * BATCH / estimator_s),
        "estimator_over_floor_time_ratio": round(estimator_s / floor_s, 4),
        "floor_seconds": [round(t, 3) for t in floor_times],
        "estimator_seconds": [round(t, 3) for t in estimator_times],
    }, indent=2))


if __name__ == "__main__":
    main()
