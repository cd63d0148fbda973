"""Shared pieces of the export tests: a trained two-input model and its serving receiver.

Training happens once per test session (the model_dir is shared read-only); each test builds
its own Estimator over it, with ``params`` choosing the ``export_outputs`` variant.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import torch_estimator as est
from torch_estimator import export

ROWS = 300


def make_features(rows: int = ROWS, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"dense": rng.normal(size=(rows, 3)).astype(np.float32),
            "cat": rng.integers(0, 5, size=rows).astype(np.int64)}


def export_outputs_for(kind: str, predictions: dict[str, torch.Tensor]):
    """The ``export_outputs`` variants the tests export, by name."""
    y, prob = predictions["y"], predictions["prob"]
    if kind == "none":
        return None
    if kind == "heads":  # what a canned binary head exports
        classification = export.ClassificationOutput(scores=torch.cat([1 - prob, prob], dim=1),
                                                     classes=(prob > 0.5).long())
        return {"serving_default": classification, "classification": classification,
                "regression": export.RegressionOutput(prob), "predict": export.PredictOutput(predictions)}
    if kind == "several":
        return {"a": export.PredictOutput(y), "b": export.PredictOutput(prob)}
    if kind == "not_export_output":
        return {"predict": predictions}
    return {"predict_export_outputs": export.PredictOutput(predictions)}


def two_input_model_fn(features, labels, mode, params):
    """An embedding of ``cat`` next to ``dense``, then an MLP; dict features with 2 inputs."""
    embed = est.get_module("embed", lambda: nn.Embedding(5, 2))
    net = est.get_module("net", lambda: nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1)))
    y = net(torch.cat([features["dense"], embed(features["cat"])], dim=1))
    if params.get("offset_when_exporting") and torch.compiler.is_exporting():
        y = y + 1.0  # the eager model and the traced program disagree
    predictions = {"y": y, "prob": torch.sigmoid(y)}
    if params.get("echo"):
        predictions["cat_echo"] = features["cat"]  # an output that is an input, unchanged
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions=predictions,
                                 export_outputs=export_outputs_for(params.get("export_outputs", "predict"),
                                                                   predictions))
    loss = nn.functional.mse_loss(y, labels)
    return est.EstimatorSpec(mode, loss=loss, predictions=predictions,
                             train_op=est.train.minimize(loss, "Adam", learning_rate=0.01))


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory):
    """A model_dir with checkpoints at steps 0 and 20 of the two-input model."""
    model_dir = str(tmp_path_factory.mktemp("export-model"))
    features = make_features()
    labels = (features["dense"].sum(axis=1, keepdims=True) + features["cat"][:, None] * 0.1).astype(np.float32)
    estimator = est.Estimator(two_input_model_fn, model_dir=model_dir, params={},
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    estimator.train(est.inputs.numpy_input_fn(features, labels, batch_size=32, num_epochs=None, shuffle=False),
                    steps=20)
    return model_dir


@pytest.fixture
def estimator_for(trained_model_dir):
    """``estimator_for(export_outputs='predict', **params)``: an Estimator over the trained model."""

    def build(export_outputs: str = "predict", model_fn=two_input_model_fn, **params):
        return est.Estimator(model_fn, model_dir=trained_model_dir,
                             params={"export_outputs": export_outputs, **params},
                             config=est.RunConfig(tf_random_seed=0, progress_bar=False))

    return build


@pytest.fixture
def receiver_fn():
    """The raw receiver of the two-input model, from example data (cat ids stay in range)."""
    return export.build_raw_serving_input_receiver_fn(make_features(rows=4, seed=1))


def estimator_predictions(estimator: est.Estimator, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``Estimator.predict`` over ``features``, as one dict of whole arrays."""
    input_fn = est.inputs.numpy_input_fn(features, batch_size=128, shuffle=False)
    batches = list(estimator.predict(input_fn, yield_single_examples=False))
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


@pytest.fixture(scope="session")
def exported(trained_model_dir, tmp_path_factory):
    """One export of the trained model (PredictOutput under 'predict_export_outputs', an asset), shared."""
    base = tmp_path_factory.mktemp("exports")
    asset = base.parent / "vocab.txt"
    asset.write_text("a\nb\n")
    estimator = est.Estimator(two_input_model_fn, model_dir=trained_model_dir, params={"export_outputs": "predict"},
                              config=est.RunConfig(tf_random_seed=0, progress_bar=False))
    path = export.export_saved_model(estimator, str(base),
                                     export.build_raw_serving_input_receiver_fn(make_features(rows=4, seed=1)),
                                     assets_extra={"vocab/words.txt": str(asset)})
    return path
