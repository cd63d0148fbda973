"""Keras on the torch backend for these tests (set before the first Keras import), and their models.

A helper module, not a conftest.py: this folder cannot be a package (it would be imported as
``keras``), and a second top-level ``conftest`` module would shadow tests/conftest.py.
Every test module here imports it before Keras.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import torch_estimator as est  # noqa: E402


def lecture_model(optimizer="adam", metrics=("mae", "mape")):
    """The course's model: Dense(32, name='rawdata') -> relu -> Dense(1), on 9 inputs."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((9,)), keras.layers.Dense(32, name="rawdata"),
                              keras.layers.Activation("relu"), keras.layers.Dense(1, name="out")])
    model.compile(loss="mean_squared_error", optimizer=optimizer, metrics=list(metrics))
    return model


def regression_data(rows=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 9)).astype(np.float32)
    y = (x[:, :3].sum(axis=1, keepdims=True) * 0.3).astype(np.float32)
    return x, y


def quiet_config():
    return est.RunConfig(progress_bar=False, tf_random_seed=0)
