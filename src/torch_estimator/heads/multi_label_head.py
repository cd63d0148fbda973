"""``MultiLabelHead``: independent sigmoid cross entropy for each of ``n_classes`` labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from torch_estimator import metrics
from torch_estimator.errors import message
from torch_estimator.heads import classification
from torch_estimator.heads.head import (
    tf_metrics,
    tf_update_metrics,
    check_prediction_keys,
    estimator_spec,
    name_problems,
    raise_problems,
    regularization,
    threshold_problems,
)
from torch_estimator.heads.keys import MetricKeys, PredictionKeys, summary_key
from torch_estimator.heads.losses import Reduction, call_loss_fn, loss_problems, training_loss
from torch_estimator.heads.tensors import (
    check_label_range,
    check_logits,
    example_weights,
    match_labels_to_logits,
    weight_column_problems,
)
from torch_estimator.heads.vocabulary import LabelVocabulary, vocabulary_problems
from torch_estimator.metrics import MetricOp
from torch_estimator.spec import EstimatorSpec

_KEYS = (PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES, PredictionKeys.CLASSES)
_TENSOR_KEYS = (PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES)


class MultiLabelHead:
    """A head for multi-label classification: each of ``n_classes`` labels is a separate yes/no.

    The per-example loss is the sigmoid cross entropy averaged over the classes (``[batch, 1]``),
    then weighted and reduced as in the other heads.

    Labels, turned into multi-hot rows vectorised, one of:

    * a multi-hot ``[batch, n_classes]`` tensor/array of 0/1;
    * class-id lists, TensorFlow's ``SparseTensor`` of class ids: a sparse COO ``[batch, k]``
      torch tensor whose values are class ids (``torch.sparse_coo_tensor``), or a ragged list
      of id lists (``[[0, 2], [], [1]]``). Rows of equal length make a matrix, read as
      multi-hot (a padded id matrix cannot be told apart from one), so an input pipeline should
      yield the sparse tensor;
    * with ``label_vocabulary``, class names: a ``[batch]`` array (one name per example), a
      ``[batch, k]`` array padded with ``''``, or a ragged list of name lists.

    Predictions: ``logits``, ``probabilities`` (sigmoids), ``classes`` (every class name,
    ``[batch, n_classes]``, numpy ``str``; made in PREDICT mode and by :meth:`predictions`).

    Metrics: ``average_loss``, ``auc``, ``auc_precision_recall`` (over all classes together),
    ``regularization_loss``, per threshold ``accuracy/positive_threshold_<t>``, ``precision/...``,
    ``recall/...``, and per class in ``classes_for_class_based_metrics``
    ``probability_mean/class<id>``, ``auc/class<id>``, ``auc_precision_recall/class<id>`` (the
    class name in place of ``class<id>`` with a vocabulary); suffixed ``/<name>`` when named.

    Signatures: ``serving_default`` and ``classification`` (probabilities and class ids),
    ``predict``.

    Args:
        n_classes: Number of labels, > 1.
        weight_column: Name of the feature holding example weights (one per example).
        thresholds: Floats in (0, 1) for the per-threshold metrics.
        label_vocabulary: ``n_classes`` class names (labels are then names).
        loss_reduction: An ``est.losses.Reduction`` except ``NONE``.
        loss_fn: ``loss_fn(labels, logits[, features][, loss_reduction])`` returning the
            unreduced ``[batch, 1]`` loss; labels are float multi-hot ``[batch, n_classes]``.
        classes_for_class_based_metrics: Class ids, or names from ``label_vocabulary``.
        name: Suffix of the metric keys; required inside a :class:`MultiHead`.

    Raises:
        ValueError: listing every invalid argument at once.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import MultiLabelHead
        >>> head = MultiLabelHead(2, label_vocabulary=["news", "sport"])
        >>> logits = torch.tensor([[10.0, -10.0], [-15.0, 10.0]])
        >>> # per class ~|logit| when wrong, ~0 when right: rows (0 + 0) / 2 = 0 and (15 + 0) / 2 = 7.5, mean 3.75
        >>> round(float(head.loss([["news", ""], ["news", "sport"]], logits)), 3)
        3.75
    """

    def __init__(self, n_classes: int, weight_column: Any = None, thresholds: Sequence[float] | None = None,
                 label_vocabulary: Sequence[str] | None = None, loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
                 loss_fn: Callable[..., torch.Tensor] | None = None,
                 classes_for_class_based_metrics: Sequence[int | str] | None = None, name: str | None = None) -> None:
        valid_n = isinstance(n_classes, int) and not isinstance(n_classes, bool) and n_classes > 1
        problems = [] if valid_n else [message(
            "n_classes must be > 1 for multi-label classification", expected="an integer above 1",
            fix="Use BinaryClassHead for a single yes/no label", n_classes=n_classes)]
        vocabulary = vocabulary_problems(label_vocabulary, n_classes if valid_n else None)
        class_ids, class_problems = _class_ids(classes_for_class_based_metrics, label_vocabulary,
                                               n_classes if valid_n else None, bool(vocabulary))
        raise_problems(problems + weight_column_problems(weight_column) + threshold_problems(thresholds)
                       + vocabulary + loss_problems(loss_reduction, loss_fn) + class_problems + name_problems(name),
                       "MultiLabelHead")
        self._n_classes = n_classes
        self._weight_column = weight_column
        self._thresholds = tuple(float(t) for t in thresholds or ())
        self._vocabulary = LabelVocabulary(label_vocabulary, n_classes)
        self._loss_reduction = loss_reduction
        self._loss_fn = loss_fn
        self._class_ids = class_ids
        self._name = name

    @property
    def name(self) -> str | None:
        """The head's name (metric key suffix), or None."""
        return self._name

    @property
    def logits_dimension(self) -> int:
        """``n_classes``."""
        return self._n_classes

    @property
    def loss_reduction(self) -> str:
        """The ``est.losses.Reduction`` of the training loss."""
        return self._loss_reduction

    def _multi_hot(self, labels: Any, logits: torch.Tensor) -> torch.Tensor:
        """Float multi-hot labels shaped like the logits."""
        id_lists = class_id_lists(labels)
        if id_lists is not None:
            n_rows, rows, values = id_lists
            if self._vocabulary.given:
                ids = self._vocabulary.ids(values, allow_empty=True)
                rows, ids = rows[ids >= 0], ids[ids >= 0]
            else:
                ids = self._checked_ids(values)
        elif labels is None or not self._vocabulary.given:
            labels = classification.class_labels(labels, logits, self._vocabulary)
            if not labels.is_floating_point() and labels.dim() == logits.dim() and labels.shape[-1] != self._n_classes:
                raise ValueError(message("Integer labels of the wrong width: a dense label matrix is read as multi-hot",
                                         expected=f"multi-hot rows {self._n_classes} wide",
                                         fix="For class-id lists feed a torch.sparse_coo_tensor of ids (TensorFlow's "
                                             "SparseTensor) or ragged lists", labels_shape=list(labels.shape)))
            labels = match_labels_to_logits(labels, logits, self._n_classes)
            check_label_range(labels, 0, 1, "labels must be an integer indicator Tensor with values in [0, 1]")
            return labels.to(logits.dtype)
        else:
            padded = self._vocabulary.ids(labels, allow_empty=True)
            padded = padded.reshape(-1, 1) if padded.ndim == 1 else padded.reshape(-1, padded.shape[-1])
            rows, columns = np.nonzero(padded >= 0)  # '' pads rows with fewer labels
            n_rows, ids = padded.shape[0], padded[rows, columns]
        if n_rows != int(np.prod(logits.shape[:-1])):
            raise ValueError(message("labels must have one row of classes per example",
                                     expected=f"{list(logits.shape[:-1])} rows to match the logits",
                                     fix="Give every example a row (an empty one for no class)", labels_rows=n_rows))
        multi_hot = np.zeros((n_rows, self._n_classes), dtype=np.float32)
        multi_hot[rows, ids] = 1.0
        return torch.as_tensor(multi_hot, device=logits.device).reshape(logits.shape).to(logits.dtype)

    def _checked_ids(self, values: np.ndarray) -> np.ndarray:
        if values.size and (values.dtype.kind not in "iu" or values.min() < 0 or values.max() >= self._n_classes):
            bad = values if values.dtype.kind not in "iu" else values[(values < 0) | (values >= self._n_classes)]
            raise ValueError(message("Class-id labels must be integers in [0, n_classes)",
                                     expected=f"ids in [0, {self._n_classes})",
                                     fix="Map the labels to class ids, or pass label_vocabulary for names",
                                     bad_ids=bad.tolist()[:10]))
        return values.astype(np.int64)

    def _batch(self, labels: Any, logits: Any, features: Any) -> tuple[torch.Tensor, ...]:
        """Checked logits, float multi-hot labels, the unweighted ``[batch, 1]`` loss and the weights."""
        logits = check_logits(logits, self._n_classes)
        labels = self._multi_hot(labels, logits)
        if self._loss_fn is not None:
            unweighted = call_loss_fn(self._loss_fn, labels, logits, features, self._loss_reduction, 1)
        else:
            unweighted = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(-1, keepdim=True)
        return logits, labels, unweighted, example_weights(features, self._weight_column, logits)

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The regularized training loss: reduced weighted class-averaged sigmoid cross entropy."""
        del mode  # the loss is the same in every mode
        _, _, unweighted, weights = self._batch(labels, logits, features)
        return training_loss(unweighted, weights, self._loss_reduction, regularization(regularization_losses))

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """The predictions for ``keys`` (``logits``, ``probabilities``, ``classes`` when None)."""
        keys = check_prediction_keys(keys, _KEYS)
        logits = check_logits(logits, self._n_classes)
        predictions: dict[str, Any] = {}
        if PredictionKeys.LOGITS in keys:
            predictions[PredictionKeys.LOGITS] = logits
        if PredictionKeys.PROBABILITIES in keys:
            predictions[PredictionKeys.PROBABILITIES] = torch.sigmoid(logits)
        if PredictionKeys.CLASSES in keys and classification.wants_strings():
            predictions[PredictionKeys.CLASSES] = self._vocabulary.all_strings(logits.shape[:-1])
        return predictions

    def eval_metric_ops(self, features: Any, logits: Any, labels: Any,
                        regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, MetricOp]:
        """One batch's metrics (see the class docstring)."""
        logits, labels, unweighted, weights = self._batch(labels, logits, features)
        probabilities = torch.sigmoid(logits)

        def key(name: str) -> str:
            return summary_key(name, self._name)

        ops = classification.common_ops(unweighted, weights, regularization(regularization_losses), self._name)
        ops.update(classification.auc_ops(labels, probabilities, weights, key(MetricKeys.AUC),
                                          key(MetricKeys.AUC_PR)))
        ops.update(classification.threshold_ops(labels, probabilities, weights, self._thresholds, self._name))
        for class_id in self._class_ids:
            if self._vocabulary.given:
                keys = [pattern % self._vocabulary.names[class_id] for pattern in (
                    MetricKeys.PROBABILITY_MEAN_AT_NAME, MetricKeys.AUC_AT_NAME, MetricKeys.AUC_PR_AT_NAME)]
            else:
                keys = [pattern % class_id for pattern in (
                    MetricKeys.PROBABILITY_MEAN_AT_CLASS, MetricKeys.AUC_AT_CLASS, MetricKeys.AUC_PR_AT_CLASS)]
            class_labels, class_probabilities = labels[..., class_id], probabilities[..., class_id]
            class_weights = None if weights is None else weights[..., 0]
            ops[key(keys[0])] = metrics.mean(class_probabilities, class_weights)
            ops.update(classification.auc_ops(class_labels, class_probabilities, class_weights, key(keys[1]),
                                              key(keys[2])))
        return ops

    # TF's metrics()/update_metrics() API, shared by every head (functions, not a base class).
    metrics = tf_metrics
    update_metrics = tf_update_metrics

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable[[torch.Tensor], Any] | None = None,
                              update_ops: Sequence[Callable[[], Any]] | None = None,
                              regularization_losses: Sequence[torch.Tensor] | None = None) -> EstimatorSpec:
        """The ``EstimatorSpec`` for ``mode``; arguments as :meth:`BinaryClassHead.create_estimator_spec`."""
        def export_outputs(predictions: dict[str, Any]) -> dict[str, Any]:
            logits = predictions[PredictionKeys.LOGITS]
            return classification.classification_export_outputs(
                predictions[PredictionKeys.PROBABILITIES], classification.all_class_ids(logits, self._n_classes),
                predictions)

        return estimator_spec(self, features, mode, logits, labels, optimizer=optimizer,
                              trainable_variables=trainable_variables, train_op_fn=train_op_fn,
                              update_ops=update_ops, regularization_losses=regularization_losses,
                              tensor_keys=_TENSOR_KEYS, export_outputs=export_outputs)


