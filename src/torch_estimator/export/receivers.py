"""Serving input receivers: what a served model is fed, and how that becomes ``features``.

A receiver names the serving inputs (``receiver_tensors``: name -> :class:`TensorSpec`, or an
example array the spec is read from) and says how ``model_fn``'s ``features`` are made from
them. As in TensorFlow, the receiver tensors act as placeholders: ``features`` may be a dict
whose values *are* receiver tensors (matched by identity, so a receiver input ``prop_type`` can
feed the feature ``type``), or a callable ``receiver_inputs -> features`` that is traced into
the exported program (to rename, combine or transform inputs).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.errors import message

#: dtypes a serving input may have: those numpy, torch.export and ONNX all represent.
SUPPORTED_DTYPES = (torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32,
                    torch.int64, torch.uint8, torch.bool)
STRING = "string"
_EXAMPLE_ROWS = 3  # rows of an example array kept for the export's verification batch
_ALTERNATIVE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def dtype_name(dtype: torch.dtype | str) -> str:
    """The dtype's name as written in ``signature.json`` (numpy's spelling): ``'float32'``."""
    return dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """Describes one serving input: its shape (``None`` for the batch) and dtype.

    Args:
        shape: The input's shape, batch dimension first. ``None`` as the first entry makes the
            batch dynamic (any number of rows, the usual case); an int fixes it. The other
            dimensions must be fixed positive ints.
        dtype: A torch dtype among :data:`SUPPORTED_DTYPES`, or ``'string'``.
        example: Optional rows of real data (a numpy array); the export feeds them to the model
            when it checks the exported programs (integer ids then stay in range). Set by
            :meth:`from_example`; not part of equality.

    Raises:
        ValueError: listing every problem with ``shape`` and ``dtype`` at once.

    Example:
        >>> import torch
        >>> spec = TensorSpec([None, 8], torch.float32)
        >>> spec.shape, spec.batch_size
        ((None, 8), None)
        >>> TensorSpec.from_example([[1, 2], [3, 4]]).describe()
        'int64[batch, 2]'
    """

    shape: tuple[int | None, ...]
    dtype: torch.dtype | str = torch.float32
    example: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = _shape_problems(self.shape) + _dtype_problems(self.dtype)
        if problems:
            raise ValueError(message(
                "Invalid TensorSpec: " + "; ".join(problems),
                expected="a shape like [None, 8] (None only for the batch, first) and a torch dtype "
                         f"among {[dtype_name(d) for d in SUPPORTED_DTYPES]} or 'string'",
                fix="Fix the TensorSpec", shape=self.shape, dtype=self.dtype))
        object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def batch_size(self) -> int | None:
        """The fixed batch size, or None when the batch is dynamic."""
        return self.shape[0]

    def describe(self) -> str:
        """``'float32[batch, 8]'``: the form used in error messages."""
        dims = ", ".join("batch" if dim is None else str(dim) for dim in self.shape)
        return f"{dtype_name(self.dtype)}[{dims}]"

    def to_json(self) -> dict[str, Any]:
        """``{'dtype': 'float32', 'shape': [-1, 8]}`` (-1 marks the dynamic batch)."""
        return {"dtype": dtype_name(self.dtype), "shape": [-1 if dim is None else dim for dim in self.shape]}

    @classmethod
    def from_example(cls, value: Any, batch_size: int | None = None) -> TensorSpec:
        """The spec of a batch of example data: its dtype and shape, with the batch replaced.

        Args:
            value: A numpy array, torch tensor or nested list with the batch dimension first.
                Strings give ``'string'``.
            batch_size: None for a dynamic batch, or the fixed batch size.
        """
        if isinstance(value, torch.Tensor):
            array = value.detach().cpu().numpy()
        else:
            array = np.asarray(value)
        if array.ndim == 0:
            raise ValueError(message("An example serving input needs a batch dimension",
                                     expected="an array of shape [batch, ...]",
                                     fix="Pass a batch of examples, e.g. [[...]] for one", shape=()))
        if array.dtype.kind in "OUS":
            dtype: torch.dtype | str = STRING
        elif array.dtype == np.float64 and not isinstance(value, (np.ndarray, torch.Tensor)):
            dtype = torch.float32  # plain Python floats: float32, as torch.tensor([...]) does
        else:
            dtype = torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype
        return cls((batch_size, *array.shape[1:]), dtype, example=array[:_EXAMPLE_ROWS])


def _shape_problems(shape: Any) -> list[str]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list, torch.Size)):
        return [f"shape must be a list or tuple, not {type(shape).__name__}"]
    if len(shape) == 0:
        return ["shape needs a batch dimension (rank >= 1)"]
    problems = []
    for axis, dim in enumerate(shape):
        if dim is None:
            if axis > 0:
                problems.append(f"only the batch dimension may be None (axis {axis} is None)")
        elif isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            problems.append(f"dimension {axis} must be a positive int{' or None' if axis == 0 else ''}, "
                            f"not {dim!r}")
    return problems


def _dtype_problems(dtype: Any) -> list[str]:
    if dtype == STRING or dtype in SUPPORTED_DTYPES:
        return []
    if isinstance(dtype, torch.dtype):
        return [f"dtype {dtype_name(dtype)} cannot be a serving input (numpy or ONNX cannot carry it)"]
    return [f"dtype must be a torch dtype or 'string', not {dtype!r}"]


@dataclasses.dataclass(frozen=True)
class ReceiverInputs:
    """One set of serving inputs, resolved: the specs and how features are built from them.

    A receiver has one (its ``receiver_tensors``) plus one per alternative; each becomes its
    own exported program.

    Attributes:
        name: None for the receiver's own inputs, else the alternative's name.
        specs: Input name -> spec, in the order the program takes them.
        feature_map: Feature name -> input name when features are receiver tensors (None for
            a callable); for a bare-tensor receiver, ``{'': input name}``.
        transform: The ``features`` callable, or None.
        bare: True for :class:`TensorServingInputReceiver` (features is one tensor).
    """

    name: str | None
    specs: dict[str, TensorSpec]
    feature_map: dict[str, str] | None
    transform: Callable[[dict[str, torch.Tensor]], Any] | None
    bare: bool

    def build_features(self, inputs: dict[str, torch.Tensor]) -> Any:
        """``features`` for ``model_fn`` from the input tensors (runs inside the program)."""
        if self.transform is None:
            if self.bare:
                return inputs[self.feature_map[""]]
            return {feature: inputs[name] for feature, name in self.feature_map.items()}
        features = self.transform(dict(inputs))
        if self.bare:
            if not isinstance(features, torch.Tensor):
                raise TypeError(message("The features callable of a TensorServingInputReceiver must return "
                                        "one tensor", fix="Return a tensor, or use ServingInputReceiver for "
                                        "a dict", returned=type(features).__name__))
            return features
        return dict(features) if isinstance(features, Mapping) else {"feature": features}

    def describe(self) -> dict[str, Any]:
        """The receiver -> feature record written to ``preprocessing.json``."""
        record: dict[str, Any] = {"receiver": "TensorServingInputReceiver" if self.bare else "ServingInputReceiver",
                                  "inputs": list(self.specs)}
        if self.transform is not None:
            name = getattr(self.transform, "__qualname__", type(self.transform).__name__)
            record.update(features_from="callable", callable=f"{getattr(self.transform, '__module__', '?')}.{name}",
                          features=None)
        else:
            record.update(features_from="receiver_tensors", features=dict(self.feature_map))
        return record


class _Receiver:
    """The shared construction of the two receiver classes (see :class:`ServingInputReceiver`)."""

    _bare = False

    def __init__(self, features: Any, receiver_tensors: Any, receiver_tensors_alternatives: Any = None) -> None:
        if features is None:
            raise ValueError(message(f"{type(self).__name__} needs features",
                                     expected="receiver tensors, a dict of them, or a callable",
                                     fix="Pass features=", features=None))
        if not self._bare and not callable(features) and not isinstance(features, Mapping):
            features = {"feature": features}  # TensorFlow's rule for a single tensor
        self.features = features
        sets = [_resolve(None, receiver_tensors, features, self._bare)]
        alternatives = _alternatives(receiver_tensors_alternatives)
        sets += [_resolve(name, tensors, features, self._bare) for name, tensors in alternatives.items()]
        self.input_sets: tuple[ReceiverInputs, ...] = tuple(sets)
        self.receiver_tensors: dict[str, TensorSpec] = dict(sets[0].specs)
        self.receiver_tensors_alternatives: dict[str, dict[str, TensorSpec]] = {
            inputs.name: dict(inputs.specs) for inputs in sets[1:]}

    def __repr__(self) -> str:
        inputs = ", ".join(f"{name}: {spec.describe()}" for name, spec in self.receiver_tensors.items())
        return f"{type(self).__name__}({{{inputs}}})"


class ServingInputReceiver(_Receiver):
    """What the served model receives, and the ``features`` ``model_fn`` gets from it.

    Args:
        features: A dict of feature name -> receiver tensor (one of the values of
            ``receiver_tensors``, matched by identity), or a callable
            ``receiver_inputs (dict of tensors) -> features`` traced into the exported program.
            A single receiver tensor, or a callable returning one tensor, becomes
            ``{'feature': tensor}`` (TensorFlow's rule); to hand ``model_fn`` a bare tensor use
            :class:`TensorServingInputReceiver`.
        receiver_tensors: Serving input name -> :class:`TensorSpec`, or an example array
            (numpy, torch or a nested list; the spec is read from it, with a dynamic batch).
            A single value becomes ``{'input': value}``. Inputs may be ``'string'`` but exports
            do not support them yet (vocabulary lookups arrive with feature columns).
        receiver_tensors_alternatives: Optional ``{name: receiver_tensors}``; each adds the
            signatures ``'<name>:<signature>'``, served by a program of its own. ``features``
            must be computable from each (the same receiver tensors, or the callable).

    Raises:
        TypeError: ``features`` or ``receiver_tensors`` has the wrong type.
        ValueError: a feature is not one of the receiver tensors, names are empty, or a spec
            is invalid.

    Example:
        >>> import torch
        >>> receiver_tensors = {"prop_type": TensorSpec([None, 1], torch.int64),
        ...                     "sq_footage": TensorSpec([None, 1], torch.float32)}
        >>> receiver = ServingInputReceiver(
        ...     features={"type": receiver_tensors["prop_type"], "sq_footage": receiver_tensors["sq_footage"]},
        ...     receiver_tensors=receiver_tensors)
        >>> sorted(receiver.receiver_tensors)
        ['prop_type', 'sq_footage']
        >>> receiver.input_sets[0].feature_map
        {'type': 'prop_type', 'sq_footage': 'sq_footage'}
        >>> scaled = ServingInputReceiver(lambda inputs: {"x": inputs["x"] / 100.0},
        ...                               {"x": TensorSpec([None, 3])})
        >>> scaled.input_sets[0].transform is not None
        True
    """


class TensorServingInputReceiver(_Receiver):
    """A receiver whose ``features`` is one tensor, passed to ``model_fn`` as it is.

    :class:`ServingInputReceiver` wraps a single tensor as ``{'feature': tensor}`` (as
    TensorFlow does); use this class when ``model_fn`` expects ``features`` to be the tensor
    itself. Same arguments, with ``features`` a single receiver tensor or a callable returning
    one tensor.

    Example:
        >>> import torch
        >>> spec = TensorSpec([None, 8], torch.float32)
        >>> receiver = TensorServingInputReceiver(spec, {"x": spec})
        >>> receiver.input_sets[0].bare, receiver.input_sets[0].feature_map
        (True, {'': 'x'})
    """

    _bare = True


def build_raw_serving_input_receiver_fn(features: Mapping[str, Any],
                                        default_batch_size: int | None = None) -> Callable[[], ServingInputReceiver]:
    """A ``serving_input_receiver_fn`` feeding ``features`` directly (no parsing).

    The receiver tensors and the features are the same dict: each serving input is named after
    its feature.

    Args:
        features: Feature name -> example data (numpy, torch, nested list; the batch dimension
            first) or :class:`TensorSpec`.
        default_batch_size: None for a dynamic batch (the usual case), or a fixed batch size
            (TensorFlow's meaning: the batch dimension of every input).

    Returns:
        A zero-argument function returning a :class:`ServingInputReceiver`.

    Example:
        >>> import numpy as np, torch
        >>> fn = build_raw_serving_input_receiver_fn({"x": np.zeros((5, 8), np.float32),
        ...                                           "ids": TensorSpec([None, 2], torch.int64)})
        >>> {name: spec.describe() for name, spec in fn().receiver_tensors.items()}
        {'x': 'float32[batch, 8]', 'ids': 'int64[batch, 2]'}
    """
    if not isinstance(features, Mapping) or not features:
        raise TypeError(message("build_raw_serving_input_receiver_fn needs a non-empty dict of features",
                                expected="{name: example array or est.export.TensorSpec}",
                                fix="Wrap a single input as {'x': ...}, or use TensorServingInputReceiver",
                                features=type(features).__name__))
    if default_batch_size is not None and (isinstance(default_batch_size, bool) or
                                           not isinstance(default_batch_size, int) or default_batch_size < 1):
        raise ValueError(message("default_batch_size must be a positive int or None", fix="Pass e.g. None",
                                 default_batch_size=default_batch_size))
    specs = {name: _placeholder(value, default_batch_size, f"features[{name!r}]") for name, value in features.items()}

    def serving_input_receiver_fn() -> ServingInputReceiver:
        # Fresh spec objects per call: the features refer to them by identity.
        receiver_tensors = {name: dataclasses.replace(spec) for name, spec in specs.items()}
        return ServingInputReceiver(dict(receiver_tensors), receiver_tensors)

    return serving_input_receiver_fn


def _placeholder(value: Any, batch_size: int | None, where: str) -> TensorSpec:
    if isinstance(value, TensorSpec):
        return value if batch_size is None else dataclasses.replace(value, shape=(batch_size, *value.shape[1:]))
    if isinstance(value, (np.ndarray, torch.Tensor, list, tuple)):
        return TensorSpec.from_example(value, batch_size)
    raise TypeError(message(f"{where} must be a TensorSpec or example data",
                            expected="est.export.TensorSpec(shape, dtype), a numpy array, a tensor or a list",
                            fix="Describe the input with est.export.TensorSpec", value=type(value).__name__))


def _as_input_dict(tensors: Any, where: str) -> dict[str, Any]:
    if not isinstance(tensors, Mapping):
        tensors = {"input": tensors}  # TensorFlow's rule for a single receiver tensor
    if not tensors:
        raise ValueError(message(f"{where} is empty", expected="at least one serving input",
                                 fix="Pass {name: est.export.TensorSpec(...)}", **{where: {}}))
    bad = [name for name in tensors if not isinstance(name, str) or not name]
    if bad:
        raise ValueError(message(f"{where} names must be non-empty strings", fix="Rename them", names=bad))
    return dict(tensors)


def _alternatives(alternatives: Any) -> dict[str, Any]:
    if alternatives is None:
        return {}
    if not isinstance(alternatives, Mapping):
        raise TypeError(message("receiver_tensors_alternatives must be a dict",
                                expected="{alternative name: receiver_tensors}",
                                receiver_tensors_alternatives=type(alternatives).__name__))
    bad = [name for name in alternatives if not isinstance(name, str) or not _ALTERNATIVE_NAME.match(name)]
    if bad:
        raise ValueError(message("receiver_tensors_alternatives names must be plain names",
                                 expected="letters, digits, '_', '-', '.' (they name files of the export)",
                                 fix="Rename them", names=bad))
    return dict(alternatives)


def _resolve(name: str | None, receiver_tensors: Any, features: Any, bare: bool) -> ReceiverInputs:
    where = "receiver_tensors" if name is None else f"receiver_tensors_alternatives[{name!r}]"
    originals = _as_input_dict(receiver_tensors, where)
    specs = {key: _placeholder(value, None, f"{where}[{key!r}]") for key, value in originals.items()}
    batch_sizes = {key: spec.batch_size for key, spec in specs.items()}
    if len(set(batch_sizes.values())) > 1:
        raise ValueError(message(f"The inputs of {where} must share one batch dimension",
                                 expected="every first dimension None (dynamic), or all the same size",
                                 fix="Use None for the batch everywhere", batch_sizes=batch_sizes))
    if callable(features) and not isinstance(features, (Mapping, TensorSpec)):
        return ReceiverInputs(name, specs, None, features, bare)
    if bare:
        if isinstance(features, Mapping):
            raise TypeError(message("TensorServingInputReceiver features must be one tensor, not a dict",
                                    fix="Use ServingInputReceiver for dict features", features=sorted(features)))
        return ReceiverInputs(name, specs, {"": _input_name(features, originals, "features", where)}, None, True)
    bad_keys = [key for key in features if not isinstance(key, str) or not key]
    if not features or bad_keys:
        raise ValueError(message("features must be a non-empty dict with non-empty string keys",
                                 fix="Name every feature", features=list(features)))
    feature_map = {feature: _input_name(value, originals, f"features[{feature!r}]", where)
                   for feature, value in features.items()}
    return ReceiverInputs(name, specs, feature_map, None, False)


def _input_name(value: Any, originals: dict[str, Any], what: str, where: str) -> str:
    """The receiver input that ``value`` is (by identity: receiver tensors are placeholders)."""
    matches = [key for key, original in originals.items() if original is value]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(message(f"{what} is the same object as several inputs of {where}: {matches}",
                                 expected="one TensorSpec object per receiver input",
                                 fix="Create a separate TensorSpec for each input", inputs=matches))
    raise ValueError(message(f"{what} is not one of the {where}",
                             expected=f"one of the objects in {where} (inputs {list(originals)}), used as a "
                                      "placeholder", fix="Write features={'name': receiver_tensors['input']}, "
                                                         "or pass a callable receiver_inputs -> features to "
                                                         "compute features",
                             value=type(value).__name__))
