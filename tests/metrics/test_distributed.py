"""Two processes (gloo on loopback) each stream their own batches; the value covers both."""

from __future__ import annotations

import datetime
import json
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import torch_estimator.metrics as metrics

WORLD_SIZE = 2
# Rank 0 gets 3 batches, rank 1 gets 2 of other sizes: 53 examples, not divisible by 2.
BATCHES = {0: [(0, 10), (10, 11), (11, 30)], 1: [(30, 45), (45, 53)]}
METRICS = {
    "mean": lambda l, p, w: metrics.mean(p, w),
    "rmse": metrics.root_mean_squared_error,
    "accuracy": lambda l, p, w: metrics.accuracy(l, p > 0.5, w),
    "precision": lambda l, p, w: metrics.precision(l, p > 0.5, w),
    "true_positives": lambda l, p, w: metrics.true_positives(l, p > 0.5, w),
    "auc_roc": metrics.auc,
    "auc_pr": lambda l, p, w: metrics.auc(l, p, w, curve="PR", summation_method="careful_interpolation"),
    "recall_at_thresholds": lambda l, p, w: metrics.recall_at_thresholds(l, p, [0.2, 0.5, 0.8], w),
}


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(53, generator=g) < 0.5).long()
    predictions = torch.sigmoid(torch.randn(53, generator=g) + labels)
    weights = torch.rand(53, generator=g)
    return labels, predictions, weights


def _evaluate(batches: list[tuple[int, int]]) -> dict[str, float | list[float]]:
    labels, predictions, weights = _data()
    values = {}
    for name, fn in METRICS.items():
        accumulator = None
        for start, stop in batches:
            op = fn(labels[start:stop], predictions[start:stop], weights[start:stop])
            if accumulator is None:
                accumulator = op.create()
            op.update(accumulator)
        values[name] = metrics.compute_value(accumulator)
    return values


def _worker(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        values = _evaluate(BATCHES[rank])
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(values))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_two_processes_compute_the_value_over_all_their_data(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    everything = _evaluate([(0, 53)])
    per_rank_alone = _evaluate(BATCHES[1])
    for rank in range(WORLD_SIZE):
        values = json.loads(Path(tmp_path, f"rank{rank}.json").read_text())
        for name, expected in everything.items():
            assert values[name] == pytest.approx(expected, abs=1e-6), (rank, name)
    # Guard against a vacuous pass: one rank's data alone gives different numbers.
    assert per_rank_alone["auc_roc"] != pytest.approx(everything["auc_roc"], abs=1e-6)
    assert per_rank_alone["mean"] != pytest.approx(everything["mean"], abs=1e-6)
