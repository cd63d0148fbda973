"""``EstimatorSpec``: what ``model_fn`` returns, validated per mode as TensorFlow's was."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from torch_estimator.errors import message
from torch_estimator.mode_keys import ModeKeys


class _SpecFields(NamedTuple):
    mode: str
    predictions: Any
    loss: torch.Tensor | None
    train_op: Any
    eval_metric_ops: Mapping[str, Any]
    export_outputs: Mapping[str, Any] | None
    training_chief_hooks: tuple
    training_hooks: tuple
    evaluation_hooks: tuple
    prediction_hooks: tuple


_NO_HOOKS = ((), (), (), ())


class EstimatorSpec(_SpecFields):
    """Ops and objects returned from a ``model_fn`` and passed to an Estimator.

    Which fields are required depends on ``mode``:

    * ``ModeKeys.TRAIN``: ``loss`` and ``train_op``.
    * ``ModeKeys.EVAL``: ``loss``; ``eval_metric_ops`` adds metrics.
    * ``ModeKeys.PREDICT``: ``predictions``.

    Args:
        mode: A ``ModeKeys`` value.
        predictions: A tensor or a dict of name -> tensor.
        loss: A scalar tensor (shape ``[]`` or ``[1]``; ``[1]`` is reshaped to a scalar).
        train_op: ``est.train.minimize(loss, optimizer, ...)``, or a zero-argument callable that
            performs its own update (the escape hatch for GANs and custom schemes; use
            ``est.train.get_optimizer`` so its optimizers are checkpointed).
        eval_metric_ops: dict of name -> ``est.metrics.*(...)`` result. ``loss`` and
            ``global_step`` are reserved names.
        export_outputs: dict of signature name -> ``est.export`` output (used when exporting).
        training_chief_hooks: Hooks run on the chief only during training.
        training_hooks: Hooks run on every worker during training.
        evaluation_hooks: Hooks run during evaluation.
        prediction_hooks: Hooks run during prediction.

    Raises:
        ValueError: when a field required by ``mode`` is missing, the loss is not a scalar, or
            a reserved metric name is used.
        TypeError: when a field has the wrong type.

    Example:
        >>> import torch, torch_estimator as est
        >>> spec = est.EstimatorSpec(est.ModeKeys.EVAL, loss=torch.tensor(0.5))
        >>> float(spec.loss)
        0.5
    """

    __slots__ = ()

    def __new__(cls, mode: str, predictions: Any = None, loss: Any = None, train_op: Any = None,
                eval_metric_ops: Mapping[str, Any] | None = None,
                export_outputs: Mapping[str, Any] | None = None,
                training_chief_hooks: Any = (), training_hooks: Any = (),
                evaluation_hooks: Any = (), prediction_hooks: Any = ()) -> EstimatorSpec:
        # Written for the common case: model_fn returns a spec on every training step.
        if mode == ModeKeys.TRAIN:
            if loss is None or train_op is None:
                _require(loss, "loss", mode, "the training loss, e.g. loss=F.mse_loss(predictions, labels)")
                _require(train_op, "train_op", mode, "train_op=est.train.minimize(loss, 'Adam')")
        elif mode == ModeKeys.EVAL:
            _require(loss, "loss", mode, "the evaluation loss, e.g. loss=F.mse_loss(predictions, labels)")
        elif mode == ModeKeys.PREDICT:
            _require(predictions, "predictions", mode, "predictions=net(features)")
        else:
            raise ValueError(message("EstimatorSpec got an unknown mode", expected=f"one of {ModeKeys.ALL}",
                                     fix="Pass the mode model_fn received", mode=mode))
        if loss is not None and (type(loss) is not torch.Tensor or loss.ndim):
            loss = _scalar_loss(loss)
        if train_op is not None and not callable(train_op):
            raise TypeError(message("EstimatorSpec.train_op must be callable",
                                    expected="est.train.minimize(loss, optimizer) or a zero-argument callable",
                                    fix="Build train_op with est.train.minimize",
                                    train_op=type(train_op).__name__))
        if predictions is None:
            predictions = {}
        elif not isinstance(predictions, (torch.Tensor, dict, np.ndarray, Mapping)):  # dict: skips the ABC check
            raise TypeError(message("EstimatorSpec.predictions must be a tensor or a dict of tensors",
                                    fix="Return predictions={'name': tensor} or a tensor",
                                    predictions=type(predictions).__name__))
        eval_metric_ops = _metric_ops(eval_metric_ops) if eval_metric_ops else {}
        if export_outputs is not None and not isinstance(export_outputs, Mapping):
            raise TypeError(message("EstimatorSpec.export_outputs must be a dict",
                                    expected="{signature_name: est.export.PredictOutput(...)}",
                                    export_outputs=type(export_outputs).__name__))
        if training_chief_hooks or training_hooks or evaluation_hooks or prediction_hooks:
            hooks = (_hooks(training_chief_hooks, "training_chief_hooks"), _hooks(training_hooks, "training_hooks"),
                     _hooks(evaluation_hooks, "evaluation_hooks"), _hooks(prediction_hooks, "prediction_hooks"))
        else:
            hooks = _NO_HOOKS
        # tuple.__new__ directly: NamedTuple's generated __new__ would add a Python call.
        return tuple.__new__(cls, (mode, predictions, loss, train_op, eval_metric_ops, export_outputs, *hooks))

    def _replace(self, **changes: Any) -> EstimatorSpec:
        if "mode" in changes and changes["mode"] != self.mode:
            raise ValueError(message("EstimatorSpec._replace cannot change the mode",
                                     fix="Build a new EstimatorSpec", mode=changes["mode"]))
        fields = self._asdict()
        fields.update(changes)
        return EstimatorSpec(**fields)


def _require(value: Any, name: str, mode: str, example: str) -> None:
    if value is None:
        raise ValueError(message(f"Missing {name} in the EstimatorSpec returned for mode {mode!r}",
                                 expected=f"{name} to be set in {mode!r} mode",
                                 fix=f"Return EstimatorSpec(mode, ..., {example})", **{name: None}))


def _scalar_loss(loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(message("EstimatorSpec.loss must be a torch.Tensor",
                                expected="a scalar tensor", fix="Compute the loss with torch operations",
                                loss=type(loss).__name__))
    if loss.dim() == 0:
        return loss
    if loss.shape == (1,):
        return loss.reshape(())
    raise ValueError(message("Loss must be scalar", expected="a tensor of shape [] or [1]",
                             fix="Reduce it, e.g. loss.mean()", shape=tuple(loss.shape)))


def _metric_ops(ops: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not ops:
        return {}
    if not isinstance(ops, Mapping):
        raise TypeError(message("EstimatorSpec.eval_metric_ops must be a dict",
                                expected="{name: est.metrics.accuracy(labels, predictions)}",
                                eval_metric_ops=type(ops).__name__))
    for name, op in ops.items():
        if name in ("loss", "global_step"):
            raise ValueError(message(f"Metric name {name!r} is reserved: the Estimator reports it itself",
                                     expected="a name other than 'loss' and 'global_step'",
                                     fix="Rename the metric, e.g. 'my_loss'", name=name))
        if not hasattr(op, "update") or not hasattr(op, "create"):
            raise TypeError(message(f"eval_metric_ops[{name!r}] is not a streaming metric",
                                    expected="the result of an est.metrics function or est.metrics.MetricOp",
                                    fix="Use e.g. est.metrics.mean(values)", value=type(op).__name__))
    return ops


def _hooks(hooks: Any, field: str) -> tuple:
    if not hooks:
        return ()
    hooks = tuple(hooks)
    for hook in hooks:
        if not all(hasattr(hook, m) for m in ("begin", "before_run", "after_run", "end")):
            raise TypeError(message(f"EstimatorSpec.{field} must hold SessionRunHooks",
                                    expected="objects with begin/before_run/after_run/end "
                                             "(subclass est.SessionRunHook)",
                                    hook=type(hook).__name__))
    return hooks
