"""An export for the command-line tests: y = linear(x), x float32[batch, 3], made once per session."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import torch_estimator as est
from torch_estimator import export


def model_fn(features, labels, mode):
    y = est.get_module("net", lambda: nn.Linear(3, 1))(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": y})
    loss = nn.functional.mse_loss(y, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))


@pytest.fixture(scope="session")
def export_base(tmp_path_factory):
    """An export_dir_base holding one export; returns ``(base, export_dir)``."""
    directory = tmp_path_factory.mktemp("cli")
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32))
    estimator = est.Estimator(model_fn, model_dir=str(directory / "model"),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(lambda: ({"x": x}, x.sum(1, keepdim=True)), steps=2)
    path = export.export_saved_model(estimator, str(directory / "exports"),
                                     export.build_raw_serving_input_receiver_fn({"x": x[:2]}))
    return directory / "exports", path
