"""Summaries: ``est.summary.scalar`` / ``histogram`` / ``text`` inside ``model_fn``, TensorBoard files.

Inside ``model_fn``, these record a value on the steps that write summaries (every
``RunConfig.save_summary_steps``) and cost nothing on the other steps; the value is written to
``model_dir`` under ``name`` at the current global step.

Example:
    >>> import torch, torch_estimator as est
    >>> def model_fn(features, labels, mode):
    ...     net = est.get_module("net", lambda: torch.nn.Linear(9, 1))
    ...     predictions = net(features)
    ...     est.summary.histogram("predictions", predictions)
    ...     loss = torch.nn.functional.mse_loss(predictions, labels)
    ...     est.summary.scalar("loss/mse", loss)
    ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "Adam"))
"""

from __future__ import annotations

from typing import Any

import torch

from torch_estimator.modules import current_context
from torch_estimator.summary.writer import SummarySink


def _record(kind: str, name: str, value: Any) -> None:
    recorder = current_context(f"est.summary.{kind}").summaries
    if recorder is not None:  # not a summary step: nothing to do
        if isinstance(value, torch.Tensor):
            value = value.detach()
        recorder.append((kind, name, value))


def scalar(name: str, value: Any) -> None:
    """Records a scalar (a 1-element tensor or a number) under ``name``."""
    _record("scalar", name, value)


def histogram(name: str, values: Any) -> None:
    """Records the distribution of a tensor's values under ``name``."""
    _record("histogram", name, values)


def text(name: str, value: str) -> None:
    """Records a string under ``name``."""
    _record("text", name, value)


__all__ = ["SummarySink", "histogram", "scalar", "text"]
