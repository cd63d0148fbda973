"""Keras on another backend: the error says what to do.

Keras missing, and torch_estimator never importing Keras by itself, are checked in one
subprocess with the export test (test_keras_functional.py), to start one interpreter, not three.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import keras  # noqa: E402
import pytest  # noqa: E402

import torch_estimator as est  # noqa: E402


def test_other_backend_says_to_set_keras_backend(monkeypatch):
    # Keras fixes its backend at the first import; reporting another one is what a process
    # started with KERAS_BACKEND=jax would see (this environment has no second backend installed).
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError) as raised:
        est.keras.model_to_estimator(keras_model_path="m.keras")
    assert str(raised.value) == (
        "Keras runs on a backend other than torch, so its models are not torch modules. Expected "
        "keras.backend.backend() == 'torch'. Received: backend='jax'. Set the environment variable KERAS_BACKEND=torch "
        "before the first Keras import, e.g. `KERAS_BACKEND=torch python train.py`, or os.environ['KERAS_BACKEND'] = "
        "'torch' at the top of the program before `import keras`.")
