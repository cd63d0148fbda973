"""A serving input receiver for a Keras model, from the model's own input names and shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from torch_estimator.errors import message
from torch_estimator.export.receivers import ServingInputReceiver, TensorSpec, build_raw_serving_input_receiver_fn
from torch_estimator.keras.backend import require_keras
from torch_estimator.keras.inputs import ModelSignature


def build_serving_input_receiver_fn(keras_model: Any,
                                    default_batch_size: int | None = None) -> Callable[[], ServingInputReceiver]:
    """A ``serving_input_receiver_fn`` whose inputs are the model's inputs, by name.

    The exported ``serving_default`` signature then takes the names ``model_to_estimator``
    feeds the model by (for a Sequential model ``'<first layer name>_input'``).

    Args:
        keras_model: The Keras model the Estimator was made from.
        default_batch_size: None for a dynamic batch, or a fixed batch size.

    Returns:
        A receiver function for ``estimator.export_saved_model``.

    Raises:
        ValueError: if an input has an unknown (None) dimension besides the batch.

    Example:
        >>> # estimator.export_saved_model("exports", est.keras.build_serving_input_receiver_fn(model))
    """
    require_keras()
    signature = ModelSignature.of(keras_model)
    specs = {}
    for name, (shape, dtype) in signature.input_specs.items():
        if any(dim is None for dim in shape):
            raise ValueError(message(
                f"The Keras input {name!r} has a dimension of unknown size",
                expected="fixed sizes for every dimension but the batch",
                fix="Build the receiver yourself with est.export.build_raw_serving_input_receiver_fn("
                    "{name: est.export.TensorSpec([None, ...], dtype)})", shape=(None, *shape)))
        specs[name] = TensorSpec((default_batch_size, *shape), getattr(torch, dtype))
    return build_raw_serving_input_receiver_fn(specs, default_batch_size)
