"""The served model as one ``nn.Module``, traced to a ``torch.export`` program and to ONNX.

:class:`ServingModule` takes the receiver's inputs as flat positional tensors, builds
``features``, calls the user's ``model_fn`` in PREDICT mode (inside a ``model_fn_scope`` on
the Estimator's module registry, so ``est.get_module`` returns the trained modules) and returns
every signature output as a flat tuple (:class:`~torch_estimator.export.outputs.OutputPlan`).
Flat positional inputs avoid both exporters' dict-input traps (graph inputs named
``features_x``; a trailing dict taken as kwargs by ``torch.onnx.export``) and let the ONNX
inputs and outputs carry the serving names.

The program's inputs are the serving inputs unless feature columns turn features into ids:
those ids are computed before the program (:mod:`~torch_estimator.export.preprocessing`), so
the program takes the numeric serving inputs and one int64 input per transform, and string
serving inputs never reach it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from torch_estimator.errors import ReadableKeyError, message
from torch_estimator.export import preprocessing
from torch_estimator.export.outputs import ExportOutput, OutputPlan, plan_outputs, signature_outputs
from torch_estimator.export.receivers import STRING, ReceiverInputs, TensorSpec, dtype_name
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import ModelFnContext, ModuleRegistry, model_fn_scope, watch_parameter_creation

#: The batch sizes every export is checked at; the first is also the tracing example.
SAMPLE_BATCH_SIZES = (3, 1)


class ExportError(RuntimeError):
    """The model could not be exported (tracing failed, or a file could not be written)."""


class ExportVerificationError(ExportError):
    """An exported program's outputs differ from the eager model's on the same inputs."""


class ServingModule(nn.Module):
    """``program inputs -> model_fn(features, mode=PREDICT) -> flat signature outputs``.

    Args:
        registry: The Estimator's module registry (holds the trained weights; a submodule so
            the exporters see its parameters).
        model_fn: The Estimator's ``ModelFnCaller``.
        inputs: The receiver inputs this program serves.
        device: The device the registry lives on.
        global_step: Reported to ``model_fn`` through its context.
    """

    def __init__(self, registry: ModuleRegistry, model_fn: Callable, inputs: ReceiverInputs,
                 device: torch.device, global_step: int) -> None:
        super().__init__()
        self.registry = registry
        self.model_fn = model_fn
        self.inputs = inputs
        self.device = device
        self.global_step = global_step
        self.plan: OutputPlan | None = None  # set by probe()
        # The serving inputs unchanged, until probe() finds feature-column transforms.
        self.binding = preprocessing.Binding(preprocessing.Preprocessing(tuple(inputs.specs)), dict(inputs.specs), {})

    @property
    def program_specs(self) -> dict[str, TensorSpec]:
        """The traced program's inputs, in order."""
        return self.binding.program_specs

    def signatures(self, features: Any) -> dict[str, ExportOutput]:
        """Runs ``model_fn`` once and returns its signatures (TensorFlow's rules)."""
        context = ModelFnContext(self.registry, ModeKeys.PREDICT, self.device, global_step=self.global_step)
        with model_fn_scope(context):
            spec = self.model_fn(features, None, ModeKeys.PREDICT)
        return signature_outputs(spec.export_outputs, spec.predictions)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        by_name = dict(zip(self.program_specs, tensors))
        serving = preprocessing.string_inputs({name: by_name.get(name) for name in self.inputs.specs},
                                              self.inputs.specs)
        replay = {transform: by_name[name] for transform, name in self.binding.replay.items()}
        with preprocessing.replaying(replay):
            return self.plan.select(self.signatures(self.inputs.build_features(serving)))

    def probe(self, sample: tuple[Any, ...]) -> OutputPlan:
        """Runs ``model_fn`` eagerly once on serving inputs (creating and restoring its modules),
        sets the plan and binds the feature-column transforms it applied to the serving inputs.

        A ``KeyError`` for a feature the receiver does not provide becomes a clear error naming
        the receiver's inputs and features.
        """
        serving = self._serving(sample)
        features = self.inputs.build_features(serving)
        recorder = _RecordingFeatures(features) if isinstance(features, dict) else features
        try:
            with torch.no_grad(), watch_parameter_creation(), preprocessing.recording() as record:
                outputs = self.signatures(recorder)
        except KeyError as error:
            missing = getattr(recorder, "missing", [])
            if not missing:
                raise
            raise ReadableKeyError(message(
                f"model_fn read the feature {missing[0]!r}, which the serving input receiver does not provide",
                expected=f"model_fn to read only the receiver's features {sorted(features)}",
                fix=f"Add {missing[0]!r} to the receiver's features (features={{{missing[0]!r}: "
                    "receiver_tensors[...]}), or map a receiver input to it with a features callable",
                missing=missing[0], features=sorted(features), receiver_tensors=list(self.inputs.specs))) from error
        except Exception as error:
            _add_sample_note(error, self.inputs)
            raise
        self.plan = plan_outputs(outputs)
        self.binding = preprocessing.bind(record, serving, self.inputs.specs)
        return self.plan

    def program_inputs(self, sample: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
        """The program's inputs for a batch of serving inputs (runs the exported preprocessing)."""
        arrays = self.binding.preprocessing(dict(zip(self.inputs.specs, sample)))
        return tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in arrays)

    def eager_outputs(self, samples: dict[int, tuple[Any, ...]]) -> dict[int, list[np.ndarray]]:
        """The eager model's outputs (numpy, CPU) on each batch of serving inputs: the
        verification reference (feature columns compute their ids as in training)."""
        outputs = {}
        try:
            with torch.no_grad():
                for size, sample in samples.items():
                    features = self.inputs.build_features(self._serving(sample))
                    outputs[size] = [t.cpu().numpy() for t in self.plan.select(self.signatures(features))]
        except Exception as error:
            _add_sample_note(error, self.inputs)
            raise
        return outputs

    def _serving(self, sample: tuple[Any, ...]) -> dict[str, Any]:
        return preprocessing.string_inputs(dict(zip(self.inputs.specs, sample)), self.inputs.specs)


