"""Shared pieces of the checkpoint tests: models with optimizer state, dropout and buffers."""

from __future__ import annotations

import os

import pytest
import torch

import torch_estimator as est
from torch_estimator.checkpoint import checkpoint_step
from torch_estimator.checkpoint.index import read_index


def mlp_model_fn(features, labels, mode, params):
    """A two-layer net with dropout: restoring needs weights, optimizer state and the RNG."""
    net = est.get_module("net", lambda: torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Dropout(params.get("dropout", 0.0)), torch.nn.Linear(8, 1)))
    predictions = net(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": predictions})
    loss = torch.nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(mode, loss=loss, predictions={"y": predictions},
                             train_op=est.train.minimize(loss, params.get("optimizer", "SGD"), learning_rate=0.05))


def steps_on_disk(model_dir: str) -> list[int]:
    """Global steps of the ``model.ckpt-<step>`` directories in ``model_dir``."""
    return sorted(checkpoint_step(name) for name in os.listdir(model_dir)
                  if name.startswith("model.ckpt-") and os.path.isdir(os.path.join(model_dir, name)))


def steps_in_index(model_dir: str) -> list[int]:
    """Global steps that the ``checkpoint`` index tracks, in its order."""
    return [checkpoint_step(name) for name in read_index(model_dir).all]


@pytest.fixture
def full_batch(regression):
    """The same 64-row batch on every step: runs split in several ``train`` calls see the same data."""
    features, labels = regression
    return lambda: (features, labels)
