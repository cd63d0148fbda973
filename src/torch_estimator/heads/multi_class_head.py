"""``MultiClassHead``: softmax cross entropy over ``n_classes`` logits per example."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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

_KEYS = (PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES, PredictionKeys.CLASS_IDS, PredictionKeys.CLASSES,
         PredictionKeys.ALL_CLASS_IDS, PredictionKeys.ALL_CLASSES)
_TENSOR_KEYS = tuple(key for key in _KEYS if key not in PredictionKeys.STRING_KEYS)


class MultiClassHead:
    """A head for single-label classification into ``n_classes > 2`` classes (softmax cross entropy).

    Predictions: ``logits``, ``probabilities`` (softmax), ``class_ids`` (``[batch, 1]`` argmax),
    ``classes`` (names, numpy ``str``; TF: ``bytes``), ``all_class_ids``, ``all_classes``.
    ``classes`` and ``all_classes`` are made in PREDICT mode and by :meth:`predictions` only.

    Metrics: ``accuracy``, ``average_loss``, ``regularization_loss`` (with regularization
    losses); suffixed ``/<name>`` for a named head.

    Signatures: ``serving_default`` and ``classification`` (probabilities and class ids),
    ``predict``.

    Args:
        n_classes: Number of classes, > 2 (use :class:`BinaryClassHead` for two).
        weight_column: Name of the feature holding example weights (or a column with a ``key``).
        label_vocabulary: ``n_classes`` class names; labels are then strings. Without it labels
            are integer ids in ``[0, n_classes)``.
        loss_reduction: An ``est.losses.Reduction`` except ``NONE``.
        loss_fn: ``loss_fn(labels, logits[, features][, loss_reduction])`` returning the
            unreduced ``[batch, 1]`` loss; labels are int64 ids ``[batch, 1]``.
        name: Suffix of the metric keys; required inside a :class:`MultiHead`.

    Raises:
        ValueError: listing every invalid argument at once.

    Example:
        >>> import torch
        >>> from torch_estimator.heads import MultiClassHead
        >>> head = MultiClassHead(3, label_vocabulary=["a", "b", "c"])
        >>> logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
        >>> # loss = mean(-log(1/3), -log(e^5 / (e^5 + 2))) = mean(1.0986, 0.0134)
        >>> round(float(head.loss(["c", "b"], logits)), 4)
        0.556
        >>> head.predictions(logits)["classes"].tolist()
        [['a'], ['b']]
    """

    def __init__(self, n_classes: int, weight_column: Any = None, label_vocabulary: Sequence[str] | None = None,
                 loss_reduction: str = Reduction.SUM_OVER_BATCH_SIZE,
                 loss_fn: Callable[..., torch.Tensor] | None = None, name: str | None = None) -> None:
        valid_n = isinstance(n_classes, int) and not isinstance(n_classes, bool) and n_classes > 2
        problems = [] if valid_n else [message(
            "n_classes must be > 2", expected="an integer above 2", fix="Use BinaryClassHead for two classes",
            n_classes=n_classes)]
        raise_problems(problems + weight_column_problems(weight_column)
                       + vocabulary_problems(label_vocabulary, n_classes if valid_n else None)
                       + loss_problems(loss_reduction, loss_fn) + name_problems(name), "MultiClassHead")
        self._n_classes = n_classes
        self._weight_column = weight_column
        self._vocabulary = LabelVocabulary(label_vocabulary, n_classes)
        self._loss_reduction = loss_reduction
        self._loss_fn = loss_fn
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

    def _batch(self, labels: Any, logits: Any, features: Any) -> tuple[torch.Tensor, ...]:
        """Checked logits, ``[batch, 1]`` int64 label ids, the unweighted loss and the weights."""
        logits = check_logits(logits, self._n_classes)
        label_ids = classification.class_labels(labels, logits, self._vocabulary)
        if label_ids.is_floating_point() or label_ids.dtype == torch.bool:
            raise ValueError(message("Labels dtype should be integer", expected="class ids in [0, n_classes)",
                                     fix="Cast the labels to int64, or pass label_vocabulary for string labels",
                                     labels_dtype=str(label_ids.dtype)))
        label_ids = match_labels_to_logits(label_ids, logits, 1).to(torch.int64)
        check_label_range(label_ids, 0, self._n_classes - 1, "Labels must be <= n_classes - 1 and >= 0")
        if self._loss_fn is not None:
            unweighted = call_loss_fn(self._loss_fn, label_ids, logits, features, self._loss_reduction, 1)
        else:
            unweighted = F.cross_entropy(logits.reshape(-1, self._n_classes), label_ids.reshape(-1),
                                         reduction="none").reshape(label_ids.shape)
        return logits, label_ids, unweighted, example_weights(features, self._weight_column, logits)

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The regularized training loss: reduced weighted softmax cross entropy (+ regularization)."""
        del mode  # the loss is the same in every mode
        _, _, unweighted, weights = self._batch(labels, logits, features)
        return training_loss(unweighted, weights, self._loss_reduction, regularization(regularization_losses))

    def predictions(self, logits: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """The predictions for ``keys`` (all six when None); see the class docstring."""
        keys = check_prediction_keys(keys, _KEYS)
        logits = check_logits(logits, self._n_classes)
        predictions: dict[str, Any] = {}
        if PredictionKeys.LOGITS in keys:
            predictions[PredictionKeys.LOGITS] = logits
        if PredictionKeys.PROBABILITIES in keys:
            predictions[PredictionKeys.PROBABILITIES] = torch.softmax(logits, dim=-1)
        class_ids = logits.argmax(dim=-1, keepdim=True)
        if PredictionKeys.CLASS_IDS in keys:
            predictions[PredictionKeys.CLASS_IDS] = class_ids
        if PredictionKeys.CLASSES in keys and classification.wants_strings():
            predictions[PredictionKeys.CLASSES] = self._vocabulary.strings(class_ids)
        if PredictionKeys.ALL_CLASS_IDS in keys:
            predictions[PredictionKeys.ALL_CLASS_IDS] = classification.all_class_ids(logits, self._n_classes)
        if PredictionKeys.ALL_CLASSES in keys and classification.wants_strings():
            predictions[PredictionKeys.ALL_CLASSES] = self._vocabulary.all_strings(logits.shape[:-1])
        return predictions

    def eval_metric_ops(self, features: Any, logits: Any, labels: Any,
                        regularization_losses: Sequence[torch.Tensor] | None = None) -> dict[str, MetricOp]:
        """One batch's ``accuracy``, ``average_loss`` (and ``regularization_loss``)."""
        logits, label_ids, unweighted, weights = self._batch(labels, logits, features)
        ops = classification.common_ops(unweighted, weights, regularization(regularization_losses), self._name)
        ops[summary_key(MetricKeys.ACCURACY, self._name)] = metrics.accuracy(
            label_ids, logits.argmax(dim=-1, keepdim=True), weights)
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
            return classification.classification_export_outputs(
                predictions[PredictionKeys.PROBABILITIES], predictions[PredictionKeys.ALL_CLASS_IDS], predictions)

        return estimator_spec(self, features, mode, logits, labels, optimizer=optimizer,
                              trainable_variables=trainable_variables, train_op_fn=train_op_fn,
                              update_ops=update_ops, regularization_losses=regularization_losses,
                              tensor_keys=_TENSOR_KEYS, export_outputs=export_outputs)