def _add_sample_note(error: BaseException, inputs: ReceiverInputs) -> None:
    """Tells the user the failing call was the export's, on which data (Python 3.11+ notes)."""
    if not hasattr(error, "add_note"):
        return
    specs = {name: spec.describe() for name, spec in inputs.specs.items()}
    note = f"While exporting: model_fn was called in PREDICT mode on sample batches of the serving inputs {specs}."
    synthetic = [name for name, spec in inputs.specs.items() if spec.example is None]
    if synthetic:
        note += (f" Inputs {synthetic} got synthetic data (standard normal floats, zero integers); to use real rows, "
                 "describe them with TensorSpec.from_example(array) or build_raw_serving_input_receiver_fn({name: "
                 "array}).")
    error.add_note(note)


class _RecordingFeatures(dict):
    """The features dict, remembering keys ``model_fn`` asked for and did not find."""

    def __init__(self, features: dict) -> None:
        super().__init__(features)
        self.missing: list[Any] = []

    def __missing__(self, key: Any) -> Any:
        self.missing.append(key)
        raise KeyError(key)


def sample_inputs(inputs: ReceiverInputs, batch_size: int, seed: int = 0) -> tuple[Any, ...]:
    """A batch of ``batch_size`` rows for every serving input: example rows when given, else synthetic.

    Synthetic floats are standard normal; integers and booleans are zeros (a valid index for
    any embedding or lookup table); strings are the row numbers (``'0'``, ``'1'``, ...).
    Numeric inputs are tensors, string inputs numpy arrays of ``str``.
    """
    generator = np.random.default_rng(seed)
    batch: list[Any] = []
    for spec in inputs.specs.values():
        rows = spec.batch_size or batch_size
        shape = (rows, *spec.shape[1:])
        dtype = np.dtype(np.str_ if spec.dtype == STRING else dtype_name(spec.dtype))
        if spec.example is not None and len(spec.example):
            array = np.asarray(spec.example)[np.arange(rows) % len(spec.example)].astype(dtype)
        elif dtype.kind == "U":
            array = np.arange(int(np.prod(shape))).astype(np.str_).reshape(shape)
        elif dtype.kind == "f":
            array = generator.standard_normal(shape).astype(dtype)
        else:
            array = np.zeros(shape, dtype)
        batch.append(array if dtype.kind == "U" else torch.from_numpy(np.ascontiguousarray(array)))
    return tuple(batch)


