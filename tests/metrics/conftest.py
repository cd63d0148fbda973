"""Shared fixtures: stream MetricOps the way the evaluation loop does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from torch_estimator.metrics import MetricOp, compute_value


def stream_ops(*ops: MetricOp) -> float | list[float]:
    """Feeds ops into one accumulator built by the first, exactly as the evaluation loop does."""
    accumulator = ops[0].create()
    for op in ops:
        op.update(accumulator)
    return compute_value(accumulator)


@pytest.fixture
def stream() -> Callable[..., float | list[float]]:
    return stream_ops
