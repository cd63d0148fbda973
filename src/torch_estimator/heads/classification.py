"""Pieces the classification heads share: metrics at thresholds, the baseline, signatures.

Metric semantics follow TF 2's heads (Keras metrics): a probability ``p`` is a positive
decision at threshold ``t`` when ``p > t``; precision and recall are 0 (not NaN) while nothing
is predicted / labelled positive; AUCs use 200 thresholds, the ROC one summed with the
trapezoidal rule and the PR one with careful interpolation (Keras's ``'interpolation'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torch_estimator import metrics
from torch_estimator.export.outputs import ClassificationOutput, ExportOutput
from torch_estimator.heads.head import predict_output
from torch_estimator.heads.tensors import labels_tensor
from torch_estimator.heads.vocabulary import LabelVocabulary
from torch_estimator.heads.keys import (
    CLASSIFY_SERVING_KEY,
    DEFAULT_SERVING_KEY,
    PREDICT_SERVING_KEY,
    MetricKeys,
    summary_key,
)
from torch_estimator.metrics import MetricOp
from torch_estimator.metrics.accumulators import WeightedMean
from torch_estimator.metrics.shapes import flatten_values


class AccuracyBaseline(WeightedMean):
    """``max(label_mean, 1 - label_mean)``: the accuracy of always predicting the majority class.

    Streams the weighted label mean and takes the maximum once, over the whole evaluation, as
    TensorFlow does; 0 before any weight is seen.

    Example:
        >>> baseline = AccuracyBaseline()
        >>> baseline.update(torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0]))
        >>> float(baseline.compute())  # labels mean 3/5: predicting 1 everywhere is right 60% of the time
        0.6000000238418579
    """

    def compute(self) -> torch.Tensor:
        """The baseline accuracy."""
        mean = super().compute()
        return torch.where(self.count > 0, torch.maximum(mean, 1.0 - mean), 0.0)


def accuracy_baseline(labels: torch.Tensor, weights: torch.Tensor | None) -> MetricOp:
    """A ``MetricOp`` streaming :class:`AccuracyBaseline` over 0/1 ``labels``.

    Example:
        >>> op = accuracy_baseline(torch.tensor([[1.0], [0.0]]), torch.tensor([[3.0], [1.0]]))
        >>> acc = op.create(); op.update(acc); metrics.compute_value(acc)  # mean 3/4
        0.75
    """
    values, flat_weights = flatten_values(labels.float(), weights)
    return MetricOp(AccuracyBaseline, (values,) if flat_weights is None else (values, flat_weights))


def auc_ops(labels: torch.Tensor, probabilities: torch.Tensor, weights: torch.Tensor | None,
            auc_key: str, auc_pr_key: str) -> dict[str, MetricOp]:
    """ROC and PR AUC of ``probabilities`` against 0/1 ``labels`` (weights broadcast per example).

    Example:
        >>> sorted(auc_ops(torch.tensor([1.0]), torch.tensor([0.7]), None, "auc", "auc_precision_recall"))
        ['auc', 'auc_precision_recall']
    """
    return {
        auc_key: metrics.auc(labels, probabilities, weights),
        auc_pr_key: metrics.auc(labels, probabilities, weights, curve="PR",
                                summation_method="careful_interpolation"),
    }


def threshold_ops(labels: torch.Tensor, probabilities: torch.Tensor, weights: torch.Tensor | None,
                  thresholds: Sequence[float], head_name: str | None) -> dict[str, MetricOp]:
    """``accuracy``/``precision``/``recall`` ``/positive_threshold_<t>`` for each threshold.

    Example:
        >>> ops = threshold_ops(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.6], [0.3]]), None, [0.5], None)
        >>> sorted(ops)
        ['accuracy/positive_threshold_0.5', 'precision/positive_threshold_0.5', 'recall/positive_threshold_0.5']
    """
    ops: dict[str, MetricOp] = {}
    for threshold in thresholds:
        decisions = probabilities > threshold
        ops[summary_key(MetricKeys.ACCURACY_AT_THRESHOLD % threshold, head_name)] = metrics.accuracy(
            labels, decisions.to(labels.dtype), weights)
        ops[summary_key(MetricKeys.PRECISION_AT_THRESHOLD % threshold, head_name)] = metrics.precision(
            labels, decisions, weights)
        ops[summary_key(MetricKeys.RECALL_AT_THRESHOLD % threshold, head_name)] = metrics.recall(
            labels, decisions, weights)
    return ops


def common_ops(unweighted_loss: torch.Tensor, weights: torch.Tensor | None, regularization_loss: torch.Tensor | None,
               head_name: str | None) -> dict[str, MetricOp]:
    """``average_loss`` (the weighted per-example mean) and, if any, ``regularization_loss``.

    Example:
        >>> ops = common_ops(torch.tensor([[1.0], [3.0]]), None, torch.tensor(0.5), "h")
        >>> sorted(ops)
        ['average_loss/h', 'regularization_loss/h']
    """
    ops = {summary_key(MetricKeys.LOSS_MEAN, head_name): metrics.mean(unweighted_loss, weights)}
    if regularization_loss is not None:
        ops[summary_key(MetricKeys.LOSS_REGULARIZATION, head_name)] = metrics.mean(regularization_loss)
    return ops


def all_class_ids(logits: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[0, 1, ..., n_classes - 1]`` for every example: shape ``logits.shape[:-1] + [n_classes]``.

    Built from the logits' shape so that it follows a dynamic batch size in exported programs.

    Example:
        >>> all_class_ids(torch.zeros(2, 1), 2)
        tensor([[0, 1],
                [0, 1]])
    """
    ids = torch.arange(n_classes, device=logits.device)
    return ids.expand(*logits.shape[:-1], n_classes).contiguous()


def classification_export_outputs(scores: torch.Tensor, class_ids: torch.Tensor,
                                  predictions: dict[str, Any]) -> dict[str, ExportOutput]:
    """``serving_default`` and ``classification`` (scores and class ids) plus ``predict``.

    TensorFlow's ``classify`` signature returned class *names* as strings; exported torch
    programs return tensors only, so ``classes`` here are the ids ``[0, n_classes)`` (TF's
    ``all_class_ids``); map them with the head's ``label_vocabulary`` on the client.

    Example:
        >>> outputs = classification_export_outputs(torch.rand(2, 3), torch.zeros(2, 3, dtype=torch.int64),
        ...                                         {"logits": torch.zeros(2, 3)})
        >>> sorted(outputs)
        ['classification', 'predict', 'serving_default']
    """
    classification = ClassificationOutput(scores=scores, classes=class_ids)
    return {DEFAULT_SERVING_KEY: classification, CLASSIFY_SERVING_KEY: classification,
            PREDICT_SERVING_KEY: predict_output(predictions)}


def wants_strings() -> bool:
    """Whether to build the string ``classes`` predictions: not while ``torch.export`` traces.

    Exported programs cannot return strings, and the signatures never include them, so
    skipping them while tracing changes no exported output.
    """
    return not torch.compiler.is_exporting()


def class_labels(labels: Any, logits: torch.Tensor, vocabulary: LabelVocabulary,
                 allow_empty: bool = False) -> torch.Tensor:
    """``labels`` as a tensor on the logits' device: ids looked up in the vocabulary, if any.

    Example:
        >>> class_labels(["b", "a"], torch.zeros(2, 1), LabelVocabulary(["a", "b"], 2))
        tensor([1, 0])
    """
    if labels is None or not vocabulary.given:
        return labels_tensor(labels, logits)
    return torch.as_tensor(vocabulary.ids(labels, allow_empty), device=logits.device)
