"""Shared fixtures: a tiny regression problem and a model_fn for it."""

from __future__ import annotations

import importlib.util
import logging
import pathlib

import numpy as np
import pytest
import torch

import torch_estimator as est


def linear_model_fn(features, labels, mode, params):
    """y = x @ w + b with a 3-feature input; SGD by default."""
    net = est.get_module("net", lambda: torch.nn.Linear(3, 1))
    predictions = net(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": predictions, "double": 2 * predictions})
    loss = torch.nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(
        mode,
        predictions={"y": predictions},
        loss=loss,
        train_op=est.train.minimize(loss, params.get("optimizer", "SGD"), learning_rate=params.get("lr", 0.1)),
        eval_metric_ops={"rmse": est.metrics.root_mean_squared_error(labels, predictions),
                         "mae": est.metrics.mean_absolute_error(labels, predictions)},
    )


def make_regression(rows: int = 64, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3).astype(np.float32)
    return {"x": x}, y


class LossRecorder(est.SessionRunHook):
    """Records the loss of every training step by global step."""

    def __init__(self) -> None:
        self.by_step: dict[int, float] = {}

    @property
    def losses(self) -> list[float]:
        return [self.by_step[step] for step in sorted(self.by_step)]

    def before_run(self, run_context):
        return est.SessionRunArgs(("global_step", "loss"))

    def after_run(self, run_context, run_values):
        step, loss = run_values.results
        self.by_step[step] = loss


@pytest.fixture
def loss_recorder():
    """A factory of :class:`LossRecorder` hooks."""
    return LossRecorder


EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    """Imports ``examples/<name>.py`` as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example():
    """The example loader: ``example("custom_estimator")``."""
    return load_example


@pytest.fixture
def regression():
    return make_regression()


@pytest.fixture
def make_estimator(tmp_path):
    """Builds an Estimator on the linear problem in a fresh model_dir (quiet, seeded)."""

    def build(model_fn=linear_model_fn, params=None, model_dir=None, **config):
        config.setdefault("tf_random_seed", 0)
        config.setdefault("progress_bar", False)
        if params is None and model_fn is linear_model_fn:
            params = {}
        return est.Estimator(model_fn, model_dir=model_dir or str(tmp_path / "model"),
                             config=est.RunConfig(**config), params=params)

    return build


@pytest.fixture
def train_input(regression):
    features, labels = regression
    return est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=None, shuffle=False)


@pytest.fixture
def eval_input(regression):
    features, labels = regression
    return est.inputs.numpy_input_fn(features, labels, batch_size=16, num_epochs=1, shuffle=False)


@pytest.fixture(autouse=True)
def _propagate_package_logs():
    """Lets caplog see torch_estimator's records even after it installed its own handler."""
    logger = logging.getLogger("torch_estimator")
    previous = logger.propagate
    logger.propagate = True
    yield
    logger.propagate = previous
