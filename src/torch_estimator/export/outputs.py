"""Export outputs and serving signatures, with TensorFlow's names and rules.

``EstimatorSpec.export_outputs`` maps signature names to :class:`PredictOutput`,
:class:`ClassificationOutput` or :class:`RegressionOutput`. :func:`signature_outputs` applies
TensorFlow's rules (``serving_default`` always present); :func:`plan_outputs` flattens the
signatures into the exported program's named outputs.

Unlike TensorFlow, classify and regress signatures are kept for raw (non-serialized-Example)
inputs: they take the receiver's inputs, like the predict signatures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from torch_estimator.errors import message

DEFAULT_SERVING_SIGNATURE_DEF_KEY = "serving_default"
PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD = "predict", "classify", "regress"
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class ExportOutput:
    """One signature's outputs: ``outputs`` (key -> tensor) and its ``method``.

    The base of :class:`PredictOutput`, :class:`ClassificationOutput` and
    :class:`RegressionOutput`; ``export_outputs`` values must be instances.
    """

    method: str = ""
    outputs: dict[str, torch.Tensor]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{key}: {list(value.shape)}" for key, value in self.outputs.items())
        return f"{type(self).__name__}({{{shapes}}})"


class PredictOutput(ExportOutput):
    """Outputs for a ``predict`` signature: any tensors, by name.

    Args:
        outputs: A tensor (keyed ``'output'``, as TensorFlow) or a dict of name -> tensor.

    Raises:
        ValueError: a key is not a non-empty string or a value is not a torch tensor.

    Example:
        >>> import torch
        >>> sorted(PredictOutput({"logits": torch.zeros(2, 3), "ids": torch.zeros(2)}).outputs)
        ['ids', 'logits']
        >>> list(PredictOutput(torch.zeros(2, 1)).outputs)
        ['output']
    """

    method = PREDICT_METHOD

    def __init__(self, outputs: Any) -> None:
        if not isinstance(outputs, Mapping):
            outputs = {"output": outputs}
        for key, value in outputs.items():
            if not isinstance(key, str) or not key:
                raise ValueError(message("PredictOutput keys must be non-empty strings", fix="Name the output",
                                         key=key))
            _require_tensor(value, f"PredictOutput[{key!r}]")
        self.outputs = dict(outputs)


class ClassificationOutput(ExportOutput):
    """Outputs for a ``classify`` signature: ``scores`` and/or ``classes``.

    Args:
        scores: Float tensor ``[batch, num_classes]`` (or ``[batch]``); output key ``'scores'``.
        classes: Integer tensor of class ids; output key ``'classes'``. TensorFlow required
            a string tensor of class names; torch has no string tensors, so ids are exported
            (names belong in a vocabulary served beside the model).

    Raises:
        ValueError: neither is given, or a dtype is wrong.

    Example:
        >>> import torch
        >>> output = ClassificationOutput(scores=torch.rand(4, 3), classes=torch.zeros(4, 3, dtype=torch.int64))
        >>> output.method, sorted(output.outputs)
        ('classify', ['classes', 'scores'])
    """

    method = CLASSIFY_METHOD

    def __init__(self, scores: torch.Tensor | None = None, classes: torch.Tensor | None = None) -> None:
        if scores is None and classes is None:
            raise ValueError(message("ClassificationOutput needs scores or classes",
                                     expected="at least one of them", fix="Pass scores=probabilities",
                                     scores=None, classes=None))
        self.outputs = {}
        if classes is not None:
            _require_tensor(classes, "ClassificationOutput classes")
            if classes.dtype in _FLOATS or classes.dtype == torch.bool:
                raise ValueError(message("Classification classes must be an integer tensor of class ids",
                                         fix="Pass classes=logits.argmax(-1), or only scores",
                                         dtype=str(classes.dtype)))
            self.outputs["classes"] = classes
        if scores is not None:
            _require_tensor(scores, "ClassificationOutput scores")
            if scores.dtype not in _FLOATS:
                raise ValueError(message("Classification scores must be a float tensor",
                                         fix="Pass probabilities or logits", dtype=str(scores.dtype)))
            self.outputs["scores"] = scores
        self.scores, self.classes = scores, classes


class RegressionOutput(ExportOutput):
    """Outputs for a ``regress`` signature: one float tensor, output key ``'outputs'``.

    Raises:
        ValueError: ``value`` is not a float tensor.

    Example:
        >>> import torch
        >>> list(RegressionOutput(torch.zeros(4, 1)).outputs)
        ['outputs']
    """

    method = REGRESS_METHOD

    def __init__(self, value: torch.Tensor) -> None:
        _require_tensor(value, "RegressionOutput value")
        if value.dtype not in _FLOATS:
            raise ValueError(message("Regression output value must be a float tensor",
                                     fix="Cast it, e.g. value.float()", dtype=str(value.dtype)))
        self.value = value
        self.outputs = {"outputs": value}


def _require_tensor(value: Any, what: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise ValueError(message(f"{what} must be a torch.Tensor computed from the features",
                                 expected="a tensor (exported programs cannot return other objects)",
                                 fix="Compute it with torch operations on the features", value=type(value).__name__))


def signature_outputs(export_outputs: Any, predictions: Any) -> dict[str, ExportOutput]:
    """The signatures of an export, by TensorFlow's rules.

    ``export_outputs`` None gives ``{'serving_default': PredictOutput(predictions)}``; a single
    entry is also made ``serving_default``; several need one named ``serving_default``.
    ``serving_default`` comes first, the others in their given order.

    Raises:
        TypeError: ``export_outputs`` is not a dict of :class:`ExportOutput`.
        ValueError: it is empty, or has several entries and none is ``serving_default``.

    Example:
        >>> import torch
        >>> y = torch.zeros(2, 1)
        >>> list(signature_outputs({"predict": PredictOutput(y)}, None))
        ['serving_default', 'predict']
        >>> list(signature_outputs(None, {"y": y})["serving_default"].outputs)
        ['y']
    """
    if export_outputs is None:
        return {DEFAULT_SERVING_SIGNATURE_DEF_KEY: PredictOutput(predictions)}
    if not isinstance(export_outputs, Mapping):
        raise TypeError(message("export_outputs must be dict", expected="{signature name: est.export.PredictOutput"
                                "(...)}", export_outputs=type(export_outputs).__name__))
    wrong = {name: type(value).__name__ for name, value in export_outputs.items()
             if not isinstance(value, ExportOutput)}
    if wrong:
        raise TypeError(message("Values in export_outputs must be ExportOutput objects",
                                expected="est.export.PredictOutput, ClassificationOutput or RegressionOutput",
                                fix="Wrap the tensors, e.g. {'predict': est.export.PredictOutput({'y': y})}",
                                export_outputs=wrong))
    bad_names = [name for name in export_outputs if not isinstance(name, str) or not name]
    if not export_outputs or bad_names:
        raise ValueError(message("export_outputs needs at least one signature, each named by a non-empty string",
                                 fix="Name the signatures, or leave export_outputs=None for the predictions",
                                 export_outputs=list(export_outputs)))
    outputs = dict(export_outputs)
    if len(outputs) == 1:
        outputs.setdefault(DEFAULT_SERVING_SIGNATURE_DEF_KEY, next(iter(outputs.values())))
    if DEFAULT_SERVING_SIGNATURE_DEF_KEY not in outputs:
        raise ValueError(message(
            "Multiple export_outputs were provided, but none of them is specified as the default",
            expected=f"one of them named {DEFAULT_SERVING_SIGNATURE_DEF_KEY!r}",
            fix=f"Name the default signature {DEFAULT_SERVING_SIGNATURE_DEF_KEY!r}", export_outputs=list(outputs)))
    default = outputs.pop(DEFAULT_SERVING_SIGNATURE_DEF_KEY)
    return {DEFAULT_SERVING_SIGNATURE_DEF_KEY: default, **outputs}


@dataclasses.dataclass(frozen=True)
class OutputPlan:
    """How signatures map onto the program's flat, named outputs.

    Attributes:
        names: The program's output names, in output order. Each distinct tensor is output
            once, named after its key (``'<signature>/<key>'`` when one key means different
            tensors in different signatures).
        sources: For each output, the ``(signature, key)`` it is read from.
        signatures: Signature -> ``(method, {output key: program output name})``.
    """

    names: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    signatures: dict[str, tuple[str, dict[str, str]]]

    def select(self, outputs: Mapping[str, ExportOutput]) -> tuple[torch.Tensor, ...]:
        """The program's outputs, in order, from the signatures of one ``model_fn`` call."""
        return tuple(outputs[signature].outputs[key] for signature, key in self.sources)


