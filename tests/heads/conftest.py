"""Shared helpers of the head tests: metric values of one batch, a quiet Estimator on a tmp dir."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import torch_estimator as est


def metric_values(ops: dict[str, est.metrics.MetricOp]) -> dict[str, Any]:
    """The value of each metric op after one batch, as evaluate() would report it."""
    values = {}
    for name, op in ops.items():
        accumulator = op.create()
        op.update(accumulator)
        values[name] = est.metrics.compute_value(accumulator)
    return values


def zero_linear(inputs: int, outputs: int) -> torch.nn.Linear:
    """A linear layer starting at zero: every test's training starts from the same point."""
    layer = torch.nn.Linear(inputs, outputs)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    return layer


@pytest.fixture
def make_estimator(tmp_path):
    """``make_estimator(model_fn)``: an Estimator in a fresh model_dir, seeded and quiet."""

    def build(model_fn, name: str = "model") -> est.Estimator:
        return est.Estimator(model_fn, model_dir=str(tmp_path / name),
                             config=est.RunConfig(tf_random_seed=0, progress_bar=False))

    return build
