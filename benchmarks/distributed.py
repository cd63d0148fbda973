"""Distributed workload: throughput at 1 and 2 processes (torchrun, gloo, one thread each).

The core MLP (benchmarks/core_mlp.py's model, Adam 1e-3) through ``est.Estimator`` and the canned
``DNNRegressor`` ([64, 32] over 8 numeric columns), at a global batch of 256 (128 per process at
2 processes), against the floor: a hand-written loop, wrapped in torch's
``DistributedDataParallel`` at 2 processes. Each process reads its own half of the rows. Every
run is a fresh ``torchrun`` (or a plain process at 1), so process start-up is not timed: each
process times its own training loop after a barrier, and the slowest rank counts.

FSDP rows (2 processes only): the core MLP with ``RunConfig(train_distribute='fsdp')`` against
a hand-written loop over the same model wrapped by ``fully_shard`` (parameters re-gathered for
the backward pass, as the Estimator does). On a model this small FSDP only adds communication
(it is meant for models that do not fit one device); the rows measure that overhead.

Floor and Estimator runs alternate over ``--repeats`` rounds; medians are reported.
Scaling efficiency = throughput at 2 processes / (2 x throughput at 1). On this machine the two
processes share 2 cores with everything else running, so read it as an upper bound of the
communication and synchronisation cost, not as a statement about a cluster.

Prints one JSON object. Run: ``python benchmarks/distributed.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.distributed as dist
from torch import nn

import torch_estimator as est
from core_mlp import BATCH, FEATURES, make_data, make_net, model_fn

WORKLOADS = ("floor", "core_mlp", "canned_dnn")
FSDP_WORKLOADS = ("floor_fsdp", "core_mlp_fsdp")  # at 2 processes only


def _shard(world: int, rank: int):
    x, y = make_data()
    return x[rank::world].copy(), y[rank::world].copy()


def floor_run(steps: int, world: int, rank: int, sharded: bool = False) -> float:
    x, y = (torch.from_numpy(a) for a in _shard(world, rank))
    torch.manual_seed(0)
    net = make_net()
    if world > 1 and sharded:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        fully_shard(net, mesh=init_device_mesh("cpu", (world,)), reshard_after_forward=True)
    elif world > 1:
        net = nn.parallel.DistributedDataParallel(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    per_replica = BATCH // world
    batches = len(x) // per_replica
    started = _start(world)
    for step in range(steps):
        start = (step % batches) * per_replica
        loss = nn.functional.mse_loss(net(x[start:start + per_replica]), y[start:start + per_replica])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def estimator_run(workload: str, steps: int, world: int, rank: int) -> float:
    x, y = _shard(world, rank)
    config = est.RunConfig(tf_random_seed=0, progress_bar=False,
                           train_distribute="fsdp" if workload.endswith("_fsdp") else None)
    model_dir = tempfile.mkdtemp(prefix="bench-dist-") if world == 1 else os.environ["BENCH_MODEL_DIR"]
    if workload.startswith("core_mlp"):
        features = {"x": x}
        estimator = est.Estimator(model_fn, model_dir=model_dir, config=config)
    else:
        features = {f"x{i}": x[:, i].copy() for i in range(FEATURES)}
        estimator = est.DNNRegressor([64, 32], [est.feature_column.numeric_column(name) for name in features],
                                     model_dir=model_dir, config=config,
                                     optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))
    numpy_input = est.inputs.numpy_input_fn(features, y, batch_size=BATCH // world, num_epochs=None, shuffle=False)

    def input_fn(input_context=None):  # the rows are this process's shard already
        return numpy_input()

    estimator.train(input_fn, steps=5)  # builds the modules and joins the process group: not timed
    started = _start(world)
    estimator.train(input_fn, steps=steps)
    return time.perf_counter() - started


def _start(world: int) -> float:
    if world > 1:
        dist.barrier()
    return time.perf_counter()


def worker(workload: str, steps: int, out: str) -> None:
    """One process of a run: trains, then writes its time to ``out``-<rank>.json."""
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if workload.startswith("floor") and world > 1:
        dist.init_process_group("gloo")
    if workload.startswith("floor"):
        seconds = floor_run(steps, world, rank, sharded=workload == "floor_fsdp")
    else:
        seconds = estimator_run(workload, steps, world, rank)
    with open(f"{out}-{rank}.json", "w") as f:
        json.dump({"seconds": seconds}, f)
    if workload.startswith("floor") and world > 1:
        # Leave together: a rank exiting while the other's last FSDP collective is still in
        # flight made gloo abort that rank (SIGABRT) now and then.
        dist.barrier()
        dist.destroy_process_group()


def timed_run(workload: str, steps: int, processes: int) -> float:
    """Seconds of the slowest process of one fresh run."""
    out = os.path.join(tempfile.mkdtemp(prefix="bench-dist-out-"), workload)
    script = [os.path.abspath(__file__), "--worker", workload, "--steps", str(steps), "--out", out]
    if processes == 1:
        command = [sys.executable, *script]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   *script]
    env = dict(os.environ, OMP_NUM_THREADS="1", BENCH_MODEL_DIR=tempfile.mkdtemp(prefix="bench-dist-"))
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1200)
    return max(json.load(open(f"{out}-{rank}.json"))["seconds"] for rank in range(processes))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=WORKLOADS + FSDP_WORKLOADS)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.out)
        return
    result: dict = {"workload": "distributed", "steps": args.steps, "global_batch_size": BATCH,
                    "threads_per_process": 1, "cpu_count": os.cpu_count()}
    runs = [(workload, processes) for workload in WORKLOADS for processes in (1, 2)]
    runs += [(workload, 2) for workload in FSDP_WORKLOADS]
    times: dict = {run: [] for run in runs}
    for _ in range(args.repeats):  # interleaved, so that a busy moment of the machine hits every run alike
        for workload, processes in runs:
            times[workload, processes].append(timed_run(workload, args.steps, processes))
    for (workload, processes), seconds in times.items():
        result[f"{workload}_{processes}p_examples_per_sec"] = round(args.steps * BATCH / statistics.median(seconds))
        result[f"{workload}_{processes}p_seconds"] = [round(t, 3) for t in seconds]
    for workload in WORKLOADS:
        one, two = (result[f"{workload}_{p}p_examples_per_sec"] for p in (1, 2))
        result[f"{workload}_scaling_efficiency"] = round(two / (2 * one), 3)
    for workload in WORKLOADS[1:]:
        for processes in (1, 2):
            result[f"{workload}_{processes}p_over_floor_time_ratio"] = round(
                result[f"floor_{processes}p_examples_per_sec"] / result[f"{workload}_{processes}p_examples_per_sec"], 3)
    result["core_mlp_fsdp_2p_over_floor_fsdp_time_ratio"] = round(
        result["floor_fsdp_2p_examples_per_sec"] / result["core_mlp_fsdp_2p_examples_per_sec"], 3)
    result["core_mlp_fsdp_2p_over_core_mlp_2p_time_ratio"] = round(
        result["core_mlp_2p_examples_per_sec"] / result["core_mlp_fsdp_2p_examples_per_sec"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
