"""Feature and label names of a Keras model: what ``features`` and ``labels`` may be keyed by.

tf.keras fed a Sequential model through a feature named ``<first layer name>_input`` (the
course's ``rawdata_input``); Keras 3 names a Sequential model's input ``keras_tensor_N`` and
calls it ``input_layer``. :class:`ModelSignature` accepts both conventions (and the real input
names), so programs written for tf.keras keep their input functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from torch_estimator.errors import ReadableKeyError, message

_AUTO_NAME = "keras_tensor"  # Keras 3's generated input names: keras_tensor, keras_tensor_4, ...


@dataclasses.dataclass(frozen=True)
class ModelSignature:
    """A Keras model's input and output names, read once from the model.

    Attributes:
        input_names: The canonical feature name of each model input, in the model's order
            (the serving signature's inputs).
        aliases: Each canonical name -> other accepted feature names (for a Sequential model
            ``<first layer>_input`` and the Keras input name).
        output_names: Prediction keys, one per model output.
        inputs_as_dict: Whether the model was built with a dict of inputs (call it with a dict).
        outputs_as_dict: Whether the model returns a dict of outputs.
        input_specs: Canonical name -> (shape without the batch, dtype name) of each input.
    """

    input_names: tuple[str, ...]
    aliases: Mapping[str, tuple[str, ...]]
    output_names: tuple[str, ...]
    inputs_as_dict: bool
    outputs_as_dict: bool
    input_specs: Mapping[str, tuple[tuple[int | None, ...], str]]

    @classmethod
    def of(cls, model: Any) -> ModelSignature:
        """Reads the names of a built Keras model (Sequential or functional)."""
        functional = getattr(model, "_functional", None) or model  # a Sequential wraps a functional model
        structure = functional._inputs_struct
        tensors = list(structure.values()) if isinstance(structure, Mapping) else list(model.inputs)
        if isinstance(structure, Mapping):
            names = list(structure)
        else:
            names = [tensor.name for tensor in tensors]
        aliases: dict[str, tuple[str, ...]] = {name: () for name in names}
        if functional is not model and len(names) == 1:  # Sequential: tf.keras's <first layer>_input
            layer_input = f"{model.layers[0].name}_input"
            keras_name = names[0]
            names = [keras_name if not keras_name.startswith(_AUTO_NAME) else layer_input]
            aliases = {names[0]: tuple(n for n in (layer_input, keras_name) if n != names[0])}
        specs = {name: (tuple(tensor.shape[1:]), str(tensor.dtype)) for name, tensor in zip(names, tensors)}
        outputs_struct = functional._outputs_struct
        return cls(tuple(names), aliases, tuple(functional.output_names), isinstance(structure, Mapping),
                   isinstance(outputs_struct, Mapping), specs)

    def model_inputs(self, features: Any) -> Any:
        """What to call the model with: a tensor for one input, else a dict or list of tensors.

        Raises:
            KeyError: naming the expected and given keys and the difference.
            TypeError: if ``features`` is a bare tensor for a model with several inputs.
        """
        if isinstance(features, (torch.Tensor,)) or not isinstance(features, Mapping):
            if len(self.input_names) == 1:
                return features
            raise TypeError(message(
                "A model with several inputs needs a dict of features",
                expected=f"a dict keyed by the model's input names {list(self.input_names)}",
                fix="Return features as a dict from input_fn", features=type(features).__name__))
        values = {}
        for name in self.input_names:
            key = next((k for k in (name, *self.aliases[name]) if k in features), None)
            if key is None:
                raise self._missing_error(features)
            values[name] = features[key]
        if len(self.input_names) == 1 and not self.inputs_as_dict:
            return values[self.input_names[0]]
        return values if self.inputs_as_dict else [values[name] for name in self.input_names]

    def _missing_error(self, features: Mapping) -> KeyError:
        accepted = [" or ".join(repr(n) for n in (name, *self.aliases[name])) for name in self.input_names]
        given = sorted(map(str, features))
        missing = [name for name in self.input_names
                   if not any(k in features for k in (name, *self.aliases[name]))]
        return ReadableKeyError(message(
            "The features do not match the Keras model's inputs",
            expected=f"a features dict with the keys {', '.join(accepted)} (extra keys are ignored)",
            fix="Rename the keys in input_fn to the model's input names (for a Sequential model "
                "'<first layer name>_input'), or name the model's inputs with keras.Input(name=...)",
            given_keys=given, missing=missing))

    def model_labels(self, labels: Any) -> Any:
        """Labels in the structure of the model's outputs (a tensor, a list or a dict).

        Raises:
            KeyError: if a dict of labels lacks an output's name.
        """
        if len(self.output_names) == 1 and isinstance(labels, Mapping) and self.output_names[0] in labels:
            return labels[self.output_names[0]]
        if not isinstance(labels, Mapping):
            return labels
        missing = [name for name in self.output_names if name not in labels]
        if missing:
            raise ReadableKeyError(message(
                "The labels do not match the Keras model's outputs",
                expected=f"a labels dict keyed by the output names {list(self.output_names)}",
                fix="Key the labels by the names of the model's output layers",
                given_keys=sorted(map(str, labels)), missing=missing))
        if self.outputs_as_dict:
            return {name: labels[name] for name in self.output_names}
        return [labels[name] for name in self.output_names]

    def predictions(self, outputs: Any) -> dict[str, torch.Tensor]:
        """The model's outputs keyed by output name."""
        if isinstance(outputs, Mapping):
            return {name: outputs[name] for name in self.output_names}
        if isinstance(outputs, (list, tuple)):
            return dict(zip(self.output_names, outputs))
        return {self.output_names[0]: outputs}