def class_id_lists(labels: Any) -> tuple[int, np.ndarray, np.ndarray] | None:
    """``(n_rows, rows, values)`` of labels given as class-id (or class-name) lists, else None.

    A sparse COO torch tensor gives its row indices and values; a ragged list of lists is
    flattened with its row numbers repeated by row length. A rectangular list of numbers is a
    matrix, read as multi-hot like the array it becomes in an input pipeline.
    """
    if isinstance(labels, torch.Tensor) and labels.layout == torch.sparse_coo:
        labels = labels.coalesce()
        return labels.shape[0], labels.indices()[0].cpu().numpy(), labels.values().cpu().numpy()
    if not isinstance(labels, (list, tuple)) or not labels:
        return None
    if not all(isinstance(row, (list, tuple, np.ndarray)) for row in labels):
        return None
    lengths = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
    if (lengths == lengths[0]).all() and not _any_strings(labels):
        return None  # a matrix
    rows = [np.asarray(row).reshape(-1) for row in labels if len(row)]  # an empty row would be float64
    values = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return len(labels), np.repeat(np.arange(len(labels)), lengths), values


def _any_strings(labels: Sequence[Any]) -> bool:
    return any(len(row) and isinstance(np.asarray(row).reshape(-1)[0], (str, np.str_, bytes)) for row in labels)


