"""The preprocessing of an exported program: serving inputs -> the program's input tensors.

Exported programs cannot take strings, so feature columns split their work in two: a
*transform* (raw values -> int64 ids, numpy, :mod:`~torch_estimator.export.transforms`) and the
tensor work (embeddings, one-hot, ...) inside the module. While training, :func:`apply` runs
the transform on each batch. While exporting, the probe of ``model_fn`` runs inside
:class:`recording`, which notes every transform and the serving input it read; the program is
then traced inside :class:`replaying`, where :func:`apply` returns a program input instead.
The export writes the transforms to ``preprocessing.json`` and the predictor runs them, with
the same code, before calling the program: a client sends ``{"type": ["house"]}``.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import message
from torch_estimator.export.receivers import STRING, TensorSpec
from torch_estimator.export.transforms import StringInput, Transform, from_json


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How one program's inputs are made from the serving inputs.

    Attributes:
        inputs: The program's input names, in the order it takes them.
        transforms: Program input name -> transform over the serving inputs. Program inputs
            without a transform are serving inputs passed through unchanged.

    Example:
        >>> from torch_estimator.export.transforms import VocabularyLookup
        >>> preprocessing = Preprocessing(("x", "type/vocabulary"),
        ...                               {"type/vocabulary": VocabularyLookup("type", ("house", "apt"))})
        >>> x, ids = preprocessing({"x": np.ones((2, 1), np.float32), "type": np.array(["apt", "boat"])})
        >>> ids.tolist()
        [[1], [-1]]
    """

    inputs: tuple[str, ...]
    transforms: Mapping[str, Transform] = dataclasses.field(default_factory=dict)

    def __call__(self, serving: Mapping[str, Any]) -> list[Any]:
        return [self.transforms[name](serving) if name in self.transforms else serving[name] for name in self.inputs]

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {name: transform.to_json() for name, transform in self.transforms.items()}

    @classmethod
    def from_json(cls, inputs: Sequence[str], transforms: Mapping[str, dict[str, Any]]) -> Preprocessing:
        return cls(tuple(inputs), {name: from_json(spec) for name, spec in transforms.items()})


_SCOPE: contextvars.ContextVar[Any] = contextvars.ContextVar("torch_estimator_preprocessing", default=None)


class _Scope:
    def __enter__(self) -> Any:
        self._token = _SCOPE.set(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _SCOPE.reset(self._token)


class recording(_Scope):  # noqa: N801 - used like a function: `with recording() as record:`
    """Notes each transform applied, the objects it read and its output's trailing shape."""

    def __init__(self) -> None:
        self.transforms: dict[Transform, tuple[dict[str, Any], tuple[int, ...]]] = {}

    def record(self, transform: Transform, features: Mapping[str, Any], ids: np.ndarray) -> None:
        if transform not in self.transforms:
            self.transforms[transform] = ({key: features[key] for key in transform.keys()}, ids.shape[1:])


class replaying(_Scope):  # noqa: N801
    """Makes :func:`apply` return the given tensors (the traced program's inputs)."""

    def __init__(self, tensors: Mapping[Transform, torch.Tensor]) -> None:
        self.tensors = tensors


def apply(transform: Transform, features: Mapping[str, Any]) -> torch.Tensor:
    """The ids of ``transform`` on ``features``, as an int64 tensor ``[batch, width]`` on the CPU.

    Computed with numpy, except while an export traces the program: then they are the program's
    input, computed by the exported preprocessing.

    Example:
        >>> from torch_estimator.export.transforms import HashBucket
        >>> apply(HashBucket("city", 5), {"city": np.array(["Oslo", ""])}).shape
        torch.Size([2, 1])
    """
    return _apply(transform, features)


@torch.compiler.disable  # numpy code on strings: torch.compile (RunConfig(compile=True)) must not trace it
def _apply(transform: Transform, features: Mapping[str, Any]) -> torch.Tensor:
    scope = _SCOPE.get()
    if isinstance(scope, replaying):
        if transform not in scope.tensors:
            raise RuntimeError(message(
                "model_fn applied a feature column transform while tracing the export that it did not apply while "
                "probing it", expected="the same feature columns on every PREDICT-mode call",
                fix="Build the feature columns the same way on every call", transform=transform.to_json()))
        return scope.tensors[transform]
    ids = transform(features)
    if isinstance(scope, recording):
        scope.record(transform, features, ids)
    return torch.from_numpy(ids)


@dataclasses.dataclass(frozen=True)
class Binding:
    """A recorded probe bound to the serving inputs: what the export traces and writes.

    Attributes:
        preprocessing: Serving inputs -> program inputs (transforms renamed to serving inputs).
        program_specs: The program's inputs: numeric serving inputs, then one int64 input per
            transform.
        replay: Transform (over feature keys, as ``model_fn`` builds it) -> program input name.
    """

    preprocessing: Preprocessing
    program_specs: dict[str, TensorSpec]
    replay: dict[Transform, str]


def bind(record: recording, serving: Mapping[str, Any], specs: Mapping[str, TensorSpec]) -> Binding:
    """Binds the recorded transforms to the serving inputs they read (by identity).

    ``serving`` holds the objects the probe's receiver was given (tensors and
    :class:`StringInput`), so a feature that *is* a serving input, under any name, is found.

    Raises:
        ValueError: a transform read a feature computed inside the receiver (a features
            callable), which the preprocessing, run before the program, cannot compute.
    """
    by_identity = {id(value): name for name, value in serving.items()}
    batch = next(iter(specs.values())).batch_size
    program_specs = {name: spec for name, spec in specs.items() if spec.dtype != STRING}
    transforms: dict[str, Transform] = {}
    replay: dict[Transform, str] = {}
    for transform, (sources, trailing) in record.transforms.items():
        names = {}
        for key, value in sources.items():
            if id(value) not in by_identity:
                raise ValueError(message(
                    f"A feature column turns feature {key!r} into ids, but the serving receiver computes that feature",
                    expected="features that are serving inputs unchanged (the ids are computed before the exported "
                             "program, from the serving inputs)",
                    fix=f"Map {key!r} to a receiver input (features={{{key!r}: receiver_tensors[...]}}) and move the "
                        "computation into model_fn or a numeric_column normalizer_fn", feature=key))
            names[key] = by_identity[id(value)]
        renamed = transform.renamed(names)
        name = _unique(f"{'_X_'.join(renamed.keys())}/{renamed.kind}", {*specs, *program_specs})
        program_specs[name] = TensorSpec((batch, *trailing), torch.int64)
        transforms[name] = renamed
        replay[transform] = name
    return Binding(Preprocessing(tuple(program_specs), transforms), program_specs, replay)


def string_inputs(serving: Mapping[str, Any], specs: Mapping[str, TensorSpec]) -> dict[str, Any]:
    """``serving`` with each string input wrapped as a :class:`StringInput` (values kept)."""
    return {name: StringInput(name, None if value is None else np.asarray(value)) if specs[name].dtype == STRING
            else value for name, value in serving.items()}


def _unique(name: str, taken: set[str]) -> str:
    candidate, suffix = name, 1
    while candidate in taken:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    return candidate
