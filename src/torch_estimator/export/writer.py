"""``export_saved_model``: write a servable, verified export of an Estimator's model.

Layout of ``export_dir_base/<unix timestamp>/``::

    model.pt2            the PREDICT-mode model as a torch.export program (dynamic batch)
    model.onnx           the same program as ONNX, inputs and outputs named as served
    model-<alt>.pt2/.onnx  one pair per receiver_tensors_alternatives entry
    signature.json       signatures, their inputs, outputs and methods (also inside each .pt2)
    preprocessing.json   the receiver -> feature mapping, and the feature-column transforms
                         (vocabularies, hash buckets, boundaries) run before each program
    assets.extra/        the assets_extra files

The directory is written as ``temp-<timestamp>`` and renamed only once every program has been
reloaded from disk and checked against the eager model, so a server watching
``export_dir_base`` never sees a partial or wrong export.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from torch_estimator.distributed.cluster import TaskType
from torch_estimator.durable import fsync_directory, fsync_tree
from torch_estimator.errors import message
from torch_estimator.export import program
from torch_estimator.export.predictor import (
    BACKENDS,
    FORMAT,
    FORMAT_VERSION,
    PREPROCESSING_FILE,
    SIGNATURE_FILE,
    load,
)
from torch_estimator.export.receivers import ReceiverInputs, ServingInputReceiver, TensorServingInputReceiver
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import ModuleRegistry

logger = logging.getLogger("torch_estimator")


def writes_exports(config: Any) -> bool:
    """Whether this process exports: the chief, or the evaluator task (which runs the exporters)."""
    return config.is_chief or config.task_type == TaskType.EVALUATOR

ASSETS_EXTRA = "assets.extra"
_MAX_DIRECTORY_ATTEMPTS = 100
# float16 carries ~3 significant digits; everything else is compared at 1e-5.
_TOLERANCE = {np.dtype(np.float16): 1e-3}


@dataclasses.dataclass
class _Built:
    """One traced program with what verifying it needs."""

    name: str
    module: program.ServingModule
    exported: torch.export.ExportedProgram
    serving: dict[int, tuple[Any, ...]]  # serving inputs (strings as numpy), what a client sends
    samples: dict[int, tuple[torch.Tensor, ...]]  # the program's inputs for the same rows
    expected: dict[int, list[np.ndarray]]


def export_saved_model(estimator: Any, export_dir_base: str | os.PathLike,
                       serving_input_receiver_fn: Callable[[], Any], assets_extra: Mapping[str, str] | None = None,
                       checkpoint_path: str | None = None, experimental_mode: str = ModeKeys.PREDICT) -> str | None:
    """Exports the Estimator's PREDICT-mode model to ``export_dir_base/<unix timestamp>/``.

    In a cluster only the chief (and the evaluator task) exports: the other training processes
    log that and return None, so one program can run unchanged on every rank.

    ``model_fn`` is called in PREDICT mode on the receiver's features, with the weights of the
    latest checkpoint (or ``checkpoint_path``), and traced into a ``torch.export`` program and
    an ONNX model taking the receiver's inputs with a dynamic batch dimension. Signatures
    follow TensorFlow: ``export_outputs`` (``serving_default`` always present; without
    export_outputs, the predictions). Both programs are reloaded from disk and checked against
    the eager model at batch sizes 3 and 1 before the directory gets its final name.

    Differences from TensorFlow: returns the path as ``str`` (TensorFlow returned bytes);
    when the timestamp directory exists, takes the next free second at once instead of
    sleeping; keeps classify/regress signatures for raw inputs; ``as_text`` does not apply.

    Args:
        estimator: The ``est.Estimator``.
        export_dir_base: Parent directory of the timestamped export directories.
        serving_input_receiver_fn: Zero-argument function returning a
            :class:`ServingInputReceiver` or :class:`TensorServingInputReceiver`.
        assets_extra: ``{destination relative to assets.extra/: source file path}``.
        checkpoint_path: The checkpoint to export; default the latest in ``model_dir``.
        experimental_mode: Only ``ModeKeys.PREDICT`` (exports are inference programs; TRAIN/EVAL
            SavedModels are not recreated: continue training from the checkpoint instead).

    Returns:
        The export directory's path (None on a task that does not export).

    Raises:
        ValueError: no checkpoint ("Couldn't find trained model at ..."), an unwritable
            ``export_dir_base``, a bad ``assets_extra``, wrong ``export_outputs`` names.
        TypeError: the receiver function or ``export_outputs`` return the wrong types.
        KeyError: ``model_fn`` reads a feature the receiver does not provide.
        ExportError: tracing or ONNX conversion failed.
        ExportVerificationError: an exported program disagrees with the eager model.

    Example:
        >>> import tempfile, numpy as np, torch, torch_estimator as est
        >>> from torch_estimator.export import build_raw_serving_input_receiver_fn, export_saved_model, load
        >>> def model_fn(features, labels, mode):
        ...     y = est.get_module("net", lambda: torch.nn.Linear(2, 1))(features["x"])
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions={"y": y})
        ...     loss = torch.nn.functional.mse_loss(y, labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(),
        ...                           config=est.RunConfig(progress_bar=False))
        >>> _ = estimator.train(lambda: ({"x": torch.ones(4, 2)}, torch.ones(4, 1)), steps=1)
        >>> path = export_saved_model(estimator, tempfile.mkdtemp(),
        ...                           build_raw_serving_input_receiver_fn({"x": np.zeros((1, 2), np.float32)}))
        >>> load(path, backend="onnx")({"x": [[1.0, 2.0]]})["y"].shape
        (1, 1)
    """
    _check_mode(experimental_mode)
    if not writes_exports(estimator.config):
        logger.info("Not exporting on task %s %d: the chief exports.", estimator.config.task_type,
                    estimator.config.task_id)
        return None
    receiver = _call_receiver_fn(serving_input_receiver_fn)
    assets = _check_assets(assets_extra)
    export_dir_base = _check_writable(os.fspath(export_dir_base))
    checkpoint = _restore(estimator, checkpoint_path)
    temp_dir, export_dir = _reserve_directory(export_dir_base)
    registry = estimator._state.registry
    was_training = registry.training  # exporters run between training steps: leave no trace
    try:
        with estimator._rng_scope():
            _write(estimator, receiver, assets, checkpoint, temp_dir)
        fsync_tree(temp_dir)
        os.rename(temp_dir, export_dir)
        fsync_directory(export_dir_base)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    finally:
        registry.train(was_training)
    logger.info("Exported the model of %s to %s.", checkpoint or "the warm-start weights", export_dir)
    return export_dir


def _write(estimator: Any, receiver: Any, assets: dict[str, str], checkpoint: str | None, directory: str) -> None:
    built = [_build(estimator, inputs) for inputs in receiver.input_sets]
    document = _signature_document(built, estimator._state.global_step, checkpoint)
    text = json.dumps(document, indent=2)
    for item in built:
        program.to_onnx(item.exported, item.module, item.samples[program.SAMPLE_BATCH_SIZES[0]],
                        os.path.join(directory, f"{item.name}.onnx"))
        item.exported.example_inputs = None  # torch.save'd (pickled) otherwise; the predictor refuses pickles
        torch.export.save(item.exported, os.path.join(directory, f"{item.name}.pt2"),
                          extra_files={SIGNATURE_FILE: text})
    _write_json(os.path.join(directory, SIGNATURE_FILE), document)
    _write_json(os.path.join(directory, PREPROCESSING_FILE), {
        "format": "torch_estimator/preprocessing", "format_version": 1,
        # How features are made from the serving inputs; already compiled into the programs.
        "programs": {item.name: item.module.inputs.describe() for item in built},
        # Program -> {program input: transform of serving inputs} (vocabularies, hash buckets,
        # boundaries): the feature columns' ids, computed before the program by est.export.load.
        "transforms": {item.name: item.module.binding.preprocessing.to_json() for item in built
                       if item.module.binding.preprocessing.transforms},
    })
    for destination, source in assets.items():
        target = os.path.join(directory, ASSETS_EXTRA, destination)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
    _verify(directory, built, document)


def _build(estimator: Any, inputs: ReceiverInputs) -> _Built:
    """Probes ``model_fn`` eagerly, records the eager outputs, traces the program."""
    state = estimator._state
    if state.registry.training:
        state.registry.eval()
    module = program.ServingModule(state.registry, estimator._model_fn, inputs, estimator._device, state.global_step)
    sizes = program.SAMPLE_BATCH_SIZES
    serving = {size: program.sample_inputs(inputs, size, seed=size) for size in sizes}
    module.probe(tuple(t.to(estimator._device) if isinstance(t, torch.Tensor) else t for t in serving[sizes[0]]))
    if estimator._device.type != "cpu":
        module = _on_cpu(module)  # a servable program is a CPU program; the resident model stays put
    expected = module.eager_outputs(serving)
    samples = {size: module.program_inputs(sample) for size, sample in serving.items()}
    name = "model" if inputs.name is None else f"model-{inputs.name}"
    return _Built(name, module, program.trace(module, samples[sizes[0]]), serving, samples, expected)


def _on_cpu(module: program.ServingModule) -> program.ServingModule:
    registry = ModuleRegistry()
    for name, child in module.registry.named_children():
        registry.add_module(name, copy.deepcopy(child).cpu())
    copied = program.ServingModule(registry, module.model_fn, module.inputs, torch.device("cpu"), module.global_step)
    copied.plan = module.plan
    copied.binding = module.binding
    return copied


def _signature_document(built: list[_Built], global_step: int, checkpoint: str | None) -> dict[str, Any]:
    programs, signatures = {}, {}
    for item in built:
        inputs = {name: spec.to_json() for name, spec in item.module.inputs.specs.items()}
        outputs = dict(zip(item.module.plan.names, program.output_specs(item.exported)))
        programs[item.name] = {
            "files": {"torch": f"{item.name}.pt2", "onnx": f"{item.name}.onnx"},
            "inputs": [{"name": name, **spec.to_json()} for name, spec in item.module.program_specs.items()],
            "outputs": [{"name": name, **spec} for name, spec in outputs.items()],
        }
        prefix = "" if item.module.inputs.name is None else f"{item.module.inputs.name}:"
        for signature, (method, keys) in item.module.plan.signatures.items():
            signatures[prefix + signature] = {
                "method": method, "program": item.name, "inputs": inputs,
                "outputs": {key: {"name": name, **outputs[name]} for key, name in keys.items()},
            }
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "global_step": global_step,
            "checkpoint": os.path.basename(checkpoint) if checkpoint else None, "torch_version": torch.__version__,
            "signatures": signatures, "programs": programs}


def _verify(directory: str, built: list[_Built], document: dict[str, Any]) -> None:
    """Reloads every program from disk, as a server would, and compares it with the eager model."""
    by_name = {item.name: item for item in built}
    for backend in BACKENDS:
        predictor = load(directory, backend)
        for signature, entry in document["signatures"].items():
            item = by_name[entry["program"]]
            for size, sample in item.serving.items():
                actual = predictor(dict(zip(item.module.inputs.specs, (np.asarray(t) for t in sample))), signature)
                for key, output in entry["outputs"].items():
                    expected = item.expected[size][item.module.plan.names.index(output["name"])]
                    _compare(actual[key], expected, backend=backend, signature=signature, output=key,
                             batch_size=size)


def _compare(actual: np.ndarray, expected: np.ndarray, **where: Any) -> None:
    if actual.shape == expected.shape and actual.dtype == expected.dtype:
        if expected.dtype.kind not in "fc":
            if np.array_equal(actual, expected):
                return
            difference: Any = "values differ"
        else:
            tolerance = _TOLERANCE.get(expected.dtype, 1e-5)
            if np.allclose(actual, expected, rtol=tolerance, atol=tolerance, equal_nan=True):
                return
            difference = float(np.nanmax(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
    else:
        difference = f"{actual.dtype}{list(actual.shape)} instead of {expected.dtype}{list(expected.shape)}"
    raise program.ExportVerificationError(message(
        "The exported program's outputs differ from the eager model's on the same inputs",
        expected="equal shapes and dtypes, values within rtol=atol=1e-5",
        fix="Make PREDICT mode deterministic and traceable: no Python branching on tensor values or on "
            "torch.compiler.is_exporting(), no randomness, no state changed between calls",
        **where, difference=difference))


def _check_mode(mode: str) -> None:
    if mode != ModeKeys.PREDICT:
        # A decision, not a gap: exports are inference programs for serving. TensorFlow's TRAIN/EVAL
        # SavedModels carried update and metric ops for graph-level retraining, which a PyTorch
        # user does from the checkpoint (warm_start_from) instead.
        raise ValueError(message("Only PREDICT-mode exports are supported",
                                 expected=f"experimental_mode={ModeKeys.PREDICT!r}",
                                 fix="Export the PREDICT mode; to continue training elsewhere, use the checkpoint "
                                     "(warm_start_from=model_dir)", experimental_mode=mode))


def _call_receiver_fn(fn: Any) -> Any:
    if not callable(fn):
        raise TypeError(message("serving_input_receiver_fn must be callable",
                                expected="a zero-argument function returning est.export.ServingInputReceiver",
                                fix="Pass the function, not its result", serving_input_receiver_fn=type(fn).__name__))
    receiver = fn()
    if not isinstance(receiver, (ServingInputReceiver, TensorServingInputReceiver)):
        raise TypeError(message("serving_input_receiver_fn must return a ServingInputReceiver",
                                expected="est.export.ServingInputReceiver or TensorServingInputReceiver",
                                fix="Return est.export.ServingInputReceiver(features, receiver_tensors)",
                                returned=type(receiver).__name__))
    return receiver


def _check_assets(assets_extra: Mapping[str, str] | None) -> dict[str, str]:
    if not assets_extra:
        return {}
    if not isinstance(assets_extra, Mapping):
        raise ValueError(message("assets_extra must be a dict", expected="{destination: source path}",
                                 assets_extra=type(assets_extra).__name__))
    problems = {}
    for destination, source in assets_extra.items():
        normal = os.path.normpath(str(destination))
        if not destination or os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
            problems[destination] = "destination must be a relative path inside assets.extra/"
        elif not os.path.isfile(os.fspath(source)):
            problems[destination] = f"source {os.fspath(source)!r} is not a file"
    if problems:
        raise ValueError(message("Invalid assets_extra", expected="{relative destination: existing file}",
                                 fix="Fix the listed entries", problems=problems))
    return {os.path.normpath(str(d)): os.fspath(s) for d, s in assets_extra.items()}


def _check_writable(directory: str) -> str:
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(message("export_dir_base is not writable",
                                 expected="a directory this process can create and write",
                                 fix="Choose another export_dir_base or fix its permissions",
                                 export_dir_base=directory,
                                 error=f"{type(error).__name__}: {error.strerror}")) from error
    return directory


def _restore(estimator: Any, checkpoint_path: str | None) -> str | None:
    """Loads the checkpoint to export into the resident model; TensorFlow's error without one."""
    if checkpoint_path is not None:
        checkpoint_path = os.fspath(checkpoint_path)
        if not os.path.isdir(checkpoint_path):
            raise ValueError(message(f"Couldn't find trained model at {checkpoint_path}",
                                     expected="an existing checkpoint directory", fix="Pass a checkpoint "
                                     "path (see est.Estimator.latest_checkpoint())", checkpoint_path=checkpoint_path))
    elif estimator.latest_checkpoint() is None and estimator._warm_start is None:
        raise ValueError(message(f"Couldn't find trained model at {estimator.model_dir}",
                                 expected="a checkpoint in model_dir",
                                 fix="Train the estimator first, or pass checkpoint_path",
                                 model_dir=estimator.model_dir))
    return estimator._sync_state(checkpoint_path, for_training=False)


def _reserve_directory(base: str) -> tuple[str, str]:
    """Creates ``temp-<ts>`` for a free timestamp ``<ts>`` and returns it with the final path.

    Timestamps only grow within ``base`` (a new one is at least the newest + 1), so exports
    sort by age even when several are made in one second; ``os.mkdir`` of the temporary name
    is the reservation, safe between concurrent exporters.
    """
    existing = [int(name) for name in os.listdir(base) if len(name) == 10 and name.isdigit()]
    stamp = max(int(time.time()), max(existing, default=0) + 1)
    for _ in range(_MAX_DIRECTORY_ATTEMPTS):
        final, temp = os.path.join(base, str(stamp)), os.path.join(base, f"temp-{stamp}")
        if not os.path.exists(final):
            try:
                os.mkdir(temp)
                return temp, final
            except FileExistsError:
                pass  # another exporter holds this second
        stamp += 1
    raise program.ExportError(message("Failed to obtain a unique export directory name",
                                      expected=f"a free timestamp within {_MAX_DIRECTORY_ATTEMPTS} tries",
                                      fix="Remove stale temp-* directories", export_dir_base=base))


def _write_json(path: str, document: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2)
        f.write("\n")