def _class_ids(classes: Any, label_vocabulary: Any, n_classes: int | None,
               vocabulary_invalid: bool) -> tuple[tuple[int, ...], list[str]]:
    """``classes_for_class_based_metrics`` as class ids, and what is wrong with it."""
    if not classes:
        return (), []
    classes = tuple(classes)
    if all(isinstance(c, str) for c in classes):
        if not label_vocabulary:
            return (), [message("label_vocabulary must be provided when classes_for_class_based_metrics are "
                                "strings", fix="Pass label_vocabulary, or class ids",
                                classes_for_class_based_metrics=list(classes))]
        if vocabulary_invalid:
            return (), []  # already reported
        unknown = [c for c in classes if c not in label_vocabulary]
        if unknown:
            return (), [message("classes_for_class_based_metrics are not in label_vocabulary",
                                expected=f"names from {list(label_vocabulary)}", fix="Fix the class names",
                                unknown=unknown)]
        return tuple(label_vocabulary.index(c) for c in classes), []
    bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, int)
           or (n_classes is not None and not 0 <= c < n_classes)]
    if bad:
        upper = "n_classes - 1" if n_classes is None else n_classes - 1
        return (), [message(f"All classes_for_class_based_metrics must be in range [0, {upper}]",
                            expected="class ids (or names from label_vocabulary, not mixed)",
                            fix="Fix the listed classes", invalid=bad)]
    return tuple(classes), []
