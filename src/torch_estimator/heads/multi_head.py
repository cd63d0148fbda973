"""``MultiHead``: several named heads trained together on one network (multi-task learning)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from torch_estimator import metrics
from torch_estimator.errors import message
from torch_estimator.export.outputs import ExportOutput, PredictOutput
from torch_estimator.heads.head import (
    tf_metrics,
    tf_update_metrics,
    Head,
    check_train_op_args,
    make_train_op,
    raise_problems,
    regularization,
)
from torch_estimator.heads.keys import DEFAULT_SERVING_KEY, PREDICT_SERVING_KEY, MetricKeys, summary_key
from torch_estimator.metrics import MetricOp
from torch_estimator.mode_keys import ModeKeys
from torch_estimator.spec import EstimatorSpec


class MultiHead:
    """Merges named heads: the loss is their weighted sum, the rest is collected per head.

    * Logits: a dict keyed by head name, or one ``[batch, logits_dimension]`` tensor that is
      split along the last dimension in head order (``logits_dimension`` is the heads' sum).
    * Labels: a dict keyed by head name (required in TRAIN and EVAL).
    * Loss: ``sum(head_weight * head.loss)`` plus the regularization losses.
    * Predictions: ``'<head name>/<key>'`` (TensorFlow used ``(head name, key)`` tuples inside
      the Estimator and these strings in signatures; strings work everywhere here).
    * Metrics: every head's (named heads suffix their keys: ``auc/<name>``), ``loss/<name>``
      (each head's training loss, averaged over batches) and
      ``regularization_loss/<name1>_<name2>...`` with regularization losses.
    * Signatures, as TensorFlow: ``serving_default`` is the first head's default signature;
      each head's default is also exported as ``<name>`` and its others as ``<name>/<key>``
      (e.g. ``churn/classification``); ``predict`` merges every head's predict outputs under
      ``<name>/<key>``.

    Args:
        heads: The heads, each with a ``name``; the first one is served by default.
        head_weights: One float per head for the loss sum (default all 1).

    Raises:
        ValueError: no heads, unnamed or duplicate names, ``head_weights`` of the wrong length,
            or heads with different ``loss_reduction``.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import MultiHead, MultiLabelHead
        >>> head = MultiHead([MultiLabelHead(2, name="head1"), MultiLabelHead(3, name="head2")])
        >>> logits = {"head1": torch.tensor([[-10.0, 10.0], [-15.0, 10.0]]),
        ...           "head2": torch.tensor([[20.0, -20.0, 20.0], [-30.0, 20.0, -20.0]])}
        >>> labels = {"head1": torch.tensor([[1, 0], [1, 1]]), "head2": torch.tensor([[0, 1, 0], [1, 1, 0]])}
        >>> # head1: ((10 + 10) / 2 + (15 + 0) / 2) / 2 = 8.75; head2: ((20 + 20 + 20) / 3 + 30 / 3) / 2 = 15
        >>> round(float(head.loss(labels, logits)), 2)
        23.75
    """

    def __init__(self, heads: Sequence[Head], head_weights: Sequence[float] | None = None) -> None:
        problems = []
        if not heads:
            raise ValueError(message("Must specify heads", expected="a non-empty list of named heads",
                                     fix="Pass e.g. [BinaryClassHead(name='a'), RegressionHead(name='b')]",
                                     heads=heads))
        heads = tuple(heads)
        names = [getattr(head, "name", None) for head in heads]
        if any(not name for name in names):
            problems.append(message("All given heads must have name specified", fix="Pass name= to every head",
                                    names=names))
        elif len(set(names)) != len(names):
            problems.append(message("Head names must be unique", expected="one name per head",
                                    fix="Rename the duplicates", names=names))
        if head_weights and len(head_weights) != len(heads):
            problems.append(message("heads and head_weights must have the same size", expected=f"{len(heads)} "
                                    "weights", fix="Pass one weight per head", head_weights=list(head_weights)))
        reductions = [head.loss_reduction for head in heads]
        if len(set(reductions)) > 1:
            problems.append(message("The loss_reduction must be the same for different heads",
                                    fix="Give every head the same loss_reduction", loss_reductions=reductions))
        raise_problems(problems, "MultiHead")
        self._heads = heads
        self._head_weights = tuple(float(w) for w in head_weights) if head_weights else None

    @property
    def name(self) -> str:
        """The heads' names joined by ``'_'``."""
        return "_".join(head.name for head in self._heads)

    @property
    def logits_dimension(self) -> int:
        """The sum of the heads' logits dimensions."""
        return sum(head.logits_dimension for head in self._heads)

    @property
    def loss_reduction(self) -> str:
        """The heads' common ``loss_reduction``."""
        return self._heads[0].loss_reduction

    @property
    def heads(self) -> tuple[Head, ...]:
        """The heads, in order."""
        return self._heads

    def _split_logits(self, logits: Any) -> dict[str, Any]:
        """Logits per head name, from a dict or by splitting one tensor along its last dimension."""
        if isinstance(logits, Mapping):
            missing = [head.name for head in self._heads if head.name not in logits]
            if missing:
                raise ValueError(message("logits has missing values for head(s)", expected="a dict keyed by every "
                                         "head name", fix="Add the missing heads' logits", missing=missing,
                                         logits_keys=list(logits)))
            return dict(logits)
        if not isinstance(logits, torch.Tensor) or logits.dim() < 1 or logits.shape[-1] != self.logits_dimension:
            dimensions = [head.logits_dimension for head in self._heads]
            raise ValueError(message(
                "Could not split logits among the heads", expected=f"a dict keyed by head name, or a tensor whose "
                f"last dimension is {self.logits_dimension} (the heads' {dimensions})",
                fix="Make the network output logits_dimension values per example",
                logits_shape=list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__))
        parts = torch.split(logits, [head.logits_dimension for head in self._heads], dim=-1)
        return {head.name: part for head, part in zip(self._heads, parts)}

    def _check_labels(self, labels: Any) -> Mapping[str, Any]:
        if not isinstance(labels, Mapping):
            raise ValueError(message("labels must be a dict", expected="labels keyed by head name",
                                     fix="Return labels={'<head name>': ...} from input_fn",
                                     labels_type=type(labels).__name__))
        missing = [head.name for head in self._heads if head.name not in labels]
        if missing:
            raise ValueError(message("labels has missing values for head(s)", expected="a dict keyed by every head "
                                     "name", fix="Add the missing heads' labels", missing=missing,
                                     labels_keys=list(labels)))
        return labels

    def _head_losses(self, labels: Any, logits: dict[str, Any], features: Any, mode: str | None) -> list[torch.Tensor]:
        labels = self._check_labels(labels)
        return [head.loss(labels[head.name], logits[head.name], features, mode) for head in self._heads]

    def _merge(self, losses: list[torch.Tensor], regularization_losses: Any) -> torch.Tensor:
        weights = self._head_weights or (1.0,) * len(losses)
        total = sum(weight * loss for weight, loss in zip(weights, losses))
        extra = regularization(regularization_losses)
        return total if extra is None else total + extra

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``sum(head_weight * head.loss(...))`` plus the regularization losses."""
        losses = self._head_losses(labels, self._split_logits(logits), features, mode)
        return self._merge(losses, regularization_losses)

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """Every head's predictions for ``keys`` (each head's own keys when None), as ``'<name>/<key>'``."""
        logits = self._split_logits(logits)
        return {f"{head.name}/{key}": value for head in self._heads
                for key, value in head.predictions(logits[head.name], keys).items()}

    def eval_metric_ops(self, features: Any, logits: Any, labels: Any,
                        regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, MetricOp]:
        """Every head's metrics, ``loss/<name>`` per head and the regularization loss."""
        logits = self._split_logits(logits)
        labels = self._check_labels(labels)
        losses = [head.loss(labels[head.name], logits[head.name], features) for head in self._heads]
        head_ops = [head.eval_metric_ops(features, logits[head.name], labels[head.name]) for head in self._heads]
        return self._metric_ops(losses, head_ops, regularization_losses)

    def _metric_ops(self, losses: list[torch.Tensor], head_ops: list[Mapping[str, MetricOp]],
                    regularization_losses: Any) -> dict[str, MetricOp]:
        ops: dict[str, MetricOp] = {}
        extra = regularization(regularization_losses)
        if extra is not None:
            ops[summary_key(MetricKeys.LOSS_REGULARIZATION, self.name)] = metrics.mean(extra)
        for head, loss, more in zip(self._heads, losses, head_ops):
            ops[f"{MetricKeys.LOSS}/{head.name}"] = metrics.mean(loss)
            ops.update(more)
        return ops

    # TF's metrics()/update_metrics() API, shared by every head (functions, not a base class).
    metrics = tf_metrics
    update_metrics = tf_update_metrics

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable[[torch.Tensor], Any] | None = None,
                              update_ops: Sequence[Callable[[], Any]] | None = None,
                              regularization_losses: Sequence[torch.Tensor] | None = None) -> EstimatorSpec:
        """The merged ``EstimatorSpec``; arguments as :meth:`BinaryClassHead.create_estimator_spec`,
        with ``logits`` and ``labels`` per head (see the class docstring)."""
        if mode not in ModeKeys.ALL:
            raise ValueError(message("mode unrecognized", expected=f"one of {ModeKeys.ALL}",
                                     fix="Pass the mode model_fn received", mode=mode))
        split = self._split_logits(logits)
        if mode == ModeKeys.PREDICT:
            specs = [head.create_estimator_spec(features, mode, split[head.name]) for head in self._heads]
            predictions = {f"{head.name}/{key}": value for head, spec in zip(self._heads, specs)
                           for key, value in spec.predictions.items()}
            return EstimatorSpec(mode, predictions=predictions, export_outputs=self._merge_export_outputs(specs))
        if mode == ModeKeys.TRAIN:
            check_train_op_args(optimizer, train_op_fn, update_ops)
        labels = self._check_labels(labels)
        # Each head's own spec gives its loss, tensor predictions and metrics, each computed once;
        # the merged train op is built here, so the heads get a no-op one.
        specs = [head.create_estimator_spec(features, mode, split[head.name], labels[head.name],
                                            train_op_fn=_no_op_train_fn if mode == ModeKeys.TRAIN else None)
                 for head in self._heads]
        predictions = {f"{head.name}/{key}": value for head, spec in zip(self._heads, specs)
                       for key, value in spec.predictions.items()}
        losses = [spec.loss for spec in specs]
        loss = self._merge(losses, regularization_losses)
        if mode == ModeKeys.EVAL:
            ops = self._metric_ops(losses, [spec.eval_metric_ops for spec in specs], regularization_losses)
            return EstimatorSpec(mode, predictions=predictions, loss=loss, eval_metric_ops=ops)
        return EstimatorSpec(mode, predictions=predictions, loss=loss,
                             train_op=make_train_op(loss, optimizer, train_op_fn, trainable_variables, update_ops,
                                                    checked=True))

    def _merge_export_outputs(self, specs: list[EstimatorSpec]) -> dict[str, ExportOutput]:
        outputs = {DEFAULT_SERVING_KEY: _default_output(specs[0].export_outputs, self._heads[0].name)}
        merged_predict: dict[str, torch.Tensor] = {}
        for head, spec in zip(self._heads, specs):
            for key, output in (spec.export_outputs or {}).items():
                outputs[head.name if key == DEFAULT_SERVING_KEY else f"{head.name}/{key}"] = output
                if key == PREDICT_SERVING_KEY and isinstance(output, PredictOutput):
                    merged_predict.update({f"{head.name}/{name}": t for name, t in output.outputs.items()})
        outputs[PREDICT_SERVING_KEY] = PredictOutput(merged_predict)
        return outputs


def _default_output(export_outputs: Mapping[str, ExportOutput] | None, head_name: str) -> ExportOutput:
    """The signature a head serves by default: its only one, or its ``serving_default``."""
    export_outputs = export_outputs or {}
    if len(export_outputs) == 1:
        return next(iter(export_outputs.values()))
    if DEFAULT_SERVING_KEY not in export_outputs:
        raise ValueError(message(f"Head {head_name!r} did not specify default export_outputs",
                                 expected=f"a {DEFAULT_SERVING_KEY!r} signature",
                                 fix="Use one of the est heads, or include key 'serving_default' in export_outputs",
                                 export_outputs=list(export_outputs)))
    return export_outputs[DEFAULT_SERVING_KEY]


def _no_op_train_fn(loss: torch.Tensor) -> Callable[[], None]:
    del loss  # the merged loss is minimized once, by MultiHead's own train op
    return lambda: None