def plan_outputs(outputs: Mapping[str, ExportOutput]) -> OutputPlan:
    """Flattens signatures into named program outputs, each distinct tensor once.

    Example:
        >>> import torch
        >>> y = torch.zeros(2, 1)
        >>> plan = plan_outputs(signature_outputs({"predict": PredictOutput({"y": y, "z": 2 * y})}, None))
        >>> plan.names, plan.signatures["serving_default"]
        (('y', 'z'), ('predict', {'y': 'y', 'z': 'z'}))
    """
    entries = [(signature, key, tensor) for signature, output in outputs.items()
               for key, tensor in output.outputs.items()]
    tensors_per_key: dict[str, set[int]] = {}
    for _, key, tensor in entries:
        tensors_per_key.setdefault(key, set()).add(id(tensor))
    name_of: dict[int, str] = {}  # tensor id -> output name
    names: list[str] = []
    sources: list[tuple[str, str]] = []
    for signature, key, tensor in entries:
        if id(tensor) in name_of:
            continue
        name = key if len(tensors_per_key[key]) == 1 else f"{signature}/{key}"
        base, suffix = name, 1
        while name in names:  # a key spelled like another's '<signature>/<key>' name
            name, suffix = f"{base}_{suffix}", suffix + 1
        name_of[id(tensor)] = name
        names.append(name)
        sources.append((signature, key))
    signatures = {signature: (output.method, {key: name_of[id(tensor)] for key, tensor in output.outputs.items()})
                  for signature, output in outputs.items()}
    return OutputPlan(tuple(names), tuple(sources), signatures)
