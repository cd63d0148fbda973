"""The Keras model's file in ``model_dir`` and the way back: trained weights into a Keras model.

``model_to_estimator`` saves the compiled model as ``<model_dir>/keras/keras_model.keras``
(tf.keras kept ``keras_model.hdf5`` there too): every process and every new training state
builds its copy of the model from that file, so the Estimator starts from the Keras model's
weights at conversion time and never changes the user's model object behind its back.
:func:`load_weights` is the way back.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping
from typing import Any

from torch_estimator.checkpoint import storage
from torch_estimator.durable import TEMPORARY_INFIX, fsync_directory
from torch_estimator.errors import CheckpointError, message
from torch_estimator.keras.backend import require_keras

MODULE_NAME = "keras_model"  # the registry name: checkpoint keys read keras_model.<parameter>


def model_file(model_dir: str) -> str:
    """Where ``model_to_estimator`` saved the Keras model of ``model_dir``."""
    return os.path.join(model_dir, "keras", "keras_model.keras")


def save_model_file(model: Any, model_dir: str) -> str:
    """Saves the compiled model to :func:`model_file`, atomically (temporary name, then rename)."""
    path = model_file(model_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path[:-len('.keras')]}{TEMPORARY_INFIX}{os.getpid()}.keras"  # Keras insists on '.keras'
    try:
        model.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:  # after a failure, no half-written temporary file is left behind
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
    fsync_directory(os.path.dirname(path))
    return path


def load_model_file(path: str, custom_objects: Mapping[str, Any] | None) -> Any:
    """Loads a compiled Keras model (``.keras`` file), with ``custom_objects`` for its own classes."""
    keras = require_keras()
    with warnings.catch_warnings():
        # A fresh optimizer is saved unbuilt and rebuilt on load: Keras warns that it skips the
        # (not yet existing) slot variables.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return keras.saving.load_model(path, custom_objects=dict(custom_objects or {}), compile=True)


def estimator_copy(path: str, custom_objects: Mapping[str, Any] | None) -> Any:
    """The Estimator's copy of the Keras model, with checkpoint keys that do not depend on the process.

    Keras names each random seed generator (Dropout, noise layers) with a process-wide counter
    (``seed_generator_7``), and its state variable becomes a torch parameter under that name:
    the same model loaded after another one would look for other checkpoint keys. The copy's
    seed-generator states are renamed ``seed_generator_<i>`` by their order in the model.
    """
    model = load_model_file(path, custom_objects)
    seeds = [variable for variable in model.variables if variable.name == "seed_generator_state"]
    stable = {id(variable.value): f"seed_generator_{index}/seed_generator_state" for index, variable in enumerate(seeds)}
    for module in model.modules():
        params = module.__dict__.get("_modules", {}).get("_torch_params")
        if params is not None and any(id(value) in stable for value in params.values()):
            module._torch_params = type(params)({stable.get(id(value), key): value for key, value in params.items()})
    return model


def load_weights(keras_model: Any, estimator: Any, checkpoint_path: str | None = None,
                 custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Copies an Estimator's trained weights into a Keras model (the way back from the bridge).

    Args:
        keras_model: A Keras model with the architecture the Estimator was made from (the
            original model, or a rebuilt one).
        estimator: An Estimator made by ``est.keras.model_to_estimator``.
        checkpoint_path: The checkpoint to read; default the latest in ``estimator.model_dir``.
        custom_objects: Custom classes of the model, as given to ``model_to_estimator``.

    Returns:
        ``keras_model``, with its weights (trainable and non-trainable, e.g. BatchNorm moving
        statistics) set from the checkpoint.

    Raises:
        CheckpointError: if there is no checkpoint yet.
        ValueError: if ``keras_model``'s weights do not match the Estimator's model.

    Example:
        >>> # est.keras.load_weights(model, estimator); model.predict(x)  # the trained model
    """
    path = checkpoint_path or estimator.latest_checkpoint()
    if path is None:
        raise CheckpointError(message(
            "There is no checkpoint to load Keras weights from",
            expected=f"a checkpoint in {estimator.model_dir}",
            fix="Train the Estimator first, or pass checkpoint_path=...", checkpoint_path=checkpoint_path))
    trained = estimator_copy(model_file(estimator.model_dir), custom_objects)
    storage.load_module(path, MODULE_NAME, trained)
    target = [tuple(w.shape) for w in keras_model.weights]
    source = [tuple(w.shape) for w in trained.weights]
    if target != source:
        raise ValueError(message(
            "The Keras model's weights do not match the Estimator's model",
            expected=f"{len(source)} weights with shapes {source[:6]}{'...' if len(source) > 6 else ''}",
            fix="Pass a model with the architecture the Estimator was made from",
            shapes=target[:6]))
    keras_model.set_weights(trained.get_weights())
    return keras_model