def trace(module: ServingModule, sample: tuple[torch.Tensor, ...]) -> torch.export.ExportedProgram:
    """``torch.export`` of the module, with one dynamic batch dimension shared by every input."""
    batch = torch.export.Dim("batch", min=1)
    dynamic = tuple({0: batch} if spec.batch_size is None else None for spec in module.program_specs.values())
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # nn.LSTM/GRU/RNN re-assign their own _flat_weights list on every call: harmless here
            # (the export is verified against the eager model), alarming in every course lab's log.
            warnings.filterwarnings("ignore", message=r"The tensor attributes (\S+\._flat_weights\[\d+\](, )?)+ "
                                                      r"were assigned during export")
            return torch.export.export(module, sample, dynamic_shapes={"tensors": dynamic})
    except Exception as error:
        raise ExportError(message(
            "torch.export could not trace model_fn for serving",
            expected="a PREDICT-mode model_fn without Python branches on tensor values or on the batch size, "
                     "and without operations that fix the batch size (e.g. view(3, -1))",
            fix="See the error above this one; torch.export's draft_export() lists every problem",
            error=_first_line(error))) from error


def to_onnx(program: torch.export.ExportedProgram, module: ServingModule, sample: tuple[torch.Tensor, ...],
            path: str) -> None:
    """Converts the traced program to ONNX (dynamo exporter) with the serving names.

    The ONNX inputs are the program's input names, its outputs the plan's output names, and
    the dynamic dimension is called ``batch``.
    """
    dynamic = {"tensors": tuple({0: "batch"} if spec.batch_size is None else None
                                for spec in module.program_specs.values())}
    try:
        with _quiet_onnx():
            onnx_program = torch.onnx.export(program, sample, dynamo=True, dynamic_shapes=dynamic, verbose=False)
            _name_io(onnx_program.model, list(module.program_specs), list(module.plan.names))
            onnx_program.save(path)
    except Exception as error:
        raise ExportError(message("torch.onnx.export could not convert the exported program",
                                  expected="operators that ONNX supports", fix="See the error above this one",
                                  error=_first_line(error))) from error


def _name_io(model: Any, input_names: list[str], output_names: list[str]) -> None:
    """Gives the ONNX graph's inputs and outputs the serving names.

    ``torch.onnx.export(input_names=...)`` renames blindly, and the exporter names
    intermediate values after their ops: an input called ``cat`` then clashes with the output
    of ``torch.cat`` and onnxruntime rejects the model. Clashing values are renamed first; an
    output that is an input, a constant or another output gets its own ``Identity``.
    """
    import onnx_ir as ir  # installed with onnxscript, which the dynamo exporter needs

    graph = model.graph
    for index, value in enumerate(list(graph.outputs)):
        if value in graph.inputs or value.is_initializer() or value in list(graph.outputs)[:index]:
            identity = ir.node("Identity", inputs=[value])
            graph.append(identity)
            graph.outputs[index] = identity.outputs[0]
    targets = {id(value): name for value, name in zip(graph.inputs, input_names)}
    targets.update((id(value), name) for value, name in zip(graph.outputs, output_names))
    values = [*graph.inputs, *graph.initializers.values(),
              *(value for node in ir.traversal.RecursiveGraphIterator(graph) for value in node.outputs)]
    taken = {value.name for value in values} | set(targets.values())
    for value in values:
        if id(value) not in targets and value.name in targets.values():
            fresh, suffix = value.name, 1
            while fresh in taken:
                fresh, suffix = f"{value.name}__{suffix}", suffix + 1
            taken.add(fresh)
            value.name = fresh
    for value in [*graph.inputs, *graph.outputs]:
        value.name = targets[id(value)]


def output_specs(program: torch.export.ExportedProgram) -> list[dict[str, Any]]:
    """``[{'dtype': 'float32', 'shape': [-1, 1]}, ...]`` for the program's outputs (-1: dynamic)."""
    node = next(n for n in program.graph.nodes if n.op == "output")
    specs = []
    for value in node.args[0]:
        fake = value.meta["val"]
        specs.append({"dtype": dtype_name(fake.dtype),
                      "shape": [dim if isinstance(dim, int) else -1 for dim in fake.shape]})
    return specs


@contextlib.contextmanager
def _quiet_onnx() -> Iterator[None]:
    """The dynamo ONNX exporter logs harmless warnings (missing torchvision ops) on every export."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
