"""``est.keras.model_to_estimator``: a compiled Keras 3 model (torch backend) as an Estimator.

The result is a plain :class:`~torch_estimator.Estimator` whose ``model_fn`` builds the Keras
model with ``est.get_module`` (so it is checkpointed, distributed and exported like any
module), calls it with ``training=(mode == TRAIN)`` (Dropout and BatchNorm behave as in
``fit``), computes the compiled loss with ``model.compute_loss`` (per-output losses,
``loss_weights``, regularisation losses), reports the compiled metrics under TensorFlow's long
names and trains with the compiled Keras optimizer (see ``optimizer.py``). Keras's own
``train_step``/``fit`` are not used: they call the model directly and would bypass a
``DistributedDataParallel`` wrapper.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch_estimator.config import RunConfig
from torch_estimator.errors import message
from torch_estimator.estimator import Estimator
from torch_estimator.export.outputs import ClassificationOutput, ExportOutput, PredictOutput, RegressionOutput
from torch_estimator.keras.backend import require_keras
from torch_estimator.keras.inputs import ModelSignature
from torch_estimator.keras.metrics import CompiledMetrics
from torch_estimator.keras.optimizer import KerasOptimizer
from torch_estimator.keras.recurrent import fuse_lstm_layers
from torch_estimator.keras.weights import MODULE_NAME, estimator_copy, load_model_file, save_model_file
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.modules import get_module
from torch_estimator.spec import EstimatorSpec
from torch_estimator.train.minimize import minimize

CHECKPOINT_FORMATS = ("checkpoint", "saver")


def model_to_estimator(keras_model: Any = None, keras_model_path: str | os.PathLike | None = None,
                       custom_objects: Mapping[str, Any] | None = None, model_dir: str | os.PathLike | None = None,
                       config: RunConfig | None = None, checkpoint_format: str = "checkpoint",
                       metric_names_map: Mapping[str, str] | None = None,
                       export_outputs: Mapping[str, type] | None = None) -> Estimator:
    """Constructs an Estimator from a compiled Keras 3 model (``tf.keras.estimator.model_to_estimator``).

    Args:
        keras_model: A compiled, built Keras model (Sequential or functional) on the torch
            backend. Its current weights are the starting point; the model object itself is
            not changed by training (see :func:`load_weights`).
        keras_model_path: A ``.keras`` file of a compiled model, instead of ``keras_model``.
        custom_objects: Custom classes and functions needed to load the model.
        model_dir: Directory for checkpoints; default ``config.model_dir`` or a temporary one.
        config: An ``est.RunConfig``.
        checkpoint_format: ``'checkpoint'`` or ``'saver'`` (TensorFlow's two object-based and
            name-based formats). Both write this project's checkpoints; accepted so migrated
            calls run.
        metric_names_map: Renames compiled metrics in ``evaluate``'s result, e.g.
            ``{'mean_absolute_error': 'mae'}``.
        export_outputs: Signature name -> ``est.export.PredictOutput``,
            ``RegressionOutput`` or ``ClassificationOutput`` class, built from the model's
            outputs at export; default one ``serving_default`` PredictOutput of all outputs.

    Returns:
        An ``est.Estimator``: features keyed by the model's input names (a Sequential model
        also takes ``'<first layer name>_input'``, a single-input model a bare tensor), labels
        a tensor or a dict by output name, predictions keyed by output name.

    Raises:
        ValueError: for a model that is missing, given twice, not compiled or not built, an
            unknown ``checkpoint_format`` or a bad ``export_outputs``.
        ImportError: if Keras 3 is not installed.
        RuntimeError: if Keras runs on a backend other than torch.

    Example:
        >>> # model.compile(loss="mse", optimizer="adam", metrics=["mae"])
        >>> # estimator = est.keras.model_to_estimator(keras_model=model)
        >>> # estimator.train(lambda: ({"rawdata_input": x}, y), steps=100)
    """
    keras = require_keras()
    _check_arguments(keras_model, keras_model_path, checkpoint_format)
    if keras_model is None:
        keras_model = load_model_file(os.fspath(keras_model_path), custom_objects)
    _check_model(keras, keras_model)
    signature = ModelSignature.of(keras_model)
    compile_config = keras_model._compile_config.config if keras_model._compile_config else {}
    metrics = CompiledMetrics(compile_config.get("metrics"), compile_config.get("weighted_metrics"),
                              signature.output_names, metric_names_map)
    outputs = _export_output_classes(export_outputs, signature)
    holder: dict[str, str] = {}
    estimator = Estimator(_model_fn(signature, metrics, outputs, holder, custom_objects),
                          model_dir=model_dir, config=config)
    holder["path"] = save_model_file(keras_model, estimator.model_dir)
    return estimator


def _check_arguments(keras_model: Any, keras_model_path: Any, checkpoint_format: Any) -> None:
    if keras_model is None and keras_model_path is None:
        raise ValueError(message("Either `keras_model` or `keras_model_path` needs to be provided",
                                 expected="exactly one of them", fix="Pass keras_model=model",
                                 keras_model=None, keras_model_path=None))
    if keras_model is not None and keras_model_path is not None:
        raise ValueError(message("Please specify either `keras_model` or `keras_model_path`, but not both",
                                 expected="exactly one of them", fix="Drop one of the two arguments",
                                 keras_model_path=os.fspath(keras_model_path)))
    if checkpoint_format not in CHECKPOINT_FORMATS:
        raise ValueError(message("Unknown checkpoint_format", expected=f"one of {list(CHECKPOINT_FORMATS)}",
                                 fix="Pass checkpoint_format='checkpoint' (both values write this project's "
                                     "checkpoints)", checkpoint_format=checkpoint_format))


def _check_model(keras: Any, model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(message("keras_model must be a Keras model", expected="a keras.Model (Sequential or "
                                "functional)", fix="Pass the model object", keras_model=type(model).__name__))
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(message(
            "The given keras model has not been compiled yet",
            expected="a model compiled with a loss and an optimizer",
            fix="Compile the model with `model.compile(optimizer=..., loss=...)` before calling "
                "`model_to_estimator()`", keras_model=model.name))
    if not model.built:
        raise ValueError(message(
            "The given keras model is not built: its inputs are unknown",
            expected="a model with known input shapes",
            fix="Give the first layer an input shape (keras.Input(shape=...) or input_shape=...), or call "
                "model.build(input_shape) first", keras_model=model.name))
    if not hasattr(model, "_inputs_struct") and getattr(model, "_functional", None) is None:
        raise ValueError(message(
            "The given keras model has no named inputs and outputs (a subclassed keras.Model)",
            expected="a Sequential or functional model, whose inputs and outputs name the features and predictions",
            fix="Build the model with the functional API (keras.Input(...) ... keras.Model(inputs, outputs)), or "
                "write a model_fn that calls it with est.get_module", keras_model=model.name))


def _export_output_classes(export_outputs: Mapping[str, type] | None,
                           signature: ModelSignature) -> dict[str, type] | None:
    if export_outputs is None:
        return None
    allowed = (PredictOutput, RegressionOutput, ClassificationOutput)
    for name, kind in dict(export_outputs).items():
        if not (isinstance(kind, type) and issubclass(kind, allowed)):
            raise ValueError(message(
                f"export_outputs[{name!r}] must be an export output class",
                expected="est.export.PredictOutput, RegressionOutput or ClassificationOutput (the class)",
                fix="Pass e.g. export_outputs={'serving_default': est.export.PredictOutput}",
                value=kind))
        if kind is not PredictOutput and len(signature.output_names) != 1:
            raise ValueError(message(
                f"export_outputs[{name!r}] needs a model with one output",
                expected="PredictOutput for a model with several outputs",
                fix="Use est.export.PredictOutput", outputs=list(signature.output_names)))
    return dict(export_outputs)


def _build_outputs(classes: dict[str, type] | None, predictions: dict[str, Any]) -> dict[str, ExportOutput] | None:
    if classes is None:
        return None
    (single, *_) = predictions.values()
    built: dict[str, ExportOutput] = {}
    for name, kind in classes.items():
        if kind is PredictOutput:
            built[name] = PredictOutput(predictions)
        elif kind is RegressionOutput:
            built[name] = RegressionOutput(single)
        else:
            built[name] = ClassificationOutput(scores=single)
    return built


def _estimator_copy(path: str, custom_objects: Mapping[str, Any] | None) -> Any:
    """The Estimator's own copy of the Keras model, its LSTM layers on the fused kernel."""
    model = estimator_copy(path, custom_objects)
    fuse_lstm_layers(model)
    return model


def _model_fn(signature: ModelSignature, metrics: CompiledMetrics, outputs: dict[str, type] | None,
              holder: dict[str, str], custom_objects: Mapping[str, Any] | None) -> Any:
    def keras_model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
        model = get_module(MODULE_NAME, lambda: _estimator_copy(holder["path"], custom_objects))
        y_pred = model(signature.model_inputs(features), training=mode == ModeKeys.TRAIN)
        predictions = signature.predictions(y_pred)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(mode, predictions=predictions, export_outputs=_build_outputs(outputs, predictions))
        loss = model.compute_loss(y=signature.model_labels(labels), y_pred=y_pred, training=mode == ModeKeys.TRAIN)
        if mode == ModeKeys.EVAL:
            by_output = labels if isinstance(labels, Mapping) else {signature.output_names[0]: labels}
            return EstimatorSpec(mode, predictions=predictions, loss=loss,
                                 eval_metric_ops=metrics.ops(by_output, predictions))
        variables = list(model.trainable_variables)
        train_op = minimize(loss, lambda _: KerasOptimizer(model.optimizer, variables),
                            var_list=[variable.value for variable in variables], name="keras")
        return EstimatorSpec(mode, predictions=predictions, loss=loss, train_op=train_op)

    return keras_model_fn
