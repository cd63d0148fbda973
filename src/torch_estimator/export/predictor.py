"""``est.export.load(export_dir)``: serve an export without the code that trained it.

A :class:`Predictor` reads ``signature.json`` and runs either the ``torch.export`` program
(``model.pt2``) or the ONNX model (``model.onnx``, with onnxruntime on the CPU). It needs no
``model_fn`` and no model classes, and unpickles nothing: before loading a ``.pt2`` it checks
that the archive stores its weights as raw tensors (torch would unpickle tensor subclasses,
custom objects and sample inputs; exports written here contain none).

Inputs are validated here, once per call, against the signature (names, dtypes, shapes);
torch's own per-call input and guard checks, which cost more than a small model's forward
pass, are therefore switched off on the loaded program.

When the model reads features through feature columns, the signature's inputs are the raw
serving inputs (strings included) and the program's are ids: the transforms recorded in
``preprocessing.json`` (vocabulary lookups, hash buckets, boundaries) run first, in numpy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torch_estimator.errors import message
from torch_estimator.export.preprocessing import Preprocessing
from torch_estimator.export.receivers import STRING

SIGNATURE_FILE = "signature.json"
PREPROCESSING_FILE = "preprocessing.json"
FORMAT, FORMAT_VERSION = "torch_estimator/export", 1
BACKENDS = ("torch", "onnx")


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output of a signature.

    Attributes:
        name: The program's name for it (ONNX input/output name).
        dtype: numpy's dtype name, e.g. ``'float32'``.
        shape: The shape, ``-1`` for the dynamic batch dimension.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        """``'float32[batch, 8]'``."""
        return f"{self.dtype}[{', '.join('batch' if d == -1 else str(d) for d in self.shape)}]"


@dataclasses.dataclass(frozen=True)
class SignatureDef:
    """A serving signature: its method (``predict``, ``classify``, ``regress``), inputs by
    name and outputs by key."""

    method: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


class Predictor:
    """Runs an exported model's signatures on numpy data. Made by :func:`load`.

    Calling it takes ``{input name: batch}`` (numpy arrays, nested lists or tensors, batch
    dimension first; pass ``[row]`` for one example), or a bare batch when the signature has a
    single input, and returns ``{output key: numpy array}``. Values are cast to the input's
    dtype when numpy's ``same_kind`` rule allows it (float64 to float32, int to float), never
    from float to int. ``string`` inputs take ``str`` or UTF-8 ``bytes`` arrays.

    Attributes:
        export_dir: The directory loaded.
        backend: ``'torch'`` or ``'onnx'``.
        signatures: Signature name -> :class:`SignatureDef`.
        global_step: The training step of the exported weights.
    """

    def __init__(self, export_dir: str, backend: str, document: dict[str, Any], num_threads: int | None,
                 transforms: dict[str, dict[str, Any]] | None = None) -> None:
        self.export_dir = export_dir
        self.backend = backend
        self.global_step = document.get("global_step")
        self.signatures: dict[str, SignatureDef] = {
            name: _signature_def(entry) for name, entry in document["signatures"].items()}
        runners = {name: _open_program(export_dir, backend, program, num_threads)
                   for name, program in document["programs"].items()}
        self._plans = {name: _SignaturePlan(name, self.signatures[name], runners[entry["program"]],
                                            document["programs"][entry["program"]],
                                            (transforms or {}).get(entry["program"], {}))
                       for name, entry in document["signatures"].items()}

    def __call__(self, inputs: Any, signature: str = "serving_default") -> dict[str, np.ndarray]:
        plan = self._plans.get(signature)
        if plan is None:
            raise ValueError(message(f"The export has no signature {signature!r}",
                                     expected=f"one of {sorted(self.signatures)}", fix="Pass signature=<one of them>",
                                     signature=signature))
        return plan.run(inputs)

    def __repr__(self) -> str:
        return f"Predictor({self.export_dir!r}, backend={self.backend!r}, signatures={sorted(self.signatures)})"


def load(export_dir: str | os.PathLike, backend: str = "torch", *, num_threads: int | None = None) -> Predictor:
    """Loads an export written by ``export_saved_model`` for prediction.

    Args:
        export_dir: An ``export_dir_base/<timestamp>`` directory.
        backend: ``'torch'`` runs the ``torch.export`` program; ``'onnx'`` runs the ONNX model
            with onnxruntime (``CPUExecutionProvider``; torch is not used).
        num_threads: onnxruntime's intra-op threads (None: its default). The torch backend
            uses torch's global setting (``torch.set_num_threads``).

    Returns:
        A :class:`Predictor`; it caches the loaded programs, so keep it and call it many times.

    Raises:
        ValueError: ``backend`` is unknown, the directory is not an export, or the ``.pt2``
            would need unpickling.

    Example:
        >>> import tempfile, numpy as np, torch, torch_estimator as est
        >>> from torch_estimator.export import TensorSpec, build_raw_serving_input_receiver_fn, export_saved_model
        >>> def model_fn(features, labels, mode):
        ...     y = est.get_module("net", lambda: torch.nn.Linear(3, 1))(features["x"])
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions={"y": y})
        ...     loss = torch.nn.functional.mse_loss(y, labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False))
        >>> _ = estimator.train(lambda: ({"x": torch.ones(4, 3)}, torch.ones(4, 1)), steps=1)
        >>> path = export_saved_model(estimator, tempfile.mkdtemp(),
        ...                           build_raw_serving_input_receiver_fn({"x": TensorSpec([None, 3])}))
        >>> predictor = load(path)
        >>> predictor.signatures["serving_default"].inputs["x"].describe()
        'float32[batch, 3]'
        >>> predictor({"x": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]})["y"].shape
        (2, 1)
    """
    if backend not in BACKENDS:
        raise ValueError(message("Unknown export backend", expected=f"one of {BACKENDS}", backend=backend))
    export_dir = os.fspath(export_dir)
    path = os.path.join(export_dir, SIGNATURE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(message("Not a torch_estimator export directory", expected=f"a readable {SIGNATURE_FILE}",
                                 fix="Pass an export_dir_base/<timestamp> directory returned by export_saved_model",
                                 export_dir=export_dir, error=f"{type(error).__name__}: {error}")) from error
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise ValueError(message("Unsupported export format", expected=f"{FORMAT} version {FORMAT_VERSION}",
                                 fix="Re-export the model with this version of torch_estimator",
                                 format=document.get("format"), format_version=document.get("format_version")))
    return Predictor(export_dir, backend, document, num_threads, _read_transforms(export_dir))


def _read_transforms(export_dir: str) -> dict[str, dict[str, Any]]:
    """Program name -> its preprocessing transforms (none for exports without feature columns)."""
    path = os.path.join(export_dir, PREPROCESSING_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("transforms", {})


def _signature_def(entry: dict[str, Any]) -> SignatureDef:
    inputs = {name: TensorInfo(name, spec["dtype"], tuple(spec["shape"])) for name, spec in entry["inputs"].items()}
    outputs = {key: TensorInfo(spec["name"], spec["dtype"], tuple(spec["shape"]))
               for key, spec in entry["outputs"].items()}
    return SignatureDef(entry["method"], inputs, outputs)


class _SignaturePlan:
    """Everything one signature's call needs, precomputed: validation data and output picks."""

    def __init__(self, name: str, signature: SignatureDef, runner: Any, program: dict[str, Any],
                 transforms: dict[str, Any]) -> None:
        self.name = name
        self.signature = signature
        self.runner = runner
        self.names = tuple(signature.inputs)
        self.dtypes = tuple(None if info.dtype == STRING else np.dtype(info.dtype)
                            for info in signature.inputs.values())
        program_inputs = tuple(spec["name"] for spec in program["inputs"])
        # None when the program takes the serving inputs as they are: no per-call cost.
        self.preprocessing = (Preprocessing.from_json(program_inputs, transforms)
                              if transforms or program_inputs != self.names else None)
        self.trailing = tuple(info.shape[1:] for info in signature.inputs.values())
        fixed = {info.shape[0] for info in signature.inputs.values()} - {-1}
        self.batch_size = fixed.pop() if fixed else None
        self.keys = tuple(signature.outputs)
        program_outputs = [spec["name"] for spec in program["outputs"]]
        self.selection = runner.selection([program_outputs.index(info.name) for info in signature.outputs.values()],
                                          [info.name for info in signature.outputs.values()])

    def run(self, inputs: Any) -> dict[str, np.ndarray]:
        if not isinstance(inputs, Mapping):
            if len(self.names) != 1:
                raise self._error("needs a dict of inputs", inputs=type(inputs).__name__)
            inputs = {self.names[0]: inputs}
        if len(inputs) != len(self.names) or any(name not in inputs for name in self.names):
            raise self._error("got the wrong input names", missing=sorted(set(self.names) - set(inputs)),
                              unexpected=sorted(map(str, set(inputs) - set(self.names))))
        arrays = []
        batch = None
        for name, dtype, trailing in zip(self.names, self.dtypes, self.trailing):
            array = self._array(inputs[name], name, dtype)
            if array.ndim != len(trailing) + 1 or array.shape[1:] != trailing:
                raise self._error(f"got a misshaped input {name!r} (a batch dimension is required: pass [row] for "
                                  "one example)", **{name: array.shape})
            if batch is None:
                batch = array.shape[0]
            elif array.shape[0] != batch:
                raise self._error("got inputs with different batch sizes",
                                  batch_sizes={n: np.shape(inputs[n])[:1] for n in self.names})
            arrays.append(array)
        if batch < 1 or (self.batch_size is not None and batch != self.batch_size):
            raise self._error("got a wrong batch size", batch_size=batch)
        if self.preprocessing is not None:
            arrays = self.preprocessing(dict(zip(self.names, arrays)))
        return dict(zip(self.keys, self.runner.run(arrays, self.selection)))

    def _array(self, value: Any, name: str, dtype: np.dtype | None) -> np.ndarray:
        if isinstance(value, np.ndarray):
            array = value
        elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor; torch need not be imported
            array = value.detach().cpu().numpy()
        else:
            try:
                array = np.asarray(value)
            except ValueError as error:  # ragged nested lists
                raise self._error(f"got input {name!r} that is not a rectangular array", error=str(error)) from error
        if dtype is None:  # a string input
            if array.dtype.kind not in "USO":
                raise TypeError(self._message(f"needs strings for input {name!r}", **{name: str(array.dtype)}))
            return array
        if array.dtype != dtype:
            if not np.can_cast(array.dtype, dtype, "same_kind"):
                raise TypeError(self._message(f"cannot take input {name!r} of dtype {array.dtype} without losing "
                                              "information", **{name: str(array.dtype)}))
            array = array.astype(dtype)
        return array if array.flags.c_contiguous else np.ascontiguousarray(array)

    def _message(self, what: str, **received: Any) -> str:
        expected = ", ".join(f"{name}: {info.describe()}" for name, info in self.signature.inputs.items())
        return message(f"Signature {self.name!r} {what}", expected=f"inputs {{{expected}}}",
                       fix="Pass every input by name with the batch dimension first", **received)

    def _error(self, what: str, **received: Any) -> ValueError:
        return ValueError(self._message(what, **received))


