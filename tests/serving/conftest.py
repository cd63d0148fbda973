"""Shared pieces of the serving tests: two small exports, made once per session, and app factories.

``linear``: one input ``x`` float32[batch, 3], one output ``y`` (the row format unwraps it).
``heads``: inputs ``dense`` float32[batch, 3] and ``cat`` int64[batch]; signatures
``serving_default`` and ``classification`` (classify: scores [batch, 2], classes [batch, 1]),
``regression`` (regress) and ``predict`` (outputs ``y`` and ``prob``).
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import torch_estimator as est
from torch_estimator import export, serving

with warnings.catch_warnings():  # starlette 1.x asks for httpx2; httpx works (warned once, at import)
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient  # noqa: F401  (re-exported for the tests)


def linear_model_fn(features, labels, mode):
    y = est.get_module("net", lambda: nn.Linear(3, 1))(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"y": y})
    loss = nn.functional.mse_loss(y, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))


def heads_model_fn(features, labels, mode):
    embed = est.get_module("embed", lambda: nn.Embedding(5, 2))
    net = est.get_module("net", lambda: nn.Linear(5, 1))
    y = net(torch.cat([features["dense"], embed(features["cat"])], dim=1))
    prob = torch.sigmoid(y)
    if mode == est.ModeKeys.PREDICT:
        classification = export.ClassificationOutput(scores=torch.cat([1 - prob, prob], dim=1),
                                                     classes=(prob > 0.5).long())
        return est.EstimatorSpec(mode, predictions={"y": y, "prob": prob}, export_outputs={
            "serving_default": classification, "classification": classification,
            "regression": export.RegressionOutput(prob), "predict": export.PredictOutput({"y": y, "prob": prob})})
    loss = nn.functional.mse_loss(y, labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))


def _export(model_fn, features, labels, directory) -> str:
    estimator = est.Estimator(model_fn, model_dir=str(directory / "model"),
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(lambda: (features, labels), steps=2)
    return export.export_saved_model(estimator, str(directory / "exports"),
                                     export.build_raw_serving_input_receiver_fn(
                                         {name: value[:2] for name, value in features.items()}))


@pytest.fixture(scope="session")
def linear_export(tmp_path_factory) -> str:
    """The export directory of the linear model."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    return _export(linear_model_fn, {"x": torch.from_numpy(x)}, torch.from_numpy(x.sum(1, keepdims=True)),
                   tmp_path_factory.mktemp("linear"))


@pytest.fixture(scope="session")
def heads_export(tmp_path_factory) -> str:
    """The export directory of the two-input model with classify/regress/predict signatures."""
    rng = np.random.default_rng(1)
    features = {"dense": torch.from_numpy(rng.normal(size=(16, 3)).astype(np.float32)),
                "cat": torch.from_numpy(rng.integers(0, 5, size=16))}
    return _export(heads_model_fn, features, torch.ones(16, 1), tmp_path_factory.mktemp("heads"))


def add_version(base, export_dir: str, version: int) -> str:
    """Copies an export into ``base/<version>`` the way the exporter publishes: temp name, then rename."""
    temp = base / f"temp-{version}"
    shutil.copytree(export_dir, temp)
    final = base / str(version)
    temp.rename(final)
    return str(final)


@pytest.fixture
def linear_base(tmp_path, linear_export):
    """A base path holding the linear export as version 1."""
    base = tmp_path / "linear"
    base.mkdir()
    add_version(base, linear_export, 1)
    return base


@pytest.fixture
def heads_base(tmp_path, heads_export):
    """A base path holding the heads export as version 7."""
    base = tmp_path / "heads"
    base.mkdir()
    add_version(base, heads_export, 7)
    return base


@pytest.fixture
def linear_client(linear_base):
    """A TestClient of a server of the linear model (named 'linear'), lifespan running."""
    app = serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def heads_client(heads_base):
    """A TestClient of a server of the heads model (named 'heads'), lifespan running."""
    app = serving.create_app(heads_base, model_name="heads", file_system_poll_wait_seconds=0)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(autouse=True)
def _quiet_starlette_testclient_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        yield