class _TorchProgram:
    """A loaded ``.pt2`` program, called with numpy arrays."""

    def __init__(self, path: str) -> None:
        import torch  # only this backend needs torch

        _refuse_pickles(path)
        module = torch.export.load(path).module(check_guards=False)
        # The predictor checks dtypes and shapes itself; torch's per-call re-check of the same
        # constraints costs ~3x a small MLP's forward pass.
        if hasattr(module, "validate_inputs"):
            module.validate_inputs = False
        self._module = module
        self._torch = torch

    @staticmethod
    def selection(positions: list[int], names: list[str]) -> list[int]:
        return positions

    def run(self, arrays: Sequence[np.ndarray], positions: list[int]) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            outputs = self._module(*[torch.from_numpy(array) for array in arrays])
        return [outputs[i].detach().numpy() for i in positions]  # an output may alias a parameter


class _OnnxProgram:
    """An onnxruntime session on the CPU, called with numpy arrays."""

    def __init__(self, path: str, input_names: list[str], num_threads: int | None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        actual = [value.name for value in self._session.get_inputs()]
        if actual != input_names:
            raise ValueError(message("The ONNX model's inputs do not match signature.json", expected=str(input_names),
                                     fix="Re-export the model", path=path, inputs=actual))
        self._names = input_names

    @staticmethod
    def selection(positions: list[int], names: list[str]) -> list[str]:
        return names

    def run(self, arrays: Sequence[np.ndarray], names: list[str]) -> list[np.ndarray]:
        return self._session.run(names, dict(zip(self._names, arrays)))


def _open_program(export_dir: str, backend: str, program: dict[str, Any], num_threads: int | None) -> Any:
    path = os.path.join(export_dir, program["files"][backend])
    if backend == "torch":
        return _TorchProgram(path)
    return _OnnxProgram(path, [spec["name"] for spec in program["inputs"]], num_threads)


def _refuse_pickles(path: str) -> None:
    """Raises unless loading the ``.pt2`` at ``path`` unpickles nothing."""
    pickled = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename
            if "/data/sample_inputs/" in name and info.file_size > 0:
                pickled.append(name)  # torch.load, with an unrestricted fallback
            elif name.endswith((".pt", ".pkl")) and ("/data/weights/" in name or "/data/constants/" in name):
                pickled.append(name)  # the legacy pickled weights format
            elif name.endswith(("_weights_config.json", "_constants_config.json")):
                config = json.loads(archive.read(name)).get("config", {})
                pickled += [f"{name}:{key}" for key, entry in config.items()
                            if entry.get("use_pickle") or str(entry.get("path_name", "")).startswith(
                                ("custom_obj_", "opaque_obj_"))]
    if pickled:
        raise ValueError(message("The .pt2 program would unpickle data when loaded",
                                 expected="weights stored as raw tensors, no sample inputs or custom objects",
                                 fix="Load only exports written by export_saved_model", path=path,
                                 pickled=pickled[:5]))
